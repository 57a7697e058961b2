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
import json
import os
import re
from dataclasses import dataclass, field

import nbformat

DEF_NAME = re.compile(r"^\s*def\s+(\w+)\s*\(", re.M)
WORD = re.compile(r"\w+|[^\w\s]")
# Text compared when matching an answer cell that lost its metadata: enough to recognise a cell,
# and a bound on the work a huge cell can cause
COMPARED_CHARS = 4000


@dataclass
class Repair:
    notebook: object | None
    notes: list[str] = field(default_factory=list)
    fatal: str | None = None


def grade_id(cell) -> str | None:
    return cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")


# A notebook this course hands in is well under a megabyte, with under a hundred cells; anything
# past these bounds is refused before nbformat parses it, so a huge or deeply nested file cannot
# hold up the grader. One cell may hold a few hundred thousand characters of pasted numbers (a
# model's parameters) and is still graded; staging's time budget bounds the matching either way.
MAX_NOTEBOOK_BYTES = 50_000_000
MAX_CELLS = 1000
MAX_CELL_CHARS = 2_000_000
CELL_TYPES = ("code", "markdown", "raw")


def load_submission(path) -> Repair:
    """Read a notebook as a clean nbformat 4 notebook made of its cells' types, sources and
    metadata (outputs are dropped: grading runs every code cell again). Anything that is not a
    notebook, or is too large, is reported with the reason, never raised."""
    try:
        size = os.path.getsize(path)
        if size > MAX_NOTEBOOK_BYTES:
            return Repair(None, fatal=f"unreadable: too large ({size} bytes; at most {MAX_NOTEBOOK_BYTES})")
        with open(path, encoding="utf-8") as handle:
            raw = json.load(handle)
        return from_json(raw)
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        return Repair(None, fatal=f"not a readable notebook: the file is not JSON ({type(exc).__name__})")
    except Exception as exc:  # noqa: BLE001 - whatever the file holds, it is a reason, never a crash
        return Repair(None, fatal=f"not a readable notebook ({type(exc).__name__})")


def from_json(raw) -> Repair:
    notes: list[str] = []
    if not isinstance(raw, dict) or "nbformat" not in raw:
        return Repair(None, fatal="not a notebook: the JSON has no nbformat version")
    version = raw.get("nbformat")
    if version == 3 and isinstance(raw.get("worksheets"), list):
        cells = [c for sheet in raw["worksheets"] if isinstance(sheet, dict) for c in sheet.get("cells") or []]
        cells = [_from_v3(c) for c in cells if isinstance(c, dict)]
        notes.append("an nbformat 3 notebook: its cells were read into nbformat 4")
    elif version == 4 and isinstance(raw.get("cells"), list):
        cells = raw["cells"]
    else:
        return Repair(None, fatal=f"not a notebook this course can read (nbformat {str(version)[:10]}, "
                                  "expected 4): save it from Jupyter 7 or JupyterLab")
    if len(cells) > MAX_CELLS:
        return Repair(None, fatal=f"unreadable: too large ({len(cells)} cells; at most {MAX_CELLS})")
    clean, dropped, bare = [], 0, 0
    for index, cell in enumerate(cells):
        if not isinstance(cell, dict) or cell.get("cell_type") not in CELL_TYPES:
            dropped += 1
            continue
        source = cell.get("source", "")
        if isinstance(source, list) and all(isinstance(line, str) for line in source):
            source = "".join(source)
        if not isinstance(source, str):
            dropped += 1
            continue
        if len(source) > MAX_CELL_CHARS:
            return Repair(None, fatal=f"unreadable: too large (cell {index} holds {len(source)} characters; at most "
                                      f"{MAX_CELL_CHARS})")
        metadata = cell.get("metadata")
        if not isinstance(metadata, dict):
            bare += 1
            metadata = {}
        nbgrader = metadata.get("nbgrader")
        kept = {"nbgrader": dict(nbgrader)} if isinstance(nbgrader, dict) else {}
        if cell["cell_type"] == "code":
            made = nbformat.v4.new_code_cell(source, metadata=kept)
        elif cell["cell_type"] == "markdown":
            made = nbformat.v4.new_markdown_cell(source, metadata=kept)
        else:
            made = nbformat.v4.new_raw_cell(source, metadata=kept)
        clean.append(made)
    if dropped:
        notes.append(f"{dropped} cells that were not notebook cells were left out")
    if bare:
        notes.append(f"{bare} cells had no metadata")
    return Repair(nbformat.v4.new_notebook(cells=clean), notes)


def _from_v3(cell: dict) -> dict:
    kind = {"heading": "markdown"}.get(cell.get("cell_type"), cell.get("cell_type"))
    source = cell.get("input", cell.get("source", ""))
    if cell.get("cell_type") == "heading" and isinstance(source, str):
        source = "#" * int(cell.get("level", 1) if str(cell.get("level", 1)).isdigit() else 1) + " " + source
    return {"cell_type": kind, "source": source, "metadata": cell.get("metadata", {})}


def _tokens(text: str) -> set[str]:
    return set(WORD.findall(text[:COMPARED_CHARS]))


def _similarity(a: str, b: str) -> float:
    """How alike two cells read: the share of tokens they have in common (linear in their length)."""
    first, second = _tokens(a), _tokens(b)
    if not first and not second:
        return 1.0
    return len(first & second) / len(first | second)


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


def one_cell_per_grade_id(nb, release_nb) -> list[str]:
    """nbgrader metadata as the release defines it, on one cell per grade id. A grade id the
    release does not have (a cell pasted from another notebook) and the extra copies of a
    duplicated cell lose their metadata and run as ordinary cells; of copies, the one the
    student changed is kept. Returns notes on what was dropped."""
    release = {grade_id(c): c for c in release_nb.cells if grade_id(c)}
    notes, seen = [], {}
    for index, cell in enumerate(nb.cells):
        gid = grade_id(cell)
        if gid is None:
            cell.metadata.pop("nbgrader", None)
            continue
        if gid not in release:
            cell.metadata.pop("nbgrader")
            notes.append(f"cell {index}: its grade id is not one of this assignment's; graded as an ordinary cell")
            continue
        seen.setdefault(gid, []).append(index)
    for gid, indices in seen.items():
        blank = release[gid].source.strip()
        kept = next((i for i in indices if nb.cells[i].source.strip() != blank), indices[0])
        for index in indices:
            if index == kept:
                nb.cells[index].metadata["nbgrader"] = copy.deepcopy(release[gid].metadata["nbgrader"])
            else:
                nb.cells[index].metadata.pop("nbgrader")
        if len(indices) > 1:
            notes.append(f"cell {gid} appears {len(indices)} times; cell {kept} was graded, the other copies ran as "
                         "ordinary cells")
    return notes


def repair(nb, release_nb) -> Repair:
    """Return a repaired copy of `nb` (a NotebookNode) and notes on what changed."""
    nb = copy.deepcopy(nb)
    nb.metadata = copy.deepcopy(release_nb.metadata)  # the kernel and language the course grades with
    result = Repair(nb, one_cell_per_grade_id(nb, release_nb))
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
