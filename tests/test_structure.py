"""The conventions every assignment in source/ keeps (docs/instructor.md):

* each manually graded answer cell comes right after its question, a locked cell whose
  source ends with the rubric between `=== BEGIN MARK SCHEME ===` and
  `=== END MARK SCHEME ===`, headed `**Mark scheme (N points).**` with the cell's points;
* the rubric is absent from the release and from the feedback, present in the solutions
  and, after stock autograde, in the graded notebook that formgrader shows;
* the first cell is titled `# Assignment NN: ...` and states
  `**Points: T** (A autograded, W written and graded by hand).`, and every
  `## Part X: ... (N points)` heading states the points of the cells under it;
* no line of markdown that continues inline math (`$...$` over several lines) starts the way a
  markdown block does (`- `, `+ `, `* `, `1. `, `#`, `>`): the renderers of every HTML page the course
  writes (solutions, feedback, formgrader) would cut the formula there into a bullet, and then
  eat its backslash escapes (`\\,\\|\\,` comes out as `,|,`).

And the library's layout (docs/design.md, Package layout): no module longer than about 300 lines,
and none loose in vicourse/ but the entry points and the course's paths.
"""

import re

import pytest

from conftest import ASSIGNMENTS, ROOT
from vicourse.authoring.solutions import mark_scheme
from vicourse.course import read_notebook, source_notebook

POINTS_LINE = re.compile(r"^\*\*Points: (\d+(?:\.\d+)?)\*\* \((\d+(?:\.\d+)?) autograded, (\d+(?:\.\d+)?) written "
                         r"and graded by hand\)\.$", re.M)
PART = re.compile(r"^## Part (\w+)\b.*$", re.M)
POINTS = re.compile(r"\((\d+(?:\.\d+)?) points?\)\s*$")
RUBRIC_HEAD = re.compile(r"^\*\*Mark scheme \((\d+(?:\.\d+)?) points?\)\.\*\*")


# what markdown reads as the start of a block of its own, at the start of a line
BLOCK_START = re.compile(r"^ {0,3}(?:[-+*](?:[ \t]|$)|\d{1,9}[.)](?:[ \t]|$)|#{1,6}(?:[ \t]|$)|>|=+[ \t]*$)")
CODE = re.compile(r"^ {0,3}(```|~~~).*?^ {0,3}\1[^\n]*$|`[^`\n]*`", re.S | re.M)


def lines_that_cut_inline_math(markdown: str) -> list[str]:
    """The lines of `markdown` that continue an inline formula ($...$) but start like a markdown
    block. Display math ($$...$$) is kept whole by the renderers (nbconvert's math block), and
    a blank line ends a paragraph, and any formula with it."""
    text = CODE.sub(lambda m: re.sub(r"[^\n]", " ", m.group(0)), markdown)  # code is not math
    cut, open_with = [], None
    for line in text.splitlines():
        if not line.strip():
            open_with = None
            continue
        if open_with == "$" and BLOCK_START.match(line):
            cut.append(line)
        i = 0
        while i < len(line):
            if line[i] == "\\":
                i += 2  # an escaped character, \\$ included
                continue
            if line[i] == "$":
                token = "$$" if line.startswith("$$", i) else "$"
                if open_with is None:
                    open_with = token
                elif token == open_with or open_with == "$":
                    open_with = None if token == open_with else open_with
                i += len(token)
                continue
            i += 1
    return cut


def meta(cell) -> dict:
    return cell.metadata.get("nbgrader", {})


def is_written_answer(cell) -> bool:
    return cell.cell_type == "markdown" and bool(meta(cell).get("grade")) and bool(meta(cell).get("solution"))


def written_answers(nb):
    """(question cell, answer cell) for every manually graded answer cell."""
    return [(nb.cells[i - 1], cell) for i, cell in enumerate(nb.cells) if is_written_answer(cell)]


def rubric_lines(rubric: str) -> list[str]:
    return [line.strip() for line in rubric.splitlines() if len(line.strip()) >= 12]


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_every_written_answer_has_a_rubric_in_its_locked_question(assignment):
    nb = read_notebook(source_notebook(ROOT, assignment))
    pairs = written_answers(nb)
    for question, answer in pairs:
        gid = meta(answer)["grade_id"]
        rubric = mark_scheme(question.source)
        assert rubric, f"{gid}: the cell before it must end with its mark scheme"
        assert meta(question).get("locked") and meta(question).get("grade_id"), (
            f"{gid}: its question cell must be a locked (read-only) nbgrader cell, so that autograde restores "
            "the rubric for formgrader")
        head = RUBRIC_HEAD.match(rubric)
        assert head, f"{gid}: the mark scheme starts with **Mark scheme (N points).**"
        assert float(head.group(1)) == float(meta(answer)["points"]), f"{gid}: rubric and cell disagree on points"
        assert len(rubric_lines(rubric)) >= 3, f"{gid}: what earns each point, and the common wrong answers"
    others = [c for c in nb.cells if mark_scheme(c.source) and c not in [q for q, _ in pairs]]
    assert not others, "a mark scheme belongs to the question of a written answer"


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_rubrics_are_absent_from_the_release_and_present_in_the_solutions(assignment):
    source = read_notebook(source_notebook(ROOT, assignment))
    release_text = "\n".join(c.source for c in read_notebook(ROOT / "release" / assignment / f"{assignment}.ipynb").cells)
    solution = read_notebook(ROOT / "solutions" / assignment / f"{assignment}.ipynb")
    solution_text = "\n".join(c.source for c in solution.cells)
    html = (ROOT / "solutions" / assignment / f"{assignment}.html").read_text(encoding="utf-8")
    assert "MARK SCHEME" not in release_text
    for question, answer in written_answers(source):
        lines = rubric_lines(mark_scheme(question.source))
        assert not [line for line in lines if line in release_text], meta(answer)["grade_id"]
        assert all(line in solution_text for line in [f"> {line}" for line in lines]), meta(answer)["grade_id"]
    assert html.count("For graders.") == len(written_answers(source))


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_header_states_the_points_of_the_cells(assignment):
    nb = read_notebook(source_notebook(ROOT, assignment))
    head = nb.cells[0].source
    number = assignment.split("_")[0]
    assert re.match(rf"# Assignment {number}: \S", head), f"the title is '# Assignment {number}: ...'"
    found = POINTS_LINE.search(head)
    assert found, "the first cell states **Points: T** (A autograded, W written and graded by hand)."
    graded = [c for c in nb.cells if meta(c).get("grade")]
    written = sum(meta(c)["points"] for c in graded if meta(c).get("solution"))
    total = sum(meta(c)["points"] for c in graded)
    assert [float(g) for g in found.groups()] == [total, total - written, written]


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_part_headings_state_the_points_of_their_cells(assignment):
    nb = read_notebook(source_notebook(ROOT, assignment))
    stated, counted, part = {}, {}, None
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            for heading in PART.finditer(cell.source):
                part = heading.group(1)
                points = POINTS.search(heading.group(0))
                assert points, f"Part {part}: its heading ends with '(N points)'"
                stated[part], counted[part] = float(points.group(1)), 0.0
        if meta(cell).get("grade"):
            assert part is not None, "every graded cell sits under a '## Part' heading"
            counted[part] += meta(cell)["points"]
    assert stated and stated == counted


@pytest.mark.parametrize("assignment", ASSIGNMENTS[:1])
def test_stock_autograde_shows_the_rubrics_to_graders(graded, assignment):
    """formgrader renders the autograded notebook: stock OverwriteCells puts the locked
    question cell back as it is in the gradebook, rubric included."""
    nb = read_notebook(graded(assignment).root / "autograded" / "solution" / assignment / f"{assignment}.ipynb")
    source = read_notebook(source_notebook(ROOT, assignment))
    rubrics = [mark_scheme(q.source) for q, _ in written_answers(source)]
    shown = [mark_scheme(c.source) for c in nb.cells if mark_scheme(c.source)]
    assert shown == rubrics


def test_the_math_scanner_finds_what_markdown_cuts():
    assert lines_that_cut_inline_math("with $a = b\n- c$, done") == ["- c$, done"]
    assert lines_that_cut_inline_math("so $\\mathrm{KL}(p\\,\\|\\,q)\n+ 1$.") == ["+ 1$."]
    assert lines_that_cut_inline_math("$$\na\n- b\n$$") == []  # display math stays whole
    assert lines_that_cut_inline_math("$a$\n- a bullet after the formula") == []
    assert lines_that_cut_inline_math("`$x` is code\n- not math") == []
    assert lines_that_cut_inline_math("costs \\$5\n- a bullet") == []


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_no_markdown_line_cuts_an_inline_formula(assignment):
    """A formula over several lines keeps every continuation line off the start of a markdown
    block: move the `+` or `-` to the end of the line before."""
    nb = read_notebook(source_notebook(ROOT, assignment))
    cut = {i: lines for i, cell in enumerate(nb.cells) if cell.cell_type == "markdown"
           and (lines := lines_that_cut_inline_math(cell.source))}
    assert not cut, f"markdown cells whose inline math a line cuts (cell: lines): {cut}"


# ---------------------------------------------------------------- the library's layout

MAX_MODULE_LINES = 300
TOP_LEVEL = {"__init__.py", "__main__.py", "course.py"}  # everything else lives in a subpackage


def test_every_module_of_the_library_is_short():
    """One job per module: none of vicourse/ (subpackages and shipped/ included) is longer than
    about 300 lines. Split a longer one where its jobs part, not at a line count."""
    long = {str(p.relative_to(ROOT)): n for p in sorted((ROOT / "vicourse").rglob("*.py"))
            if (n := len(p.read_text().splitlines())) > MAX_MODULE_LINES}
    assert not long, f"modules over {MAX_MODULE_LINES} lines: {long}"


def test_no_module_lies_loose_in_the_library():
    """Only the entry points and the course's paths sit in vicourse/ itself; every other module
    sits in the subpackage of its role."""
    loose = sorted(p.name for p in (ROOT / "vicourse").glob("*.py") if p.name not in TOP_LEVEL)
    assert not loose, f"move into the subpackage of its role (docs/design.md): {loose}"


def test_every_subpackage_is_a_package_with_a_role():
    """A folder without __init__.py is left out of the wheel (pyproject.toml finds packages), and
    docs/design.md gives each subpackage its line."""
    design = (ROOT / "docs" / "design.md").read_text()
    folders = sorted(p for p in (ROOT / "vicourse").iterdir() if p.is_dir() and p.name != "__pycache__")
    assert folders
    for folder in folders:
        assert (folder / "__init__.py").is_file(), f"vicourse/{folder.name}/ has no __init__.py"
        assert f"- `{folder.name}/`:" in design, f"docs/design.md has no line for {folder.name}/"
