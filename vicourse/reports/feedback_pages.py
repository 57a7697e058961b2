"""Feedback pages that speak the notebook's language and never show a missing grade as zero.

Stock `nbgrader generate_feedback` lists every graded cell as "Test cell" or "Written
response", and shows a written answer that no grader has scored yet as "Score: 0.0 / 2.0".
Each page it wrote is rewritten here, in the places its template (pinned with nbgrader)
puts them: the list at the top and each graded cell's heading name the question as the
notebook heads it ("A.1 entropy", vicourse/reports/labels.py), and an ungraded written answer
says "not graded yet". Only those template strings are touched, and every label is
HTML-escaped; what the student wrote is left as nbgrader rendered it.
"""

from __future__ import annotations

import re
import textwrap
from html import escape
from pathlib import Path

from .labels import assignment_labels
from .report import question_scores

NOT_GRADED = "not graded yet"
KINDS = ("Test cell", "Coding free-response", "Written response", "Task")
NUMBER = r"-?[0-9.]+"


def waiting_answers(root: Path, assignment: str) -> tuple[dict[str, list[str]], dict[str, str]]:
    """({student: grade ids of written answers not graded yet}, {grade id: label})."""
    columns, scores, _, manual = question_scores(root, assignment)
    written = [c for c in columns if c in manual]
    waiting = {student: [c for c in written if got.get(c) is None] for student, got in scores.items()}
    labels = {gid: str(label) for gid, label in assignment_labels(root, assignment, columns).items()}
    return waiting, labels


def relabel(page: str, labels: dict[str, str], waiting: list[str]) -> str:
    """One feedback page with its graded cells labelled and its ungraded written answers marked."""
    kinds = "|".join(re.escape(k) for k in KINDS)
    for grade_id, label in labels.items():
        gid, shown = re.escape(grade_id), escape(label)
        score = f"({NOT_GRADED}; \\3 points)" if grade_id in waiting else "(Score: \\2 / \\3)"
        page = re.sub(rf'(<li><a href="#{gid}">)(?:{kinds})</a> \(Score: ({NUMBER}) / ({NUMBER})\)',
                      lambda m: f'{m.group(1)}{shown}</a> ' + m.expand(score), page, count=1)
        # the heading of the cell itself: its label, and for an ungraded answer no score
        page = re.sub(rf'(<a name="{gid}"></a><div class="panel-heading"><span class="nbgrader-label">)'
                      rf"(?:Grade cell: <code>{gid}</code>|Student's answer)</span>",
                      lambda m: m.group(1) + shown + "</span>", page, count=1)
        if grade_id in waiting:
            page = re.sub(rf'(<a name="{gid}"></a><div class="panel-heading"><span class="nbgrader-label">[^<]*'
                          rf'</span><span class="pull-right">\s*)Score: ({NUMBER}) / ({NUMBER})',
                          lambda m: m.group(1) + f"Not graded yet ({m.group(3)} points)", page, count=1)
    if waiting:
        page = re.sub(rf"(<h4>[^<]*)\(Score: ({NUMBER}) / ({NUMBER})\)</h4>",
                      lambda m: f"{m.group(1)}(Score so far: {m.group(2)} / {m.group(3)}; "
                                f"written answers {NOT_GRADED})</h4>", page, count=1)
    return page


def label_pages(root: Path, assignment: str, student: str | None = None) -> dict[str, list[str]]:
    """Rewrite the feedback pages of an assignment (one student's, or all); return the students
    whose pages show written answers not graded yet, with those answers' labels."""
    waiting, labels = waiting_answers(root, assignment)
    pending = {}
    for page in sorted((root / "feedback").glob(f"{student or '*'}/{assignment}/*.html")):
        who = page.parent.parent.name
        mine = waiting.get(who, [])
        page.write_text(relabel(page.read_text(encoding="utf-8"), labels, mine), encoding="utf-8")
        if mine:
            pending[who] = [labels[c] for c in mine]
    return pending


def ungraded_warning(pending: dict[str, list[str]]) -> str:
    """What `make feedback` tells the TA when pages went out with written answers not graded."""
    students = ", ".join(sorted(pending))
    return textwrap.fill(
        f"WARNING: written answers not graded yet for {len(pending)} students; their feedback pages say "
        f"'{NOT_GRADED}' there, and the total is a score so far. Grade them in formgrader, then make "
        f"feedback again. Students: {textwrap.shorten(students, 1000, placeholder=' ...')}", 100,
        subsequent_indent="  ", break_on_hyphens=False)
