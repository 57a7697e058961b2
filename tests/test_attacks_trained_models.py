"""Cheats on 06's trained-model checks (tests/attacks.py, TRAINED_MODEL_ATTACKS), graded through
`make grade`'s engine (vicourse.batch.coordinator.grade_all) in one batch with the solution and the blank release.

The cheats ride on the solution, so every visible test passes and each keeps the points of its honest
answers; each switches the notebook's training off (t6 puts the course's loop back for the grader's own
training calls, so that they train its wider networks). Each earns no point of
C.1 and D.3: the grader never calls a student function to run a model, and judges the parameters that
the student's training returns on images drawn at grading time. A grader that called
`vqvae_reconstruct`, `vqvae_codes` or `prior_logits`, as this course's first edition did, would give
t1, t2 and t4 their points; one that scored the parameters on the public digits would give t5 its.
"""

from __future__ import annotations

import base64
import json
import os

import nbformat
import numpy as np
import pytest
from nbformat.v4 import new_code_cell

from attacks import NO_TRAINING, TRAINED_MODEL_ATTACKS
from conftest import ROOT, TEST_SECRET
from vicourse.authoring import examples, release
from vicourse.batch import coordinator
from vicourse.course import copy_course, read_notebook, source_notebook
from vicourse.grading.sandbox_isolation import isolation
from vicourse.reports import report

NAME = "06_vqvae"
TRAINED = ("test_trained_vqvae", "test_trained_prior")
ISOLATION = isolation()
if not ISOLATION.sandboxed and not os.environ.get("CI"):
    pytest.skip(f"no sandbox on this machine: {ISOLATION.summary}", allow_module_level=True)


def packed(state: dict) -> dict:
    """{name: [shape, base64 of float32 bytes]}: parameters as a student would paste them into a cell."""
    return {name: [list(np.shape(value)), base64.b64encode(np.asarray(value, dtype=np.float32).tobytes()).decode()]
            for name, value in state.items()}


def public_models(solution) -> dict:
    """Parameters of the models the solution's notebook trained on the public digits: what a student who
    ran the notebook has at hand to paste (the grader would train the same models on the same images)."""
    nb = solution(NAME)
    nb._transport.run("_public_models = {'vqvae': vqvae.state_dict(), 'prior': dict(prior.named_parameters())}", 60)
    return {name: packed(state) for name, state in nb.value("_public_models").items()}


def with_attack(nb, code: str):
    """`nb` with the attack as its last cell and the notebook's training switched off by a cell right
    after the set-up."""
    nb = nbformat.from_dict(json.loads(nbformat.writes(nb)))
    nb.cells.append(new_code_cell(code))
    setup = next(i for i, c in enumerate(nb.cells) if c.metadata.get("nbgrader", {}).get("grade_id") == "setup")
    nb.cells.insert(setup + 1, new_code_cell(NO_TRAINING))
    return nb


@pytest.fixture(scope="module")
def battle(tmp_path_factory, solution):
    root = copy_course(ROOT, tmp_path_factory.mktemp("cheats"), parts=("source", "grader_tests"))
    release.generate_releases(root, [NAME])
    release_nb = read_notebook(root / "release" / NAME / f"{NAME}.ipynb")
    solution_nb = examples.filled(release_nb, read_notebook(source_notebook(root, NAME)))
    cells = dict(TRAINED_MODEL_ATTACKS)
    cells["t5-pasted-parameters"] = cells["t5-pasted-parameters"].format(**public_models(solution))
    submissions = {name: with_attack(solution_nb, code) for name, code in cells.items()}
    # the solution's full marks with the same grader and secret: tests/test_graders.py (a batch of its own)
    submissions["b-blank"] = release_nb
    examples.submit(root, NAME, submissions)
    outcomes = coordinator.grade_all(root, NAME, workers=2, timeout=900, secret=TEST_SECRET,
                               extra=["--ExecuteWithChecks.check_timeout=10"])
    columns, scores, max_points, manual = report.question_scores(root, NAME)
    auto = [c for c in columns if c not in manual]
    return {"outcomes": {o.student: o for o in outcomes}, "scores": scores, "auto": auto,
            "points": {s: sum(scores.get(s, {}).get(c) or 0 for c in auto) for s in submissions},
            "full": sum(max_points[c] for c in auto), "max_points": max_points}


def test_every_submission_was_graded(battle):
    for name, outcome in battle["outcomes"].items():
        assert outcome.status == "graded", (name, outcome.notes)


def test_the_blank_release_earns_nothing(battle):
    assert battle["points"]["b-blank"] == 0


@pytest.mark.parametrize("attack", sorted(TRAINED_MODEL_ATTACKS))
def test_no_cheat_earns_a_trained_model_point(battle, attack):
    scores = battle["scores"][attack]
    assert {cell: scores.get(cell) for cell in TRAINED} == {cell: 0 for cell in TRAINED}, (
        battle["outcomes"][attack].checks)
    honest = battle["full"] - sum(battle["max_points"][cell] for cell in TRAINED)
    assert battle["points"][attack] == honest, battle["outcomes"][attack].checks


def test_a_rebound_architecture_is_refused_by_its_shapes(battle):
    checks = battle["outcomes"]["t6-rebound-architecture"].checks
    assert "the notebook's architecture has" in checks["test_trained_vqvae"]
    assert "the notebook's architecture has" in checks["test_trained_prior"]


def test_grading_was_sandboxed(battle):
    assert {o.isolation for o in battle["outcomes"].values()} == {ISOLATION.summary}
