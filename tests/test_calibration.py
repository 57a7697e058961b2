"""The fast variant grader (vicourse.calibration) on the toy course: it must grade a variant
as a fresh run would, and leave the solution as it found it."""

import pytest

from conftest import ROOT
from vicourse.calibration import VariantGrader, defined_names
from vicourse.course import read_notebook
from vicourse.grading_executor import load_checks

TOY = ROOT / "tests" / "fixtures" / "toy_course"


@pytest.fixture(scope="module")
def toy_grader():
    nb = read_notebook(TOY / "source" / "00_toy" / "00_toy.ipynb")
    return VariantGrader(nb, load_checks(TOY / "grader_tests", "00_toy"), workdir=str(TOY))


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


def test_solution_loses_nothing(toy_grader):
    assert toy_grader.grade({}) == {}


def test_wrong_answer_loses_its_cell_only(toy_grader):
    lost = toy_grader.grade({"half": "def half(x):\n    return x / 3\n"})
    assert set(lost) == {"test_half"}


def test_a_raising_answer_leaves_its_function_undefined(toy_grader):
    lost = toy_grader.grade({"double": "raise NotImplementedError()\ndef double(x):\n    return 2 * x\n"})
    assert set(lost) == {"test_double"}
    assert "not defined" in lost["test_double"]


def test_visible_asserts_count_like_hidden_checks(toy_grader):
    # passes the hidden check (arrays) but not the visible `double(1) == 2`
    lost = toy_grader.grade({"double": "def double(x):\n    return 2 * x if hasattr(x, 'shape') else 0\n"})
    assert lost == {"test_double": "the test cell's own asserts raised"}


def test_the_solution_is_restored_after_each_variant(toy_grader):
    toy_grader.grade({"double": "def double(x):\n    return x\n", "half": "half = None\n"})
    assert toy_grader.grade({}) == {}
