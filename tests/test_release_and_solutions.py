"""What students receive: releases in sync with source and free of solutions and
hidden tests; solutions executed, student-safe, with their figures; feedback
without hidden tests; examples in sync with the release."""

import re

import pytest

from conftest import ASSIGNMENTS, ROOT
from vicourse import examples
from vicourse.course import copy_course, nbgrader, read_notebook, source_notebook
from vicourse.release import MARKERS, release_problems
from vicourse.solutions import build_solution, student_safe


def cells_of(path):
    nb = read_notebook(path)
    return [(c.cell_type, c.source, c.metadata.get("nbgrader")) for c in nb.cells]


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_committed_release_matches_a_fresh_one(course, assignment):
    name = f"{assignment}/{assignment}.ipynb"
    assert cells_of(ROOT / "release" / name) == cells_of(course / "release" / name), "run `make release`"


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_release_leaks_nothing(assignment):
    assert release_problems(ROOT, assignment) == []


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_release_runs_with_public_packages_alone(assignment):
    """A student's folder holds no course library, and the grading sandbox hides it too."""
    sources = [c.source for c in read_notebook(ROOT / "release" / assignment / f"{assignment}.ipynb").cells]
    assert not [s for s in sources if re.search(r"^\s*(from|import)\s+vicourse\b", s, re.M)]


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_solution_is_executed_student_safe_and_current(assignment):
    path = ROOT / "solutions" / assignment / f"{assignment}.ipynb"
    nb = read_notebook(path)
    text = "\n".join(c.source for c in nb.cells)
    assert not MARKERS.search(text), "solution markers or hidden tests in solutions/"
    expected = student_safe(read_notebook(source_notebook(ROOT, assignment)))
    assert [c.source for c in nb.cells] == [c.source for c in expected.cells], "run `make solutions`"
    code = [c for c in nb.cells if c.cell_type == "code" and c.source.strip()]
    assert all(c.execution_count for c in code), "every code cell is executed"
    assert not [o for c in code for o in c.outputs if o.output_type == "error"]
    if "plt." in text:
        assert any("image/png" in o.get("data", {}) for c in code for o in c.outputs), "figures render"
        html = (path.with_suffix(".html")).read_text(encoding="utf-8")
        assert "data:image/png;base64" in html


@pytest.mark.parametrize("assignment", sorted(p.name for p in (ROOT / "examples").glob("*") if p.is_dir()))
def test_examples_are_current(assignment):
    release_nb = read_notebook(ROOT / "release" / assignment / f"{assignment}.ipynb")
    source_nb = read_notebook(source_notebook(ROOT, assignment))
    for kind in examples.KINDS:
        committed = (ROOT / "examples" / assignment / f"{kind}.ipynb").read_text(encoding="utf-8")
        assert committed == examples.make_example(kind, release_nb, source_nb), f"run `make examples` ({kind})"


@pytest.mark.parametrize("assignment", ASSIGNMENTS[:1])
def test_feedback_hides_the_hidden_tests(graded, course, assignment):
    graded(assignment)
    result = nbgrader(course, "generate_feedback", assignment, "--student", "wrong-00", "--force")
    assert result.returncode == 0, result.stderr
    html = (course / "feedback" / "wrong-00" / assignment / f"{assignment}.html").read_text(encoding="utf-8")
    assert "HIDDEN TESTS" not in html and "grader_tests" not in html
    assert "HiddenCheckFailed" in html, "the student sees the check's message"
    assert "MARK SCHEME" not in html and "For graders" not in html, "rubrics are for graders only"


# each notebook must run within this many seconds on a 2-core CPU machine
CPU_BUDGET_SECONDS = 30


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_notebook_runs_within_its_cpu_budget(solution, assignment):
    solution(assignment)
    assert solution.seconds[assignment] < CPU_BUDGET_SECONDS


def test_building_the_solutions_again_gives_the_same_bytes(tmp_path):
    """Execution timestamps, the kernel's chunking of printed text and object addresses
    must not reach solutions/: a rebuild on a fresh clone leaves the tree clean."""
    root = copy_course(ROOT, tmp_path, parts=("source",))
    for assignment in ASSIGNMENTS:
        build_solution(root, assignment)
        for suffix in (".ipynb", ".html"):
            name = f"{assignment}/{assignment}{suffix}"
            assert (root / "solutions" / name).read_bytes() == (ROOT / "solutions" / name).read_bytes(), (
                f"solutions/{name} differs from a rebuild: run `make solutions`, and look for output that "
                "changes from run to run")
