"""The TA's grading commands: grade, report, grade-one.

Each says what it read and wrote, and exits as vicourse/apps/command_line.py documents.
"""

from __future__ import annotations

import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from .command_line import (FAILED, OK, Refused, assignment_arguments, course_options, cpu_count, did, exit_code,
                           gradebook_knows, gradebook_options, gradebook_shown, keep_going_option,
                           known_assignments, open_course, shown)

NOT_GRADED = ("failed", "timed out", "unreadable")


# ---------------------------------------------------------------- grade


@dataclass
class GradeRun:
    summary: str  # the score table and what this run did
    outcomes: list = field(default_factory=list)

    @property
    def not_graded(self) -> list:
        return [o for o in self.outcomes if o.status in NOT_GRADED]


def grade_run(root, assignment: str, workers: int, timeout: float, cell_timeout: int | None, only=None,
              force: bool = False, scheduler: str | None = None, insecure: bool = False, certs=None) -> GradeRun:
    """Grade the new and changed submissions of an assignment, then write its reports."""
    from ..batch import coordinator
    from ..batch.outcomes import STATUSES, load_outcomes
    from ..batch.submitted import students
    from ..reports import all_reports, grades_table

    if not only and not students(root, assignment):
        folder = root / "submitted"
        why = "does not exist" if not folder.is_dir() else f"holds no <student>/{assignment}/ folder"
        raise Refused(f"grade: no submissions of {assignment} to grade: looked in {shown(folder)}/*/{assignment}/ "
                      f"({shown(folder)}/ {why}). Collect them first: make collect A={assignment} (an LMS "
                      f"download) or nbgrader collect {assignment} (the exchange)")
    extra = [f"--Execute.timeout={cell_timeout}"] if cell_timeout else []
    saved_runs = {name: saved.get("run") for name, saved in load_outcomes(root, assignment).items()}
    started = time.perf_counter()
    outcomes = coordinator.grade_all(root, assignment, workers=workers, timeout=timeout, extra=extra, only=only,
                               force=force, scheduler=scheduler, insecure=insecure, certs=certs)
    seconds = time.perf_counter() - started
    table = grades_table.print_table(all_reports.write_all(root, assignment))
    this_run = [o for o in outcomes if o.run != saved_runs.get(o.student)]  # each one handled gets this run's stamp
    counts = {status: sum(o.status == status for o in this_run) for status in STATUSES}
    handled = [f"{counts.pop('graded')} graded in this run"] + [f"{n} {status}" for status, n in counts.items() if n]
    where = f"on the cluster at {scheduler}" if scheduler else f"with {workers} local workers"
    summary = (f"{table}\n  {len(outcomes)} submissions of {assignment} ({', '.join(handled)}, "
               f"{len(outcomes) - len(this_run)} unchanged) in {seconds:.1f} s {where}")
    if any(not o.isolation.startswith("sandboxed") for o in outcomes if o.isolation):
        summary += "\n  WARNING: STUDENT CODE RAN WITHOUT A SANDBOX (see the isolation lines above; make doctor)"
    run = GradeRun(summary, outcomes)
    if run.not_graded:
        run.summary += f"\n  NOT GRADED ({len(run.not_graded)}): " + "; ".join(
            f"{o.student} ({o.status}{': ' + o.notes[-1][:120] if o.notes else ''})" for o in run.not_graded)
    run.summary += "\n" + did(
        read=[f"{shown(root / 'submitted')}/*/{assignment}/"],
        wrote=[f"{shown(root / 'autograded')}/*/{assignment}/", gradebook_shown(root),
               f"{shown(root / 'reports' / assignment)}/"])
    return run


def grade(root, assignment: str, workers: int, timeout: float, cell_timeout: int | None, only=None,
          force: bool = False, scheduler: str | None = None, insecure: bool = False, certs=None) -> str:
    """grade_run's summary alone."""
    return grade_run(root, assignment, workers, timeout, cell_timeout, only, force, scheduler, insecure, certs).summary


def waiting_for_a_grader(root, assignment: str) -> int:
    """Submissions with written answers that no one has graded yet."""
    from ..course import open_gradebook

    with open_gradebook(root) as gradebook:
        return sum(1 for s in gradebook.assignment_submissions(assignment) if s.needs_manual_grade)


def what_next(root, assignment: str, course: str = "") -> str:
    """The TA's next steps after grading: formgrader, then reports, feedback and the LMS.
    course: how make names a course other than this folder (' COURSE=build/demo')."""
    root = Path(root)
    jupyter = Path(sys.executable).absolute().parent / "jupyter"  # this environment's, links not followed
    if root.resolve() == Path.cwd().resolve():
        open_lab = f"{shown(jupyter)} lab"
    else:  # the course's own path to this environment where the environment lies here, as .venv does
        below_here = not os.path.relpath(jupyter, Path.cwd().absolute()).startswith("..")
        open_lab = f"cd {shown(root)} && {os.path.relpath(jupyter, root.absolute()) if below_here else jupyter} lab"
    waiting = waiting_for_a_grader(root, assignment)
    written = (f"{waiting} submissions have written answers to grade" if waiting
               else "no written answer waits; review what autograde did")
    reports = root / "reports" / assignment
    return "\n".join([
        "what next:",
        f"  1. formgrader: {open_lab}, then the Formgrader tab ({written})",
        f"  2. reports:    make report A={assignment}{course}   ({shown(reports)}/class_report.html, grades.csv)",
        f"  3. feedback:   make feedback A={assignment}{course}   ({shown(root / 'feedback')}/<student>/{assignment}/)",
        f"  4. the LMS:    {shown(reports / 'canvas.csv')} (Canvas grade import), "
        f"{shown(reports / 'gradescope')}/ (Gradescope results)",
    ])


def run_grade(args) -> int:
    root = open_course(args)
    failed = False
    for name in known_assignments(root, args.assignments, "grade"):
        run = grade_run(root, name, args.workers, args.timeout, args.cell_timeout, force=args.force,
                        scheduler=args.scheduler, insecure=args.insecure, certs=args.certs)
        print(run.summary)
        print(what_next(root, name))
        failed |= bool(run.not_graded)
    if failed:
        print("exit code 1: some submissions were not graded" + (" (--keep-going: exit 0)" if args.keep_going else
                                                                    "; --keep-going (KEEP_GOING=1) exits 0"))
    return exit_code(failed, args.keep_going)


# ---------------------------------------------------------------- report, grade-one


def run_report(args) -> int:
    from ..reports import all_reports, grades_table

    root = open_course(args)
    for name in known_assignments(root, args.assignments, "report"):
        if not gradebook_knows(root, name):
            raise Refused(f"report: nothing to report for {name}: {gradebook_shown(root)} has no {name} yet; "
                          f"make grade A={name} first") from None
        print(grades_table.print_table(all_reports.write_all(root, name)))
        grades = root / "reports" / name / "grades.csv"
        written = sorted(p.name + ("/" if p.is_dir() else "") for p in grades.parent.iterdir()
                         if p.name not in ("outcomes.json", "collect.json") and not p.name.endswith(".tmp"))
        print(did(read=[gradebook_shown(root), shown(grades.parent / "outcomes.json"),
                        f"{shown(root / 'autograded')}/*/{name}/"],
                  wrote=[f"{shown(grades.parent)}/: {', '.join(written)}"]))
    return OK


def run_grade_one(args) -> int:
    from ..batch.grade_one import report as grade_one

    root = open_course(args)
    path = Path(args.notebook)
    if not path.is_file():
        raise Refused(f"grade-one: no notebook {shown(path)}")
    if args.assignment:
        known_assignments(root, [args.assignment], "grade-one")
    extra = [f"--Execute.timeout={args.cell_timeout}"] if args.cell_timeout else []
    text, graded = grade_one(root, path.resolve(), args.assignment, args.json, timeout=args.timeout, extra=extra)
    print(text)
    return OK if graded else FAILED


# ---------------------------------------------------------------- the commands


def register(commands) -> None:
    course, gradebook = course_options(), gradebook_options()

    parser = commands.add_parser("grade", parents=[course, gradebook], help="batch-autograde, then report",
                                 description="Autograde submitted/*/A (new or changed ones; --force: all) on local "
                                             "dask workers or a cluster, then write the reports. Exits 1 when a "
                                             "submission was not graded (failed, timed out, unreadable).")
    assignment_arguments(parser)
    parser.add_argument("--workers", type=int, default=cpu_count(),
                        help="local dask worker processes, one submission each at a time (default: one per core)")
    parser.add_argument("--scheduler", help="a running dask cluster (tls://host:8786) instead of local workers")
    parser.add_argument("--certs", help="the cluster certificates' folder (default: cluster-certs/)")
    parser.add_argument("--insecure", action="store_true",
                        help="allow a plain tcp:// scheduler that other machines can reach (not advised)")
    parser.add_argument("--force", action="store_true", help="regrade submissions that have not changed")
    parser.add_argument("--timeout", type=float, default=900, help="seconds allowed per submission (default: 900)")
    parser.add_argument("--cell-timeout", type=int, help="override the per-cell limit (c.Execute.timeout)")
    keep_going_option(parser, "submissions")
    parser.set_defaults(run=run_grade)

    parser = commands.add_parser("report", parents=[course, gradebook], help="the reports, from the gradebook",
                                 description="reports/A/: grades.csv, Gradescope results.json, canvas.csv, "
                                             "similarity, class_report.html; prints the per-question table.")
    assignment_arguments(parser)
    parser.set_defaults(run=run_report)

    parser = commands.add_parser("grade-one", parents=[course], help="grade one notebook, no set-up",
                                 description="Grade one notebook in a scratch copy of the course, with the same "
                                             "sandbox; the course's gradebook is not touched.")
    parser.add_argument("notebook", metavar="NOTEBOOK")
    parser.add_argument("--json", action="store_true", help="print Gradescope's results.json")
    parser.add_argument("--assignment", help="the assignment (default: from the notebook)")
    parser.add_argument("--timeout", type=float, default=900, help="seconds allowed (default: 900)")
    parser.add_argument("--cell-timeout", type=int, help="override the per-cell limit (c.Execute.timeout)")
    parser.set_defaults(run=run_grade_one)
