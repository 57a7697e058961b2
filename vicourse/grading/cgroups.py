"""One control group per sandboxed kernel: its share of the machine, and no more.

rlimits count each process on its own (4 GiB each, 256 processes per uid), so a kernel of
many processes could take many times its share of memory and every core. A control group
counts the kernel's processes together:

* cpu: at most `Sandbox.cpus` cores for all its processes (a quota), and an equal share
  with the other kernels when the machine is busy, so 240 busy children slow a classmate's
  grading no more than one busy process would;
* memory: `Sandbox.memory_mb` for all its processes together, the files of its private
  tmpfs included (they are charged to the group that wrote them), with no swap;
* pids: `Sandbox.max_processes` processes and threads in all.

Which controllers are used depends on the machine, and `make doctor` says which:

* cgroup v2, where this process may create groups with the cpu, memory and pids
  controllers: as root on a host whose own group delegates them, or under a systemd
  service with `Delegate=yes`;
* cgroup v1 (separate cpu, memory and pids hierarchies), as root;
* otherwise none: the rlimits (per process) still hold, and each kernel runs at the lowest
  CPU priority (nice 19), but a kernel of many processes is not capped as a whole.

Groups are made inside this process's own group, so the limits of a container around the
grader still apply, under a folder named for the course; a kernel joins its group before
bwrap starts (see `join_command`). When the kernel ends, whatever is left in the group is
killed and the group removed.
"""

from __future__ import annotations

import itertools
import os
import signal
import time
from dataclasses import dataclass
from pathlib import Path

CONTROLLERS = ("cpu", "memory", "pids")
PERIOD_US = 100_000
_names = itertools.count()


@dataclass(frozen=True)
class Hierarchy:
    """Where this process's cgroups live: one folder per controller (v1) or one for all (v2)."""

    version: int
    folders: dict[str, Path]  # controller -> this process's own group in that hierarchy


def _mounts() -> list[tuple[str, str, set[str]]]:
    """(mount point, file system type, options) of every cgroup mount."""
    found = []
    try:
        with open("/proc/self/mountinfo") as mountinfo:
            for line in mountinfo:
                before, _, after = line.partition(" - ")
                fstype, _, options = after.split()[:3]
                if fstype in ("cgroup", "cgroup2"):
                    found.append((before.split()[4], fstype, set(options.split(","))))
    except OSError:
        pass
    return found


def _own_groups() -> dict[str, str]:
    """{controller or "" for v2: this process's group path}, from /proc/self/cgroup."""
    groups = {}
    try:
        with open("/proc/self/cgroup") as cgroup:
            for line in cgroup:
                _, controllers, path = line.rstrip("\n").split(":", 2)
                for controller in controllers.split(",") if controllers else [""]:
                    groups[controller] = path
    except OSError:
        pass
    return groups


def find_hierarchy() -> tuple[Hierarchy | None, str]:
    """The hierarchy kernels' groups can be made in, or None and why not."""
    if os.environ.get("VICOURSE_NO_CGROUPS"):
        return None, "switched off (VICOURSE_NO_CGROUPS)"
    mounts, own = _mounts(), _own_groups()
    for point, fstype, _ in mounts:
        if fstype != "cgroup2":
            continue
        folder = Path(point) / own.get("", "/").lstrip("/")
        try:
            available = set((folder / "cgroup.controllers").read_text().split())
            delegated = set((folder / "cgroup.subtree_control").read_text().split())
        except OSError:
            continue
        if not set(CONTROLLERS) <= available:
            continue
        if not set(CONTROLLERS) <= delegated:
            try:  # a group holding processes cannot hand controllers down, except the root group
                (folder / "cgroup.subtree_control").write_text(" ".join(f"+{c}" for c in CONTROLLERS))
            except OSError as exc:
                return None, (f"cgroup v2 at {folder} does not delegate {', '.join(CONTROLLERS)} to this process "
                              f"({exc.strerror}); run grading as root, or in a systemd service with Delegate=yes")
        if os.access(folder, os.W_OK):
            return Hierarchy(2, {c: folder for c in CONTROLLERS}), "cgroup v2"
    folders = {}
    for controller in CONTROLLERS:
        point = next((p for p, fstype, options in mounts if fstype == "cgroup" and controller in options), None)
        if point is None:
            break
        folders[controller] = Path(point) / own.get(controller, "/").lstrip("/")
    if len(folders) == len(CONTROLLERS):
        if all(os.access(folder, os.W_OK) for folder in folders.values()):
            return Hierarchy(1, folders), "cgroup v1"
        return None, "cgroup v1 hierarchies are not writable by this user (grade as root to use them)"
    return None, "no cgroup hierarchy with the cpu, memory and pids controllers"


class KernelGroup:
    """The control group of one kernel (or one calibration run)."""

    def __init__(self, hierarchy: Hierarchy, course_key: str, memory_mb: int, max_processes: int, cpus: float):
        self.hierarchy = hierarchy
        name = f"{os.getpid()}-{next(_names)}"  # a dead grader's leftovers are recognised by its pid
        self.folders = {c: folder / f"vicourse-{course_key}" / name for c, folder in hierarchy.folders.items()}
        v1 = hierarchy.version == 1
        limits = {
            "memory": {("memory.limit_in_bytes" if v1 else "memory.max"): str(memory_mb << 20)},
            "pids": {"pids.max": str(max_processes)},
            "cpu": ({"cpu.cfs_period_us": str(PERIOD_US), "cpu.cfs_quota_us": str(int(cpus * PERIOD_US)),
                     "cpu.shares": "1024"} if v1 else
                    {"cpu.max": f"{int(cpus * PERIOD_US)} {PERIOD_US}", "cpu.weight": "100"}),
        }
        if not v1:
            limits["memory"]["memory.swap.max"] = "0"
        for controller, folder in self.folders.items():
            _sweep(folder.parent)
            folder.parent.mkdir(exist_ok=True)
            if not v1:  # the course's folder hands the controllers down to its kernels' groups
                (folder.parent / "cgroup.subtree_control").write_text(" ".join(f"+{c}" for c in CONTROLLERS))
            folder.mkdir(exist_ok=True)
            for file, value in limits[controller].items():
                (folder / file).write_text(value)
        if v1:  # no swap either, where the kernel accounts for it
            swap = self.folders["memory"] / "memory.memsw.limit_in_bytes"
            if swap.exists():
                try:
                    swap.write_text(str(memory_mb << 20))
                except OSError:
                    pass

    def procs_files(self) -> list[str]:
        """The files a process writes its pid into to join the group (one per hierarchy)."""
        return sorted({str(folder / "cgroup.procs") for folder in self.folders.values()})

    def memory_peak(self) -> int | None:
        folder = self.folders["memory"]
        for file in ("memory.max_usage_in_bytes", "memory.peak"):
            try:
                return int((folder / file).read_text())
            except (OSError, ValueError):
                continue
        return None

    def remove(self) -> None:
        """Kill whatever is left in the group, then remove it."""
        for folder in set(self.folders.values()):
            _kill_all(folder)
            for _ in range(50):
                try:
                    folder.rmdir()
                    break
                except FileNotFoundError:
                    break
                except OSError:
                    time.sleep(0.02)


def _kill_all(folder: Path) -> None:
    try:
        pids = [int(p) for p in (folder / "cgroup.procs").read_text().split()]
    except (OSError, ValueError):
        return
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass


def _sweep(course_folder: Path) -> None:
    """Remove groups that graders which have since died left behind (named after their pid)."""
    if not course_folder.is_dir():
        return
    for group in course_folder.iterdir():
        pid = group.name.split("-")[0]
        if group.is_dir() and pid.isdigit() and not Path(f"/proc/{pid}").exists():
            _kill_all(group)
            try:
                group.rmdir()
            except OSError:
                pass


# Joins the groups whose cgroup.procs files come before "--", opens the seccomp filter (when
# given) on fd 9 for bwrap, then becomes the command after "--". A group that cannot be joined
# stops the launch (exit 97): a kernel never runs without the limits the grader chose.
JOIN = ('[ -n "$0" ] && { exec 9<"$0" || exit 96; }; '
        'while [ "$1" != "--" ]; do echo $$ > "$1" || exit 97; shift; done; shift; exec "$@"')


def join_command(command: list[str], procs_files: list[str], seccomp_file: str | None) -> list[str]:
    """`command`, started inside the groups and with the seccomp filter open on fd 9."""
    if not procs_files and not seccomp_file:
        return command
    return ["/bin/sh", "-c", JOIN, seccomp_file or "", *procs_files, "--", *command]
