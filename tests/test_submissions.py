"""Bad input gets a clear message and nothing is lost: the sample submissions in
examples/ (full, partial, broken, cheater, garbled) through the batch grader."""

import pytest

from conftest import ROOT

WITH_EXAMPLES = sorted(p.name for p in (ROOT / "examples").glob("*") if p.is_dir())


def points(graded, name):
    return sum(graded.scores[name].get(g) or 0 for g in graded.autograded)


@pytest.mark.parametrize("assignment", WITH_EXAMPLES)
def test_full_example_scores_like_the_solution(graded, assignment):
    result = graded(assignment)
    assert points(result, "example-full") == points(result, "solution") == sum(result.max_points[g] for g in result.autograded)


@pytest.mark.parametrize("assignment", WITH_EXAMPLES)
def test_partial_example_scores_in_between(graded, assignment):
    result = graded(assignment)
    assert 0 < points(result, "example-partial") < points(result, "solution")


@pytest.mark.parametrize("assignment", WITH_EXAMPLES)
def test_broken_example_is_repaired_graded_and_explained(graded, assignment):
    result = graded(assignment)
    outcome = result.outcomes["example-broken"]
    notes = " ".join(outcome.notes)
    assert outcome.status == "graded"
    assert "metadata was missing and has been restored" in notes
    assert "missing from the submission" in notes
    assert "timed out" in notes
    # everything but the looping answer's own question still earns its points
    assert points(result, "example-broken") > 0


@pytest.mark.parametrize("assignment", WITH_EXAMPLES)
def test_cheater_gains_nothing_from_rigged_comparisons(graded, assignment):
    result = graded(assignment)
    cheats = result.scores["example-cheater"]
    first = result.autograded[0]
    assert cheats[first] == 0
    assert result.outcomes["example-cheater"].checks[first]


@pytest.mark.parametrize("assignment", WITH_EXAMPLES)
def test_garbled_file_is_reported_not_fatal(graded, assignment):
    result = graded(assignment)
    outcome = result.outcomes["example-garbled"]
    assert outcome.status == "unreadable"
    assert "not a readable notebook" in outcome.notes[0]
    # the batch went on: every other submission was graded
    assert all(o.status == "graded" for n, o in result.outcomes.items() if n != "example-garbled")


@pytest.mark.parametrize("assignment", WITH_EXAMPLES)
def test_originals_are_never_modified(graded, assignment):
    course = graded(assignment).root
    original = (course / "examples" / assignment / "broken.ipynb").read_text()
    assert (course / "submitted" / "example-broken" / assignment / f"{assignment}.ipynb").read_text() == original
