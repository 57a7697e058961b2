"""Cheats at 05's trained-model checks (tests/attacks.py: GMVAE_CHEATS), each appended to the
release with the answers that make the training cells' visible tests pass (CHEAT_ANSWERS), and
graded in one batch by `make grade`'s engine: a VAE that memorised the public test
images, a "GM-VAE" that is a classifier fitted with the public labels, parameters of models trained
on the public digits, and rebound locked helpers. Each also leaves lookup tables of the public digits
behind in the functions that the checks once called to run a model. None earns a trained-model
point: the checks score parameters, in an architecture they build themselves, on images drawn at
grading time (docs/trained-models.md)."""

from __future__ import annotations

import json
import os

import nbformat
import pytest
from nbformat.v4 import new_code_cell

from attacks import CHEAT_ANSWERS, GMVAE_CHEATS
from conftest import ROOT, TEST_SECRET
from vicourse.authoring import examples, release
from vicourse.batch import coordinator
from vicourse.course import copy_course, read_notebook
from vicourse.grading.sandbox_isolation import isolation
from vicourse.reports import report

NAME = "05_gmvae"
TRAINED = ("test_trained_vae", "test_trained_gmvae")
if not isolation().sandboxed and not os.environ.get("CI"):
    pytest.skip(f"no sandbox on this machine: {isolation().summary}", allow_module_level=True)


@pytest.fixture(scope="module")
def cheats(tmp_path_factory):
    root = copy_course(ROOT, tmp_path_factory.mktemp("cheats05"), parts=("source", "grader_tests"))
    release.generate_releases(root, [NAME])
    blank = read_notebook(root / "release" / NAME / f"{NAME}.ipynb")
    submissions = {}
    for name, code in GMVAE_CHEATS.items():
        nb = nbformat.from_dict(json.loads(nbformat.writes(blank)))
        for cell in nb.cells:
            answer = CHEAT_ANSWERS.get(cell.metadata.get("nbgrader", {}).get("grade_id"))
            if answer is not None:
                cell.source = answer
        nb.cells.append(new_code_cell(code))
        submissions[name] = nb
    examples.submit(root, NAME, submissions)
    outcomes = coordinator.grade_all(root, NAME, workers=2, timeout=900, secret=TEST_SECRET,
                               extra=["--ExecuteWithChecks.check_timeout=10"])
    _, scores, _, _ = report.question_scores(root, NAME)
    records = {name: json.loads((root / coordinator.RESULTS / name / f"{NAME}.json").read_text())
               for name in submissions}
    return {"outcomes": {o.student: o for o in outcomes}, "scores": scores, "records": records}


@pytest.mark.parametrize("cheat", sorted(GMVAE_CHEATS))
def test_a_cheat_earns_no_trained_model_point(cheats, cheat):
    assert cheats["outcomes"][cheat].status == "graded", cheats["outcomes"][cheat].notes
    assert {check: cheats["scores"][cheat].get(check) for check in TRAINED} == {check: 0 for check in TRAINED}
    # reparameterize is right (1 point); every other point is out of reach too
    assert sum(v or 0 for v in cheats["scores"][cheat].values()) == cheats["scores"][cheat]["test_reparameterize"] == 1


def test_the_checks_say_what_the_cheats_models_did_on_the_new_images(cheats):
    """The messages report the grader's own numbers: a likelihood or clusters measured on images that the
    cheats never saw, or parameters that are not the architecture's."""
    messages = " ".join(str(record["checks"].get(check)) for record in cheats["records"].values() for check in TRAINED)
    assert "fresh images" in messages and "drawn at grading time" in messages
