"""A seccomp filter for student kernels, in the spirit of Docker's default profile.

bwrap loads it (`--seccomp FD`) into the sandboxed process just before the kernel starts, so
it holds for every process the kernel ever starts. It refuses, with EPERM, the system calls
that reach beyond a process's own sandbox: the kernel keyrings (which outlive a sandbox and
are shared by everything running as one uid), tracing and reading other processes, eBPF and
perf events, userfaultfd, new namespaces (unshare, setns, clone with namespace flags) and
mounts, modules, reboot, swap, clocks, and io_uring (whose requests bypass this filter).
clone3 answers ENOSYS, so the C library falls back to clone, whose flags the filter can read.
A system call made through another ABI (32-bit x86 or x32 on x86-64) is refused altogether.

The filter is a classic BPF program, written here as bytes: no library is needed.
"""

from __future__ import annotations

import platform
import struct

# BPF instruction classes and fields (linux/bpf_common.h)
_LD_W_ABS = 0x20
_JEQ, _JGE, _JSET = 0x15, 0x35, 0x45
_RET = 0x06
_ALLOW = 0x7FFF0000
_ERRNO = 0x00050000
EPERM, ENOSYS = 1, 38

# offsets in struct seccomp_data
_NR, _ARCH, _ARG0 = 0, 4, 16

# Namespace flags of clone(2): a kernel may start processes and threads, never new namespaces.
CLONE_NAMESPACES = 0x00020000 | 0x02000000 | 0x04000000 | 0x08000000 | 0x10000000 | 0x20000000 | 0x40000000 | 0x80

_REFUSED = ("keyctl", "add_key", "request_key", "ptrace", "process_vm_readv", "process_vm_writev", "pidfd_getfd",
            "kcmp", "perf_event_open", "bpf", "userfaultfd", "unshare", "setns", "mount", "umount2", "pivot_root",
            "chroot", "open_tree", "move_mount", "fsopen", "fsconfig", "fsmount", "fspick", "mount_setattr",
            "name_to_handle_at", "open_by_handle_at", "fanotify_init", "init_module", "finit_module",
            "delete_module", "kexec_load", "kexec_file_load", "reboot", "swapon", "swapoff", "acct",
            "settimeofday", "clock_settime", "clock_adjtime", "adjtimex", "sethostname", "setdomainname",
            "syslog", "quotactl", "vhangup", "lookup_dcookie", "io_uring_setup", "io_uring_enter",
            "io_uring_register", "iopl", "ioperm", "uselib", "ustat", "sysfs", "_sysctl")

# System call numbers by machine, and the audit arch value the kernel reports for that ABI.
_SYSCALLS = {
    "x86_64": (0xC000003E, {
        "keyctl": 250, "add_key": 248, "request_key": 249, "ptrace": 101, "process_vm_readv": 310,
        "process_vm_writev": 311, "pidfd_getfd": 438, "kcmp": 312, "perf_event_open": 298, "bpf": 321,
        "userfaultfd": 323, "unshare": 272, "setns": 308, "mount": 165, "umount2": 166, "pivot_root": 155,
        "chroot": 161, "open_tree": 428, "move_mount": 429, "fsopen": 430, "fsconfig": 431, "fsmount": 432,
        "fspick": 433, "mount_setattr": 442, "name_to_handle_at": 303, "open_by_handle_at": 304,
        "fanotify_init": 300, "init_module": 175, "finit_module": 313, "delete_module": 176, "kexec_load": 246,
        "kexec_file_load": 320, "reboot": 169, "swapon": 167, "swapoff": 168, "acct": 163, "settimeofday": 164,
        "clock_settime": 227, "clock_adjtime": 305, "adjtimex": 159, "sethostname": 170, "setdomainname": 171,
        "syslog": 103, "quotactl": 179, "vhangup": 153, "lookup_dcookie": 212, "io_uring_setup": 425,
        "io_uring_enter": 426, "io_uring_register": 427, "iopl": 172, "ioperm": 173, "uselib": 134, "ustat": 136,
        "sysfs": 139, "_sysctl": 156, "clone": 56, "clone3": 435}),
    "aarch64": (0xC00000B7, {
        "keyctl": 219, "add_key": 217, "request_key": 218, "ptrace": 117, "process_vm_readv": 270,
        "process_vm_writev": 271, "pidfd_getfd": 438, "kcmp": 272, "perf_event_open": 241, "bpf": 280,
        "userfaultfd": 282, "unshare": 97, "setns": 268, "mount": 40, "umount2": 39, "pivot_root": 41,
        "chroot": 51, "open_tree": 428, "move_mount": 429, "fsopen": 430, "fsconfig": 431, "fsmount": 432,
        "fspick": 433, "mount_setattr": 442, "name_to_handle_at": 264, "open_by_handle_at": 265,
        "fanotify_init": 262, "init_module": 105, "finit_module": 273, "delete_module": 106, "kexec_load": 104,
        "kexec_file_load": 294, "reboot": 142, "swapon": 224, "swapoff": 225, "acct": 89, "settimeofday": 170,
        "clock_settime": 112, "clock_adjtime": 266, "adjtimex": 171, "sethostname": 161, "setdomainname": 162,
        "syslog": 116, "quotactl": 60, "vhangup": 58, "lookup_dcookie": 18, "io_uring_setup": 425,
        "io_uring_enter": 426, "io_uring_register": 427, "clone": 220, "clone3": 435}),
}


def _op(code: int, k: int, jt: int = 0, jf: int = 0) -> bytes:
    return struct.pack("=HBBI", code, jt, jf, k)


def supported(machine: str | None = None) -> bool:
    return (machine or platform.machine()) in _SYSCALLS


def filter_program(machine: str | None = None) -> bytes:
    """The compiled filter for this machine (x86-64 or aarch64), as bwrap's --seccomp reads it."""
    arch, numbers = _SYSCALLS[machine or platform.machine()]
    refused = [numbers[name] for name in _REFUSED if name in numbers]
    # Layout: checks first, then three return statements at the end, which every jump targets.
    body = [("ld", _ARCH), ("arch", arch), ("ld", _NR)]
    if arch == _SYSCALLS["x86_64"][0]:
        body.append(("x32",))
    body += [("refuse", nr) for nr in refused]
    body += [("clone3", numbers["clone3"]), ("clone", numbers["clone"]), ("allow",),
             ("ld", _ARG0), ("flags",), ("allow",)]
    tail = ["deny", "nosys"]
    count = len(body)

    def to(label: str, at: int) -> int:  # forward jump distance from instruction `at` to a tail label
        return count + tail.index(label) - at - 1

    program = []
    for at, step in enumerate(body):
        kind = step[0]
        if kind == "ld":
            program.append(_op(_LD_W_ABS, step[1]))
        elif kind == "arch":  # another ABI: refuse everything
            program.append(_op(_JEQ, step[1], 0, to("deny", at)))
        elif kind == "x32":
            program.append(_op(_JGE, 0x40000000, to("deny", at), 0))
        elif kind == "refuse":
            program.append(_op(_JEQ, step[1], to("deny", at), 0))
        elif kind == "clone3":
            program.append(_op(_JEQ, step[1], to("nosys", at), 0))
        elif kind == "clone":  # not clone: allow (next); clone: read its flags (two on)
            program.append(_op(_JEQ, step[1], 1, 0))
        elif kind == "allow":
            program.append(_op(_RET, _ALLOW))
        elif kind == "flags":
            program.append(_op(_JSET, CLONE_NAMESPACES, to("deny", at), 0))
    program += [_op(_RET, _ERRNO | EPERM), _op(_RET, _ERRNO | ENOSYS)]
    if any(distance > 255 for distance in (to("deny", 0), to("nosys", 0))):
        raise AssertionError("the filter grew past what a BPF jump can reach")
    return b"".join(program)
