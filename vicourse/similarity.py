"""The most similar pairs of submissions, for a TA to review (not a verdict).

Answer cells are compared cell by cell, each with the same cell of every other
submission, by copydetect (winnowed fingerprints of the tokenised code, as in
MOSS): variable, function and class names, strings, comments and whitespace are
normalised away, so renaming and reformatting do not hide a copy. Fingerprints of
the released cell (the skeleton every student starts from) are discarded.
Written (markdown) answers are compared as text with whitespace and case
normalised. Submissions are read from autograded/, where each one that was
graded sits already parsed and repaired.
"""

from __future__ import annotations

import csv
import io
import re
from html import escape
from itertools import combinations
from pathlib import Path

import numpy as np
from copydetect import CodeFingerprint, compare_files

from .html_safety import REPORT_POLICY, with_policy
from .course import read_notebook
from .report import spreadsheet_safe

K = 12  # characters of normalised code per fingerprint: answer cells are short
WINDOW = 4  # winnowing window: any shared run of K + WINDOW - 1 characters is found
SHOWN = 25  # pairs in the HTML report


def answer_cells(nb) -> dict[str, tuple[str, str]]:
    """grade id -> (cell type, source) of the answer cells."""
    cells = {}
    for cell in nb.cells:
        meta = cell.metadata.get("nbgrader", {})
        if meta.get("solution") and meta.get("grade_id"):
            cells[meta["grade_id"]] = (cell.cell_type, cell.source)
    return cells


def fingerprint(kind: str, source: str, boilerplate=None) -> CodeFingerprint:
    if kind == "code":
        return CodeFingerprint("cell.py", K, WINDOW, boilerplate=boilerplate, fp=io.StringIO(source),
                               language="python")
    text = re.sub(r"\s+", " ", source).strip().lower()
    return CodeFingerprint("cell.txt", K, WINDOW, boilerplate=boilerplate, filter=False, fp=io.StringIO(text))


def similar_pairs(notebooks: dict[str, object], release_nb) -> list[dict]:
    """[{a, b, score, cells: {grade id: similarity}}], most similar first. The score is the
    share of both submissions' answer tokens that the other also has."""
    released = {gid: np.array(sorted(fingerprint(kind, src).hashes), dtype=np.int64)
                for gid, (kind, src) in answer_cells(release_nb).items()}
    prints = {}
    for student, nb in notebooks.items():
        prints[student] = {gid: fingerprint(kind, src, released.get(gid))
                           for gid, (kind, src) in answer_cells(nb).items() if gid in released}
    pairs = []
    for a, b in combinations(sorted(prints), 2):
        overlap = coverage = 0
        cells = {}
        for gid, first in prints[a].items():
            second = prints[b].get(gid)
            if second is None:
                continue
            coverage += first.token_coverage + second.token_coverage
            if not first.hashes & second.hashes:  # copydetect's comparison only where something is shared
                continue
            _, (sim_a, sim_b), _ = compare_files(first, second)
            overlap += sim_a * first.token_coverage + sim_b * second.token_coverage
            cells[gid] = round(float(max(sim_a, sim_b)), 3)
        if coverage:
            pairs.append({"a": a, "b": b, "score": round(float(overlap / coverage), 3), "cells": cells})
    return sorted(pairs, key=lambda p: -p["score"])


def write_similarity(root: Path, assignment: str) -> Path:
    """reports/<A>/similarity.csv (every pair) and similarity.html (the top pairs, cells side by side)."""
    graded = sorted((root / "autograded").glob(f"*/{assignment}/{assignment}.ipynb"))
    notebooks = {p.parent.parent.name: read_notebook(p) for p in graded}
    release_nb = read_notebook(root / "release" / assignment / f"{assignment}.ipynb")
    pairs = similar_pairs(notebooks, release_nb)
    folder = root / "reports" / assignment
    folder.mkdir(parents=True, exist_ok=True)
    with (folder / "similarity.csv").open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["student_a", "student_b", "score", "similar_cells"])
        for p in pairs:
            cells = "; ".join(f"{g} {s:.0%}" for g, s in sorted(p["cells"].items(), key=lambda c: -c[1]))
            writer.writerow([spreadsheet_safe(p["a"]), spreadsheet_safe(p["b"]), p["score"], cells])
    sections = []
    for p in pairs[:SHOWN]:
        if not p["score"]:
            break
        blocks = []
        for gid, share in sorted(p["cells"].items(), key=lambda c: -c[1]):
            left, right = (answer_cells(notebooks[s]).get(gid, ("", ""))[1] for s in (p["a"], p["b"]))
            blocks.append(f"<h3>{escape(gid)}: {share:.0%}</h3><div class=\"pair\"><pre>{escape(left)}</pre>"
                          f"<pre>{escape(right)}</pre></div>")
        sections.append(f"<h2>{escape(p['a'])} and {escape(p['b'])}: {p['score']:.0%} of answer code shared</h2>"
                        + "".join(blocks))
    html = ('<!DOCTYPE html><html><head><meta charset="utf-8">'
            '<meta http-equiv="Content-Security-Policy" content="default-src \'none\'; style-src \'unsafe-inline\'">'
            f"<title>{escape(assignment)}: similar submissions</title><style>body{{font-family:sans-serif;"
            "max-width:1200px;margin:2em auto}.pair{display:flex;gap:1em}pre{flex:1;background:#f4f4f4;"
            "padding:.5em;overflow:auto}</style></head><body>"
            f"<h1>Most similar submissions: {escape(assignment)}</h1><p>Answer cells compared cell by cell, "
            "names, strings, comments and whitespace normalised (copydetect), the released skeleton "
            "discounted. Similar answers to a short question are common: this is a list to review, not a "
            f"verdict. Every pair is in similarity.csv.</p>{''.join(sections) or '<p>No shared answer code.</p>'}"
            "</body></html>")
    path = folder / "similarity.html"
    path.write_text(with_policy(html, REPORT_POLICY), encoding="utf-8")
    return path
