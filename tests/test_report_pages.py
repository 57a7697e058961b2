"""How the reports read, without grading anything: question labels as the notebooks head
them, and the terminal table of a 20-question assignment within 100 columns."""

import re

import nbformat

from conftest import ROOT
from vicourse.course import read_notebook
from vicourse.grades_table import WIDTH, print_table
from vicourse.labels import notebook_labels
from vicourse.report import ClassResults, Row


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
