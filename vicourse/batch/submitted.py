"""What the coordinator reads of submitted/<student>/<A>/: who submitted, their files as bytes, and
whether anything changed since they were last graded.

The files are read through descriptors that never follow a link (vicourse/lms/safe_copy.py) and
sent as bytes; each grading process stages (parses, repairs) its own (vicourse/grading/staging.py).
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path

from ..grading.staging import stage_folder
from ..lms.exchange import course_copies
from ..lms.safe_copy import HARD_LINK, LINK, SPECIAL, UNREADABLE, Copied, Refused, Rules, copy_tree
from .outcomes import Outcome

STAGED = "build/staged"


def stage(root: Path, assignment: str, outcome: Outcome) -> Path:
    """Stage one submission in build/staged/<A>/<student>/<A>/ here, as each grading process does
    for its own (vicourse/grading/staging.py), noting what was done in its outcome (status "unreadable"
    when there is nothing to grade). The staged copies are laid out as nbgrader's submitted/, so
    stock autograde can grade them too (tests and benchmarks compare the two)."""
    target = root / STAGED / assignment / outcome.student / assignment
    files = submitted_files(root, root / "submitted" / outcome.student / assignment, outcome)
    with tempfile.TemporaryDirectory(prefix="vicourse-received-") as received:
        for relative, data in (files or {}).items():
            (Path(received) / relative).parent.mkdir(parents=True, exist_ok=True)
            (Path(received) / relative).write_bytes(data)
        staged = stage_folder(Path(received), target, assignment, root / "release")
    outcome.notes.extend(staged.notes)
    if staged.unreadable and files is not None:
        outcome.status = "unreadable"
        outcome.notes.append(staged.unreadable)
    return target


# What the coordinator reads of a submitted folder, before any parsing: a notebook and the few
# files beside it. Past this, the submission is too large to grade.
MAX_SUBMISSION_BYTES = 100_000_000


DROPPED = ((LINK, "symbolic links"), (HARD_LINK, "hard links"), (SPECIAL, "devices, pipes and sockets"),
           (UNREADABLE, "unreadable files"))


def submitted_files(root: Path, folder: Path, outcome: Outcome) -> dict[str, bytes] | None:
    """The regular files of a submitted folder, as bytes, read through descriptors that never follow
    a link (vicourse/lms/safe_copy.py): links, hard links, devices and pipes are left out with a note,
    and a copy of one of the course's private files is flagged. None, with the outcome marked
    unreadable, when there is too much to read."""
    with tempfile.TemporaryDirectory(prefix="vicourse-submitted-") as scratch:
        target = Path(scratch) / "files"
        try:
            copied = copy_tree(folder, target, Rules(max_total_bytes=MAX_SUBMISSION_BYTES), check_owner=False)
        except Refused as error:
            target.mkdir(exist_ok=True)
            copied = Copied(refused=[(".", LINK, str(error))])
        for kind, words in DROPPED:
            dropped = sorted(path for path, k, _ in copied.refused if k == kind)
            if dropped:
                outcome.notes.append(f"{words} in the submission were dropped: " + ", ".join(dropped))
        outcome.notes += [f"FLAGGED: {mine} has the same bytes as the course's private {theirs}"
                          for mine, theirs in course_copies(root, target)]
        if copied.size > MAX_SUBMISSION_BYTES or any(why for _, why in copied.skipped if "bytes" in why):
            outcome.status = "unreadable"
            outcome.notes.append(f"unreadable: too large (more than {MAX_SUBMISSION_BYTES} bytes of files)")
            return None
        return {str(p.relative_to(target)): p.read_bytes() for p in sorted(target.rglob("*")) if p.is_file()}


def students(root: Path, assignment: str) -> list[str]:
    return sorted(p.parent.name for p in (root / "submitted").glob(f"*/{assignment}") if p.is_dir())


def folder_digest(folder: Path) -> str:
    """Content hash of a submission folder: every file's path and bytes, links by their target.
    A folder too large to grade is known by its files' names, sizes and times instead."""
    digest = hashlib.sha256()
    paths = sorted(folder.rglob("*")) if folder.is_dir() else []
    huge = sum(p.lstat().st_size for p in paths if p.is_file() and not p.is_symlink()) > MAX_SUBMISSION_BYTES
    for path in paths:
        relative = str(path.relative_to(folder)).encode()
        if path.is_symlink():
            digest.update(b"link\0" + relative + b"\0" + os.readlink(path).encode() + b"\0")
        elif path.is_file():
            found = path.lstat()
            content = f"{found.st_size}:{found.st_mtime_ns}".encode() if huge else path.read_bytes()
            digest.update(b"file\0" + relative + b"\0" + hashlib.sha256(content).digest())
    return digest.hexdigest()


def grading_digest(root: Path, assignment: str, extra: list[str]) -> str:
    """What grades a submission besides itself: its hidden checks, the config, the options."""
    digest = hashlib.sha256(json.dumps(extra).encode())
    for path in (root / "grader_tests" / f"test_{assignment}.py", root / "nbgrader_config.py"):
        digest.update(path.read_bytes() if path.exists() else b"")
    return digest.hexdigest()


def unchanged(previous: dict | None, digest: str, in_gradebook: set[str]) -> bool:
    """Graded before from the same files by the same graders, and its rows are in the gradebook."""
    if not previous or previous.get("digest") != digest:
        return False
    return previous["status"] != "graded" or previous["student"] in in_gradebook
