"""The command line as a TA meets it: each command with its own help and its own arguments,
`--version`, `make help`; plain refusals that list the valid names instead of tracebacks; exit
codes that say whether everything was done; and what each command read, wrote and leaves to do.

Commands run in this process (`vicourse.__main__.main`), in the toy course's folder, as a user runs
them there."""

import re
import shutil
import subprocess

import pytest

from conftest import ROOT
from vicourse.__main__ import main, parser
from vicourse.authoring import examples, release
from vicourse.course import copy_course

TOY = ROOT / "tests" / "fixtures" / "toy_course"
A = "00_toy"
COMMANDS = sorted(parser().commands.choices)  # every command, those added later too


def run(capsys, *argv) -> tuple[int, str, str]:
    """The exit code, stdout and stderr of `vicourse argv...`."""
    try:
        main(list(argv))
        code = 0
    except SystemExit as done:
        code = done.code if isinstance(done.code, int) else 1
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def toy(tmp_path, monkeypatch):
    """A fresh copy of the toy course, the current folder."""
    root = copy_course(TOY, tmp_path / "course", config=ROOT / "nbgrader_config.py")
    monkeypatch.chdir(root)
    return root


def test_the_commands_a_course_needs_are_there():
    assert {"release", "solutions", "examples", "calibrate", "collect", "roster", "grade", "report", "feedback",
            "grade-one", "check-config", "doctor", "cluster-certs", "demo", "reset"} <= set(COMMANDS)


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_has_its_own_help(capsys, command):
    code, out, _ = run(capsys, command, "--help")
    assert code == 0 and out.startswith(f"usage: vicourse {command}"), out[:300]
    assert "exit codes:" in out


def test_the_version_is_printed(capsys):
    code, out, _ = run(capsys, "--version")
    assert code == 0 and re.match(r"vicourse \d+\.\d+", out), out


def test_a_command_refuses_options_it_does_not_take(capsys):
    code, _, err = run(capsys, "doctor", "01_entropy_kl", "--json", "--force")
    assert code == 2 and "vicourse doctor: error: unrecognized arguments: 01_entropy_kl --json --force" in err, err


def test_make_help_lists_every_target_from_its_comment():
    makefile = (ROOT / "Makefile").read_text()
    phony = re.search(r"^\.PHONY:(.*)$", makefile, re.M).group(1).split()
    described = dict(re.findall(r"^([a-z][a-z-]*):.*?## (.*)$", makefile, re.M))
    assert set(phony) <= set(described), f"targets without a ## comment: {set(phony) - set(described)}"
    shown = subprocess.run(["make", "--no-print-directory", "help"], cwd=ROOT, capture_output=True, text=True,
                           timeout=60)
    assert shown.returncode == 0, shown.stderr
    for target, text in described.items():
        assert re.search(rf"^  make {re.escape(target)} +{re.escape(text)}$", shown.stdout, re.M), target


@pytest.mark.parametrize("command", ["feedback", "report", "calibrate", "grade", "collect", "release"])
def test_an_unknown_assignment_is_refused_with_the_valid_names(capsys, toy, command):
    code, out, err = run(capsys, command, "nope")
    assert code == 2, (out, err)
    assert "no assignment 'nope'" in err and A in err and "Traceback" not in err, err
    assert not (toy / "feedback").exists() and not (toy / "release").exists()


def test_grade_without_submissions_says_where_it_looked(capsys, toy):
    code, out, err = run(capsys, "grade", A)
    assert code == 2, (out, err)
    assert f"looked in submitted/*/{A}/" in err and "does not exist" in err and "make collect" in err, err


def test_collect_without_an_archive_says_where_to_put_it(capsys, toy):
    code, out, err = run(capsys, "collect", A)
    assert code == 2 and f"downloaded/{A}/archive/ does not exist" in err and "Traceback" not in err, err


def test_report_and_feedback_before_grading_say_what_to_run(capsys, toy):
    for command in ("report", "feedback"):
        code, out, err = run(capsys, command, A)
        assert code == 2 and f"make grade A={A} first" in err, (command, out, err)


def test_grade_and_feedback_say_what_they_did_and_fail_when_a_submission_was_not_graded(capsys, toy):
    """A class of one good and one unreadable submission: grade exits 1 (0 with --keep-going) and
    names the unreadable one; feedback counts its pages and names who got none; both name the
    folders they read and wrote, and grade ends with what to do next."""
    release.generate_releases(toy)
    for path in examples.write_examples(toy, A):  # sample submissions, made from the release
        if path.stem in ("full", "garbled"):
            (toy / "submitted" / path.stem / A).mkdir(parents=True)
            shutil.copy(path, toy / "submitted" / path.stem / A / f"{A}.ipynb")
    code, out, err = run(capsys, "grade", A, "--workers", "1", "--cell-timeout", "15")
    assert code == 1, (out, err)
    assert "NOT GRADED (1): garbled (unreadable" in out and "exit code 1" in out, out
    assert f"read:  submitted/*/{A}/" in out and f"wrote: autograded/*/{A}/, the gradebook gradebook.db" in out, out
    steps = ["what next:", "formgrader", f"make report A={A}", f"make feedback A={A}", "canvas.csv"]
    after = out[out.find("what next:"):]  # the table above may name canvas.csv too
    positions = [after.find(step) for step in steps]
    assert -1 not in positions and positions == sorted(positions), out

    code, out, err = run(capsys, "grade", A, "--workers", "1", "--cell-timeout", "15", "--keep-going")
    assert code == 0 and "0 graded in this run, 2 unchanged" in out and "NOT GRADED (1)" in out, (out, err)

    code, out, err = run(capsys, "feedback", A)
    assert code == 0, (out, err)
    assert f"feedback for {A}: 1 page for 1 student (full)" in out, out
    assert "NO PAGE for 1: garbled (not graded: unreadable)" in out, out
    assert f"wrote: feedback/<student>/{A}/" in out, out
