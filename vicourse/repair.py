"""Bring a damaged submission back into a shape nbgrader can grade.

Students copy cells into new notebooks (losing nbgrader metadata), delete
cells, or submit files that are not notebooks.  nbgrader then scores nothing,
or crashes (add_missing_cells raises KeyError when the cell before a deleted
one is not graded).  `repair` matches the submission against the release:

* a cell that lost its metadata gets it back when it is recognisably that
  cell: same source for locked cells, the same `def name` / closest text for
  answer cells, in the same order as the release;
* a graded cell that is gone is re-inserted (blank) right after the graded
  cell that precedes it in the release.

Every change is reported, so the TA sees what was done and why.
"""

from __future__ import annotations

import copy
import difflib
import json
import os
import re
from dataclasses import dataclass, field

import nbformat

DEF_NAME = re.compile(r"^\s*def\s+(\w+)\s*\(", re.M)


@dataclass
class Repair:
    notebook: object | None
    notes: list[str] = field(default_factory=list)
    fatal: str | None = None


def grade_id(cell) -> str | None:
    return cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")


# A notebook this course hands in is well under a megabyte; anything past this is refused
# before it is parsed, so a huge or deeply nested file cannot exhaust the grader.
MAX_NOTEBOOK_BYTES = 50_000_000


def load_submission(path) -> Repair:
    """Read a notebook; a file that is not one is reported, never raised."""
    try:
        size = os.path.getsize(path)
        if size > MAX_NOTEBOOK_BYTES:
            raise ValueError(f"{size} bytes, more than the {MAX_NOTEBOOK_BYTES} accepted")
        with open(path, encoding="utf-8") as handle:
            raw = json.load(handle)
        nb = nbformat.reads(json.dumps(raw), as_version=4)
        if not isinstance(nb.get("cells"), list):
            raise ValueError("no list of cells")
    except (OSError, UnicodeDecodeError, ValueError, TypeError, KeyError, AttributeError, RecursionError) as exc:
        return Repair(None, fatal=f"not a readable notebook ({type(exc).__name__}: {str(exc)[:120]})")
    return Repair(nb)


def _similarity(a: str, b: str) -> float:
    return difflib.SequenceMatcher(None, a, b, autojunk=False).ratio()


def _claim(release_cell, candidates):
    """The index of the submission cell that is this release cell without metadata, or None."""
    meta = release_cell.metadata["nbgrader"]
    same_type = [(i, c) for i, c in candidates if c.cell_type == release_cell.cell_type]
    for i, cell in same_type:
        if cell.source.strip() == release_cell.source.strip():
            return i
    if not meta.get("solution"):
        return None  # locked cells are recognised by their exact text only
    names = set(DEF_NAME.findall(release_cell.source))
    if names:
        with_name = [(i, c) for i, c in same_type if names & set(DEF_NAME.findall(c.source))]
        if with_name:
            return with_name[0][0]
        return None
    scored = [(_similarity(c.source, release_cell.source), i) for i, c in same_type]
    best = max(scored, default=(0.0, None))
    return best[1] if best[0] >= 0.5 else None


def repair(nb, release_nb) -> Repair:
    """Return a repaired copy of `nb` (a NotebookNode) and notes on what changed."""
    nb = copy.deepcopy(nb)
    result = Repair(nb)
    present = {grade_id(c) for c in nb.cells if grade_id(c)}
    release_graded = [c for c in release_nb.cells if grade_id(c)]

    # 1. give lost metadata back, walking both notebooks in order
    position = 0
    for release_cell in release_graded:
        gid = grade_id(release_cell)
        if gid in present:
            position = next(i for i, c in enumerate(nb.cells) if grade_id(c) == gid) + 1
            continue
        candidates = [(i, c) for i, c in enumerate(nb.cells) if i >= position and not grade_id(c)]
        found = _claim(release_cell, candidates)
        if found is not None:
            nb.cells[found].metadata["nbgrader"] = copy.deepcopy(release_cell.metadata["nbgrader"])
            present.add(gid)
            position = found + 1
            result.notes.append(f"cell {gid}: nbgrader metadata was missing and has been restored")

    # 2. re-insert graded cells that are gone, after their predecessor in the release
    for index, release_cell in enumerate(release_graded):
        gid = grade_id(release_cell)
        if gid in present:
            continue
        previous = [grade_id(c) for c in release_graded[:index]]
        where = 0
        for cell_index, cell in enumerate(nb.cells):
            if grade_id(cell) in previous:
                where = cell_index + 1
        blank = copy.deepcopy(release_cell)
        if blank.cell_type == "code":
            blank.outputs, blank.execution_count = [], None
        nb.cells.insert(where, blank)
        present.add(gid)
        result.notes.append(f"cell {gid}: missing from the submission; the release's version was put back")
    return result


def edited_locked_cells(nb, release_nb) -> list[str]:
    """Grade ids of locked cells (tests, read-only text) whose text the student changed."""
    release = {grade_id(c): c for c in release_nb.cells if grade_id(c)}
    edited = []
    for cell in nb.cells:
        gid = grade_id(cell)
        ref = release.get(gid)
        if ref is not None and ref.metadata["nbgrader"].get("locked") and cell.source.strip() != ref.source.strip():
            edited.append(gid)
    return edited
