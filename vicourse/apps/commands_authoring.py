"""The instructor's commands: release, solutions, examples, calibrate."""

from __future__ import annotations

import os

from .command_line import (FAILED, OK, assignment_arguments, course_options, did, gradebook_options,
                           gradebook_shown, known_assignments, open_course, shown)


def run_release(args) -> int:
    from ..authoring import release

    root = open_course(args)
    names = known_assignments(root, args.assignments, "release", all_by_default=True)
    release.generate_releases(root, names)
    print(did(read=[f"{shown(root / 'source')}/{name}/" for name in names],
              wrote=[f"{shown(root / 'release')}/{name}/" for name in names] + [gradebook_shown(root)]))
    return OK


def run_solutions(args) -> int:
    from ..authoring import solutions

    root = open_course(args)
    names = known_assignments(root, args.assignments, "solutions", all_by_default=True)
    solutions.build_solutions(root, names)
    print(did(read=[f"{shown(root / 'source')}/{name}/" for name in names],
              wrote=[f"{shown(root / 'solutions')}/{name}/" for name in names]))
    return OK


def run_examples(args) -> int:
    from ..authoring import examples
    from ..course import assignments

    root = open_course(args)
    if args.assignments:
        names = known_assignments(root, args.assignments, "examples")
    else:  # by default, refresh the assignments that already have sample submissions
        names = [a for a in assignments(root) if (root / "examples" / a).is_dir()]
    for name in names:
        for path in examples.write_examples(root, name):
            print(shown(path))
    print(did(read=[f"{shown(root / 'release')}/{name}/, {shown(root / 'source')}/{name}/" for name in names],
              wrote=[f"{shown(root / 'examples')}/{name}/" for name in names]))
    return OK


def calibrate(root, assignment: str) -> bool:
    """Print what each calibration variant loses; False if any differs from its grader module."""
    from ..authoring.calibration import agrees, expected_fractions, grade_variants, kept_fractions, variants_of
    from ..course import source_notebook
    from ..grading.hidden_checks import load_grader_module

    os.environ.setdefault("MPLBACKEND", "Agg")
    module = load_grader_module(root / "grader_tests", assignment)
    variants = variants_of(module)
    results = grade_variants(source_notebook(root, assignment), root / "grader_tests", [v.replace for v in variants])
    good = True
    for variant, lost in zip(variants, results):
        ok = agrees(variant, lost)
        good &= ok
        got, want = kept_fractions(lost), expected_fractions(variant)
        shown_lost = ", ".join(g if not f else f"{g} (keeps {f:.3g})" for g, f in sorted(got.items()))
        print(f"{'ok ' if ok else 'BAD'} {variant.name}: loses {shown_lost or 'nothing'}")
        for grade_id in sorted(g for g in set(got) | set(want) if got.get(g, 1.0) != want.get(g, 1.0)):
            print(f"      {grade_id}: {lost.get(grade_id, 'kept its points')}; expected to keep "
                  f"{want.get(grade_id, 1.0):.3g}")
    return good


def run_calibrate(args) -> int:
    root = open_course(args)
    good = True
    for name in known_assignments(root, args.assignments, "calibrate"):
        ok = calibrate(root, name)
        print(f"{name}: {'every variant loses what its grader module says' if ok else 'VARIANTS DISAGREE (BAD above)'}")
        print(did(read=[shown(root / "source" / name / f"{name}.ipynb"),
                        shown(root / "grader_tests" / f"test_{name}.py")]))
        good &= ok
    return OK if good else FAILED


def register(commands) -> None:
    course, gradebook = course_options(), gradebook_options()

    parser = commands.add_parser("release", parents=[course, gradebook], help="student releases from source/",
                                 description="Stock `nbgrader generate_assignment --force` for each assignment, "
                                             "plus the course modules its notebook imports.")
    assignment_arguments(parser, optional=True, default="default: all")
    parser.set_defaults(run=run_release)

    parser = commands.add_parser("solutions", parents=[course], help="executed, student-safe solutions",
                                 description="solutions/A/A.ipynb and .html: the source without hidden tests or "
                                             "markers, executed.")
    assignment_arguments(parser, optional=True, default="default: all")
    parser.set_defaults(run=run_solutions)

    parser = commands.add_parser("examples", parents=[course], help="sample submissions in examples/",
                                 description="Sample submissions (full, partial, broken, cheater, garbled) made "
                                             "from the release, in examples/A/.")
    assignment_arguments(parser, optional=True, default="default: those that have examples/ already")
    parser.set_defaults(run=run_examples)

    parser = commands.add_parser("calibrate", parents=[course], help="grade every known-wrong answer, fast",
                                 description="Grade every WRONG_ANSWERS and CORRECT_ALTERNATIVES variant of the "
                                             "grader module; exits 1 when one loses other points than it says.")
    assignment_arguments(parser)
    parser.set_defaults(run=run_calibrate)
