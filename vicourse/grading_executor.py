"""nbgrader's Execute step, made resilient and given hidden checks.

`ExecuteWithChecks` replaces `Execute` in `Autograde.autograde_preprocessors`
(see nbgrader_config.py).  It

* executes the notebook as nbgrader does, but when a cell hangs past its
  timeout and ignores the interrupt, or kills its kernel, it records the
  reason on that cell, restarts the kernel, replays the cells that had run,
  and carries on, so one bad cell never costs the whole submission;
* after the last cell, while the kernel is still alive, runs the hidden check
  for every autograded test cell (`grader_tests/test_<notebook>.py`, function
  named like the cell's grade id) in *this* process, and records a failure as
  an error output at the top of that cell, which nbgrader scores as zero.

The same class executes a submission for `pytest grader_tests --submission`
(see `live_student`).
"""

from __future__ import annotations

import contextlib
import importlib.util
import logging
import os
import sys
from pathlib import Path

from nbclient.exceptions import CellTimeoutError, DeadKernelError
from nbclient.util import run_sync
from nbformat import NotebookNode
from nbgrader.preprocessors import Execute
from nbgrader.utils import is_grade, is_solution
from traitlets import Float, Unicode

from .checking import Student
from .kernel_calls import KernelTransport, ensure_async_call
from .sandbox import SandboxedKernelManager

log = logging.getLogger("vicourse.grading")

CHECK_FAILED = "HiddenCheckFailed"


def load_checks(graders_dir: str | os.PathLike, notebook: str) -> dict:
    """The hidden checks for a notebook: {test cell grade id: check function}.

    The module is loaded from its path, so grader_tests never has to be on
    sys.path (and therefore is not importable from the student's kernel).
    """
    path = Path(graders_dir) / f"test_{notebook}.py"
    if not path.exists():
        return {}
    name = f"vicourse_graders_{notebook}"
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return {n: f for n, f in vars(module).items() if n.startswith("test_") and callable(f)}


def is_test_cell(cell) -> bool:
    return cell.cell_type == "code" and is_grade(cell) and not is_solution(cell)


def error_output(ename: str, message: str) -> NotebookNode:
    return NotebookNode(output_type="error", ename=ename, evalue=message, traceback=[f"{ename}: {message}"])


class ExecuteWithChecks(Execute):
    graders_dir = Unicode("", help="Folder holding test_<notebook>.py hidden grader modules").tag(config=True)
    check_timeout = Float(30.0, help="Seconds one call into the student's code may take").tag(config=True)
    replay_timeout = Float(120.0, help="Seconds allowed to replay cells after a kernel restart").tag(config=True)

    run_checks = True

    def create_kernel_manager(self):
        # Every kernel that runs a submission starts in the sandbox, whatever kernel the
        # notebook's metadata names (vicourse/sandbox.py).
        self.km = SandboxedKernelManager(config=self.config)
        return self.km

    # ------------------------------------------------------------ execution

    def preprocess(self, nb, resources=None, km=None):
        self._replay: list[str] = []
        return super().preprocess(nb, resources, km)

    def preprocess_cell(self, cell, resources, index):
        try:
            cell, resources = super().preprocess_cell(cell, resources, index)
            if cell.cell_type == "code" and not any(o.output_type == "error" for o in cell.outputs):
                self._replay.append(cell.source)
        except (CellTimeoutError, DeadKernelError) as exc:
            died = isinstance(exc, DeadKernelError)
            reason = (
                "The kernel died while running this cell; it was restarted and the earlier cells re-run."
                if died
                else "This cell did not finish within the time limit and ignored the interrupt;"
                " the kernel was restarted and the earlier cells re-run."
            )
            log.warning("cell %d: %s", index, reason)
            cell.outputs.append(error_output("DeadKernelError" if died else "CellTimeoutError", reason))
            self.restart_and_replay()
        if index == len(self.nb.cells) - 1 and self.run_checks:
            self.grade_test_cells(resources)
        return cell, resources

    def restart_and_replay(self) -> None:
        """Fresh kernel, then the cells that had run cleanly, silently and in order."""
        run_sync(ensure_async_call(self.km.restart_kernel))(now=True)
        run_sync(ensure_async_call(self.kc.wait_for_ready))(timeout=60)
        transport = KernelTransport(self.kc, self.km, timeout=self.replay_timeout)
        for source in self._replay:
            try:
                transport.run(source, self.replay_timeout)
            except Exception as exc:  # noqa: BLE001 - a replay problem must not stop grading
                log.warning("replay stopped: %s", exc)
                run_sync(ensure_async_call(self.km.restart_kernel))(now=True)
                run_sync(ensure_async_call(self.kc.wait_for_ready))(timeout=60)
                return

    def student(self) -> Student:
        return Student(KernelTransport(self.kc, self.km, self.check_timeout, self.restart_and_replay))

    # ------------------------------------------------------------ checks

    def grade_test_cells(self, resources) -> None:
        notebook = (resources or {}).get("nbgrader", {}).get("notebook")
        if notebook is None:
            return
        checks = load_checks(self.graders_dir, notebook)
        student = self.student()
        for cell in self.nb.cells:
            if not is_test_cell(cell):
                continue
            grade_id = cell.metadata.nbgrader["grade_id"]
            check = checks.get(grade_id)
            if check is None:
                log.warning("no hidden check for %s/%s", notebook, grade_id)
                continue
            message = run_check(check, student)
            if message is not None:
                cell.outputs.insert(0, error_output(CHECK_FAILED, message))
                log.info("%s: %s", grade_id, message)


def run_check(check, student: Student) -> str | None:
    """None if the check passes, otherwise the message for the student."""
    try:
        check(student)
    except AssertionError as exc:
        return str(exc) or "the hidden check failed"
    except Exception:  # noqa: BLE001 - a broken check must not stop the batch
        log.exception("hidden check %s crashed", check.__name__)
        return "the hidden check could not run on this submission; ask your instructor"
    return None


@contextlib.contextmanager
def live_student(nb: NotebookNode, workdir: str, timeout: int = 60, graders_dir: str = ""):
    """Execute a notebook in a fresh kernel and yield a Student bound to it."""
    executor = ExecuteWithChecks(timeout=timeout, graders_dir=graders_dir)
    executor.run_checks = False
    from nbclient import NotebookClient

    NotebookClient.__init__(executor, nb)
    executor.reset_execution_trackers()
    executor._replay = []
    resources = {"metadata": {"path": workdir}}
    executor._check_assign_resources(resources)
    with executor.setup_kernel():
        for index, cell in enumerate(executor.nb.cells):
            executor.preprocess_cell(cell, resources, index)
        yield executor.student()
