"""Staging reads, checks and repairs a submission within bounds, whatever the file holds
(vicourse/grading/staging.py, vicourse/grading/repair.py). No kernel is started here."""

from __future__ import annotations

import json
import time

from conftest import ROOT
from vicourse.grading.repair import MAX_CELLS
from vicourse.grading.staging import STAGING_SECONDS, stage_folder

A = "01_entropy_kl"


def release_json(assignment: str = A) -> dict:
    return json.loads((ROOT / "release" / assignment / f"{assignment}.ipynb").read_text())


def stage(tmp_path, raw, seconds: float = STAGING_SECONDS):
    folder = tmp_path / "submitted"
    folder.mkdir(exist_ok=True)
    (folder / f"{A}.ipynb").write_text(raw if isinstance(raw, str) else json.dumps(raw))
    return stage_folder(folder, tmp_path / "staged" / A, A, ROOT / "release", seconds=seconds)


def padded(cells: int, width: int) -> dict:
    """The release, the metadata of a code answer cell that defines no function dropped (so repair
    must compare it with every code cell), and `cells` code cells of `width` spaces: a notebook
    that once held the grader for minutes."""
    raw = release_json()
    answer = next(c for c in raw["cells"] if c["metadata"].get("nbgrader", {}).get("grade_id") == "kl_asymmetry")
    assert "def " not in "".join(answer["source"])
    answer["metadata"] = {}
    answer["source"] = "".join(answer["source"]) + "\n# my answer"  # not the release's text: it must be searched for
    raw["cells"] += [{"cell_type": "code", "source": " " * width + f"\n{i}", "metadata": {}, "outputs": [],
                      "execution_count": None} for i in range(cells)]
    return raw


def test_a_notebook_padded_to_megabytes_is_staged_within_bounds(tmp_path):
    started = time.monotonic()
    staged = stage(tmp_path, padded(MAX_CELLS - 100, 3000))
    assert staged.unreadable is None, staged
    assert time.monotonic() - started < STAGING_SECONDS


def test_too_many_cells_or_too_long_a_budget_is_unreadable_too_large(tmp_path):
    assert stage(tmp_path, padded(MAX_CELLS + 1, 1)).unreadable.startswith("unreadable: too large")
    slow = stage(tmp_path, padded(200, 3000), seconds=1e-4)
    assert slow.unreadable.startswith("unreadable: too large (reading and repairing it took more than")


def test_what_is_not_a_v4_notebook_gets_a_reason(tmp_path):
    for raw, reason in (({}, "no nbformat version"), ([], "no nbformat version"), ("not json", "not JSON"),
                        ({"nbformat": 4, "cells": {}}, "expected 4"), ({"nbformat": 2}, "nbformat 2")):
        staged = stage(tmp_path, raw)
        assert staged.unreadable and reason in staged.unreadable, (raw, staged)


def test_another_assignments_notebook_is_named(tmp_path):
    staged = stage(tmp_path, release_json("02_elbo"))
    assert staged.unreadable == f"this is 02_elbo's notebook, not {A}'s"


def test_duplicated_and_foreign_grade_ids_are_dropped_with_a_note(tmp_path):
    raw = release_json()
    test_cell = next(c for c in raw["cells"] if c["metadata"].get("nbgrader", {}).get("grade")
                     and not c["metadata"]["nbgrader"].get("solution"))
    foreign = next(c for c in release_json("02_elbo")["cells"] if c["metadata"].get("nbgrader", {}).get("grade"))
    raw["cells"] += [json.loads(json.dumps(test_cell)), foreign]
    staged = stage(tmp_path, raw)
    assert staged.unreadable is None
    notes = " ".join(staged.notes)
    assert "appears 2 times" in notes and "not one of this assignment's" in notes
    graded = json.loads((tmp_path / "staged" / A / f"{A}.ipynb").read_text())
    ids = [c["metadata"]["nbgrader"]["grade_id"] for c in graded["cells"] if "nbgrader" in c["metadata"]]
    assert len(ids) == len(set(ids)) and foreign["metadata"]["nbgrader"]["grade_id"] not in ids
