"""What the grading process writes into a graded notebook, and what it lets through of the kernel's.

Only this process may score a test cell (stock nbgrader reads a test cell's first execute_result
as its points), and nothing a kernel printed may run in the browser of whoever opens the graded
notebook (formgrader, feedback): kernel outputs keep safe types and numeric image sizes, and
markdown keeps plain tags and safe links.
"""

from __future__ import annotations

import re

from nbformat import NotebookNode
from nbgrader.utils import is_grade, is_solution

from ..reports.html_safety import safe_markdown

CHECK_FAILED = "HiddenCheckFailed"


# A kernel's execute_result in a test cell is kept as display_data: nbgrader reads the first
# execute_result of a test cell as its score, and only the grading process may write one.
NEUTRALISED = "vicourse: execute_result from the kernel, not a score"


# Output types kept from a student's kernel. HTML, JavaScript and SVG can carry scripts that
# would run in a TA's browser (formgrader, feedback); everything else renders as text or pixels.
SAFE_MIME_TYPES = ("text/plain", "image/png", "image/jpeg", "image/gif", "text/latex", "application/json")


HTML_TAG = re.compile(r"<[a-zA-Z!/?]")


MARKDOWN_TAGS = {"a", "b", "i", "em", "strong", "code", "pre", "sub", "sup", "br", "p", "span", "div", "ul", "ol",
                 "li", "blockquote", "hr", "table", "thead", "tbody", "tr", "th", "td", "img", "h1", "h2", "h3",
                 "h4", "h5", "h6", "del", "kbd", "details", "summary"}


def harmless_markdown(source: str) -> str:
    """Markdown that cannot run anything in a viewer's browser (formgrader, feedback): links to
    javascript:, vbscript: and data: URLs become "#", and raw HTML keeps only plain tags and
    http(s) links (scripts and event handlers are escaped into text)."""
    source = safe_markdown(source)
    if not HTML_TAG.search(source):
        return source
    import bleach

    return bleach.clean(source, tags=MARKDOWN_TAGS, attributes={"a": ["href", "title"], "img": ["src", "alt"]},
                        protocols=["http", "https", "mailto"], strip=False)


def numeric_sizes(metadata) -> dict:
    """An output's metadata reduced to what renders safely: each image's numeric width and height.
    (nbconvert writes them into the <img> tag unquoted: "1 onerror=..." would be an event handler.)"""
    kept = {}
    for mime, fields in (metadata or {}).items() if isinstance(metadata, dict) else ():
        if isinstance(fields, dict):
            sizes = {k: v for k, v in fields.items() if k in ("width", "height")
                     and isinstance(v, (int, float)) and not isinstance(v, bool)}
            if sizes:
                kept[mime] = sizes
    return kept


def is_test_cell(cell) -> bool:
    return cell.cell_type == "code" and is_grade(cell) and not is_solution(cell)


def error_output(ename: str, message: str) -> NotebookNode:
    return NotebookNode(output_type="error", ename=ename, evalue=message, traceback=[f"{ename}: {message}"])


def neutralise_results(cell) -> None:
    """Turn every execute_result of a test cell into display_data: what the student's kernel
    printed stays visible, but stock nbgrader can no longer read it as the cell's score."""
    for i, output in enumerate(cell.get("outputs", [])):
        if output.get("output_type") == "execute_result":
            cell.outputs[i] = NotebookNode(output_type="display_data", data=output.get("data", {}),
                                           metadata={"vicourse": NEUTRALISED})


def score_outputs(points: float, kept: float, message: str) -> list[NotebookNode]:
    """The outputs that give a test cell `kept` of its `points` under stock nbgrader's
    partial credit (the first execute_result of a test cell, a number of points)."""
    score = float(points) * kept
    return [NotebookNode(output_type="stream", name="stdout",
                         text=f"Hidden check: {message}; this cell earns {score:g} of its {float(points):g} points.\n"),
            NotebookNode(output_type="execute_result", execution_count=None, metadata={},
                         data={"text/plain": repr(score)})]
