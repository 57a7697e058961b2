"""Nothing loses students' work: `make clean` removes only what the commands rebuild, and `make reset`
asks first, then archives submissions, gradebook (manual grades included) and reports before it
removes them, with a PostgreSQL gradebook copied into the archive and left in place."""

import io
import shutil
import subprocess
import sys
import tarfile

import pytest

from conftest import ROOT
from test_cluster import NO_POSTGRES, Postgres
from vicourse.__main__ import main
from vicourse.course import copy_course, open_gradebook

TOY = ROOT / "tests" / "fixtures" / "toy_course"
A = "00_toy"
WORK = {"submitted/ada/00_toy/00_toy.ipynb": "ada's answers", "autograded/ada/00_toy/00_toy.ipynb": "graded",
        "feedback/ada/00_toy/00_toy.html": "<p>feedback</p>", "reports/00_toy/grades.csv": "student\nada\n"}
REBUILT = {"build/staged/x.txt": "staged", "vicourse/__pycache__/x.pyc": "cache", ".pytest_cache/x": "cache"}
KEPT = {"downloaded/00_toy/archive/canvas.zip": "the LMS download", "cluster-certs/ca.pem": "a CA",
        "autograded/README.md": "tracked"}


def write(root, files: dict) -> None:
    for relative, text in files.items():
        (root / relative).parent.mkdir(parents=True, exist_ok=True)
        (root / relative).write_text(text)


def with_a_manual_grade(url: str) -> None:
    """A gradebook holding a student whose written answer has a TA's score and comment."""
    with open_gradebook(ROOT, url) as gradebook:
        gradebook.add_assignment(A)
        gradebook.add_notebook(A, A)
        gradebook.add_grade_cell("explain", A, A, max_score=1, cell_type="markdown")
        gradebook.add_solution_cell("explain", A, A)
        gradebook.update_or_create_student("ada", first_name="Ada", last_name="Lovelace")
        gradebook.add_submission(A, "ada")
        gradebook.find_grade("explain", A, A, "ada").manual_score = 0.5
        gradebook.find_comment("explain", A, A, "ada").manual_comment = "half right: see the rubric"
        gradebook.db.commit()


def manual_grade(url: str) -> tuple:
    with open_gradebook(ROOT, url) as gradebook:
        student = gradebook.find_student("ada")
        return (student.first_name, student.last_name, gradebook.find_grade("explain", A, A, "ada").manual_score,
                gradebook.find_comment("explain", A, A, "ada").manual_comment)


MANUAL = ("Ada", "Lovelace", 0.5, "half right: see the rubric")


def run(capsys, *argv) -> tuple[int, str, str]:
    try:
        main(list(argv))
        code = 0
    except SystemExit as done:
        code = done.code
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def course(tmp_path, monkeypatch):
    root = copy_course(TOY, tmp_path / "course", config=ROOT / "nbgrader_config.py")
    write(root, {**WORK, **KEPT})
    with_a_manual_grade(f"sqlite:///{root / 'gradebook.db'}")
    monkeypatch.chdir(root)
    return root


def test_make_clean_removes_only_what_is_rebuilt(tmp_path):
    root = tmp_path / "course"
    root.mkdir()
    for name in ("Makefile", "requirements.lock", "pyproject.toml"):
        shutil.copy(ROOT / name, root)
    write(root, {**WORK, **REBUILT, **KEPT, "gradebook.db": "the gradebook"})
    done = subprocess.run(["make", "clean"], cwd=root, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    for relative in REBUILT:
        assert not (root / relative).exists(), relative
    for relative in [*WORK, *KEPT, "gradebook.db"]:
        assert (root / relative).exists(), f"make clean removed {relative}"


def test_reset_refuses_without_confirmation(capsys, course):
    code, out, err = run(capsys, "reset")  # stdin is no terminal here: no question can be asked
    assert code == 2 and "refused without confirmation" in err and "CONFIRM=yes" in err, (out, err)
    for relative in [*WORK, *KEPT, "gradebook.db"]:
        assert (course / relative).exists(), relative
    assert not (course / "backups").exists()


class Terminal(io.StringIO):
    def isatty(self):
        return True


def test_reset_in_a_terminal_goes_on_only_when_the_answer_is_reset(capsys, course, monkeypatch):
    monkeypatch.setattr(sys, "stdin", Terminal("yes\n"))
    code, out, err = run(capsys, "reset")
    assert code == 2 and "not confirmed" in err and (course / "submitted").exists(), (out, err)
    monkeypatch.setattr(sys, "stdin", Terminal("reset\n"))
    code, out, err = run(capsys, "reset")
    assert code == 0 and "type 'reset'" in out and not (course / "submitted").exists(), (out, err)


def test_reset_archives_the_work_and_the_gradebook_then_removes_them(capsys, course):
    write(course, REBUILT)
    code, out, err = run(capsys, "reset", "--yes")
    assert code == 0, (out, err)
    (archive,) = (course / "backups").glob("reset-*.tar.gz")
    assert f"archived to backups/{archive.name}" in out, out
    for relative in [*WORK, "build", "gradebook.db"]:
        assert not (course / relative).exists(), f"{relative} was not removed"
    for relative in KEPT:
        assert (course / relative).exists(), f"reset removed {relative}"
    unpacked = course.parent / "unpacked"
    with tarfile.open(archive) as tar:
        tar.extractall(unpacked, filter="data")
    for relative, text in WORK.items():
        assert (unpacked / relative).read_text() == text, relative
    assert not (unpacked / "autograded" / "README.md").exists() and not (unpacked / "build").exists()
    assert manual_grade(f"sqlite:///{unpacked / 'gradebook.db'}") == MANUAL


@pytest.mark.skipif(NO_POSTGRES, reason="no PostgreSQL server binaries (CI installs them)")
def test_reset_copies_a_postgresql_gradebook_into_the_archive_and_leaves_it(capsys, course):
    server = Postgres()
    try:
        with_a_manual_grade(server.url)
        code, out, err = run(capsys, "reset", "--yes", "--db-url", server.url)
        assert code == 0, (out, err)
        assert "LEFT AS IT IS" in out and "reset never drops a database" in out, out
        (archive,) = (course / "backups").glob("reset-*.tar.gz")
        with tarfile.open(archive) as tar:
            tar.extract("gradebook.db", course.parent, filter="data")
        assert manual_grade(f"sqlite:///{course.parent / 'gradebook.db'}") == MANUAL
        assert manual_grade(server.url) == MANUAL
        assert not (course / "submitted").exists()
    finally:
        server.stop()
