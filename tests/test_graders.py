"""The hidden graders, graded.  Through stock `nbgrader autograde` with the course config,
the solution earns every autograded point and the blank release none.  Each known-wrong
answer loses exactly the points its grader module says, and correct answers written in
other styles lose nothing: all of them through vicourse.calibration, and a sample of
them through stock autograde as well, which must agree."""

import pytest

from conftest import ASSIGNMENTS, VARIANT_KINDS, grader_module, read_notebook, ROOT, stock_sample
from vicourse.grading_executor import is_test_cell


def lost(graded, submission):
    scores = graded.scores[submission]
    return {gid for gid in graded.autograded if scores.get(gid, 0) < graded.max_points[gid]}


def variants(kind):
    return [
        pytest.param(a, i, v, id=f"{a}:{v.name}")
        for a in ASSIGNMENTS
        for i, v in enumerate(getattr(grader_module(a)[0], kind, []))
    ]


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_every_test_cell_has_exactly_one_check(assignment):
    nb = read_notebook(ROOT / "source" / assignment / f"{assignment}.ipynb")
    cells = {c.metadata.nbgrader["grade_id"] for c in nb.cells if is_test_cell(c)}
    _, checks = grader_module(assignment)
    assert cells == set(checks), "test cells and hidden checks must pair up one to one"


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_solution_earns_every_autograded_point(graded, assignment):
    result = graded(assignment)
    assert result.outcomes["solution"].status == "graded", result.outcomes["solution"].notes
    assert lost(result, "solution") == set(), result.outcomes["solution"].checks


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_blank_release_earns_nothing(graded, assignment):
    result = graded(assignment)
    scores = result.scores["release"]
    assert {gid: scores.get(gid) for gid in result.autograded if scores.get(gid)} == {}
    assert all(v in (0, None) for v in scores.values()), "manual cells left blank must score 0 too"


@pytest.mark.parametrize("assignment, index, variant", variants("WRONG_ANSWERS"))
def test_known_wrong_answer_loses_exactly_its_points(calibrated, assignment, index, variant):
    lost = calibrated(assignment)[variant.name]
    assert set(lost) == set(variant.loses), lost


@pytest.mark.parametrize("assignment, index, variant", variants("CORRECT_ALTERNATIVES"))
def test_correct_alternative_keeps_every_point(calibrated, assignment, index, variant):
    assert calibrated(assignment)[variant.name] == {}


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_stock_autograde_agrees_on_a_sample_of_variants(graded, assignment):
    result = graded(assignment)
    module, _ = grader_module(assignment)
    for kind, prefix in VARIANT_KINDS.items():
        variants = getattr(module, kind, [])
        for index in stock_sample(variants, kind, module):
            name = f"{prefix}-{index:02d}"
            assert result.outcomes[name].status == "graded", result.outcomes[name].notes
            assert lost(result, name) == set(variants[index].loses), (variants[index].name, result.outcomes[name].checks)
