"""Every report of an assignment, from one reading of the gradebook (`make report A=...`).

reports/<A>/: grades.csv, gradescope/<student>/results.json, canvas.csv,
similarity.csv + similarity.html, and class_report.html (written last, so it can
link to the similarity report).
"""

from __future__ import annotations

from pathlib import Path

from .canvas import write_canvas
from .class_report import write_class_report
from .gradescope import write_results
from .report import ClassResults, class_results, write_report
from .similarity import write_similarity


def write_all(root: Path, assignment: str) -> ClassResults:
    """Write every report; return what they were written from (grades_table.print_table shows it)."""
    results = class_results(root, assignment)
    write_report(root, assignment, results)
    write_results(root, assignment, results)
    write_canvas(root, assignment, results)
    write_similarity(root, assignment)
    write_class_report(root, assignment, results)
    return results
