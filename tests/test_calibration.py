"""The fast variant grader (vicourse.authoring.calibration) on the toy course: it must grade a variant
as a fresh run would, and leave the solution as it found it. All variants below are graded,
in this order, by one sandboxed calibration process."""

import pytest

from conftest import ROOT
from vicourse.authoring.calibration import grade_variants
from vicourse.authoring.variant_grader import defined_names

TOY = ROOT / "tests" / "fixtures" / "toy_course"
VARIANTS = {
    "solution": {},
    "wrong half": {"half": "def half(x):\n    return x / 3\n"},
    "raising double": {"double": "raise NotImplementedError()\ndef double(x):\n    return 2 * x\n"},
    # passes the hidden check (arrays) but not the visible `double(1) == 2`
    "visible asserts only": {"double": "def double(x):\n    return 2 * x if hasattr(x, 'shape') else 0\n"},
    "both wrong": {"double": "def double(x):\n    return x\n", "half": "half = None\n"},
    # a patch of a shared module must not outlive the variant that made it
    "patches numpy": {"half": "import numpy\nnumpy.asarray = lambda x: 0\ndef half(x):\n    return x / 2\n"},
    "solution again": {},
    "reads the course": {"double": f"open({str(ROOT / 'nbgrader_config.py')!r}).read()\n"
                                   "def double(x):\n    return 2 * x\n"},
}


@pytest.fixture(scope="module")
def lost():
    results = grade_variants(TOY / "source" / "00_toy" / "00_toy.ipynb", TOY / "grader_tests",
                             list(VARIANTS.values()))
    return dict(zip(VARIANTS, results))


def test_defined_names_covers_module_level_bindings():
    source = (
        "%matplotlib inline\nimport numpy as np\nfrom math import log as ln\nx, (y, *z) = 1, (2, 3)\n"
        "def f():\n    inner = 1\nclass C: pass\nfor i in range(2):\n    total = i\n"
        "with open('f') as handle:\n    pass\nif True:\n    flag = 1\nelse:\n    other = 2\n"
    )
    assert defined_names(source) == sorted(
        ["np", "ln", "x", "y", "z", "f", "C", "i", "total", "handle", "flag", "other"]
    )
    assert defined_names("def broken(:") == []


def test_solution_loses_nothing(lost):
    assert lost["solution"] == {}


def test_wrong_answer_loses_its_cell_only(lost):
    assert set(lost["wrong half"]) == {"test_half"}


def test_a_raising_answer_leaves_its_function_undefined(lost):
    assert set(lost["raising double"]) == {"test_double"}
    assert "not defined" in lost["raising double"]["test_double"]


def test_visible_asserts_count_like_hidden_checks(lost):
    assert lost["visible asserts only"] == {"test_double": "the test cell's own asserts raised"}


def test_the_solution_is_restored_after_each_variant(lost):
    assert set(lost["both wrong"]) == {"test_double", "test_half"}
    assert "test_double" in lost["patches numpy"]
    assert lost["solution again"] == {}


def test_a_variant_that_ends_its_process_is_named():
    with pytest.raises(RuntimeError, match="variant 1 ended its process"):
        grade_variants(TOY / "source" / "00_toy" / "00_toy.ipynb", TOY / "grader_tests",
                       [{}, {"half": "import os\nos._exit(3)\n"}])


def test_calibration_runs_in_the_sandbox(lost):
    """A variant is code as a student writes it: it must not see the course."""
    from vicourse.grading.sandbox_isolation import isolation

    if isolation().sandboxed:
        assert set(lost["reads the course"]) == {"test_double"}


def test_a_training_call_is_reused_by_variants_that_leave_its_cells_alone(tmp_path):
    """A check that trains the student's code names the cells the training runs (Student.training);
    the calibration trains once for the solution and again only for a variant of those cells."""
    from nbformat.v4 import new_code_cell, new_notebook

    from vicourse.authoring.variant_grader import VariantGrader

    log = tmp_path / "trainings.txt"

    def cell(grade_id, source, **flags):
        return new_code_cell(source, metadata={"nbgrader": {"grade_id": grade_id, "schema_version": 3, **flags}})

    nb = new_notebook(cells=[
        cell("loss", "def loss(x):\n    return x\n", solution=True, grade=False),
        cell("train", f"def train(x):\n    open({str(log)!r}, 'a').write('run\\n')\n    return loss(x) + 1\n",
             solution=True, grade=False),
        cell("test_train", "assert train(1) == 2\n", grade=True, points=1),
    ])

    def test_train(student):
        reference = {"loss": "def loss(x):\n    return x\n"}
        if student.training(10, reference, ("train",)).train(5) != 6:
            raise AssertionError("the model is not right")

    grader = VariantGrader(nb, {"test_train": test_train}, workdir=str(tmp_path))
    log.write_text("")  # the notebook's own run called train once
    variants = [{}, {"loss": "def loss(x):\n    return -x\n"}, {"train": "def train(x):\n    return 0\n"}]
    results = grader.grade_forked(variants, jobs=1)
    # the solution and the loss variant keep the point (the reference stands in for the wrong loss,
    # whose own visible assert fails); the training variant trains again and loses it
    assert results[0] == {} and results[1] == {"test_train": "the test cell's own asserts raised"}
    assert results[2] == {"test_train": "the model is not right"}
    # one line from the parent's check (before forking), one from the loss variant's re-run visible test;
    # none from the loss variant's check, which reused the parent's training
    assert log.read_text() == "run\n" * 2


def test_two_variants_with_one_name_are_refused():
    """Results are looked up by a variant's name: a repeated name would hand one variant's result to
    the other, so the calibration refuses it and says which."""
    import types

    from vicourse.authoring.calibration import variants_of
    from vicourse.grading.checking import Variant

    module = types.SimpleNamespace(__name__="test_xx", WRONG_ANSWERS=[
        Variant("guess: empty", {"a": "a = {}"}, loses={"test_a"}),
        Variant("guess: empty", {"b": "b = {}"}, loses={"test_b"})])
    with pytest.raises(ValueError, match="guess: empty"):
        variants_of(module)
