"""The grading pipeline end to end on a two-question course (tests/fixtures/toy_course):
releases, sample submissions, repair, the batch autograder, hidden checks, reports
and feedback, with short timeouts so hangs are cheap."""

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat

import pytest

from conftest import ROOT, STARTED_WITH
from vicourse.authoring import examples, release
from vicourse.batch import coordinator, dask_tasks, submitted
from vicourse.batch.gradebook_rows import write_template
from vicourse.batch.outcomes import Outcome
from vicourse.batch.worker import start_forkserver
from vicourse.course import (alembic_head, check_config, copy_course, nbgrader, open_gradebook, read_notebook,
                             source_notebook, with_tools_on_path)
from vicourse.grading.grader_files import grader_imports
from vicourse.reports import grades_table, report

TOY = ROOT / "tests" / "fixtures" / "toy_course"


@pytest.fixture(scope="module")
def toy(tmp_path_factory):
    root = copy_course(TOY, tmp_path_factory.mktemp("toy"), config=ROOT / "nbgrader_config.py")
    release.generate_releases(root)
    for path in examples.write_examples(root, "00_toy"):
        folder = root / "submitted" / path.stem / "00_toy"
        folder.mkdir(parents=True)
        shutil.copy(path, folder / "00_toy.ipynb")
    (root / "submitted" / "empty" / "00_toy").mkdir(parents=True)
    release_nb = read_notebook(root / "release" / "00_toy" / "00_toy.ipynb")
    source_nb = read_notebook(source_notebook(root, "00_toy"))
    # an answer that kills its kernel, and a wrong answer whose test cell was emptied
    special = {
        "killer": examples.filled(release_nb, source_nb, replace={"half": "import os\nos._exit(1)\n"}),
        "editor": examples.filled(release_nb, source_nb, replace={"half": "def half(x):\n    return x\n"}),
    }
    for cell in special["editor"].cells:
        if cell.metadata.get("nbgrader", {}).get("grade_id") == "test_half":
            cell.source = "pass  # nothing to see here"
    for name, nb in special.items():
        folder = root / "submitted" / name / "00_toy"
        folder.mkdir(parents=True)
        nbformat.write(nb, folder / "00_toy.ipynb")
    outcomes = coordinator.grade_all(
        root, "00_toy", workers=2, timeout=300,
        extra=["--Execute.timeout=3", "--Execute.iopub_timeout=3", "--ExecuteWithChecks.check_timeout=3"],
    )
    columns, scores, _, _ = report.question_scores(root, "00_toy")
    return root, {o.student: o for o in outcomes}, scores


def test_release_is_leak_free(toy):
    root, _, _ = toy
    assert release.release_problems(root, "00_toy") == []


def test_a_leaked_solution_line_is_caught(toy, tmp_path):
    root, _, _ = toy
    nb = nbformat.read(root / "release" / "00_toy" / "00_toy.ipynb", as_version=4)
    nb.cells[3].source = nb.cells[3].source.replace("raise NotImplementedError()", "return 2 * np.asarray(x)")
    leaky = tmp_path / "00_toy.ipynb"
    nbformat.write(nb, leaky)
    assert any("return 2 * np.asarray(x)" in p for p in release.release_problems(root, "00_toy", leaky))


def test_scores_follow_the_work_done(toy):
    _, _, scores = toy
    assert scores["full"] == {"test_double": 2, "test_half": 1, "explain": None}
    assert scores["partial"]["test_double"] == 2 and scores["partial"]["test_half"] == 0


def test_only_the_forkserver_is_pinned_to_one_math_thread(toy):
    """The local workers' forkserver (where the checks compute) has one math thread; the process
    that grades the batch keeps the environment it was started with."""
    with start_forkserver().Pool(1) as forked:  # processes forked by the batch's forkserver
        assert forked.apply(os.getenv, ("OMP_NUM_THREADS",)) == forked.apply(os.getenv, ("OPENBLAS_NUM_THREADS",)) == "1"
    assert os.environ.get("OMP_NUM_THREADS") == STARTED_WITH["OMP_NUM_THREADS"]


def test_the_forkserver_imports_what_the_assignments_checks_import(tmp_path):
    """Top-level imports only, read without running the grader module; none for a broken one."""
    assert grader_imports(ROOT / "grader_tests", "01_entropy_kl") == [
        "math", "numpy", "scipy.linalg", "scipy.special", "vicourse.grading.checking"]
    assert "vicourse.shipped.vi_torch" in grader_imports(ROOT / "grader_tests", "05_gmvae")
    (tmp_path / "test_broken.py").write_text("import numpy\ndef f(:\n")
    (tmp_path / "test_inner.py").write_text("import math\ndef f():\n    import torch\nfrom . import x\n")
    assert grader_imports(tmp_path, "broken") == [] and grader_imports(tmp_path, "missing") == []
    assert grader_imports(tmp_path, "inner") == ["math"]


def test_cheating_earns_nothing(toy):
    _, outcomes, scores = toy
    assert scores["cheater"]["test_double"] == 0
    assert "double" in outcomes["cheater"].checks["test_double"]


def test_broken_submission_is_repaired_and_graded_as_far_as_possible(toy):
    _, outcomes, scores = toy
    notes = " ".join(outcomes["broken"].notes)
    assert outcomes["broken"].status == "graded"
    assert "cell double: nbgrader metadata was missing and has been restored" in notes
    assert "missing from the submission" in notes and "timed out" in notes
    assert scores["broken"]["test_double"] == 2 and scores["broken"]["test_half"] == 0


def test_an_answer_that_kills_the_kernel_costs_only_its_own_points(toy):
    _, outcomes, scores = toy
    assert outcomes["killer"].status == "graded"
    assert "half killed the kernel" in " ".join(outcomes["killer"].notes)
    assert scores["killer"]["test_double"] == 2 and scores["killer"]["test_half"] == 0


def test_an_edited_test_cell_is_reported_and_graded_as_released(toy):
    _, outcomes, scores = toy
    assert "locked cells edited (restored from the release for grading): test_half" in outcomes["editor"].notes
    assert scores["editor"]["test_double"] == 2 and scores["editor"]["test_half"] == 0


def test_unreadable_submissions_are_reported_and_the_batch_goes_on(toy):
    _, outcomes, _ = toy
    assert outcomes["garbled"].status == "unreadable" and "not a readable notebook" in outcomes["garbled"].notes[0]
    assert outcomes["empty"].status == "unreadable" and "no notebook" in outcomes["empty"].notes[0]
    assert {o.status for n, o in outcomes.items() if n not in ("garbled", "empty")} == {"graded"}


def test_originals_are_untouched(toy):
    root, _, _ = toy
    assert (root / "submitted" / "broken" / "00_toy" / "00_toy.ipynb").read_text() == \
        (root / "examples" / "00_toy" / "broken.ipynb").read_text()


def test_report_and_feedback(toy):
    root, _, _ = toy
    table = grades_table.print_table(report.class_results(root, "00_toy"))
    # Parts A and B, auto and total, status; '*': B's written answer waits for a grader
    assert re.search(r"^full +2 +1\* +3 +3  graded$", table, re.M), table
    result = nbgrader(root, "generate_feedback", "00_toy", "--student", "cheater", "--force")
    assert result.returncode == 0, result.stderr
    html = (root / "feedback" / "cheater" / "00_toy" / "00_toy.html").read_text()
    assert "HIDDEN TESTS" not in html and "HiddenCheckFailed" in html


def test_pytest_mode_runs_the_same_checks(toy, tmp_path):
    import subprocess
    import sys

    root, _, _ = toy
    def run(path):
        return subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                               str(root / "grader_tests"), "--submission", str(path)],
                              cwd=root, capture_output=True, text=True)
    shutil.copy(ROOT / "grader_tests" / "conftest.py", root / "grader_tests" / "conftest.py")
    assert "2 passed" in run(root / "source" / "00_toy" / "00_toy.ipynb").stdout
    assert "2 failed" in run(root / "release" / "00_toy" / "00_toy.ipynb").stdout


def test_unreadable_submissions_still_appear_in_the_export(toy, tmp_path):
    root, _, _ = toy
    result = nbgrader(root, "export", "--to", str(tmp_path / "grades.csv"))
    assert result.returncode == 0, result.stderr
    rows = (tmp_path / "grades.csv").read_text()
    assert "garbled" in rows and "empty" in rows


def test_a_course_without_a_gradebook_can_be_graded(tmp_path, monkeypatch):
    """nbgrader creates a gradebook by running `alembic`, which need not be on PATH."""
    root = copy_course(TOY, tmp_path / "course", config=ROOT / "nbgrader_config.py")
    release.generate_releases(root)
    (root / "gradebook.db").unlink()
    monkeypatch.setenv("PATH", "/usr/bin:/bin")
    coordinator.ensure_release(root, "00_toy")
    assert (root / "gradebook.db").exists()


def test_new_gradebooks_record_the_schema_version_that_alembic_reports():
    """The version read in-process from nbgrader's migration scripts is what `alembic heads` says."""
    asked = subprocess.run([sys.executable, "-c", "from nbgrader.api import get_alembic_version as v; print(v())"],
                           env=with_tools_on_path(os.environ), capture_output=True, text=True, timeout=120)
    assert asked.returncode == 0, asked.stderr
    assert asked.stdout.split() == [alembic_head()]


def test_grading_processes_check_cell_metadata_as_nbgrader_does():
    """The grading process checks nbgrader's metadata schema once, then validates cells against it
    with jsonschema.validate's result: the same cells pass, and the same error is raised."""
    import jsonschema
    from nbgrader.nbgraderformat import MetadataValidator

    from vicourse.batch import grading_child

    checks = grading_child.nbgraderformat_common.jsonschema
    assert isinstance(checks, grading_child._SchemaChecks)
    schema = MetadataValidator().schema
    good = {"schema_version": 3, "grade": True, "solution": False, "locked": True, "points": 2, "grade_id": "t1"}
    checks.validate(good, schema)
    for bad in ({**good, "points": "two"}, {k: v for k, v in good.items() if k != "locked"},
                {**good, "grade": "yes"}, {**good, "points": -1}, {**good, "grade_id": 5}, []):
        with pytest.raises(jsonschema.ValidationError) as stock:
            jsonschema.validate(bad, schema)
        with pytest.raises(jsonschema.ValidationError) as ours:
            checks.validate(bad, schema)
        assert str(ours.value) == str(stock.value)


def test_the_local_cluster_spends_no_cpu_on_samplers_nobody_reads():
    """No stack sampler, no work stealing, event-loop ticks once a second: the cores are for grading."""
    with dask_tasks.dask_client(None, 2):
        cluster = dask_tasks._LOCAL["cluster"]
        assert "stealing" not in cluster.scheduler.extensions
        for worker in cluster.workers.values():
            assert "profile" not in worker.periodic_callbacks
            assert worker.periodic_callbacks["tick"].callback_time >= 1000


def definition(gradebook, assignment: str) -> dict:
    """An assignment's definition in a gradebook: its due date and every cell nbgrader records."""
    record = gradebook.find_assignment(assignment)
    cells = {}
    for notebook in record.notebooks:
        cells[notebook.name] = sorted(
            [("grade", c.name, c.max_score, c.cell_type) for c in notebook.grade_cells]
            + [("solution", c.name) for c in notebook.solution_cells]
            + [("task", c.name, c.max_score, c.cell_type) for c in notebook.task_cells]
            + [("source", c.name, c.cell_type, c.locked, c.source, c.checksum) for c in notebook.source_cells])
    return {"duedate": record.duedate, "course": record.course_id, "notebooks": cells}


def test_the_template_gradebook_defines_the_assignment_as_the_course_gradebook_does(toy, tmp_path):
    """Workers grade into copies of a template gradebook, written in one transaction."""
    root = toy[0]
    course_id = check_config(root).CourseDirectory.get("course_id", "default_course")
    with open_gradebook(root, course_id=course_id) as course:
        path = write_template(course, "00_toy", tmp_path / "template.db", course_id)
        with open_gradebook(root, f"sqlite:///{path}", course_id) as template:
            assert definition(template, "00_toy") == definition(course, "00_toy")
            assert definition(template, "00_toy")["notebooks"]["00_toy"]


UNGUARDED = """
import json, sys
from pathlib import Path
from vicourse.batch import coordinator
outcomes = coordinator.grade_all(Path(sys.argv[1]), "00_toy", workers=2, timeout=120, progress=False)
print(json.dumps([o.notes for o in outcomes]))
"""


def submit_the_toy_release_twice(root: Path) -> None:
    """The toy's release, submitted unchanged by students "one" and "two"."""
    release.generate_releases(root)
    for name in ("one", "two"):
        (root / "submitted" / name / "00_toy").mkdir(parents=True)
        shutil.copy(root / "release" / "00_toy" / "00_toy.ipynb", root / "submitted" / name / "00_toy")


def grade_toy_from_a_script(root: Path, tmp_path: Path, script: str, path: tuple = ()):
    """Two copies of the toy release submitted to `root`, then graded by `script` (argv[1]: the
    course), run as grade_them.py in a Python process of its own with `path` on PYTHONPATH.
    Returns the script's last line of output, read as JSON, and the finished process."""
    submit_the_toy_release_twice(root)
    file = tmp_path / "grade_them.py"
    file.write_text(script)
    ran = subprocess.run([sys.executable, str(file), str(root)], capture_output=True, text=True, timeout=300,
                         cwd=tmp_path, env={**os.environ, "PYTHONPATH": os.pathsep.join(map(str, (ROOT, *path)))})
    return json.loads(ran.stdout.strip().splitlines()[-1]), ran


def test_a_script_that_grades_without_a_main_guard_is_told_why_it_failed(tmp_path):
    """multiprocessing re-runs the coordinator's script in each grading process: the outcome says so."""
    root = copy_course(TOY, tmp_path / "course", config=ROOT / "nbgrader_config.py")
    notes, _ = grade_toy_from_a_script(root, tmp_path, UNGUARDED)
    assert len(notes) == 2
    for note in notes:
        assert "before grading began" in note[0] and "grade_them.py" in note[0], note
        assert "if __name__ == '__main__':" in note[0], note


FAILS_IN_THE_FORKSERVER = """
import multiprocessing
from pathlib import Path
if multiprocessing.current_process().name == "MainProcess":  # the forkserver, not a grading process
    Path(__file__).with_suffix(".refused").write_text("")
    raise RuntimeError("not in this process")
"""

GUARDED = """
import json, sys
from pathlib import Path
from vicourse.batch import coordinator
if __name__ == "__main__":
    outcomes = coordinator.grade_all(Path(sys.argv[1]), "00_toy", workers=2, timeout=120, progress=False)
    print(json.dumps([[o.status, o.notes] for o in outcomes]))
"""


def test_a_grader_import_that_fails_in_the_forkserver_costs_no_submission(tmp_path):
    """The forkserver imports what the checks import; an import that raises (not an ImportError)
    must not end it, or every submission of the batch would fail."""
    root = copy_course(TOY, tmp_path / "course", config=ROOT / "nbgrader_config.py")
    grader = root / "grader_tests" / "test_00_toy.py"
    grader.write_text("import fails_in_the_forkserver\n" + grader.read_text())
    modules = tmp_path / "modules"
    modules.mkdir()
    (modules / "fails_in_the_forkserver.py").write_text(FAILS_IN_THE_FORKSERVER)
    outcomes, ran = grade_toy_from_a_script(root, tmp_path, GUARDED, path=(modules,))
    assert (modules / "fails_in_the_forkserver.refused").exists(), "the forkserver did not import the checks' imports"
    assert outcomes == [["graded", []], ["graded", []]], ran.stderr[-3000:]


def test_grading_prints_no_warning_that_nbgrader_and_sqlalchemy_make_between_them(tmp_path):
    """nbgrader's add_submission under SQLAlchemy 2 warns on every submission, harmlessly; a TA's
    terminal must keep room for warnings that matter."""
    root = copy_course(TOY, tmp_path / "course", config=ROOT / "nbgrader_config.py")
    outcomes, ran = grade_toy_from_a_script(root, tmp_path, GUARDED)
    assert outcomes == [["graded", []], ["graded", []]], ran.stderr[-3000:]
    assert "not in session" not in ran.stderr, ran.stderr[-3000:]


def test_the_grade_command_counts_what_it_graded_in_this_run(tmp_path, monkeypatch, capsys):
    """Unreadable submissions are counted as unreadable, by the progress bar and the summary
    alike, whether the coordinator found them so (too large) or a grading process did (not a
    notebook); a second run over unchanged submissions grades none of them, and says so."""
    from vicourse.__main__ import grade

    root = copy_course(TOY, tmp_path / "course", config=ROOT / "nbgrader_config.py")
    submit_the_toy_release_twice(root)
    for name, data in (("garbled", b"{not json"), ("huge", b"x" * 300_000)):
        (root / "submitted" / name / "00_toy").mkdir(parents=True)
        (root / "submitted" / name / "00_toy" / "00_toy.ipynb").write_bytes(data)
    monkeypatch.setattr(submitted, "MAX_SUBMISSION_BYTES", 200_000)  # the toy's notebook is far smaller
    first = grade(root, "00_toy", workers=2, timeout=120, cell_timeout=None)
    bar = [state for state in capsys.readouterr().err.split("\r") if state.startswith("grading 00_toy:")][-1]
    second = grade(root, "00_toy", workers=2, timeout=120, cell_timeout=None)
    assert "4 submissions of 00_toy (2 graded in this run, 2 unreadable, 0 unchanged)" in first, first
    assert "4 submissions of 00_toy (0 graded in this run, 4 unchanged)" in second, second
    assert "4/4 [" in bar and "graded=2, unreadable=2" in bar, bar


def test_grading_without_a_sandbox_says_so_everywhere(tmp_path):
    """Where no sandbox is used, the outcome, grades.csv and the printed table say NONE."""
    config = tmp_path / "nbgrader_config.py"
    config.write_text((ROOT / "nbgrader_config.py").read_text() + "c.Sandbox.enabled = False\n")
    root = copy_course(TOY, tmp_path / "course", config=config)
    release.generate_releases(root)
    folder = root / "submitted" / "full" / "00_toy"
    folder.mkdir(parents=True)
    nb = examples.filled(read_notebook(root / "release" / "00_toy" / "00_toy.ipynb"),
                         read_notebook(source_notebook(root, "00_toy")))
    nbformat.write(nb, folder / "00_toy.ipynb")
    (outcome,) = coordinator.grade_all(root, "00_toy", workers=1, timeout=300)
    assert outcome.status == "graded" and outcome.isolation.startswith("NONE: the sandbox is switched off")
    table = grades_table.print_table(report.class_results(root, "00_toy"))
    assert "isolation: NONE" in table


STOCK = ("full", "partial", "killer", "editor", "cheater")  # correct, wrong, broken, edited, hostile


def gradebook_rows(root, students):
    """{student: {grade id: (auto score, needs manual grade, auto comment)}} and late penalties."""
    from vicourse.course import open_gradebook

    rows = {}
    with open_gradebook(root) as gradebook:
        for student in students:
            submission = gradebook.find_submission("00_toy", student)
            for notebook in submission.notebooks:
                comments = {c.name: c.auto_comment for c in notebook.comments}
                rows[student] = {g.name: (g.auto_score, g.needs_manual_grade, comments.get(g.name))
                                 for g in notebook.grades}
                rows[student]["late penalty"] = notebook.late_submission_penalty
                rows[student]["comments"] = comments
    return rows


def test_the_batch_writes_what_stock_serial_autograde_writes(toy, tmp_path):
    """The same staged submissions, graded by ONE stock `nbgrader autograde` process into a
    fresh gradebook: the same rows, cell for cell, and the same graded notebooks' scores."""
    root, _, _ = toy
    stock = copy_course(TOY, tmp_path / "stock", config=ROOT / "nbgrader_config.py")
    release.generate_releases(stock)
    for student in STOCK:  # staged here as each grading process stages its own
        staged = submitted.stage(root, "00_toy", Outcome(student))
        shutil.copytree(staged.parent, stock / "submitted" / student)
    result = nbgrader(stock, "autograde", "00_toy", "--force", "--Execute.timeout=3",
                      "--Execute.iopub_timeout=3", "--ExecuteWithChecks.check_timeout=3")
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    ours, theirs = gradebook_rows(root, STOCK), gradebook_rows(stock, STOCK)
    assert ours == theirs
    for student in STOCK:
        path = f"autograded/{student}/00_toy/00_toy.ipynb"
        assert coordinator.autograded_score(root / path) == coordinator.autograded_score(stock / path)
