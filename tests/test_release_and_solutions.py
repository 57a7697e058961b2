"""What students receive: releases in sync with source and free of solutions and
hidden tests; solutions executed, student-safe, with their figures; feedback
without hidden tests; examples in sync with the release."""

import sys

import pytest

from conftest import ASSIGNMENTS, ROOT
from vicourse import shipped
from vicourse.authoring import examples
from vicourse.authoring.release import MARKERS, release_problems
from vicourse.authoring.solutions import build_solutions, student_safe
from vicourse.course import copy_course, nbgrader, read_notebook, source_notebook


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
    """A student's folder holds no course library, and the grading sandbox hides it too: every
    import is the standard library, a pinned package, or a module shipped inside the folder."""
    folder = ROOT / "release" / assignment
    sources = [c.source for c in read_notebook(folder / f"{assignment}.ipynb").cells if c.cell_type == "code"]
    modules = {m for s in sources for m in shipped.IMPORT.findall(s)}
    pinned = {line.split("==")[0].strip().lower().replace("-", "_")
              for line in (ROOT / "requirements.lock").read_text().splitlines() if "==" in line}
    import_names = {"sklearn": "scikit_learn", "IPython": "ipython"}
    missing = [m for m in modules if m not in sys.stdlib_module_names
               and import_names.get(m, m).lower() not in pinned and not (folder / f"{m}.py").exists()]
    assert missing == [], f"the release imports {missing}, which a student's folder does not provide"
    for name in modules & set(shipped.available()):
        assert (folder / f"{name}.py").read_bytes() == shipped.available()[name].read_bytes(), "run `make release`"


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
def test_feedback_hides_the_hidden_tests(graded, assignment):
    course = graded(assignment).root
    result = nbgrader(course, "generate_feedback", assignment, "--student", "wrong-00", "--force")
    assert result.returncode == 0, result.stderr
    html = (course / "feedback" / "wrong-00" / assignment / f"{assignment}.html").read_text(encoding="utf-8")
    assert "HIDDEN TESTS" not in html and "grader_tests" not in html
    assert "HiddenCheckFailed" in html, "the student sees the check's message"
    assert "MARK SCHEME" not in html and "For graders" not in html, "rubrics are for graders only"


def test_building_the_solutions_again_gives_the_same_bytes(tmp_path, capfd):
    """Execution timestamps, the kernel's chunking of printed text and object addresses
    must not reach solutions/: a rebuild on a fresh clone leaves the tree clean.  (The
    same build also shows that its kernels use private sockets, not plain-text TCP.)"""
    root = copy_course(ROOT, tmp_path, parts=("source",))
    # the torch notebooks would add a minute of training each; benchmarks/notebooks.py and a
    # manual rebuild cover them
    numpy_notebooks = [a for a in ASSIGNMENTS if not shipped.trains_networks(ROOT, a)]
    build_solutions(root, numpy_notebooks)
    assert "over TCP without encryption" not in capfd.readouterr().err, "solution kernels must use IPC sockets"
    for assignment in numpy_notebooks:
        for suffix in (".ipynb", ".html"):
            name = f"{assignment}/{assignment}{suffix}"
            assert (root / "solutions" / name).read_bytes() == (ROOT / "solutions" / name).read_bytes(), (
                f"solutions/{name} differs from a rebuild: run `make solutions`, and look for output that "
                "changes from run to run")
