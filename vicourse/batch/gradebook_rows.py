"""The gradebook rows of one autograded submission, as plain data, and where they go.

A batch worker grades a submission with stock nbgrader against a private copy of a
template gradebook (`write_template`: the assignment's definition, no students),
reads back what nbgrader wrote there (`read_rows`), and returns it. Only the
coordinator writes the course's gradebook (`write_rows`), doing to it exactly what
stock `nbgrader autograde` does: the student and the submission (with its
timestamp), each grade's auto score and needs-manual-grade flag (a grade a TA has
already marked stays flagged), each answer's auto comment, and the late penalty
computed by the configured plugin from the notebook's score.
"""

from __future__ import annotations

import warnings
from pathlib import Path


def ignore_add_submission_warnings() -> None:
    """nbgrader's add_submission builds the submission's rows before adding it to the session, and
    SQLAlchemy 2 warns once per row type that it will not add them by the backref ("not in
    session"). nbgrader then adds the submission itself, so every row is written; the warning
    only buries the messages that matter."""
    from sqlalchemy.exc import SAWarning

    warnings.filterwarnings("ignore", message=r".*not in session.*", category=SAWarning)


def write_template(gradebook, assignment: str, path: Path, course_id: str) -> Path:
    """A fresh SQLite gradebook at `path` that knows `assignment` as `gradebook` does.

    Built with nbgrader's own ORM classes in one transaction: its update_or_create_* calls query
    and commit once per cell, 0.5 s more for 01, paid before the batch's first submission starts."""
    from nbgrader.api import Assignment, GradeCell, Gradebook, Notebook, SolutionCell, SourceCell, TaskCell

    path.parent.mkdir(parents=True, exist_ok=True)
    path.unlink(missing_ok=True)
    record = gradebook.find_assignment(assignment)
    with Gradebook(f"sqlite:///{path}", course_id) as template:
        copy = Assignment(name=assignment, duedate=record.duedate, course_id=course_id)
        for notebook in record.notebooks:
            where = Notebook(name=notebook.name, assignment=copy)
            for cell in notebook.grade_cells:
                GradeCell(name=cell.name, notebook=where, max_score=cell.max_score, cell_type=cell.cell_type)
            for cell in notebook.solution_cells:
                SolutionCell(name=cell.name, notebook=where)
            for cell in notebook.task_cells:
                TaskCell(name=cell.name, notebook=where, max_score=cell.max_score, cell_type=cell.cell_type)
            for cell in notebook.source_cells:
                SourceCell(name=cell.name, notebook=where, cell_type=cell.cell_type, locked=cell.locked,
                           source=cell.source, checksum=cell.checksum)
        template.db.add(copy)
        template.db.commit()
    return path


def read_rows(db_url: str, assignment: str, student: str) -> dict:
    """What autograde wrote for one submission: timestamp, and per notebook the auto
    score of each grade and the auto comment of each answer."""
    from nbgrader.api import Gradebook

    with Gradebook(db_url) as gradebook:
        submission = gradebook.find_submission(assignment, student)
        return {
            "timestamp": submission.timestamp.isoformat() if submission.timestamp else None,
            "notebooks": {
                notebook.name: {
                    "grades": {grade.name: grade.auto_score for grade in notebook.grades},
                    "comments": {comment.name: comment.auto_comment for comment in notebook.comments},
                }
                for notebook in submission.notebooks
            },
        }


def write_rows(gradebook, assignment: str, student: str, rows: dict, late_plugin) -> None:
    """Record one autograded submission in the course's gradebook, as stock autograde does."""
    gradebook.update_or_create_student(student)
    timestamp = {"timestamp": rows["timestamp"]} if rows.get("timestamp") else {}
    with warnings.catch_warnings():
        ignore_add_submission_warnings()
        submission = gradebook.update_or_create_submission(assignment, student, **timestamp)
    for name, notebook in rows["notebooks"].items():
        for grade_id, auto_score in notebook["grades"].items():
            grade = gradebook.find_grade(grade_id, name, assignment, student)
            grade.auto_score = auto_score
            # nbgrader's SaveAutoGrades: a grade marked by hand, or with no auto score, needs a look
            grade.needs_manual_grade = grade.manual_score is not None or auto_score is None
        for grade_id, text in notebook["comments"].items():
            gradebook.find_comment(grade_id, name, assignment, student).auto_comment = text
        gradebook.db.commit()
        # nbgrader's AssignLatePenalties, from the score just written
        graded = gradebook.find_submission_notebook(name, assignment, student)
        graded.late_submission_penalty = None
        late = submission.total_seconds_late
        if late > 0:
            penalty = late_plugin.late_submission_penalty(student, graded.score, late)
            if penalty is not None:
                graded.late_submission_penalty = min(max(penalty, 0), graded.score)
        gradebook.db.commit()
