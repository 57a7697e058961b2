"""Stage one submission for grading: a clean, repaired copy, or the reason there is none.

This runs in the submission's own grading process (vicourse/batch/grading_child.py), which the
batch kills at its time limit, so a hostile notebook can hold up nothing but itself; the
coordinator only reads the submitted files as bytes. Staging

* copies the submitted folder, leaving out symbolic links (following one would copy whatever
  it points at, with the grader's rights);
* finds the notebook (another .ipynb is graded under the assignment's name, with a note);
* reads it as a clean nbformat 4 notebook (vicourse/grading/repair.py: bounded in size and cells);
* says so when it is another assignment's notebook;
* repairs it against the release, within STAGING_SECONDS ("unreadable: too large" past them).
"""

from __future__ import annotations

import contextlib
import shutil
import signal
import threading
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

from .repair import edited_locked_cells, grade_id, load_submission, repair

STAGING_SECONDS = 30.0


@dataclass
class Staged:
    notes: list[str] = field(default_factory=list)
    unreadable: str | None = None  # why there is nothing to grade


class TooSlow(BaseException):  # not an Exception: no broad handler on the way may swallow it
    pass


@contextlib.contextmanager
def time_budget(seconds: float):
    """Raise TooSlow in this (main) thread after `seconds`; elsewhere, no budget."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def expire(*_):
        raise TooSlow

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def copy_without_links(source: Path, target: Path) -> list[str]:
    """Copy a submitted folder; the relative paths of the links left out."""
    shutil.rmtree(target, ignore_errors=True)
    shutil.copytree(source, target, symlinks=True)
    links = sorted(p for p in target.rglob("*") if p.is_symlink())
    for link in links:
        link.unlink()
    return [str(p.relative_to(target)) for p in links]


def whose_notebook(nb, assignment: str, release_root: Path) -> str | None:
    """The other assignment this notebook belongs to, when its graded cells are that one's."""
    ids = {grade_id(c) for c in nb.cells if grade_id(c)}
    if not ids:
        return None
    owners = {}
    for release in sorted(release_root.glob("*/*.ipynb")):
        if release.stem != release.parent.name:
            continue
        theirs = {grade_id(c) for c in nbformat.read(str(release), as_version=4).cells if grade_id(c)}
        owners[release.stem] = len(ids & theirs) / max(len(theirs), 1)
    best = max(owners, key=owners.get, default=None)
    if best and best != assignment and owners[best] >= 0.5 and owners.get(assignment, 0.0) < 0.2:
        return best
    return None


def stage_folder(source: Path, target: Path, assignment: str, release_root: Path,
                 seconds: float = STAGING_SECONDS) -> Staged:
    """Stage `source` (a submitted folder) as `target`, laid out as nbgrader's submitted/<student>/<A>/."""
    staged = Staged()
    links = copy_without_links(source, target)
    if links:
        staged.notes.append("symbolic links in the submission were dropped: " + ", ".join(links))
    wanted = target / f"{assignment}.ipynb"
    if not wanted.is_file():
        others = sorted(p for p in target.glob("*.ipynb") if p.is_file())
        if not others:
            staged.unreadable = f"no notebook in the submission (expected {assignment}.ipynb)"
            return staged
        others[0].rename(wanted)
        staged.notes.append(f"graded {others[0].name} as {assignment}.ipynb")
    release_nb = nbformat.read(str(release_root / assignment / f"{assignment}.ipynb"), as_version=4)
    try:
        with time_budget(seconds):
            loaded = load_submission(wanted)
            staged.notes += loaded.notes
            if loaded.fatal:
                staged.unreadable = loaded.fatal
            elif (other := whose_notebook(loaded.notebook, assignment, release_root)) is not None:
                staged.unreadable = f"this is {other}'s notebook, not {assignment}'s"
            else:
                fixed = repair(loaded.notebook, release_nb)
                staged.notes += fixed.notes
                edited = edited_locked_cells(loaded.notebook, release_nb)
                if edited:
                    staged.notes.append("locked cells edited (restored from the release for grading): "
                                        + ", ".join(edited))
                nbformat.write(fixed.notebook, str(wanted))
    except TooSlow:
        staged.unreadable = f"unreadable: too large (reading and repairing it took more than {seconds:g} s)"
    if staged.unreadable:
        wanted.unlink(missing_ok=True)
    return staged
