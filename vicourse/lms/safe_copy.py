"""Copying a folder that a student can still change, without following anything planted in it.

A submission folder in the exchange's inbound belongs to its student until it is collected:
between any check and any copy the student can swap a file for a symbolic link to the
instructor's source notebook or grader module, which the collecting instructor can read and
the student cannot. So nothing here is checked by path and then opened by path again. Each
folder is opened with O_NOFOLLOW and read through its descriptor; each file is opened with
O_NOFOLLOW (a link fails to open) and O_NONBLOCK (a named pipe cannot hang the copy), and
then checked on that open descriptor (fstat): only a regular file with a single name (no
hard link) owned by the folder's owner is copied, from that descriptor. Links, hard links,
devices, pipes and sockets are refused with their path and kind; nothing else is dropped.

`changed` is the latest inode change time (ctime) seen, read after each file was copied: a
time the kernel sets and no user can set back, unlike a file's name or modification time.
"""

from __future__ import annotations

import errno
import fnmatch
import os
import pwd
import stat
from dataclasses import dataclass, field
from pathlib import Path

DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
FILE_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC
CHUNK = 1 << 20
MAX_DEPTH = 32

LINK, HARD_LINK, SPECIAL, FOREIGN, UNREADABLE = ("symbolic link", "hard link", "device, pipe or socket",
                                                 "owned by another user", "unreadable")


@dataclass
class Copied:
    files: list[str] = field(default_factory=list)  # relative paths copied
    refused: list[tuple[str, str, str]] = field(default_factory=list)  # (path, kind, why)
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (path, why): by the course's ignore rules
    changed: float = 0.0  # latest ctime seen (seconds since the epoch)
    owner: int = -1  # uid of the copied folder
    size: int = 0


@dataclass
class Rules:
    """nbgrader's own copy rules (CourseDirectory.ignore, include, max_file_size, max_dir_size)."""

    ignore: list[str] = field(default_factory=list)
    include: list[str] = field(default_factory=lambda: ["*"])
    max_file_bytes: int | None = None
    max_total_bytes: int | None = None
    max_files: int = 10_000  # a million empty files would cost no bytes, but hours


def kind_of(mode: int) -> tuple[str, str]:
    if stat.S_ISLNK(mode):
        return LINK, "a symbolic link"
    if stat.S_ISFIFO(mode):
        return SPECIAL, "a named pipe (FIFO)"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return SPECIAL, "a device"
    if stat.S_ISSOCK(mode):
        return SPECIAL, "a socket"
    return SPECIAL, "not a regular file"


def user_name(uid: int) -> str:
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return f"uid {uid}"


class Refused(Exception):
    """The folder itself cannot be copied (a link, not a folder, unreadable)."""


def copy_tree(source: str | os.PathLike, target: str | os.PathLike, rules: Rules | None = None,
              check_owner: bool = True) -> Copied:
    """Copy the folder `source` to the new folder `target` (see the module's docstring).
    check_owner: every file and folder must belong to the owner of `source`."""
    try:
        top = os.open(source, DIR_FLAGS)
    except OSError as error:
        if error.errno in (errno.ELOOP, errno.ENOTDIR):
            mode = os.lstat(source).st_mode
            raise Refused(kind_of(mode)[1] if not stat.S_ISDIR(mode) else "not a folder") from error
        raise Refused(f"cannot be read ({error.strerror})") from error
    try:
        info = os.fstat(top)
        copied = Copied(changed=info.st_ctime, owner=info.st_uid)
        os.mkdir(target, 0o755)
        _copy_folder(top, Path(target), "", copied, rules or Rules(), check_owner, 0)
        copied.changed = max(copied.changed, os.fstat(top).st_ctime)
        return copied
    finally:
        os.close(top)


def _copy_folder(folder: int, target: Path, prefix: str, copied: Copied, rules: Rules, check_owner: bool,
                 depth: int) -> None:
    for name in sorted(os.listdir(folder)):
        relative = prefix + name
        try:
            mode = os.stat(name, dir_fd=folder, follow_symlinks=False).st_mode
        except FileNotFoundError:
            continue  # removed while we looked: not part of the submission
        if stat.S_ISDIR(mode):
            if any(fnmatch.fnmatch(name, glob) for glob in rules.ignore):
                copied.skipped.append((relative, "ignored by the course's CourseDirectory.ignore"))
            elif depth >= MAX_DEPTH:
                copied.refused.append((relative, UNREADABLE, f"folders nested deeper than {MAX_DEPTH}"))
            else:
                _open_folder(folder, name, target, relative, copied, rules, check_owner, depth)
        elif stat.S_ISREG(mode):
            if len(copied.files) >= rules.max_files:
                copied.skipped.append((relative, f"the submission holds more than {rules.max_files} files"))
            elif not _skipped(name, relative, copied, rules):
                _copy_file(folder, name, target / name, relative, copied, rules, check_owner)
        else:
            copied.refused.append((relative, *kind_of(mode)))


def _open_folder(folder, name, target, relative, copied, rules, check_owner, depth) -> None:
    try:
        inner = os.open(name, DIR_FLAGS, dir_fd=folder)
    except OSError as error:  # ELOOP: swapped for a link since we looked
        why = kind_of(stat.S_IFLNK) if error.errno == errno.ELOOP else (UNREADABLE, f"cannot be read ({error.strerror})")
        copied.refused.append((relative, *why))
        return
    try:
        info = os.fstat(inner)
        if check_owner and info.st_uid != copied.owner:
            copied.refused.append((relative, FOREIGN, f"a folder owned by {user_name(info.st_uid)}, "
                                                      f"not by {user_name(copied.owner)} who submitted"))
            return
        os.mkdir(target / name, 0o755)
        _copy_folder(inner, target / name, relative + "/", copied, rules, check_owner, depth + 1)
        copied.changed = max(copied.changed, os.fstat(inner).st_ctime)
    finally:
        os.close(inner)


def _skipped(name: str, relative: str, copied: Copied, rules: Rules) -> bool:
    if any(fnmatch.fnmatch(name, glob) for glob in rules.ignore):
        copied.skipped.append((relative, "ignored by the course's CourseDirectory.ignore"))
    elif not any(fnmatch.fnmatch(name, glob) for glob in rules.include):
        copied.skipped.append((relative, "not in the course's CourseDirectory.include"))
    else:
        return False
    return True


def _copy_file(folder: int, name: str, target: Path, relative: str, copied: Copied, rules: Rules,
               check_owner: bool) -> None:
    try:
        source = os.open(name, FILE_FLAGS, dir_fd=folder)
    except OSError as error:
        why = kind_of(stat.S_IFLNK) if error.errno == errno.ELOOP else (UNREADABLE, f"cannot be read ({error.strerror})")
        copied.refused.append((relative, *why))
        return
    try:
        info = os.fstat(source)  # what was opened, whatever the name points at now
        if not stat.S_ISREG(info.st_mode):
            copied.refused.append((relative, *kind_of(info.st_mode)))
        elif info.st_nlink > 1:
            copied.refused.append((relative, HARD_LINK, f"a hard link (one of {info.st_nlink} names of one file)"))
        elif check_owner and info.st_uid != copied.owner:
            copied.refused.append((relative, FOREIGN, f"owned by {user_name(info.st_uid)}, "
                                                      f"not by {user_name(copied.owner)} who submitted"))
        elif rules.max_file_bytes is not None and info.st_size > rules.max_file_bytes:
            copied.skipped.append((relative, f"larger than the course's limit of {rules.max_file_bytes} bytes"))
        elif rules.max_total_bytes is not None and copied.size + info.st_size > rules.max_total_bytes:
            copied.skipped.append((relative, f"the submission exceeds the course's limit of {rules.max_total_bytes} bytes"))
        elif _write(source, target, copied, rules):
            copied.files.append(relative)
            copied.changed = max(copied.changed, os.fstat(source).st_ctime)
        else:
            target.unlink()
            copied.skipped.append((relative, "grew beyond the course's file size limit while it was copied"))
    finally:
        os.close(source)


def _write(source: int, target: Path, copied: Copied, rules: Rules) -> bool:
    """Copy from the open descriptor; False if the file grew beyond the limit meanwhile."""
    limit = rules.max_file_bytes
    sink = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644)
    written = 0
    with os.fdopen(sink, "wb") as out:
        while chunk := os.read(source, CHUNK):
            written += len(chunk)
            if limit is not None and written > limit:
                return False
            out.write(chunk)
    copied.size += written
    return True
