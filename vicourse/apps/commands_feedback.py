"""`vicourse feedback`: stock `nbgrader generate_feedback`, made safe to open, and what it wrote
for whom; and the course-wide export."""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from .command_line import (Refused, assignment_arguments, course_options, did, exit_code, gradebook_options,
                           gradebook_shown, keep_going_option, known_assignments, open_course, shown)


@dataclass
class FeedbackRun:
    assignment: str
    pages: dict = field(default_factory=dict)  # student -> pages written in this run
    missing: dict = field(default_factory=dict)  # student -> why no page was written
    error: str = ""  # what generate_feedback said when it failed

    @property
    def failed(self) -> bool:
        """Pages that could have been written and were not (a submission not graded is no failure here)."""
        return bool(self.error) or any(why.startswith("generate_feedback") for why in self.missing.values())

    def summary(self, root: Path) -> str:
        count = sum(len(p) for p in self.pages.values())
        lines = [f"feedback for {self.assignment}: {plural(count, 'page')} for {plural(len(self.pages), 'student')}"
                 + (f" ({', '.join(sorted(self.pages))})" if self.pages else "")]
        if self.missing:
            lines.append(f"  NO PAGE for {len(self.missing)}: "
                         + "; ".join(f"{s} ({why})" for s, why in sorted(self.missing.items())))
        if self.error:
            lines.append(f"  generate_feedback failed:\n{self.error}")
        lines.append(did(read=[f"{shown(root / 'autograded')}/*/{self.assignment}/", gradebook_shown(root)],
                         wrote=[f"{shown(root / 'feedback')}/<student>/{self.assignment}/"]))
        return "\n".join(lines)


def plural(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"


def feedback(root, assignment: str, student: str | None = None) -> FeedbackRun:
    """Stock `nbgrader generate_feedback`, then each page labelled as the notebook heads its
    questions, ungraded written answers shown as such (vicourse/reports/feedback_pages.py), and made safe
    to open (vicourse/reports/html_safety.py); which students got a page in this run, and why the others
    did not."""
    from ..batch.outcomes import load_outcomes
    from ..course import nbgrader
    from ..reports.feedback_pages import label_pages, ungraded_warning
    from ..reports.html_safety import secure_file

    started = time.time() - 1  # file times may be rounded to the second
    result = nbgrader(root, "generate_feedback", assignment, "--force", *(["--student", student] if student else []))
    run = FeedbackRun(assignment)
    if result.returncode != 0:
        run.error = f"{result.stdout[-2000:]}\n{result.stderr[-2000:]}".strip()
    pending = label_pages(root, assignment, student)
    if pending:
        print(ungraded_warning(pending), file=sys.stderr)
    for page in sorted((root / "feedback").glob(f"{student or '*'}/{assignment}/*.html")):
        if page.stat().st_mtime >= started:  # written by this run, not left from an earlier one
            run.pages.setdefault(page.parts[-3], []).append(page)
        secure_file(page)
    outcomes = load_outcomes(root, assignment)
    expected = {p.parent.name for folder in ("submitted", "autograded")
                for p in (root / folder).glob(f"{student or '*'}/{assignment}") if p.is_dir()}
    for name in sorted(expected - set(run.pages)):
        status = outcomes.get(name, {}).get("status", "graded")
        if status != "graded":
            run.missing[name] = f"not graded: {status}"
        elif not (root / "autograded" / name / assignment).is_dir():
            run.missing[name] = f"not graded yet: make grade A={assignment}"
        else:
            run.missing[name] = "generate_feedback wrote none: see its messages"
    return run


def run_feedback(args) -> int:
    root = open_course(args)
    failed = False
    names = known_assignments(root, args.assignments, "feedback")
    for name in names:  # refused before any page is written
        if not any(p.is_dir() for p in (root / "autograded").glob(f"{args.student or '*'}/{name}")):
            raise Refused(f"feedback: no graded submissions of {name}: looked in "
                          f"{shown(root / 'autograded')}/{args.student or '*'}/{name}/; make grade A={name} first")
    for name in names:
        run = feedback(root, name, args.student)
        print(run.summary(root))
        failed |= run.failed
    return exit_code(failed, args.keep_going)


def export(root) -> bool:
    """Stock nbgrader export: one row per student and assignment (reports/grades_all.csv)."""
    from ..course import nbgrader

    (root / "reports").mkdir(exist_ok=True)
    result = nbgrader(root, "export", "--to", str(root / "reports" / "grades_all.csv"))
    if result.returncode != 0:
        print(f"export failed:\n{result.stderr[-2000:]}", file=sys.stderr)
    return result.returncode == 0




def register(commands) -> None:
    course, gradebook = course_options(), gradebook_options()

    parser = commands.add_parser("feedback", parents=[course, gradebook], help="feedback HTML for students",
                                 description="Stock `nbgrader generate_feedback` (no hidden checks) into "
                                             "feedback/<student>/A/; says how many pages it wrote and who got none.")
    assignment_arguments(parser)
    parser.add_argument("--student", help="one student only")
    keep_going_option(parser, "pages")
    parser.set_defaults(run=run_feedback)
