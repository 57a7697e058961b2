"""Where things are in a course folder, and how nbgrader is invoked on it."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
from traitlets import Dict
from traitlets.config import Configurable


def course_root(start: str | os.PathLike | None = None) -> Path:
    """The folder holding nbgrader_config.py: the given one or one of its parents."""
    here = Path(start or os.getcwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / "nbgrader_config.py").exists():
            return folder
    raise SystemExit(f"no nbgrader_config.py in {here} or above: run from the course folder")


def assignments(root: Path) -> list[str]:
    """Assignment names, from the instructor notebooks in source/."""
    return sorted(p.parent.name for p in root.glob("source/*/*.ipynb") if p.stem == p.parent.name)


def source_notebook(root: Path, assignment: str) -> Path:
    return root / "source" / assignment / f"{assignment}.ipynb"


# Gradebooks named on the command line (`vicourse grade --db-url`), by course folder.
DB_URLS: dict[Path, str] = {}


def gradebook_url(root: Path) -> str:
    """The course gradebook's SQLAlchemy URL: the one given with --db-url for this course,
    else c.CourseDirectory.db_url of nbgrader_config.py, else gradebook.db."""
    if Path(root).resolve() in DB_URLS:
        return DB_URLS[Path(root).resolve()]
    configured = check_config(root).CourseDirectory.get("db_url")
    return configured or "sqlite:///" + str(root / "gradebook.db")


def open_gradebook(root: Path, db_url: str | None = None, course_id: str = "default_course"):
    """The course gradebook (or the one at db_url), opened in this process."""
    from nbgrader.api import Gradebook

    gradebooks_in_process()
    return Gradebook(db_url or gradebook_url(root), course_id)


def alembic_head() -> str:
    """The head revision of nbgrader's gradebook migrations, read from its migration scripts."""
    from alembic.script import ScriptDirectory
    from nbgrader.dbutil import ALEMBIC_DIR

    return ScriptDirectory(ALEMBIC_DIR).get_current_head()


def gradebooks_in_process() -> None:
    """Let nbgrader create gradebooks in this process without running the `alembic` command.

    A new gradebook records its schema's version, which nbgrader learns by running
    `alembic heads` in a subprocess: 3.4 s for a constant, paid by every new course, every
    batch's template gradebook and every release into a new gradebook. Its value is the head
    of nbgrader's own migration scripts, which alembic's library reads in milliseconds
    (tests/test_pipeline.py checks that both agree). PATH still gets this environment's bin for
    nbgrader's other alembic commands (`nbgrader db upgrade`): `make grade` runs .venv/bin/python
    without .venv/bin on PATH."""
    import nbgrader.api

    nbgrader.api.get_alembic_version = alembic_head
    os.environ["PATH"] = with_tools_on_path(os.environ)["PATH"]


def with_tools_on_path(env) -> dict:
    """A copy of env whose PATH starts with this environment's bin (nbgrader runs `alembic`)."""
    env = dict(env)
    tools = os.path.dirname(sys.executable)
    if tools not in env.get("PATH", "").split(os.pathsep):
        env["PATH"] = tools + os.pathsep + env.get("PATH", "")
    return env


def copy_course(root: Path, target: Path, parts=("source", "grader_tests"), config: Path | None = None) -> Path:
    """A scratch copy of a course (the given folders and its config), for tests and benchmarks."""
    for part in parts:
        if (root / part).exists():
            shutil.copytree(root / part, target / part)
    shutil.copy(config or root / "nbgrader_config.py", target)
    return target


def read_notebook(path: str | os.PathLike):
    return nbformat.read(str(path), as_version=4)


# Read by the math libraries when they load: kernels graded side by side must not oversubscribe the cores.
ONE_MATH_THREAD = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}

# The math libraries choose their kernels by the processor: OpenBLAS (numpy, scipy) and torch's own
# loops, MKL and oneDNN take AVX-512 code paths where the CPU has them and AVX2 ones elsewhere, and the
# two round differently. A trained model, a solution's printed digits and a model answer would then
# depend on the machine. Pinned to the AVX2 paths, every x86-64 machine with AVX2 computes the same bits.
SAME_ARITHMETIC = {"OPENBLAS_CORETYPE": "Haswell", "ATEN_CPU_CAPABILITY": "avx2", "MKL_CBWR": "AVX2",
                   "ONEDNN_MAX_CPU_ISA": "AVX2"}


def same_arithmetic() -> dict[str, str]:
    """SAME_ARITHMETIC where this machine can take it (x86-64 with AVX2 and FMA), else nothing:
    forcing AVX2 kernels on a processor without them would stop the process."""
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            flags = next((line.split() for line in cpuinfo if line.startswith("flags")), [])
    except OSError:
        return {}
    return dict(SAME_ARITHMETIC) if {"avx2", "fma"} <= set(flags) else {}


def kernel_environment() -> dict:
    """Environment for grading: one math thread per kernel so parallel kernels
    do not oversubscribe the cores, the same arithmetic on every machine, and a
    non-interactive matplotlib."""
    env = with_tools_on_path(os.environ)
    env.update(ONE_MATH_THREAD, MPLBACKEND="Agg")
    env.update(same_arithmetic())
    env.pop("PYTHONPATH", None)  # nothing of the grader's path leaks into the student's kernel
    return env


def run_module_command(module: str) -> list[str]:
    """`python -m module`, importing this very course library first.

    An editable install names one copy of the library; a second work tree of the
    course (or a copy) must grade with its own, as must the sandboxed calibration."""
    library_parent = str(Path(__file__).resolve().parent.parent)
    start = (f"import runpy, sys; sys.path.insert(0, {library_parent!r}); "
             f"runpy.run_module({module!r}, run_name='__main__', alter_sys=True)")
    return [sys.executable, "-c", start]


def nbgrader(root: Path, *args: str, timeout: float | None = None, quiet: bool = True) -> subprocess.CompletedProcess:
    """Run a stock nbgrader command in the course folder."""
    command = [*run_module_command("nbgrader"), *args]
    if quiet:
        command.append("--log-level=WARN")
    return subprocess.run(
        command, cwd=root, env=kernel_environment(), capture_output=True, text=True, timeout=timeout
    )


def run_converter(converter_class, config, assignment: str, student: str | None = None) -> None:
    """A stock nbgrader converter (GenerateAssignment, Autograde) run as its command runs it with
    `--force`, but in this process: nbgrader's imports, about 3 s, are paid once rather than per
    command. Raises nbgrader's own exception when the conversion fails."""
    from nbgrader.coursedir import CourseDirectory

    gradebooks_in_process()
    coursedir = CourseDirectory(config=config)
    coursedir.assignment_id = assignment
    if student is not None:
        coursedir.student_id = student
    converter = converter_class(coursedir=coursedir, config=config)
    converter.force = True
    converter.start()


class Course(Configurable):
    """The course's own settings, `c.Course.*` in nbgrader_config.py."""

    deadlines = Dict(help="Deadline per assignment, for late flags: {'01_entropy_kl': "
                          "'2026-10-09 23:59:00 Europe/Berlin'} (UTC without a zone)").tag(config=True)
    canvas_columns = Dict(help="Canvas's column per assignment, 'Name (assignment id)', "
                               "for canvas.csv").tag(config=True)


# Configs already checked, by path and text: every command reads the config many times.
_CHECKED: set[tuple[str, str]] = set()


def check_config(root: Path):
    """The course's configuration, as nbgrader will see it.

    nbgrader only logs a broken config and carries on without it, and ignores a misspelt class or
    setting: refuse both instead (vicourse/apps/config_check.py raises ConfigError)."""
    path = root / "nbgrader_config.py"
    text = path.read_text()
    code = compile(text, str(path), "exec")
    from traitlets.config import Config

    config = Config()
    namespace = {"get_config": lambda: config, "__file__": str(path)}
    exec(code, namespace)  # raises with a clear traceback if the config is broken
    if (str(path), text) not in _CHECKED:
        from .apps.config_check import refuse_unknown

        refuse_unknown(config, path)
        _CHECKED.add((str(path), text))
    return config
