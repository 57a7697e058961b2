"""Command line: `python -m vicourse <command>`, run from the course folder.

  release [A ...]          student releases (stock nbgrader generate_assignment --force)
  solutions [A ...]        executed, student-safe solutions (.ipynb + .html)
  examples [A ...]         sample submissions in examples/ (default: refresh the existing ones)
  calibrate A              grade every WRONG_ANSWERS / CORRECT_ALTERNATIVES variant (fast)
  collect A                an LMS download in downloaded/A/archive/ -> submitted/ (stock zip_collect),
                           students' names from it into the gradebook
  roster FILE              students' names from a CSV (id, first name, last name) into the gradebook
  grade A [options]        batch-autograde submitted/*/A (new or changed ones; --force: all) on
                           --workers local processes or the dask cluster at --scheduler, then report
  cluster-certs            a CA and TLS certificates for a grading cluster, and where each goes
  report A                 reports/A/: grades.csv, Gradescope results.json, canvas.csv,
                           similarity, class_report.html; prints the per-question table
  grade-one PATH [--json]  grade one notebook in a scratch copy of the course, same sandbox
  feedback A               feedback HTML without hidden tests (stock generate_feedback)
  gradescope A             build/gradescope/A.zip, the autograder bundle Gradescope takes
                           (--require-sandbox: refuse to grade where no sandbox can be set up)
  demo                     releases, solutions, grade the examples, export, feedback
  doctor                   what isolation this machine gives student kernels, proved by attacks
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import time
from pathlib import Path

from . import batch, course, examples, release, report, reports, solutions
from .course import assignments, course_root, nbgrader
from .sandbox import isolation


def grade(root, assignment: str, workers: int, timeout: float, cell_timeout: int | None, only=None,
          force: bool = False, scheduler: str | None = None, insecure: bool = False, certs=None) -> str:
    extra = [f"--Execute.timeout={cell_timeout}"] if cell_timeout else []
    saved_runs = {name: saved.get("run") for name, saved in batch.load_outcomes(root, assignment).items()}
    started = time.perf_counter()
    outcomes = batch.grade_all(root, assignment, workers=workers, timeout=timeout, extra=extra, only=only,
                               force=force, scheduler=scheduler, insecure=insecure, certs=certs)
    seconds = time.perf_counter() - started
    table = report.print_table(reports.write_all(root, assignment))
    graded_now = sum(o.run != saved_runs.get(o.student) for o in outcomes)  # a graded one gets this run's stamp
    where = f"on the cluster at {scheduler}" if scheduler else f"with {workers} local workers"
    summary = (f"{table}\n  {len(outcomes)} submissions of {assignment} ({graded_now} graded in this run, "
               f"{len(outcomes) - graded_now} unchanged) in {seconds:.1f} s {where}")
    if any(not o.isolation.startswith("sandboxed") for o in outcomes if o.isolation):
        summary += "\n  WARNING: STUDENT CODE RAN WITHOUT A SANDBOX (see the isolation lines above; make doctor)"
    return summary


def calibrate(root, assignment: str) -> bool:
    """Print what each calibration variant loses; False if any differs from its grader module."""
    from .calibration import agrees, expected_fractions, grade_variants, kept_fractions, variants_of
    from .course import source_notebook
    from .grading_executor import load_grader_module

    os.environ.setdefault("MPLBACKEND", "Agg")
    module = load_grader_module(root / "grader_tests", assignment)
    variants = variants_of(module)
    results = grade_variants(source_notebook(root, assignment), root / "grader_tests", [v.replace for v in variants])
    good = True
    for variant, lost in zip(variants, results):
        ok = agrees(variant, lost)
        good &= ok
        got, want = kept_fractions(lost), expected_fractions(variant)
        shown = ", ".join(g if not f else f"{g} (keeps {f:.3g})" for g, f in sorted(got.items()))
        print(f"{'ok ' if ok else 'BAD'} {variant.name}: loses {shown or 'nothing'}")
        for grade_id in sorted(g for g in set(got) | set(want) if got.get(g, 1.0) != want.get(g, 1.0)):
            print(f"      {grade_id}: {lost.get(grade_id, 'kept its points')}; expected to keep "
                  f"{want.get(grade_id, 1.0):.3g}")
    return good


def collect(root, assignment: str) -> None:
    """Stock `nbgrader zip_collect` with the course's plugins (vicourse/collect.py), then what it did."""
    from .collect import summary

    result = nbgrader(root, "zip_collect", assignment, "--force")
    if result.returncode != 0:
        print(f"zip_collect failed:\n{result.stdout[-2000:]}\n{result.stderr[-2000:]}", file=sys.stderr)
        sys.exit(1)
    print(summary(root, assignment))
    from .roster import names_from_collect, write_names

    named = write_names(root, names_from_collect(root, assignment), overwrite=False)
    print(f"  names of {len(named)} students recorded in the gradebook (students named before keep their names)")


def roster(root, path: Path) -> None:
    """Names from a roster CSV into the gradebook; nothing is written if a line is bad."""
    from .roster import read_roster, write_names

    try:
        names = read_roster(path)
    except ValueError as error:
        sys.exit(str(error))
    print(f"names of {len(write_names(root, names, overwrite=True))} students recorded in the gradebook from {path}")


def feedback(root, assignment: str, student: str | None = None) -> None:
    """Stock `nbgrader generate_feedback`, then each page made safe to open (vicourse/html_safety.py)."""
    from .html_safety import secure_file

    result = nbgrader(root, "generate_feedback", assignment, "--force", *(["--student", student] if student else []))
    if result.returncode != 0:
        print(f"generate_feedback failed:\n{result.stdout[-2000:]}\n{result.stderr[-2000:]}", file=sys.stderr)
    for page in sorted((root / "feedback").glob(f"{student or '*'}/{assignment}/*.html")):
        secure_file(page)


def export(root) -> None:
    """Stock nbgrader export: one row per student and assignment (reports/grades_all.csv)."""
    (root / "reports").mkdir(exist_ok=True)
    result = nbgrader(root, "export", "--to", str(root / "reports" / "grades_all.csv"))
    if result.returncode != 0:
        print(f"export failed:\n{result.stderr[-2000:]}", file=sys.stderr)


def demo(root, workers: int) -> None:
    started = time.perf_counter()
    print("== releases ==")
    release.generate_releases(root)
    print("== solutions ==")
    solutions.build_solutions(root)
    for assignment in assignments(root):
        folder = root / "examples" / assignment
        if not folder.is_dir():
            continue
        for example in sorted(folder.glob("*.ipynb")):
            target = root / "submitted" / f"demo-{example.stem}" / assignment
            shutil.rmtree(target, ignore_errors=True)
            target.mkdir(parents=True)
            shutil.copy(example, target / f"{assignment}.ipynb")
        print(f"== autograde {assignment} (sample submissions from examples/{assignment}) ==")
        only = [f"demo-{p.stem}" for p in sorted(folder.glob("*.ipynb"))]
        print(grade(root, assignment, workers, timeout=600, cell_timeout=15, only=only))
        feedback(root, assignment)
    export(root)
    print(f"== done in {time.perf_counter() - started:.0f} s: reports/ (grades), feedback/ (student HTML) ==")


def gradescope(root, assignment: str, require_sandbox: bool = False) -> None:
    """Build the autograder zip for Gradescope (vicourse/gradescope_bundle.py) and say what is in it."""
    from .gradescope_bundle import build

    if assignment not in assignments(root):
        sys.exit(f"no assignment {assignment!r}; the assignments are: {', '.join(assignments(root))}")
    path = build(root, assignment, require_sandbox)
    print(f"{path.relative_to(root) if path.is_relative_to(root) else path}: setup.sh, run_autograder, the course "
          f"library, the grader of {assignment}, its release folder and a gradebook without rubrics; no "
          "solutions.\n  On Gradescope: a programming assignment, 'Zip file upload' autograder, Ubuntu 24.04 "
          f"base image; students upload {assignment}.ipynb (docs/gradescope.md).")
    if require_sandbox:
        print("  Where the container gives no sandbox, submissions score 0 with the reason.")


def cluster_certs(root, certs, scheduler: str | None, force: bool) -> None:
    """Make the grading cluster's CA and certificates, and say where each goes."""
    from .cluster_certs import CERTS, create, instructions

    config = course.check_config(root)
    folder = create(Path(certs) if certs else root / CERTS, config.CourseDirectory.get("course_id", "course"), force)
    text = instructions(folder.resolve(), scheduler)
    (folder / "README.txt").write_text(text)
    print(text)


def doctor() -> bool:
    """Print what isolation a student kernel gets here, and prove it with a few attacks."""
    from .doctor import run_doctor

    return run_doctor()


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(prog="vicourse", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("command", choices=["release", "solutions", "examples", "calibrate", "collect", "roster", "grade",
                                            "report", "grade-one", "feedback", "demo", "doctor", "cluster-certs",
                                            "gradescope"])
    parser.add_argument("assignments", nargs="*")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1,
                        help="grade: local dask worker processes, one submission each at a time")
    parser.add_argument("--scheduler", help="grade: a running dask cluster (tls://host:8786) instead of local workers; "
                                            "cluster-certs: the address to print in the command lines")
    parser.add_argument("--certs", help="cluster-certs, grade: the certificates' folder (default: cluster-certs/)")
    parser.add_argument("--insecure", action="store_true",
                        help="grade: allow a plain tcp:// scheduler that other machines can reach (not advised)")
    parser.add_argument("--force", action="store_true", help="grade: regrade submissions that have not changed; "
                                                             "cluster-certs: replace the CA and every certificate")
    parser.add_argument("--db-url", help="the gradebook's SQLAlchemy URL (default: c.CourseDirectory.db_url)")
    parser.add_argument("--timeout", type=float, default=900, help="seconds allowed per submission")
    parser.add_argument("--cell-timeout", type=int, default=None, help="override the per-cell limit")
    parser.add_argument("--json", action="store_true", help="grade-one: print Gradescope's results.json")
    parser.add_argument("--assignment", help="grade-one: the assignment (default: from the notebook)")
    parser.add_argument("--require-sandbox", action="store_true",
                        help="gradescope: the bundle refuses to grade where no sandbox can be set up")
    args = parser.parse_args(argv)
    if args.command == "doctor":
        sys.exit(0 if doctor() else 1)
    root = course_root()
    if args.db_url:
        course.DB_URLS[root.resolve()] = args.db_url  # course.gradebook_url: grading and the reports
    names = args.assignments or None
    if args.command == "release":
        release.generate_releases(root, names)
    elif args.command == "solutions":
        solutions.build_solutions(root, names)
    elif args.command == "examples":
        # by default, refresh the assignments that already have sample submissions
        existing = [a for a in assignments(root) if (root / "examples" / a).is_dir()]
        for name in names or existing:
            for path in examples.write_examples(root, name):
                print(path.relative_to(root))
    elif args.command == "grade-one":
        if len(args.assignments) != 1:
            parser.error("grade-one needs one notebook")
        from .grade_one import report as grade_one

        extra = [f"--Execute.timeout={args.cell_timeout}"] if args.cell_timeout else []
        text, graded = grade_one(root, Path(args.assignments[0]).resolve(), args.assignment, args.json,
                                 timeout=args.timeout, extra=extra)
        print(text)
        sys.exit(0 if graded else 1)
    elif args.command == "demo":
        demo(root, args.workers)
    elif args.command == "roster":
        if len(args.assignments) != 1:
            parser.error("roster needs one CSV file (id, first name, last name)")
        roster(root, Path(args.assignments[0]))
    elif args.command == "cluster-certs":
        cluster_certs(root, args.certs, args.scheduler, args.force)
    else:
        if not names:
            parser.error(f"{args.command} needs an assignment name")
        for name in names:
            if args.command == "calibrate":
                if not calibrate(root, name):
                    sys.exit(1)
            elif args.command == "grade":
                print(grade(root, name, args.workers, args.timeout, args.cell_timeout, force=args.force,
                            scheduler=args.scheduler, insecure=args.insecure, certs=args.certs))
            elif args.command == "report":
                print(report.print_table(reports.write_all(root, name)))
            elif args.command == "collect":
                collect(root, name)
            elif args.command == "gradescope":
                gradescope(root, name, args.require_sandbox)
            else:
                feedback(root, name)


if __name__ == "__main__":
    main()
