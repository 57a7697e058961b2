"""What every command shares: its exit codes, plain refusals, the course folder it works on,
checked assignment names, and the lines that say what it read and wrote."""

from __future__ import annotations

import argparse
import difflib
import os
from pathlib import Path

OK, FAILED, USAGE, CONFIG = 0, 1, 2, 3
EXIT_CODES = """exit codes:
  0  done: everything asked for was done
  1  done in part: something failed (a submission not graded, a feedback page not written, a
     calibration that disagrees, a probe not stopped); with --keep-going, a batch whose failed
     submissions or pages are listed in its output exits 0
  2  refused before doing anything: bad arguments, an unknown assignment, missing input (no
     submissions, no LMS archive), no confirmation for `reset`
  3  refused before doing anything: nbgrader_config.py is broken or names an unknown class or setting"""


class Refused(Exception):
    """A command that cannot start, and why, in words: printed without a traceback."""

    def __init__(self, message: str, code: int = USAGE):
        super().__init__(message)
        self.code = code


def course_options() -> argparse.ArgumentParser:
    """Options every command that works on a course takes."""
    options = argparse.ArgumentParser(add_help=False)
    options.add_argument("--course", metavar="FOLDER",
                         help="the course folder (default: the one holding nbgrader_config.py, here or above); "
                              "the demo's is build/demo")
    return options


def gradebook_options() -> argparse.ArgumentParser:
    options = argparse.ArgumentParser(add_help=False)
    options.add_argument("--db-url", help="the gradebook's SQLAlchemy URL for this run "
                                          "(default: c.CourseDirectory.db_url in nbgrader_config.py)")
    return options


def keep_going_option(parser: argparse.ArgumentParser, what: str) -> None:
    parser.add_argument("--keep-going", action="store_true",
                        help=f"exit 0 even when {what} failed (they are listed either way)")


def assignment_arguments(parser: argparse.ArgumentParser, optional: bool = False, default: str = "") -> None:
    parser.add_argument("assignments", nargs="*", metavar="ASSIGNMENT",
                        help=f"assignment names, as in source/ ({default})" if optional else
                        "assignment names, as in source/ (make: A=...)")


def open_course(args) -> Path:
    """The course folder named by --course (or found from here), with its config checked: a broken
    or misspelt nbgrader_config.py stops the command before it does anything."""
    from ..course import DB_URLS, check_config, course_root
    from .config_check import ConfigError

    try:
        root = course_root(getattr(args, "course", None))
    except SystemExit as error:
        raise Refused(str(error)) from None
    if getattr(args, "db_url", None):
        DB_URLS[root.resolve()] = args.db_url  # course.gradebook_url: grading and the reports
    try:
        check_config(root)
    except ConfigError as error:
        raise Refused(str(error), CONFIG) from None
    except Exception as error:  # noqa: BLE001 - the config raised while it ran: say where, plainly
        raise Refused(f"{root / 'nbgrader_config.py'} cannot be loaded, nothing was done: "
                      f"{type(error).__name__}: {error}", CONFIG) from None
    return root


def known_assignments(root: Path, names: list[str], command: str, all_by_default: bool = False) -> list[str]:
    """The names, each checked against source/ (a folder path such as source/01_x/ is taken by its
    name); an unknown one is refused with the closest and the full list. No names: every
    assignment, or refused where the command needs them named."""
    from ..course import assignments

    valid = assignments(root)
    listing = f"the assignments in {shown(root / 'source')}/ are: {', '.join(valid) or 'none'}"
    if not names:
        if all_by_default:
            return valid
        raise Refused(f"{command}: name an assignment (make {command} A=..., vicourse {command} A ...); {listing}")
    chosen = []
    for name in names:
        name = name if name in valid else Path(name.rstrip("/")).name
        if name not in valid:
            close = difflib.get_close_matches(name, valid, n=1)
            hint = f" (did you mean {close[0]}?)" if close else ""
            raise Refused(f"{command}: there is no assignment {name!r}{hint}; {listing}")
        chosen.append(name)
    return chosen


def shown(path: Path) -> str:
    """A path as a user can type it from here: relative where it lies below the current folder."""
    path = Path(path).resolve()
    try:
        return str(path.relative_to(Path.cwd().resolve())) or "."
    except ValueError:
        return str(path)


def gradebook_shown(root: Path) -> str:
    """The gradebook, as a path for SQLite and as a URL without its password otherwise."""
    from sqlalchemy.engine import make_url

    from ..course import gradebook_url

    url = make_url(gradebook_url(root))
    if url.get_backend_name() == "sqlite" and url.database:
        return f"the gradebook {shown(Path(url.database))}"
    return f"the gradebook {url.render_as_string(hide_password=True)}"


def gradebook_knows(root: Path, assignment: str) -> bool:
    """Whether the gradebook has the assignment; a SQLite gradebook that does not exist is not made."""
    from nbgrader.api import MissingEntry
    from sqlalchemy.engine import make_url

    from ..course import gradebook_url, open_gradebook

    url = make_url(gradebook_url(root))
    if url.get_backend_name() == "sqlite" and url.database and not Path(url.database).exists():
        return False
    try:
        with open_gradebook(root) as gradebook:
            gradebook.find_assignment(assignment)
        return True
    except MissingEntry:
        return False


def did(read: list[str] = (), wrote: list[str] = ()) -> str:
    """The lines that end a command's output: which folders and files it read and wrote."""
    lines = []
    if read:
        lines.append("  read:  " + ", ".join(read))
    if wrote:
        lines.append("  wrote: " + ", ".join(wrote))
    return "\n".join(lines)


def exit_code(failed: bool, keep_going: bool = False) -> int:
    return FAILED if failed and not keep_going else OK


def cpu_count() -> int:
    return os.cpu_count() or 1
