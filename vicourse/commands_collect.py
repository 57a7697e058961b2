"""What comes in from students: an LMS download (`vicourse collect`) and their names (`vicourse roster`)."""

from __future__ import annotations

import sys
from pathlib import Path

from .command_line import (FAILED, OK, Refused, assignment_arguments, course_options, did, gradebook_options,
                           gradebook_shown, known_assignments, open_course, shown)


def collect(root, assignment: str) -> int:
    """Stock `nbgrader zip_collect` with the course's plugins (vicourse/collect.py), then what it did."""
    from .collect import summary
    from .course import nbgrader
    from .roster import names_from_collect, write_names

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
    from .roster import read_roster, write_names

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
