"""The most similar pairs of submissions, for a TA to review (not a verdict).

Answer cells are compared cell by cell, each with the same cell of every other
submission, by copydetect (winnowed fingerprints of the tokenised code, as in
MOSS): variable, function and class names, strings, comments and whitespace are
normalised away, so renaming and reformatting do not hide a copy. Fingerprints of
the released cell (the skeleton every student starts from) are discarded.
Written (markdown) answers are compared as text with whitespace and case
normalised. Submissions are read from autograded/, where each one that was
graded sits already parsed and repaired.

The HTML page shows the top pairs' cells side by side, each line that shares code
with the other side marked (copydetect's matched spans, skeleton excluded).
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

from ..course import read_notebook
from .html_safety import REPORT_POLICY, with_policy
from .labels import notebook_labels
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


def normalised(source: str) -> tuple[str, list[int]]:
    """A written answer as compared: words in lower case, one space apart; and for each of its
    characters, where it stands in the source (so that a match can be shown there)."""
    text, where = [], []
    for word in re.finditer(r"\S+", source):
        if text:
            text.append(" ")
            where.append(where[-1] + 1)  # the first blank after the previous word
        text.append(word.group().lower())
        where.extend(range(word.start(), word.end()))
    return "".join(text), where


def fingerprint(kind: str, source: str, boilerplate=None) -> CodeFingerprint:
    if kind == "code":
        return CodeFingerprint("cell.py", K, WINDOW, boilerplate=boilerplate, fp=io.StringIO(source),
                               language="python")
    text = normalised(source)[0]
    return CodeFingerprint("cell.txt", K, WINDOW, boilerplate=boilerplate, filter=False, fp=io.StringIO(text))


def skeleton(release_nb) -> dict[str, np.ndarray]:
    """grade id -> the fingerprints of the released cell, which every student starts from."""
    return {gid: np.array(sorted(fingerprint(kind, src).hashes), dtype=np.int64)
            for gid, (kind, src) in answer_cells(release_nb).items()}


def similar_pairs(notebooks: dict[str, object], release_nb) -> list[dict]:
    """[{a, b, score, cells: {grade id: similarity}}], most similar first. The score is the
    share of both submissions' answer tokens that the other also has."""
    released = skeleton(release_nb)
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
    labels = {gid: str(label) for gid, label in notebook_labels(release_nb).items()}
    folder = root / "reports" / assignment
    folder.mkdir(parents=True, exist_ok=True)
    with (folder / "similarity.csv").open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["student_a", "student_b", "score", "similar_cells"])
        for p in pairs:
            cells = "; ".join(f"{labels.get(g, g)} {s:.0%}" for g, s in sorted(p["cells"].items(), key=lambda c: -c[1]))
            writer.writerow([spreadsheet_safe(p["a"]), spreadsheet_safe(p["b"]), p["score"], cells])
    html = similarity_page(assignment, pairs, notebooks, skeleton(release_nb), labels)
    path = folder / "similarity.html"
    path.write_text(with_policy(html, REPORT_POLICY), encoding="utf-8")
    return path


def matched_lines(kind: str, left: str, right: str, boilerplate) -> tuple[set[int], set[int]]:
    """The numbers of the lines, on each side, that hold code (or text) the other side shares."""
    first, second = fingerprint(kind, left, boilerplate), fingerprint(kind, right, boilerplate)
    if not first.hashes & second.hashes:
        return set(), set()
    _, _, (spans_left, spans_right) = compare_files(first, second)
    marked = []
    for source, spans in ((left, spans_left), (right, spans_right)):
        where = None if kind == "code" else normalised(source)[1]
        lines = set()
        for start, end in np.asarray(spans, dtype=int).reshape(2, -1).T:
            if where is not None:  # spans of a written answer count in its normalised text
                start, end = where[start], where[end - 1] + 1
            lines.update(range(source.count("\n", 0, start), source.count("\n", 0, max(start, end - 1)) + 1))
        marked.append(lines)
    return marked[0], marked[1]


def shown(source: str, marked: set[int]) -> str:
    """A cell as HTML (escaped) for a <pre>, the lines it shares with the other side in <mark>."""
    return "\n".join(f"<mark>{escape(line)}</mark>" if number in marked else escape(line)
                     for number, line in enumerate(source.split("\n")))


STYLE = ("body{font-family:sans-serif;max-width:1200px;margin:2em auto;padding:0 1em}"
         # a flex item is at least as wide as its longest line unless min-width is 0: without it a
         # long line pushes the right-hand cell off the page instead of scrolling inside it
         ".pair{display:flex;gap:1em}.pair pre{flex:1 1 0;min-width:0;overflow-x:auto;background:#f4f4f4;"
         "padding:.5em;margin:0}mark{background:#ffd966}"
         ".pair mark{display:inline-block;min-width:100%;box-shadow:inset 3px 0 #c68a00}")


def similarity_page(assignment: str, pairs: list[dict], notebooks: dict, released: dict, labels: dict) -> str:
    sections = []
    for p in pairs[:SHOWN]:
        if not p["score"]:
            break
        blocks = []
        for gid, share in sorted(p["cells"].items(), key=lambda c: -c[1]):
            (kind, left), (_, right) = (answer_cells(notebooks[s]).get(gid, ("code", "")) for s in (p["a"], p["b"]))
            marks = matched_lines(kind, left, right, released.get(gid))
            blocks.append(f"<h3>{escape(labels.get(gid, gid))}: {share:.0%}</h3><div class=\"pair\">"
                          f"<pre>{shown(left, marks[0])}</pre><pre>{shown(right, marks[1])}</pre></div>")
        sections.append(f"<h2>{escape(p['a'])} and {escape(p['b'])}: {p['score']:.0%} of answer code shared</h2>"
                        + "".join(blocks))
    return ('<!DOCTYPE html><html><head><meta charset="utf-8">'
            '<meta http-equiv="Content-Security-Policy" content="default-src \'none\'; style-src \'unsafe-inline\'">'
            f"<title>{escape(assignment)}: similar submissions</title><style>{STYLE}</style></head><body>"
            f"<h1>Most similar submissions: {escape(assignment)}</h1><p>Answer cells compared cell by cell, "
            "names, strings, comments and whitespace normalised (copydetect), the released skeleton "
            "discounted. Similar answers to a short question are common: this is a list to review, not a "
            "verdict. <mark>Marked lines</mark> hold code the other submission shares. Every pair is in "
            f"similarity.csv.</p>{''.join(sections) or '<p>No shared answer code.</p>'}</body></html>")
