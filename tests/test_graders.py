"""The hidden graders, graded.  Through stock `nbgrader autograde` with the course config,
the solution earns every autograded point and the blank release none.  Each known-wrong
answer loses exactly the points its grader module says, and correct answers written in
other styles lose nothing: all of them through vicourse.authoring.calibration, and a sample of
them through stock autograde as well, which must agree."""

import pytest

from conftest import ASSIGNMENTS, VARIANT_KINDS, grader_module, partial_sample, read_notebook, ROOT, stock_submission
from vicourse.authoring.calibration import agrees, expected_fractions, kept_fractions
from vicourse.grading.graded_outputs import is_test_cell


def lost(graded, submission):
    scores = graded.scores[submission]
    return {gid for gid in graded.autograded if scores.get(gid, 0) < graded.max_points[gid]}


def kept(graded, submission) -> dict[str, float]:
    """{grade id: fraction of its points earned} for the autograded cells not earned in full."""
    scores = graded.scores[submission]
    return {gid: (scores.get(gid) or 0) / graded.max_points[gid] for gid in lost(graded, submission)}


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
    assert agrees(variant, lost), (kept_fractions(lost), expected_fractions(variant), lost)


@pytest.mark.parametrize("assignment, index, variant", variants("CORRECT_ALTERNATIVES"))
def test_correct_alternative_keeps_every_point(calibrated, assignment, index, variant):
    assert calibrated(assignment)[variant.name] == {}


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_stock_autograde_agrees_on_a_sample_of_variants(graded, assignment):
    """The sampled variants of a kind share one submission (conftest.stock_submission): it loses exactly
    what they lose one by one in the calibration, each bug charged once."""
    result = graded(assignment)
    module, _ = grader_module(assignment)
    for kind in VARIANT_KINDS:
        sampled = stock_submission(module, kind)
        if sampled is None:
            continue
        name, _, want = sampled
        assert result.outcomes[name].status == "graded", result.outcomes[name].notes
        got = kept(result, name)
        assert set(got) == set(want) and all(abs(got[g] - want[g]) < 1e-12 for g in want), (
            name, got, want, result.outcomes[name].checks)


def partial_variants():
    """The partial-credit variants that stock autograde grades (conftest.partial_sample)."""
    params = []
    for a in ASSIGNMENTS:
        wrong = getattr(grader_module(a)[0], "WRONG_ANSWERS", [])
        params += [pytest.param(a, i, wrong[i], id=f"{a}:{wrong[i].name}") for i in partial_sample(wrong)]
    return params


def test_every_multi_item_block_has_a_partial_credit_variant():
    blocks = {(a, g) for a in ASSIGNMENTS for v in getattr(grader_module(a)[0], "WRONG_ANSWERS", [])
              for g in v.keeps}
    assert len(blocks) >= 8, sorted(blocks)


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_every_multi_item_block_is_calibrated_against_guessing(assignment):
    """A block graded item by item (some known-wrong variant keeps part of it) has known-wrong
    variants named "guess: ... in <cell>": "empty" and the constant answers ("all True" and "all False",
    one letter everywhere for multiple choice, every letter for a choose-all list), and none of
    them keeps any of the block's points (grade_items scores right minus wrong, on a balanced key)."""
    wrong = getattr(grader_module(assignment)[0], "WRONG_ANSWERS", [])
    for block in sorted({g for v in wrong for g in v.keeps}):
        guesses = [v for v in wrong if v.name.startswith("guess:") and block in set(v.loses) | set(v.keeps)]
        kinds = {v.name.split(":", 1)[1].split(" in ")[0].strip() for v in guesses}
        constants = {k for k in kinds if k.startswith("all ")}
        assert "empty" in kinds and constants, (block, sorted(kinds))
        assert "all True" not in constants or "all False" in constants, (block, sorted(kinds))
        assert all(block in v.loses for v in guesses), (block, [v.name for v in guesses if block not in v.loses])


@pytest.mark.parametrize("assignment, index, variant", partial_variants())
def test_k_of_n_items_wrong_earns_exactly_that_share_through_stock_autograde(graded, assignment, index, variant):
    """Partial credit goes through nbgrader's own mechanism: the test cell's first
    execute_result, written by the grading process, read by stock autograde."""
    result = graded(assignment)
    name = f"partial-{index:02d}"
    assert result.outcomes[name].status == "graded", result.outcomes[name].notes
    scores = result.scores[name]
    for gid, fraction in variant.keeps.items():
        assert scores[gid] == result.max_points[gid] * fraction, (gid, scores[gid], result.max_points[gid])
    got, want = kept(result, name), expected_fractions(variant)
    assert set(got) == set(want) and all(abs(got[g] - want[g]) < 1e-12 for g in want), (got, want)
