"""The course and the LMS: a download comes in (`vicourse collect`), students' names (`vicourse roster`),
and the autograder zip Gradescope runs goes out (`vicourse gradescope`)."""

from __future__ import annotations

import sys
from pathlib import Path

from .command_line import (FAILED, OK, Refused, assignment_arguments, course_options, did, gradebook_options,
                           gradebook_shown, known_assignments, open_course, shown)


def collect(root, assignment: str) -> int:
    """Stock `nbgrader zip_collect` with the course's plugins (vicourse/lms/collect.py), then what it did."""
    from ..course import nbgrader
    from ..lms.collect import summary
    from ..lms.roster import names_from_collect, write_names

    archive = root / "downloaded" / assignment / "archive"
    if not archive.is_dir() or not any(archive.iterdir()):
        raise Refused(f"collect: nothing to collect for {assignment}: {shown(archive)}/ "
                      f"{'is empty' if archive.is_dir() else 'does not exist'}. Put the Canvas or Gradescope "
                      "download (its .zip) there and run again (docs/collect.md)")
    result = nbgrader(root, "zip_collect", assignment, "--force")
    if result.returncode != 0:
        print(f"zip_collect failed:\n{result.stdout[-2000:]}\n{result.stderr[-2000:]}", file=sys.stderr)
        return FAILED
    print(summary(root, assignment))
    named = write_names(root, names_from_collect(root, assignment), overwrite=False)
    print(f"  names of {len(named)} students recorded in the gradebook (students named before keep their names)")
    print(did(read=[f"{shown(archive)}/"],
              wrote=[f"{shown(root / 'submitted')}/*/{assignment}/",
                     shown(root / "reports" / assignment / "collect.json"),
                     gradebook_shown(root)]))
    return OK


def run_collect(args) -> int:
    root = open_course(args)
    return max(collect(root, name) for name in known_assignments(root, args.assignments, "collect"))


def run_roster(args) -> int:
    from ..lms.roster import read_roster, write_names

    root = open_course(args)
    path = Path(args.file)
    if not path.is_file():
        raise Refused(f"roster: no file {shown(path)} (a CSV: id, first name, last name; make roster FILE=...)")
    try:
        names = read_roster(path)
    except ValueError as error:
        raise Refused(f"roster: {error}") from None
    written = write_names(root, names, overwrite=True)
    print(f"names of {len(written)} students recorded in the gradebook")
    print(did(read=[shown(path)], wrote=[gradebook_shown(root)]))
    return OK


def run_gradescope(args) -> int:
    """Build the autograder zip for Gradescope (vicourse/lms/gradescope_bundle.py) and say what is in it."""
    from ..lms.gradescope_bundle import build

    root = open_course(args)
    for assignment in known_assignments(root, args.assignments, "gradescope"):
        path = build(root, assignment, args.require_sandbox)
        print(f"{shown(path)}: setup.sh, run_autograder, the course library, the grader of {assignment}, its "
              "release folder and a gradebook without rubrics; no solutions.\n  On Gradescope: a programming "
              "assignment, 'Zip file upload' autograder, Ubuntu 24.04 base image; students upload "
              f"{assignment}.ipynb (docs/gradescope.md).")
        if args.require_sandbox:
            print("  Where the container gives no sandbox, submissions score 0 with the reason.")
        print(did(read=[f"{shown(root / 'release' / assignment)}/", f"{shown(root / 'grader_tests')}/"],
                  wrote=[shown(path)]))
    return OK


def register(commands) -> None:
    course, gradebook = course_options(), gradebook_options()

    parser = commands.add_parser("collect", parents=[course, gradebook], help="an LMS download -> submitted/",
                                 description="Stock `nbgrader zip_collect` on downloaded/A/archive/ (a Canvas or "
                                             "Gradescope zip) into submitted/, students' names into the gradebook.")
    assignment_arguments(parser)
    parser.set_defaults(run=run_collect)

    parser = commands.add_parser("roster", parents=[course, gradebook], help="students' names from a CSV",
                                 description="Students' names from a CSV (id, first name, last name) into the "
                                             "gradebook; nothing is written if a line is bad.")
    parser.add_argument("file", metavar="FILE")
    parser.set_defaults(run=run_roster)

    parser = commands.add_parser("gradescope", parents=[course], help="the autograder zip Gradescope takes",
                                 description="Build build/gradescope/A.zip: Gradescope's setup.sh and "
                                             "run_autograder, grading each upload in the sandbox with the sealed "
                                             "graders (docs/gradescope.md).")
    assignment_arguments(parser)
    parser.add_argument("--require-sandbox", action="store_true",
                        help="the bundle refuses to grade where no sandbox can be set up")
    parser.set_defaults(run=run_gradescope)
