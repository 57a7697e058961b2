"""Sample submissions for the demo, made from the release as a student would.

* full    - every answer cell filled with the solution;
* partial - the first half of the autograded answers filled, the rest left blank;
* broken  - filled, but one answer loops forever ignoring interrupts, one test
            cell is deleted, and one answer cell lost its nbgrader metadata;
* cheater - monkeypatches numpy's comparisons and returns an object whose
            `==` is always true;
* garbled - not a notebook at all (truncated JSON).
"""

from __future__ import annotations

import copy
from pathlib import Path

import nbformat

from ..course import read_notebook, source_notebook
from .solutions import MARKER_LINE

KINDS = ("full", "partial", "broken", "cheater", "garbled")

LOOP = '''def {name}(*args, **kwargs):
    while True:  # never returns, and swallows the interrupt
        try:
            pass
        except KeyboardInterrupt:
            pass

{name}()
'''

CHEAT = '''import numpy as np

class AlwaysEqual(float):
    def __eq__(self, other):
        return True

np.isclose = lambda *args, **kwargs: True
np.allclose = lambda *args, **kwargs: True

def {name}(*args, **kwargs):
    return AlwaysEqual(0.0)
'''


def _grade_id(cell):
    return cell.metadata.get("nbgrader", {}).get("grade_id")


def filled(release_nb, source_nb, how_many: int | None = None, replace: dict[str, str] | None = None):
    """The release with its first `how_many` code answers (all if None) and every
    written answer replaced by the solution; then the answers named in `replace`
    (grade id -> source) replaced by that source, as in a calibration variant."""
    solutions = {_grade_id(c): MARKER_LINE.sub("", c.source) for c in source_nb.cells if _grade_id(c)}
    solutions.update(replace or {})
    nb = copy.deepcopy(release_nb)
    code_answers = 0
    for cell in nb.cells:
        meta = cell.metadata.get("nbgrader", {})
        if not meta.get("solution"):
            continue
        if cell.cell_type == "code":
            code_answers += 1
            if how_many is not None and code_answers > how_many:
                continue
        cell.source = solutions[_grade_id(cell)]
    return nb


def full_solution(root: Path, assignment: str):
    """The release with every answer filled in from the source: a full-marks submission."""
    return filled(read_notebook(root / "release" / assignment / f"{assignment}.ipynb"),
                  read_notebook(source_notebook(root, assignment)))


def submit(root: Path, assignment: str, notebooks: dict) -> None:
    """Hand in notebooks as students would: submitted/<name>/<assignment>/<assignment>.ipynb."""
    for name, nb in notebooks.items():
        folder = root / "submitted" / name / assignment
        folder.mkdir(parents=True, exist_ok=True)
        nbformat.write(nb, str(folder / f"{assignment}.ipynb"))


def make_example(kind: str, release_nb, source_nb) -> str:
    """The text of one sample submission."""
    answers = [c for c in release_nb.cells if c.cell_type == "code" and c.metadata.get("nbgrader", {}).get("solution")]
    if kind == "full":
        nb = filled(release_nb, source_nb)
    elif kind == "partial":
        nb = filled(release_nb, source_nb, how_many=len(answers) // 2)
    elif kind == "broken":
        nb = filled(release_nb, source_nb)
        loop_id, lost_id = _grade_id(answers[-1]), _grade_id(answers[0])
        tests = [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade") and c.cell_type == "code"
                 and not c.metadata["nbgrader"].get("solution")]
        for cell in nb.cells:
            if _grade_id(cell) == loop_id:
                cell.source = LOOP.format(name=loop_id)
            elif _grade_id(cell) == lost_id:
                cell.metadata = {}
        nb.cells = [c for c in nb.cells if c is not tests[len(tests) // 2]]
    elif kind == "cheater":
        nb = filled(release_nb, source_nb)
        first = _grade_id(answers[0])
        for cell in nb.cells:
            if _grade_id(cell) == first:
                cell.source = CHEAT.format(name=first)
    elif kind == "garbled":
        return nbformat.writes(filled(release_nb, source_nb))[:500]
    else:
        raise ValueError(kind)
    return nbformat.writes(nb)


def write_examples(root: Path, assignment: str) -> list[Path]:
    release_nb = read_notebook(root / "release" / assignment / f"{assignment}.ipynb")
    source_nb = read_notebook(source_notebook(root, assignment))
    folder = root / "examples" / assignment
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for kind in KINDS:
        path = folder / f"{kind}.ipynb"
        path.write_text(make_example(kind, release_nb, source_nb), encoding="utf-8")
        paths.append(path)
    return paths
