"""Grade one notebook against the course's graders, with no submitted/ folder to set up.

For an instructor checking a submission, or another platform calling in: the
notebook is graded by the batch path itself (`coordinator.grade_all`: repair, the
sandbox, the hidden checks, time limits), in a scratch copy of the course
(source, release, graders, config, and a gradebook of its own that knows the
released cells, copied from the course's), so the course's gradebook and folders
are never touched.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from nbgrader.api import MissingEntry

from ..course import assignments, copy_course, gradebook_url, open_gradebook, read_notebook, source_notebook
from ..reports.gradescope import results_json
from ..reports.report import ClassResults, Row, class_results
from . import coordinator
from .gradebook_rows import write_template
from .outcomes import Outcome

STUDENT = "submission"
COURSE_ID = "default_course"
SCRATCH_GRADEBOOK = '\nc.CourseDirectory.db_url = "sqlite:///" + os.path.join(here, "gradebook.db")\n'


def which_assignment(root: Path, path: Path) -> str:
    """The assignment a notebook belongs to: its file name, else the release sharing most grade ids."""
    names = assignments(root)
    if path.stem in names:
        return path.stem
    try:
        ids = {c.metadata.get("nbgrader", {}).get("grade_id") for c in read_notebook(path).cells}
    except Exception as error:  # noqa: BLE001 - any parse failure means: say which assignment
        raise SystemExit(f"{path}: cannot tell its assignment ({error.__class__.__name__}); pass --assignment")
    shared = {a: len(ids & {c.metadata.get("nbgrader", {}).get("grade_id") for c in
                            read_notebook(source_notebook(root, a)).cells} - {None})
              for a in names}
    best = max(shared, key=shared.get, default=None)
    if not best or not shared[best]:
        raise SystemExit(f"{path}: no assignment shares a graded cell with it; pass --assignment")
    return best


def grade_one(root: Path, path: Path, assignment: str | None = None, timeout: float = 900,
              extra: list[str] | None = None) -> tuple[ClassResults, Row, Outcome]:
    assignment = assignment or which_assignment(root, path)
    with tempfile.TemporaryDirectory(prefix="grade-one-") as scratch:
        course = copy_course(root, Path(scratch) / "course", parts=("source", "grader_tests", "release"))
        # whatever gradebook the course uses (PostgreSQL too), the scratch copy grades into its own
        config = course / "nbgrader_config.py"
        config.write_text(config.read_text() + SCRATCH_GRADEBOOK)
        url = gradebook_url(root)
        if not url.startswith("sqlite:///") or Path(url[len("sqlite:///"):].split("?")[0]).exists():
            try:
                # the course's gradebook knows the released cells: no release to generate (coordinator.ensure_release)
                with open_gradebook(root) as gradebook:
                    write_template(gradebook, assignment, course / "gradebook.db", COURSE_ID)
            except MissingEntry:
                pass
        folder = course / "submitted" / STUDENT / assignment
        folder.mkdir(parents=True)
        shutil.copyfile(path, folder / f"{assignment}.ipynb")
        (outcome,) = coordinator.grade_all(course, assignment, workers=1, timeout=timeout, extra=extra)
        results = class_results(course, assignment)
    # the gradebook copy also holds the course's students: take this submission's row
    return results, next(r for r in results.rows if r.student == STUDENT), outcome


def as_text(results: ClassResults, row: Row) -> str:
    lines = [f"{results.assignment}: {row.status}, autograded {row.autograded:g} of {results.auto_max:g} points"
             f" ({row.seconds:.1f} s; {row.isolation})"]
    for grade_id in results.columns:
        score = row.scores.get(grade_id)
        shown = "by hand" if grade_id in results.manual else f"{score or 0:g}/{results.max_points[grade_id]:g}"
        lines.append(f"  {results.label(grade_id):<32}{shown:>9}  {row.messages.get(grade_id, '')}")
    lines += [f"  note: {note}" for note in row.notes]
    return "\n".join(lines)


def report(root: Path, path: Path, assignment: str | None, as_json: bool, **options) -> tuple[str, bool]:
    """(what to print, whether the notebook was graded)."""
    import json

    import contextlib
    import sys

    with contextlib.redirect_stdout(sys.stderr):  # what grading prints must not mix with the JSON
        results, row, _ = grade_one(root, path, assignment, **options)
    text = json.dumps(results_json(results, row), indent=1) if as_json else as_text(results, row)
    return text, row.status == "graded"
