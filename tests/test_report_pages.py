"""How the reports read, without grading anything: question labels as the notebooks head
them, the terminal table of a 20-question assignment within 100 columns, and the
similarity page (matched lines marked, both columns on a 1280 px page, measured in
headless Chromium)."""

import html
import json
import re
from pathlib import Path

import nbformat
import pytest

from conftest import ROOT
from headless_chromium import missing, offline_browser
from vicourse.course import read_notebook
from vicourse.reports.grades_table import WIDTH, print_table
from vicourse.reports.labels import notebook_labels
from vicourse.reports.report import ClassResults, Row
from vicourse.reports.similarity import similar_pairs, similarity_page, skeleton


def release(assignment: str):
    return read_notebook(ROOT / "release" / assignment / f"{assignment}.ipynb")


def test_labels_are_the_part_and_question_the_notebook_heads_them_with():
    entropy, elbo, reparam = (notebook_labels(release(a))
                              for a in ("01_entropy_kl", "02_elbo", "03_reparameterization"))
    assert str(entropy["test_entropy"]) == "A.1 entropy"  # "### Question A1" under "## Part A: ..."
    assert str(entropy["distance_meaning"]) == "B.2 distance_meaning"  # a written answer
    assert str(entropy["test_tf_answers"]) == "H.1 tf_answers"
    assert str(elbo["ml_intractable"]) == "A ml_intractable"  # a Part that is one question
    assert str(elbo["test_elbo_claims"]) == "B.3 elbo_claims"  # "### B.3 Find the errors"
    assert str(elbo["iwae_explain"]) == "C.4 iwae_explain"  # under a #### sub-heading of C.4
    assert str(reparam["why_reparam_wins"]) == "B.4 why_reparam_wins"  # after an unnumbered ### section
    for grade_id, label in {**entropy, **elbo, **reparam}.items():
        assert label.part and str(label).endswith(grade_id.removeprefix("test_")), grade_id


def test_a_heading_a_student_writes_is_no_label():
    """Labels come from the instructor's cells: an answer cell's headings, or a heading in a
    fenced code block, are not the notebook's."""
    def cell(source, **nbgrader):
        return nbformat.v4.new_markdown_cell(source, metadata={"nbgrader": nbgrader} if nbgrader else {})
    nb = nbformat.v4.new_notebook(cells=[
        cell("## Part A: one\n### A.1 first (1 point)"),
        cell("## Part Z: mine\n### Z.9 mine", solution=True, grade=True, grade_id="answer", points=1),
        cell("```\n## Part Q\n```\nText."),
        cell("after", grade=True, solution=False, grade_id="test_after", points=1),
        cell("## Summary"),
        cell("closing", grade=True, solution=False, grade_id="test_closing", points=1),
    ])
    labels = {gid: str(label) for gid, label in notebook_labels(nb).items()}
    assert labels == {"answer": "A.1 answer", "test_after": "A.1 after", "test_closing": "closing"}


LONG_NOTE = ("cell kl_divergence: nbgrader metadata was missing and has been restored; "
             + " ".join(f"word{i:03d}" for i in range(150)))


def entropy_class() -> ClassResults:
    """01's twenty questions, a student with a long name and a long note, an unreadable one."""
    nb = release("01_entropy_kl")
    graded = [c.metadata.nbgrader for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade")]
    columns = [meta["grade_id"] for meta in graded]
    max_points = {meta["grade_id"]: meta["points"] for meta in graded}
    manual = {meta["grade_id"] for meta in graded if meta.get("solution")}
    scores = {c: (None if c in manual else max_points[c]) for c in columns}
    auto = sum(v for v in scores.values() if v is not None)
    isolation = "sandboxed by bubblewrap: " + ", ".join(f"limit{i} of the kernel" for i in range(30))
    rows = [
        Row("s1234567", "Maria Josefina Longsurname de la Cruz", scores, auto, auto, "graded", "1 d 2 h 3 min",
            [LONG_NOTE], isolation, 12.0),
        Row("garbled", "garbled", {}, 0.0, 0.0, "unreadable", "", ["not a readable notebook: the file is not JSON"],
            isolation, 0.1),
    ]
    return ClassResults("01_entropy_kl", columns, max_points, manual, rows, notebook_labels(nb))


def test_the_terminal_table_fits_100_columns_with_labels_and_whole_words():
    results = entropy_class()
    table = print_table(results)
    lines = table.splitlines()
    assert max(len(line) for line in lines) <= WIDTH == 100, max(lines, key=len)
    assert lines[0].split()[:2] == ["student", "A"] and lines[0].split()[-3:] == ["auto", "total", "status"]
    # each question on a line of its own, by its label and points
    for column in results.columns:
        (line,) = [line for line in lines if line.strip().startswith(results.label(column) + " ")]
        assert re.search(r"\d+ pts?\b", line), line
    assert "A.1 entropy" in table and "test_entropy" not in table
    # the note on lines of its own below its student, every word whole
    start = next(i for i, line in enumerate(lines) if line.startswith("s1234567"))
    note = []
    for line in lines[start + 1:]:
        if not line.startswith("      "):
            break
        note += line.split()
    assert lines[start + 1].split() == "late: 1 d 2 h 3 min".split()
    words = set(LONG_NOTE.split())
    assert "word000" in note and [w for w in note[7:] if w not in words and w != "..."] == []
    assert lines[start].startswith("s1234567 Maria ... ")  # a name too long is cut between words
    garbled = next(line for line in lines if line.startswith("garbled"))
    assert garbled.split()[-3:] == ["-", "-", "unreadable"]


# --------------------------------------------------------------- the similarity page

LONG_LINE = "    table = [" + ", ".join(str(i * 7919 % 1000) for i in range(120)) + "]\n"
LEFT = ("def double(x):\n    result = np.asarray(x) + np.asarray(x)  # add it to itself\n" + LONG_LINE
        + "    return result\n\ndef helper_only_here(values):\n    return sorted(set(values), reverse=True)[:3]\n")
RIGHT = ("def double(values):\n  out=np.asarray(values)+np.asarray(values)\n" + LONG_LINE.replace("table", "t")
         + "  return out\n\nweights = {k: k ** 3 - 7 for k in range(19) if k % 5}\n")
WRITTEN_LEFT = "The KL divergence is NOT symmetric,\nso it is no distance.\n\nMy own words: a sunny day in May."
WRITTEN_RIGHT = "the KL   divergence is not symmetric, so it is\nno distance.\n\nAnother thought, quite different."


def similarity_html() -> str:
    def nb(code, text):
        return nbformat.v4.new_notebook(cells=[
            nbformat.v4.new_markdown_cell("## Part A: doubling (3 points)"),
            nbformat.v4.new_code_cell(code, metadata={"nbgrader": {"solution": True, "grade": False,
                                                                   "grade_id": "double"}}),
            nbformat.v4.new_markdown_cell(text, metadata={"nbgrader": {"solution": True, "grade": True,
                                                                       "grade_id": "symmetric", "points": 1}})])
    released = nb("def double(x):\n    # YOUR CODE HERE\n    raise NotImplementedError()\n", "YOUR ANSWER HERE")
    notebooks = {"ann": nb(LEFT, WRITTEN_LEFT), "bob": nb(RIGHT, WRITTEN_RIGHT)}
    pairs = similar_pairs(notebooks, released)
    labels = {gid: str(label) for gid, label in notebook_labels(released).items()}
    return similarity_page("00_toy", pairs, notebooks, skeleton(released), labels)


def marked(pre: str) -> list[str]:
    return [html.unescape(m) for m in re.findall(r"<mark>(.*?)</mark>", pre)]


def test_the_similarity_page_marks_the_lines_that_match():
    page = similarity_html()
    assert "<h3>A double: " in page and "<h3>A symmetric: " in page  # labelled as the notebook heads them
    pres = re.findall(r"<pre>(.*?)</pre>", page, re.S)
    (code_left, code_right), (text_left, text_right) = pres[:2], pres[2:]
    for pre, unique in ((code_left, "helper_only_here"), (code_right, "weights")):
        lines = marked(pre)
        assert any("np.asarray" in line for line in lines)
        assert any(line.lstrip().startswith(("table = [", "t = [")) for line in lines)  # the long line
        assert not [line for line in lines if unique in line or "sorted(set" in line], lines
    assert marked(text_left) == ["The KL divergence is NOT symmetric,", "so it is no distance."]
    assert marked(text_right) == ["the KL   divergence is not symmetric, so it is", "no distance."]


def layout(page: str, width: int, folder: Path) -> dict:
    """The page as headless Chromium lays it out in a window `width` px wide: the viewport, the
    document's scroll width and each side-by-side <pre>'s left and right edge (read over DevTools,
    so the page keeps its policy that allows no script)."""
    (folder / "page.html").write_text(page, encoding="utf-8")
    probe = ("JSON.stringify({view: document.documentElement.clientWidth, "
             "scroll: document.documentElement.scrollWidth, pres: [...document.querySelectorAll('.pair pre')]"
             ".map(p => { const r = p.getBoundingClientRect(); return [r.left, r.right]; })})")
    with offline_browser() as browser:
        browser.open((folder / "page.html").as_uri(), width=width)
        return json.loads(browser.evaluate(probe))


@pytest.mark.skipif(missing() is not None, reason=str(missing()))
def test_the_similarity_page_keeps_both_columns_on_a_1280_px_page(tmp_path):
    """A long line scrolls inside its own cell; it must not push the right-hand cell off the page
    (a flex item is as wide as its longest line unless its min-width is 0)."""
    measured = layout(similarity_html(), 1280, tmp_path)
    assert len(measured["pres"]) == 4 and measured["view"] <= 1280
    assert measured["scroll"] <= measured["view"], measured
    for left, right in measured["pres"]:
        assert 0 <= left < right <= measured["view"], measured
    halves = [right - left for left, right in measured["pres"]]
    assert max(halves) - min(halves) < 2, measured  # the two sides share the width equally
