"""Gradescope-style results.json, one per submission, in Gradescope's documented format.

https://gradescope-autograders.readthedocs.io/en/latest/specs/ : top-level `score`,
`output`, `execution_time`, `stdout_visibility`, and `tests`, each with `name`,
`score`, `max_score`, `output` and `visibility`. Outputs are plain text
(`output_format: "text"`): a message can hold a student's file name or
exception type, and must not render as HTML on Gradescope's page.
"""

from __future__ import annotations

import json
from pathlib import Path

from .report import ClassResults, Row, class_results

VISIBILITIES = ("hidden", "after_due_date", "after_published", "visible")
TEST_KEYS = {"name", "score", "max_score", "output", "visibility", "number", "tags", "output_format", "status",
             "name_format", "extra_data"}
TOP_KEYS = {"score", "output", "tests", "execution_time", "stdout_visibility", "visibility", "output_format",
            "extra_data", "leaderboard", "test_output_format", "test_name_format"}


def results_json(results: ClassResults, row: Row, visibility: str = "visible") -> dict:
    """One submission's results: a test per autograded question. Written answers are graded
    by hand in formgrader and are counted in Canvas, not here."""
    tests = []
    for grade_id in results.columns:
        if grade_id in results.manual:
            continue
        points = results.max_points[grade_id]
        score = row.scores.get(grade_id) or 0.0
        said = "passed" if score >= points else row.messages.get(grade_id, "no points")
        tests.append({"name": results.label(grade_id), "score": score, "max_score": points, "output": said,
                      "visibility": visibility, "output_format": "text"})
    manual = sum(results.max_points[c] for c in results.manual)
    lines = [f"Autograded: {row.autograded:g} of {results.auto_max:g} points."]
    if manual:
        lines.append(f"Written answers ({manual:g} points) are graded by hand.")
    if row.status != "graded":
        lines.append(f"This submission could not be fully graded ({row.status}); a TA will review it.")
    lines += [f"Note: {note}" for note in row.notes]
    return {
        "score": row.autograded if row.status == "graded" else 0.0,
        "execution_time": round(row.seconds, 1),
        "output": "\n".join(lines),
        "output_format": "text",
        "stdout_visibility": "hidden",
        "tests": tests,
    }


def problems(data: dict) -> list[str]:
    """What in a results.json departs from Gradescope's documented fields and types."""
    found = [f"unknown top-level key {k}" for k in set(data) - TOP_KEYS]
    number = (int, float)
    if not isinstance(data.get("score"), number):
        found.append("score must be a number")
    for key in ("output",):
        if key in data and not isinstance(data[key], str):
            found.append(f"{key} must be text")
    if data.get("stdout_visibility", "hidden") not in VISIBILITIES:
        found.append("bad stdout_visibility")
    if not isinstance(data.get("tests"), list):
        return found + ["tests must be a list"]
    for test in data["tests"]:
        found += [f"unknown test key {k}" for k in set(test) - TEST_KEYS]
        if not isinstance(test.get("name"), str) or not isinstance(test.get("output", ""), str):
            found.append(f"test {test.get('name')}: name and output must be text")
        if not isinstance(test.get("score"), number) or not isinstance(test.get("max_score"), number):
            found.append(f"test {test.get('name')}: score and max_score must be numbers")
        if test.get("visibility", "visible") not in VISIBILITIES:
            found.append(f"test {test.get('name')}: bad visibility")
    return found


def write_results(root: Path, assignment: str, results: ClassResults | None = None, visibility: str = "visible"):
    """reports/<A>/gradescope/<student>/results.json for every submission."""
    results = results or class_results(root, assignment)
    folder = root / "reports" / assignment / "gradescope"
    paths = []
    for row in results.rows:
        path = folder / row.student / "results.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(results_json(results, row, visibility), indent=1))
        paths.append(path)
    return paths
