"""Per-question scores from the gradebook, as a CSV and a readable table."""

from __future__ import annotations

import csv
import json
from pathlib import Path

from .course import open_gradebook


def question_scores(root: Path, assignment: str):
    """(grade ids in notebook order, {student: {grade id: score}}, {grade id: max points},
    set of manually graded ids).  A score of None means "waiting for manual grading"."""
    scores: dict[str, dict[str, float | None]] = {}
    with open_gradebook(root) as gradebook:
        record = gradebook.find_assignment(assignment)
        columns, max_points, manual = [], {}, set()
        for notebook in record.notebooks:
            manual.update(c.name for c in notebook.solution_cells)
            cells = sorted(notebook.grade_cells, key=lambda c: c.id)
            order = {c.name: i for i, c in enumerate(notebook.source_cells)}
            for cell in sorted(cells, key=lambda c: order.get(c.name, 0)):
                columns.append(cell.name)
                max_points[cell.name] = cell.max_score
        for submission in record.submissions:
            row = {}
            for notebook in submission.notebooks:
                for grade in notebook.grades:
                    waiting = grade.name in manual and grade.manual_score is None
                    row[grade.name] = None if waiting else grade.score
            scores[submission.student.id] = row
    return columns, scores, max_points, manual


def write_report(root: Path, assignment: str) -> Path:
    """reports/<assignment>/grades.csv: a row per submission, a column per question."""
    columns, scores, max_points, manual = question_scores(root, assignment)
    outcomes_path = root / "reports" / assignment / "outcomes.json"
    outcomes = {o["student"]: o for o in json.loads(outcomes_path.read_text())} if outcomes_path.exists() else {}
    path = root / "reports" / assignment / "grades.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    students = sorted(set(scores) | set(outcomes))
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["student", *columns, "autograded", "autograded_max", "status", "notes", "isolation"])
        auto_max = sum(max_points[c] for c in columns if c not in manual)
        writer.writerow(["(max)", *[max_points[c] for c in columns], auto_max, auto_max, "", "", ""])
        for student in students:
            row = scores.get(student, {})
            auto = sum(v for c, v in row.items() if v is not None and c not in manual)
            outcome = outcomes.get(student, {"status": "graded", "notes": []})
            notes = list(outcome["notes"]) + disagreement(outcome, auto)
            writer.writerow([
                student, *["" if row.get(c) is None else row[c] for c in columns],
                auto, auto_max, outcome["status"], "; ".join(notes),
                outcome.get("isolation") or "not graded by the batch: isolation unknown",
            ])
    return path


def disagreement(outcome: dict, gradebook_points: float) -> list[str]:
    """The gradebook must hold what the graded notebook scores; anything else is flagged."""
    graded = outcome.get("score")
    if graded is None or abs(graded - gradebook_points) < 1e-9:
        return []
    return [f"GRADEBOOK DISAGREES: the graded notebook scores {graded:g}, the gradebook holds {gradebook_points:g}"]


def print_table(csv_path: Path) -> str:
    """A fixed-width rendering of grades.csv (question columns as Q1, Q2, ...)."""
    with csv_path.open() as handle:
        rows = list(csv.reader(handle))
    header, maxima, body = rows[0], rows[1], rows[2:]
    isolations = sorted({row[-1] for row in body})
    rows = [row[:-1] for row in rows]
    header, maxima, body = rows[0], rows[1], rows[2:]
    n_questions = len(header) - 5
    short = [f"Q{i + 1}" for i in range(n_questions)]
    lines = [f"{'student':<14}" + "".join(f"{s:>5}" for s in short) + f"{'auto':>9}  status / notes"]
    lines.append(f"{'(max)':<14}" + "".join(f"{_fmt(m):>5}" for m in maxima[1 : 1 + n_questions])
                 + f"{_fmt(maxima[-4]):>9}")
    for row in body:
        cells = "".join(f"{('-' if v == '' else _fmt(v)):>5}" for v in row[1 : 1 + n_questions])
        total = f"{_fmt(row[-4])}/{_fmt(row[-3])}"
        notes = row[-2] + (f": {row[-1]}" if row[-1] else "")
        lines.append(f"{row[0]:<14}{cells}{total:>9}  {notes[:110]}")
    legend = ", ".join(f"{s}={h}" for s, h in zip(short, header[1 : 1 + n_questions]))
    text = "\n".join(lines) + "\n  (" + legend + "; '-' = manual, not graded yet)"
    return text + "".join(f"\n  isolation: {i}" for i in isolations)


def _fmt(value) -> str:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return str(value)
    return f"{number:g}"

