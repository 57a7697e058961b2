"""A gradebook CSV that Canvas's grade import accepts.

Canvas matches rows on `ID` (the Canvas user id, which a Canvas submissions
download puts in every file name) or the SIS columns, and an existing
assignment by the column title `Name (assignment id)`; nbgrader_config.py names it:

    c.Course.canvas_columns = {"01_entropy_kl": "Assignment 1: Entropy and KL (12345)"}

Without an entry the column is the bare assignment name, and Canvas makes a new
assignment of it on import. The row after the header holds the points possible.
A submission that was not fully graded is left blank, so that no unreviewed score
reaches students; the class report lists each such submission with its reason.
"""

from __future__ import annotations

import csv
from pathlib import Path

from .course import check_config
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
            score = f"{row.total:g}" if row.status == "graded" else ""
            writer.writerow([spreadsheet_safe(v) for v in (row.name, row.student, "", "", "", score)])
    return path
