"""What a TA and a student call each graded cell: "A.1 entropy", not `test_entropy`.

The label is the Part and question as the notebook heads them (`## Part A: ...`, then
`### A.1 ...` or `### Question A1 ...`), followed by the grade id without its `test_`
prefix, so it still leads to the cell in formgrader. Headings are read from the
release (the instructor's text), never from a submission: a student could write any
heading into an answer cell.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from ..course import read_notebook, source_notebook

PART = re.compile(r"^##\s+Part\s+(\w+)\b")
QUESTION = re.compile(r"^###\s+(?:Question\s+)?(?:([A-Z])\.?(\d+)|(\d+)\.(\d+))\b")  # A.1, A1 or 1.2
HEADING = re.compile(r"^(#{1,6})\s")


@dataclass(frozen=True)
class Label:
    part: str  # "A", or "" before any `## Part` heading
    question: str  # "A.1", or "" where the cell sits under its Part heading alone
    name: str  # the grade id without "test_"

    @property
    def number(self) -> str:
        return self.question or self.part

    def __str__(self) -> str:
        return f"{self.number} {self.name}".strip()


def name_of(grade_id: str) -> str:
    return grade_id.removeprefix("test_") or grade_id


def headings(source: str):
    """The markdown headings of a cell, outside fenced code."""
    fenced = False
    for line in source.splitlines():
        if line.lstrip().startswith(("```", "~~~")):
            fenced = not fenced
        elif not fenced and HEADING.match(line):
            yield line.strip()


def notebook_labels(nb) -> dict[str, Label]:
    """grade id -> Label for every graded cell and answer cell of a (release or source) notebook."""
    labels, part, question = {}, "", ""
    for cell in nb.cells:
        meta = cell.metadata.get("nbgrader", {})
        if cell.cell_type == "markdown" and not meta.get("solution"):
            for line in headings(cell.source):
                level = len(HEADING.match(line).group(1))
                if level <= 2:  # a new Part, or a section outside any Part ("## Summary")
                    found = PART.match(line)
                    part, question = (found.group(1) if found else ""), ""
                elif level == 3:  # a question, or an unnumbered sub-section that ends the last one
                    found = QUESTION.match(line)
                    question = ".".join(g for g in found.groups() if g) if found else ""
        if (meta.get("grade") or meta.get("solution")) and meta.get("grade_id"):
            labels[meta["grade_id"]] = Label(part, question, name_of(meta["grade_id"]))
    return labels


def assignment_labels(root: Path, assignment: str, grade_ids) -> dict[str, Label]:
    """grade id -> Label, from release/<A>/<A>.ipynb (else the source notebook). A grade id the
    notebook does not hold is labelled by its own name."""
    labels: dict[str, Label] = {}
    for path in (root / "release" / assignment / f"{assignment}.ipynb", source_notebook(root, assignment)):
        if path.is_file():
            labels = notebook_labels(read_notebook(path))
            break
    return {grade_id: labels.get(grade_id, Label("", "", name_of(grade_id))) for grade_id in grade_ids}
