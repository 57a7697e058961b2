"""Per-question scores from the gradebook, and grades.csv built from them.

`class_results` gathers, once, everything the reports show: the gradebook's
scores, each submission's outcome from the batch, its late flag and the check
messages of its graded notebook. Every report (grades.csv, Gradescope, Canvas,
the class report) is written from it, so they cannot disagree.
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass, field
from pathlib import Path

from nbgrader.utils import determine_grade

from ..course import check_config, open_gradebook, read_notebook
from ..grading.graded_outputs import is_test_cell
from ..lms.deadlines import lateness
from .labels import assignment_labels


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


@dataclass
class Row:
    """One submission as the reports show it."""

    student: str
    name: str  # the student's name where the gradebook or the LMS download gave one, else the id
    scores: dict  # grade id -> points, None while a written answer waits for a grader
    autograded: float
    total: float  # autograded points plus the written answers graded so far
    status: str  # graded | unreadable | failed | timed out (from the batch)
    late: str  # "" when on time or no deadline is set; otherwise how late, or why unknown
    notes: list[str]
    isolation: str
    seconds: float
    messages: dict = field(default_factory=dict)  # test grade id -> what its outputs say went wrong


@dataclass
class ClassResults:
    assignment: str
    columns: list[str]  # grade ids in notebook order
    max_points: dict
    manual: set
    rows: list[Row]
    labels: dict = field(default_factory=dict)  # grade id -> Label ("A.1 entropy"), from the release's headings

    def label(self, grade_id: str) -> str:
        return str(self.labels.get(grade_id, grade_id))

    def waiting(self, row: Row) -> list[str]:
        """The written answers of this submission that no grader has scored yet (grade ids)."""
        return [c for c in self.columns if c in self.manual and row.scores.get(c) is None]

    def held_back(self, row: Row) -> str | None:
        """Why this submission's score must not reach students yet, or None: not graded by the
        batch, or written answers still waiting for a grader. canvas.csv leaves it blank."""
        if row.status != "graded":
            return row.status
        waiting = self.waiting(row)
        if waiting:
            return "written answers not graded yet: " + ", ".join(self.label(c) for c in waiting)
        return None

    @property
    def auto_max(self) -> float:
        return sum(self.max_points[c] for c in self.columns if c not in self.manual)

    @property
    def total_max(self) -> float:
        return sum(self.max_points[c] for c in self.columns)


def class_results(root: Path, assignment: str) -> ClassResults:
    columns, scores, max_points, manual = question_scores(root, assignment)
    outcomes_path = root / "reports" / assignment / "outcomes.json"
    outcomes = {o["student"]: o for o in json.loads(outcomes_path.read_text())} if outcomes_path.exists() else {}
    config = check_config(root)
    names = student_names(root, assignment)
    rows = []
    for student in sorted(set(scores) | set(outcomes)):
        got = scores.get(student, {})
        auto = sum(v for c, v in got.items() if v is not None and c not in manual)
        outcome = outcomes.get(student, {"status": "graded", "notes": []})
        graded = root / "autograded" / student / assignment / f"{assignment}.ipynb"
        rows.append(Row(
            student=student, name=names.get(student, student), scores=got, autograded=auto,
            total=sum(v for v in got.values() if v is not None), status=outcome["status"],
            late=lateness(root, assignment, student, config),
            notes=list(outcome["notes"]) + disagreement(outcome, auto),
            isolation=outcome.get("isolation") or "not graded by the batch: isolation unknown",
            seconds=outcome.get("seconds", 0.0),
            messages=test_messages(graded) if outcome["status"] == "graded" and graded.exists() else {},
        ))
    # answer cells are "solution" cells; the manually graded questions are those that carry points
    return ClassResults(assignment, columns, max_points, manual & set(columns), rows,
                        assignment_labels(root, assignment, columns))


def student_names(root: Path, assignment: str) -> dict[str, str]:
    """Names from the gradebook, else from the LMS download's file names (reports/<A>/collect.json)."""
    names = {}
    collected = root / "reports" / assignment / "collect.json"
    if collected.exists():
        names.update({s: c["name"] for s, c in json.loads(collected.read_text())["collected"].items() if c.get("name")})
    with open_gradebook(root) as gradebook:
        for student in gradebook.students:
            full = " ".join(n for n in (student.first_name, student.last_name) if n)
            if full:
                names[student.id] = full
    return names


def test_messages(graded_path: Path) -> dict[str, str]:
    """What each test cell that lost points shows: its errors' names and messages (never a
    traceback, which would quote code), and a partial-credit note. Hidden checks' messages
    say how many answers are wrong, never the inputs or the expected values."""
    messages = {}
    for cell in read_notebook(graded_path).cells:
        if not is_test_cell(cell):
            continue
        score, points = determine_grade(cell)
        if score is not None and score >= points:
            continue
        said = []
        for output in cell.get("outputs", []):
            if output.get("output_type") == "error":
                said.append(f"{output.get('ename', '')}: {output.get('evalue', '')}".strip(": "))
            elif output.get("output_type") == "stream" and output.get("name") == "stderr":
                said.append("the cell wrote to stderr, which nbgrader scores as zero")
        outputs = cell.get("outputs", [])
        # a partial-credit note is the stream just before the score, the only execute_result
        # left in a test cell (grading/graded_outputs.py: score_outputs; kernel-made ones are neutralised)
        if len(outputs) >= 2 and outputs[-1].get("output_type") == "execute_result":
            said.append(str(outputs[-2].get("text", "")).strip())
        messages[cell.metadata.nbgrader["grade_id"]] = "; ".join(said)[:2000] or "no points"
    return messages


def spreadsheet_safe(value):
    """A text cell that a spreadsheet would read as a formula (=, +, -, @, tab, CR) gets a
    leading quote: a student's name or file name must not run in the TA's spreadsheet."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


GRADES_HEADER = ["student", "name", "autograded", "autograded_max", "total", "total_max", "status", "late", "notes",
                 "isolation"]
NAMED = 2  # the columns before the questions: the student's id and name


def points(value: float) -> str:
    return f"{value:g} pt" + ("" if value == 1 else "s")


def question_header(results: ClassResults, grade_id: str) -> str:
    """A question's column title in grades.csv: its label and its maximum, e.g. "A.1 entropy (1 pt)"
    or "B.2 distance_meaning (1 pt, written)". The maxima live in the header, so that every row
    below it is a student."""
    kind = ", written" if grade_id in results.manual else ""
    return f"{results.label(grade_id)} ({points(results.max_points[grade_id])}{kind})"


def write_report(root: Path, assignment: str, results: ClassResults | None = None) -> Path:
    """reports/<assignment>/grades.csv: a row per submission (the student's id and name), a column
    per question (autograded and written, titled with its label and points), then totals and their
    maxima, status, late flag, notes and isolation."""
    results = results or class_results(root, assignment)
    path = root / "reports" / assignment / "grades.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow([*GRADES_HEADER[:NAMED], *(question_header(results, c) for c in results.columns),
                         *GRADES_HEADER[NAMED:]])
        for row in results.rows:
            writer.writerow([spreadsheet_safe(v) for v in [
                row.student, "" if row.name == row.student else row.name,
                *["" if row.scores.get(c) is None else row.scores[c] for c in results.columns],
                row.autograded, results.auto_max, row.total, results.total_max, row.status, row.late,
                "; ".join(row.notes), row.isolation,
            ]])
    return path


def disagreement(outcome: dict, gradebook_points: float) -> list[str]:
    """The gradebook must hold what the graded notebook scores; anything else is flagged."""
    graded = outcome.get("score")
    if graded is None or abs(graded - gradebook_points) < 1e-9:
        return []
    return [f"GRADEBOOK DISAGREES: the graded notebook scores {graded:g}, the gradebook holds {gradebook_points:g}"]
