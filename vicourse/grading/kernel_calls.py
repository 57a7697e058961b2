"""Calling the student's code in a live Jupyter kernel and reading back plain data.

`KernelTransport` is the transport behind `vicourse.grading.student.Student` when the
student's notebook runs in a kernel (during `nbgrader autograde`, or under
`pytest grader_tests --submission`).  Each request is a short, silent execute
request (no echo of the code, no history) that calls `kernel_side.py` and prints
the reply between two random markers, so anything else the student's code prints
is ignored.  The kernel compiles kernel_side.py on its first request and keeps it
as a module; a restarted kernel compiles it again.  Its source and the request
itself (hidden inputs can be 200,000 numbers) travel in the execute request's
metadata, where the kernel only decodes JSON: written into the code, IPython
would transform, parse and compile them, and echo them on IOPub, about six times
slower.  Numeric arrays in a request are base64 of their raw bytes
(vicourse.grading.student.encode_argument), a tenth of the cost of JSON lists.

What the transport trusts, given that the kernel may be hostile (it can print
anything, install IPython hooks and input transformers, patch any module, and
see each request, hidden inputs included): nothing but the data in the reply.
It accepts a reply only when the request's stdout holds exactly one
marker-wrapped JSON document of bounded size; a second reply (say, printed
by a `post_execute` hook), an oversized or undecodable one, or none at all
counts as a failed call. The verdict is computed from that data in the
grading process. So a hostile kernel can forge its own answers, and nothing
else: to pass a check on inputs drawn at grading time, the forged data must
be the right answer for them, which is solving the problem.
"""

from __future__ import annotations

import hashlib
import json
import logging
import secrets
import time
from pathlib import Path
from queue import Empty

from nbclient.util import ensure_async, run_sync

log = logging.getLogger("vicourse.kernel")

_KERNEL_SIDE = (Path(__file__).with_name("kernel_side.py")).read_text()
# stdout kept per request; a correct reply is a few kilobytes
MAX_REPLY_BYTES = 8_000_000
# after this many calls in a row that hang, the kernel is given up on: each costs a timeout
# and a restart, and a kernel that keeps breaking itself must not hold the grader for long
GIVE_UP_AFTER = 3
# where a request travels: the metadata of the execute request that carries the call
REQUEST_KEY = "vicourse_request"
# kernel_side.py's source travels beside it; the kernel compiles it on its first request only, and
# keeps it as a module named after its hash (a restarted kernel compiles it again)
SIDE_KEY = "vicourse_side"
_SIDE_MODULE = "_vicourse_side_" + hashlib.sha256(_KERNEL_SIDE.encode()).hexdigest()[:12]


class KernelUnresponsive(RuntimeError):
    """The kernel ignored an interrupt or died: it must be restarted."""


class KernelTransport:
    """Send requests to a kernel through a jupyter_client (async) kernel client."""

    def __init__(self, kc, km, timeout: float = 30.0, on_unresponsive=None):
        self.kc = kc
        self.km = km
        self.timeout = timeout
        # called after a hang or death; should restart the kernel and restore its state
        self.on_unresponsive = on_unresponsive
        self.hangs_in_a_row = 0

    def __call__(self, request: dict) -> dict:
        if self.hangs_in_a_row >= GIVE_UP_AFTER:
            return {"ok": False, "error": "Timeout", "detail": "the kernel stopped responding; not called again"}
        reply = self._call(request)
        hung = reply.get("error") == "Timeout"
        self.hangs_in_a_row = self.hangs_in_a_row + 1 if hung else 0
        return reply

    def _call(self, request: dict) -> dict:
        marker = "@@vicourse-" + secrets.token_hex(8) + "@@"
        timeout = float(request.get("timeout") or self.timeout)  # a training call may ask for more
        code = (
            "def __vicourse_request():\n"
            "    import json, sys, types\n"
            "    from IPython import get_ipython\n"
            "    metadata = get_ipython().kernel.get_parent('shell')['metadata']\n"
            f"    side = sys.modules.get({_SIDE_MODULE!r})\n"
            "    if side is None:\n"
            f"        side = types.ModuleType({_SIDE_MODULE!r})\n"
            f"        exec(metadata[{SIDE_KEY!r}], side.__dict__)\n"
            f"        sys.modules[{_SIDE_MODULE!r}] = side\n"
            f"    reply = side.answer(globals(), metadata[{REQUEST_KEY!r}])\n"
            f"    print({marker!r} + json.dumps(reply) + {marker!r}, flush=True)\n"
            "__vicourse_request()\n"
            "del __vicourse_request\n"
        )
        try:
            stdout = self.run(code, timeout, metadata={REQUEST_KEY: request, SIDE_KEY: _KERNEL_SIDE},
                              silent=True)
        except TimeoutError:
            return {"ok": False, "error": "Timeout", "detail": f"no reply in {timeout}s"}
        except KernelUnresponsive as exc:
            if self.on_unresponsive is not None:
                self.on_unresponsive()
            return {"ok": False, "error": "Timeout", "detail": str(exc)}
        if stdout is None:
            return {"ok": False, "error": "BadReply", "detail": f"more than {MAX_REPLY_BYTES} bytes of output"}
        parts = stdout.split(marker)
        if len(parts) < 3:
            return {"ok": False, "error": "NoReply", "detail": stdout[-2000:]}
        if len(parts) > 3:
            return {"ok": False, "error": "BadReply", "detail": "more than one reply: something else printed one"}
        try:
            reply = json.loads(parts[1])
        except (ValueError, RecursionError):
            return {"ok": False, "error": "BadReply", "detail": parts[1][:2000]}
        if not isinstance(reply, dict):
            return {"ok": False, "error": "BadReply", "detail": "the reply is not a JSON object"}
        return reply

    def run(self, code: str, timeout: float, metadata: dict | None = None, silent: bool = False) -> str | None:
        """Execute code, with `metadata` on the request; return its stdout (None if it exceeded
        MAX_REPLY_BYTES). TimeoutError if it had to be interrupted. silent: as Jupyter means it
        (no echo of the code, no history, no pre/post_run_cell hooks)."""
        content = {"code": code, "silent": silent, "store_history": False, "user_expressions": {},
                   "allow_stdin": False, "stop_on_error": True}
        message = self.kc.session.msg("execute_request", content, metadata=metadata or {})
        self.kc.shell_channel.send(message)  # what kc.execute does, which takes no metadata
        return run_sync(self._stdout_until_idle)(message["header"]["msg_id"], timeout)

    async def _stdout_until_idle(self, msg_id: str, timeout: float) -> str | None:
        # one coroutine per request: entering the event loop once per message cost a millisecond each
        deadline = time.monotonic() + timeout
        chunks: list[str] = []
        size = 0
        interrupted = False
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                if interrupted:
                    raise KernelUnresponsive("the kernel did not stop after an interrupt")
                log.warning("grader call exceeded %.0fs: interrupting the kernel", timeout)
                await ensure_async(self.km.interrupt_kernel())
                interrupted = True
                deadline = time.monotonic() + 5.0
                continue
            try:
                msg = await ensure_async(self.kc.get_iopub_msg(timeout=min(remaining, 1.0)))
            except Empty:
                if not await ensure_async(self.kc.is_alive()):
                    raise KernelUnresponsive("the kernel died") from None
                continue
            if msg["parent_header"].get("msg_id") != msg_id:
                continue
            kind = msg["msg_type"]
            if kind == "stream" and msg["content"].get("name") == "stdout":
                size += len(msg["content"]["text"])
                if size <= MAX_REPLY_BYTES:
                    chunks.append(msg["content"]["text"])
            elif kind == "status" and msg["content"]["execution_state"] == "idle":
                if interrupted:
                    raise TimeoutError
                return "".join(chunks) if size <= MAX_REPLY_BYTES else None


def ensure_async_call(fn):
    """Wrap a sync-or-async callable so run_sync can drive it."""

    async def call(*args, **kwargs):
        return await ensure_async(fn(*args, **kwargs))

    return call
