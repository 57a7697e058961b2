"""A gradebook CSV that Canvas's grade import accepts.

Canvas matches rows on `ID` (the Canvas user id, which a Canvas submissions
download puts in every file name) or the SIS columns, and an existing
assignment by the column title `Name (assignment id)`; nbgrader_config.py names it:

    c.Course.canvas_columns = {"01_entropy_kl": "Assignment 1: Entropy and KL (12345)"}

Without an entry the column is the bare assignment name, and Canvas makes a new
assignment of it on import. The row after the header holds the points possible.
A submission that is not fully graded (not graded by the batch, or written answers that
no grader has scored yet: ClassResults.held_back) is left blank, so that no partial score
reaches students as final; the terminal table names them, and the class report gives
each one's reason.
"""

from __future__ import annotations

import csv
from pathlib import Path

from ..course import check_config
from .report import ClassResults, class_results, spreadsheet_safe

HEADER = ["Student", "ID", "SIS User ID", "SIS Login ID", "Section"]


def column_title(root: Path, assignment: str) -> str:
    return dict(check_config(root).Course.get("canvas_columns", {})).get(assignment, assignment)


def write_canvas(root: Path, assignment: str, results: ClassResults | None = None) -> Path:
    results = results or class_results(root, assignment)
    path = root / "reports" / assignment / "canvas.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow([*HEADER, column_title(root, assignment)])
        writer.writerow(["Points Possible", "", "", "", "", f"{results.total_max:g}"])
        for row in results.rows:
            score = "" if results.held_back(row) else f"{row.total:g}"
            writer.writerow([spreadsheet_safe(v) for v in (row.name, row.student, "", "", "", score)])
    return path
