"""The bwrap command line of one sandboxed process, and what runs first inside it.

c.Sandbox (vicourse/grading/sandbox_isolation.py) decides what a kernel may use; this module turns that into
bubblewrap's arguments: the read-only system and Python environment, private
size-capped tmpfs for home, /tmp and /dev/shm, the kernel's one writable host
folder (its sockets), its own PID, network, IPC and UTS namespaces, a scrubbed
environment, the seccomp filter (vicourse/grading/seccomp.py), and LAUNCHER, which copies the
submission's files, drops to the sandbox uid, sets the rlimits and becomes the kernel.
"""

from __future__ import annotations

import glob
import json
import os
import sys
from pathlib import Path

from ..course import ONE_MATH_THREAD, same_arithmetic

SECCOMP_FD = 9  # where cgroups.join_command opens the filter for bwrap

# Where the kernel finds things, inside the sandbox.
HOME = "/home/student"
FILES = "/run/submission"
MPLCONFIGDIR = "/tmp/matplotlib"
MOUNTED = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/proc")  # read-only: nothing is made inside

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
if spec["nice"]:
    os.nice(spec["nice"])
os.execv(sys.argv[3], sys.argv[3:])
"""


class SandboxCommand:
    """Builds the bwrap command line for one sandboxed process (a kernel, or a calibration run).

    `private` is the one host folder it may write (bound at the same path): a kernel's
    sockets and connection file, or a calibration's job and results. `readonly` maps
    further host paths to where they appear inside."""

    def __init__(self, bwrap: str, sandbox, private: Path, uid: int | None,
                 readonly: dict[str, str] | None = None, seccomp: bool = False, nice: int = 0):
        self.bwrap, self.sandbox, self.private, self.uid = bwrap, sandbox, private, uid
        self.readonly = readonly or {}
        self.seccomp, self.nice = seccomp, nice
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
        if self.seccomp:  # the filter, opened on fd 9 by cgroups.join_command
            args += ["--seccomp", str(SECCOMP_FD)]
        for name, value in self.environment(env or os.environ).items():
            args += ["--setenv", name, value]
        seed = []  # matplotlib's font list: without it every kernel spends about a second rebuilding it
        for path in matplotlib_font_lists():
            inside = f"/run/fontlist/{os.path.basename(path)}"
            args += self._parents(inside, made) + ["--ro-bind", path, inside]
            seed.append((inside, f"{MPLCONFIGDIR}/{os.path.basename(path)}"))
        spec = {"uid": self.uid, "files": FILES, "work": work_inside, "seed": seed, "nice": self.nice,
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
