"""What a sandboxed kernel holds on the grader's side of the sandbox, and how it is bounded.

* a course key: kernels of one course share a uid range, a scratch folder and a cgroup
  folder, and nothing of these with another course on the same machine;
* a uid of its own (when grading runs as root), from the course's range;
* a private folder: the one host folder the kernel may write (its connection file and
  socket files). As root it is a tmpfs of its own, capped in size and in inodes, so a
  kernel cannot fill the grader's disk or its inode table through it;
* its stdout and stderr: a pipe whose last 64 KiB are kept, never a file on the host.
"""

from __future__ import annotations

import collections
import ctypes
import fcntl
import hashlib
import os
import shutil
import stat
import tempfile
import threading
from pathlib import Path

# As root, each live sandbox runs as its own uid, far above real accounts: a course has a band
# of UID_SLOTS uids, chosen from BANDS by its key.
UID_BASE, UID_SLOTS, BANDS = 3_800_000, 4096, 1 << 16
# The private folder's tmpfs (root only): sockets and one small connection file.
SOCKETS_TMPFS = "size=1m,nr_inodes=64,mode=0700"
KEPT_OUTPUT = 64 << 10

_MS_NOSUID, _MS_NODEV, _MS_NOEXEC, _MS_REC, _MS_PRIVATE, _MNT_DETACH = 2, 4, 8, 1 << 14, 1 << 18, 2
_CLONE_NEWNS = 0x00020000
_libc = ctypes.CDLL(None, use_errno=True)


def course_key(owner: str | os.PathLike | None) -> str:
    """A short name for the course a kernel belongs to (its folder, or the current one)."""
    folder = os.path.realpath(owner or os.getcwd())
    return hashlib.sha256(folder.encode()).hexdigest()[:12]


def uid_range(key: str) -> range:
    band = int(key[:8], 16) % BANDS
    return range(UID_BASE + band * UID_SLOTS, UID_BASE + (band + 1) * UID_SLOTS)


def course_scratch(key: str) -> Path:
    """This user's scratch folder for the course (uid locks, kernels' private folders), 0700.
    Refused if something else already sits at its name: another user could have planted it."""
    folder = Path(tempfile.gettempdir()) / f"vicourse-{os.geteuid()}-{key}"
    try:
        folder.mkdir(mode=0o700)
    except FileExistsError:
        pass
    found = os.lstat(folder)
    if not stat.S_ISDIR(found.st_mode) or found.st_uid != os.geteuid() or found.st_mode & 0o077:
        raise RuntimeError(f"{folder} is not a private folder of this user: remove it and try again")
    return folder


class UidSlot:
    """An unprivileged uid held by one live sandbox of a course (only when grading runs as root)."""

    def __init__(self, key: str):
        folder = course_scratch(key) / "uids"
        folder.mkdir(mode=0o700, exist_ok=True)
        for slot, uid in enumerate(uid_range(key)):
            fd = os.open(folder / str(slot), os.O_CREAT | os.O_RDWR, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                continue
            self.uid, self._fd = uid, fd
            return
        raise RuntimeError("every sandbox uid of this course is in use")

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


class PrivateFolder:
    """A kernel's private host folder: `path` holds `conn/`, which the kernel may write.
    As root, `conn/` is a capped tmpfs owned by the sandbox uid."""

    def __init__(self, key: str, uid: int | None, capped: bool = True):
        self.path = Path(tempfile.mkdtemp(prefix="vicourse-kernel-", dir=course_scratch(key)))
        self.conn = self.path / "conn"
        self.conn.mkdir(mode=0o700)
        self.capped = False
        if capped and os.geteuid() == 0:
            owner = f",uid={uid},gid={uid}" if uid is not None else ""
            self.capped = _libc.mount(b"tmpfs", str(self.conn).encode(), b"tmpfs", _MS_NOSUID | _MS_NODEV | _MS_NOEXEC,
                                      (SOCKETS_TMPFS + owner).encode()) == 0
        if uid is not None and not self.capped:
            os.chown(self.conn, uid, uid)

    def remove(self) -> None:
        if self.capped:
            _libc.umount2(str(self.conn).encode(), _MNT_DETACH)
            self.capped = False
        shutil.rmtree(self.path, ignore_errors=True)


def private_mount_namespace() -> bool:
    """Give this process (a grading process, as root) mounts of its own: the tmpfs it mounts for
    its kernels vanish with it, even when it is killed at its time limit. False if not possible."""
    if os.geteuid() != 0:
        return False
    if _libc.unshare(_CLONE_NEWNS) != 0:
        return False
    return _libc.mount(None, b"/", None, _MS_REC | _MS_PRIVATE, None) == 0


class KernelOutput:
    """A pipe for a kernel's stdout and stderr; a thread keeps the last KEPT_OUTPUT bytes."""

    def __init__(self):
        self._read, self.write_fd = os.pipe()
        self._kept: collections.deque[bytes] = collections.deque()
        self._size = 0
        self._lock = threading.Lock()
        threading.Thread(target=self._drain, name="kernel output", daemon=True).start()

    def launched(self) -> None:
        """The kernel has its copy of the write end: close ours, so the thread ends with the kernel."""
        if self.write_fd is not None:
            os.close(self.write_fd)
            self.write_fd = None

    def _drain(self) -> None:
        with os.fdopen(self._read, "rb", buffering=0) as pipe:
            while chunk := pipe.read(1 << 16):
                with self._lock:
                    self._kept.append(chunk)
                    self._size += len(chunk)
                    while self._size - len(self._kept[0]) >= KEPT_OUTPUT:
                        self._size -= len(self._kept.popleft())

    def tail(self, limit: int = 2000) -> str:
        with self._lock:
            data = b"".join(self._kept)
        return data[-limit:].decode(errors="replace")
