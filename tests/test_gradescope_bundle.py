"""The Gradescope autograder bundle (`make gradescope A=...`), run as Gradescope runs it.

The zip is built from a scratch copy of the course and unpacked into a tree laid out as
Gradescope documents it (https://gradescope-autograders.readthedocs.io/en/latest/specs/):
<tmp>/autograder/source (the bundle), /submission (the student's upload), /results. Its
run_autograder is copied to <tmp>/autograder/run_autograder, as Gradescope does, and run with
AUTOGRADER_ROOT pointing at the tree and this checkout's Python (setup.sh would install the
same pinned packages into /autograder/venv) for three uploads at once: the solution, the blank
release, and an attack that writes results.json itself, now and from a process it leaves behind.
"""

import json
import os
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import nbformat
import pytest

from conftest import ROOT
from vicourse.__main__ import parse
from vicourse.authoring import examples, release
from vicourse.authoring.solutions import MARK_SCHEME, MARKER_LINE
from vicourse.course import copy_course, read_notebook, source_notebook
from vicourse.grading.hidden_checks import checks_in, load_grader_module
from vicourse.grading.sandbox_isolation import isolation
from vicourse.lms.gradescope_bundle import grading_part
from vicourse.reports import gradescope

A = "01_entropy_kl"
FORGED = {"score": 1000.0, "output": "forged by the submission", "tests": []}
# The attack writes a forged results.json where Gradescope reads it (this test's tree stands in for
# /autograder), and leaves a detached process that writes it again and again for a minute.


def attack(results: Path) -> str:
    """Code that forges results.json in `results` and /autograder/results, now and from a detached
    process that writes it again every 0.2 s for a minute."""
    folders = ["/autograder/results", str(results)]
    return f"""import json, os, subprocess, sys
FOLDERS, FORGED = {folders!r}, {json.dumps(FORGED)!r}

def forge():
    for folder in FOLDERS:
        try:
            with open(os.path.join(folder, "results.json"), "w") as handle:
                handle.write(FORGED)
        except OSError:
            pass

forge()
again = "import time\\n" + "FOLDERS, FORGED = %r, %r\\n" % (FOLDERS, FORGED) + (
    "import os\\nfor _ in range(300):\\n    time.sleep(0.2)\\n    for folder in FOLDERS:\\n"
    "        try:\\n            open(os.path.join(folder, 'results.json'), 'w').write(FORGED)\\n"
    "        except OSError:\\n            pass\\n")
subprocess.Popen([sys.executable, "-c", again], start_new_session=True,
                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
"""


@pytest.fixture(scope="module")
def bundle(tmp_path_factory):
    course = copy_course(ROOT, tmp_path_factory.mktemp("course"), parts=("source", "grader_tests", "release"))
    release.generate_releases(course, [A])
    args = parse(["gradescope", A, "--course", str(course)])
    assert args.run(args) == 0
    return course, course / "build" / "gradescope" / f"{A}.zip"


def test_the_bundle_holds_what_grading_needs_and_no_solution(bundle, tmp_path):
    course, path = bundle
    with zipfile.ZipFile(path) as zipped:
        names = set(zipped.namelist())
        contents = b"".join(zipped.read(name) for name in names)
        modes = {name: zipped.getinfo(name).external_attr >> 16 for name in ("setup.sh", "run_autograder")}
    assert {"setup.sh", "run_autograder", "requirements.lock", "bundle.json", "course/nbgrader_config.py",
            f"course/grader_tests/test_{A}.py", f"course/release/{A}/{A}.ipynb", "course/gradebook.db",
            "lib/vicourse/lms/autograder.py", "lib/vicourse/batch/grade_one.py"} <= names
    assert all(mode & 0o111 for mode in modes.values()), "Gradescope runs both scripts"
    assert not [n for n in names if n.startswith("course/source/") and n.endswith(".ipynb")], "no instructor notebook"
    assert not [n for n in names if "test_0" in n and A not in n], "only this assignment's grader"
    source = read_notebook(source_notebook(course, A))
    released = "\n".join(c.source for c in read_notebook(course / "release" / A / f"{A}.ipynb").cells)
    secret = {line.strip() for cell in source.cells if "BEGIN SOLUTION" in cell.source
              for line in MARKER_LINE.sub("", cell.source).splitlines()
              if len(line.strip()) > 25 and line.strip() not in released}
    checks = zipfile.ZipFile(path).read(f"course/grader_tests/test_{A}.py").decode()
    assert "WRONG_ANSWERS" not in checks and "CORRECT_ALTERNATIVES" not in checks, "the calibration stays home"
    assert checks == grading_part((course / "grader_tests" / f"test_{A}.py").read_text())
    (tmp_path / f"test_{A}.py").write_text(checks)
    assert set(checks_in(load_grader_module(tmp_path, A))) == set(
        checks_in(load_grader_module(course / "grader_tests", A))), "every check travels"
    secret = {line for line in secret if line not in checks}  # the checks' reference implementations
    assert len(secret) > 10
    assert not [line for line in secret if line.encode() in contents], "a solution line is in the bundle"
    rubrics = [m.group(1).strip() for c in source.cells for m in MARK_SCHEME.finditer(c.source)]
    assert rubrics and not [r for r in rubrics if r[:60].encode() in contents], "a rubric is in the bundle"
    for script in modes:
        checked = subprocess.run(["bash", "-n"], input=zipfile.ZipFile(path).read(script), capture_output=True)
        assert checked.returncode == 0, checked.stderr


def upload(folder, notebook) -> None:
    for part in ("source", "submission", "results"):
        (folder / part).mkdir(parents=True)
    (folder / "submission" / f"{A}.ipynb").write_text(nbformat.writes(notebook))


def test_run_autograder_grades_the_solution_the_blank_and_an_attack(bundle, tmp_path):
    course, path = bundle
    release_nb = read_notebook(course / "release" / A / f"{A}.ipynb")
    forger = nbformat.from_dict(nbformat.reads(nbformat.writes(release_nb), 4))
    forger.cells.insert(1, nbformat.v4.new_code_cell(attack(tmp_path / "forger" / "autograder" / "results")))
    uploads = {"solution": examples.filled(release_nb, read_notebook(source_notebook(course, A))),
               "blank": release_nb, "forger": forger}
    running = {}
    for name, notebook in uploads.items():
        tree = tmp_path / name / "autograder"
        upload(tree, notebook)
        with zipfile.ZipFile(path) as zipped:
            zipped.extractall(tree / "source")
        runner = tree / "run_autograder"  # where Gradescope puts it
        runner.write_bytes((tree / "source" / "run_autograder").read_bytes())
        environment = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
        environment.update(AUTOGRADER_ROOT=str(tree), VICOURSE_PYTHON=sys.executable)
        running[name] = subprocess.Popen(["bash", str(runner)], env=environment, stdout=subprocess.PIPE,
                                         stderr=subprocess.STDOUT, text=True)
    logs = {name: process.communicate(timeout=1500)[0] for name, process in running.items()}
    for name, process in running.items():
        assert process.returncode == 0, logs[name][-3000:]
    time.sleep(3)  # time for anything the attack left behind to write again
    results = {name: json.loads((tmp_path / name / "autograder" / "results" / "results.json").read_text())
               for name in uploads}
    for name, data in results.items():
        assert gradescope.problems(data) == [], (name, gradescope.problems(data))
        assert f"{tmp_path / name / 'autograder' / 'source' / 'lib' / 'vicourse'}" in logs[name], "the bundle's library"
    visible = [t for t in results["solution"]["tests"] if t.get("visibility") != "hidden"]
    assert results["solution"]["score"] == sum(t["max_score"] for t in visible) > 0, results["solution"]
    assert results["blank"]["score"] == 0
    assert any(t["name"].startswith("Isolation") for t in results["blank"]["tests"])
    sandboxed = isolation().sandboxed
    if not sandboxed and not os.environ.get("CI"):
        pytest.skip(f"no sandbox here, so a lingering process of the attack can outlive its kernel: "
                    f"{isolation().summary}")
    assert results["forger"]["score"] == 0 and "forged" not in json.dumps(results["forger"]), results["forger"]
