"""Commands about the course as a whole: check-config, doctor, cluster-certs, demo, reset."""

from __future__ import annotations

import sys
from pathlib import Path

from .command_line import (FAILED, OK, USAGE, Refused, course_options, cpu_count, did, gradebook_options,
                           gradebook_shown, open_course, shown)


def run_check_config(args) -> int:
    root = open_course(args)  # refuses with every unknown name
    print(f"{shown(root / 'nbgrader_config.py')}: every class and setting is one that nbgrader or this course knows")
    return OK


def doctor() -> bool:
    """Print what isolation a student kernel gets here, and prove it with a few attacks."""
    from .doctor import run_doctor

    return run_doctor()


def run_doctor(args) -> int:
    from ..course import course_root

    try:
        course_root(args.course)
    except SystemExit:
        if args.course:
            raise Refused(f"doctor: no nbgrader_config.py in {args.course} or above") from None
        # outside a course the probes still run
    else:
        open_course(args)
    return OK if doctor() else FAILED


def cluster_certs(root, certs, scheduler: str | None, force: bool) -> Path:
    """Make the grading cluster's CA and certificates, and say where each goes."""
    from ..batch.cluster_certs import CERTS, create, instructions
    from ..course import check_config

    config = check_config(root)
    folder = create(Path(certs) if certs else root / CERTS, config.CourseDirectory.get("course_id", "course"), force)
    text = instructions(folder.resolve(), scheduler)
    (folder / "README.txt").write_text(text)
    print(text)
    return folder


def run_cluster_certs(args) -> int:
    folder = cluster_certs(open_course(args), args.certs, args.scheduler, args.force)
    print(did(wrote=[f"{shown(folder)}/"]))
    return OK


def run_demo(args) -> int:
    from .demo import run_demo as demo

    return demo(open_course(args), args.workers)


def run_reset(args) -> int:
    from ..course import gradebook_url
    from . import reset

    root = open_course(args)
    url = gradebook_url(root)
    plan = reset.describe(root, url)
    if not plan:
        print(f"nothing to reset in {root}: no submitted/, autograded/, feedback/, reports/ or gradebook")
        return OK
    print(f"reset {root}: archive, then remove\n" + "\n".join(f"  {line}" for line in plan)
          + "\n  and build/ (rebuilt by the commands); kept: downloaded/, cluster-certs/, backups/, tracked files")
    if not args.yes:
        if not sys.stdin.isatty():
            raise Refused("reset: refused without confirmation; nothing was archived or removed. "
                          "Run make reset CONFIRM=yes (vicourse reset --yes), or answer its question in a terminal",
                          USAGE)
        if input("type 'reset' to go on: ").strip() != "reset":
            raise Refused("reset: not confirmed; nothing was archived or removed", USAGE)
    try:
        archived = reset.archive(root, url)
    except Exception as error:  # noqa: BLE001 - an unreachable database, a full disk: say so, remove nothing
        raise Refused(f"reset: the archive could not be written, so nothing was removed: "
                      f"{type(error).__name__}: {str(error)[:500]}", FAILED) from None
    print(f"archived to {shown(archived)} (restore: tar -xzf {shown(archived)} -C {shown(root)})")
    removed = reset.remove(root, url)
    print(did(read=[gradebook_shown(root)], wrote=[shown(archived)]))
    print(f"  removed: {', '.join(removed) or 'nothing'}")
    database = reset.gradebook_file(url)
    if database is None:
        print(f"  {gradebook_shown(root)} was copied into the archive (gradebook.db, in nbgrader's schema) and "
              "LEFT AS IT IS: reset never drops a database; drop and recreate it to start over")
    elif database.exists():
        print(f"  {gradebook_shown(root)} lies outside the course folder: archived, LEFT IN PLACE")
    return OK


def register(commands) -> None:
    course, gradebook = course_options(), gradebook_options()

    parser = commands.add_parser("check-config", parents=[course], help="check nbgrader_config.py",
                                 description="Load nbgrader_config.py and refuse any class or setting that "
                                             "nbgrader or this course does not have (every command does this first).")
    parser.set_defaults(run=run_check_config)

    parser = commands.add_parser("doctor", parents=[course], help="what isolation student kernels get here",
                                 description="Print the isolation grading will report, then have a kernel try "
                                             "what a hostile submission would; exits 1 if one attempt succeeds.")
    parser.set_defaults(run=run_doctor)

    parser = commands.add_parser("cluster-certs", parents=[course], help="CA and TLS certificates for a cluster",
                                 description="A CA and TLS certificates for a grading cluster, and where each goes "
                                             "(docs/cluster.md).")
    parser.add_argument("--scheduler", help="the scheduler's address, for the command lines it prints")
    parser.add_argument("--certs", help="the certificates' folder (default: cluster-certs/)")
    parser.add_argument("--force", action="store_true", help="replace the CA and every certificate")
    parser.set_defaults(run=run_cluster_certs)

    parser = commands.add_parser("demo", parents=[course], help="the pipeline on the samples, in build/demo/",
                                 description="Releases, solutions, grading of the sample submissions, reports and "
                                             "feedback, in a course of its own (build/demo/); this course is not "
                                             "touched, and a second run redoes only what changed.")
    parser.add_argument("--workers", type=int, default=cpu_count(),
                        help="local grading workers (default: one per core)")
    parser.set_defaults(run=run_demo)

    parser = commands.add_parser("reset", parents=[course, gradebook], help="archive, then remove students' work",
                                 description="Archive submitted/, autograded/, feedback/, reports/ and the gradebook "
                                             "to backups/reset-<time>.tar.gz, then remove them and build/. Asks "
                                             "first in a terminal; refused without --yes elsewhere.")
    parser.add_argument("--yes", action="store_true", help="confirm: archive and remove without asking")
    parser.set_defaults(run=run_reset)
