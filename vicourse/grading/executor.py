"""nbgrader's Execute step, made resilient and given hidden checks.

`ExecuteWithChecks` replaces `Execute` in `Autograde.autograde_preprocessors`
(see nbgrader_config.py).  It

* executes the notebook as nbgrader does, but when a cell hangs past its
  timeout and ignores the interrupt, or kills its kernel, it records the
  reason on that cell, restarts the kernel, replays the cells that had run,
  and carries on, so one bad cell never costs the whole submission;
* after the last cell, while the kernel is still alive, runs the hidden check
  for every autograded test cell (`grader_tests/test_<notebook>.py`, function
  named like the cell's grade id; hidden_checks.py) in *this* process, and records a
  failure as an error output at the top of that cell, which nbgrader scores as zero
  (graded_outputs.py: what this process writes, and keeps of the kernel's outputs).

The same class executes a submission for `pytest grader_tests --submission`
(see `live_student`).
"""

from __future__ import annotations

import contextlib
import json
import logging
import time
from pathlib import Path

from nbclient.exceptions import CellTimeoutError
from nbclient.util import run_sync
from nbformat import NotebookNode
from nbgrader.preprocessors import Execute
from traitlets import Float, Int, Unicode

from .checking import set_grading_secret
from .graded_outputs import (CHECK_FAILED, SAFE_MIME_TYPES, error_output, harmless_markdown, is_test_cell,
                             neutralise_results, numeric_sizes, score_outputs)
from .hidden_checks import load_checks, run_check_scored
from .kernel_calls import KernelTransport, ensure_async_call
from .sandbox import SandboxedKernelManager
from .student import Student

log = logging.getLogger("vicourse.grading")


class ExecuteWithChecks(Execute):
    graders_dir = Unicode("", help="Folder holding test_<notebook>.py hidden grader modules").tag(config=True)
    release_dir = Unicode("", help="The course's release folder: a kernel's working folder starts as a copy of "
                                   "release/<assignment>, what every student was given").tag(config=True)
    results_dir = Unicode("", help="Folder for the grading record of each notebook (<student>/<notebook>.json); "
                                   "empty: no record").tag(config=True)
    check_timeout = Float(30.0, help="Seconds one call into the student's code may take").tag(config=True)
    replay_timeout = Float(120.0, help="Seconds allowed to replay cells after a kernel restart").tag(config=True)
    notebook_timeout = Float(900.0, help="Seconds the whole notebook may run; later cells are not run").tag(
        config=True)
    max_restarts = Int(3, help="Kernel restarts allowed per notebook; after that, later cells are not run").tag(
        config=True)
    max_cell_output_bytes = Int(2_000_000, help="Output kept per cell; the rest is dropped with a note").tag(
        config=True)
    max_notebook_output_bytes = Int(20_000_000, help="Output kept per notebook; the rest is dropped with a note"
                                    ).tag(config=True)
    hidden_seed = Unicode("", help="The secret (hex) the hidden checks draw their inputs from; empty: a fresh one "
                                   "for each notebook. It is kept in the grading record, so a regrade given the "
                                   "same secret repeats the run").tag(config=True)

    run_checks = True

    async def async_start_new_kernel(self, **kwargs):
        # The kernel's files come from the release, never from the submission's folder: a
        # submitted symlink, already followed by nbgrader's copy, must not reach the kernel.
        assignment = (self.resources or {}).get("nbgrader", {}).get("assignment")
        if self.release_dir and assignment:
            kwargs["cwd"] = str(Path(self.release_dir) / assignment)
        return await super().async_start_new_kernel(**kwargs)

    # nbclient's synchronous wrapper, which `preprocess` uses, is bound to the base class's
    # coroutine: without this line the override above never runs under nbgrader.
    start_new_kernel = run_sync(async_start_new_kernel)

    def create_kernel_manager(self):
        # Every kernel that runs a submission starts in the sandbox, whatever kernel the
        # notebook's metadata names (vicourse/grading/sandbox.py).
        self.km = SandboxedKernelManager(config=self.config)
        self._isolation = self.km.isolation.summary
        return self.km

    # ------------------------------------------------------------ execution

    def preprocess(self, nb, resources=None, km=None):
        self.begin(resources)
        try:
            nb, resources = super().preprocess(nb, resources, km)
        finally:
            self._write_record(resources)
        if not self._record["finished"]:  # the checks did not run: still, no kernel-made score
            for cell in nb.cells:
                if is_test_cell(cell):
                    neutralise_results(cell)
        for cell in nb.cells:
            if cell.cell_type == "markdown":
                cell.source = harmless_markdown(cell.source)
        return nb, resources

    def begin(self, resources) -> None:
        """Fresh state for one notebook; the checks are loaded (sealed) before any student code runs."""
        self._replay: list[str] = []
        self._record = {"cells": 0, "cells_run": 0, "timed_out": [], "kernel_died": [], "not_run": [],
                        "truncated": [], "checks": {}, "finished": False,
                        # where the time went: kernel start, each code cell (in order), the checks
                        "timing": {"kernel_start": None, "cells": [], "checks": 0.0}}
        self._output_bytes = {"notebook": 0}
        self._started = time.monotonic()
        self._restarts = 0
        notebook = (resources or {}).get("nbgrader", {}).get("notebook")
        self._checks = load_checks(self.graders_dir, notebook) if self.run_checks and notebook else {}
        # drawn before any student code runs, and never sent to the kernel
        self._record["hidden_seed"] = set_grading_secret(self.hidden_seed or None)

    def preprocess_cell(self, cell, resources, index):
        self._record["cells"] = len(self.nb.cells)
        timing = self._record["timing"]
        if timing["kernel_start"] is None:  # the kernel was started and is ready before the first cell
            timing["kernel_start"] = round(time.monotonic() - self._started, 3)
        cell_started = time.monotonic()
        stop = self._why_stop()
        if cell.cell_type == "code" and stop:
            cell.outputs = [error_output("NotebookLimit", f"not run: {stop}")]
            self._record["not_run"].append(self._where(cell, index))
        else:
            self._execute_cell(cell, resources, index)
        if cell.cell_type == "code":
            timing["cells"].append(round(time.monotonic() - cell_started, 3))
        if index == len(self.nb.cells) - 1 and self.run_checks:
            checks_started = time.monotonic()
            self.grade_test_cells(resources)
            timing["checks"] = round(time.monotonic() - checks_started, 3)
        return cell, resources

    def _why_stop(self) -> str | None:
        """Why no further cell runs: the notebook's time is up, or its kernel kept breaking."""
        if time.monotonic() - self._started > self.notebook_timeout:
            return f"the notebook used up its {self.notebook_timeout:.0f} s"
        if self._restarts >= self.max_restarts:
            return f"its kernel was restarted {self._restarts} times (the limit)"
        return None

    def _execute_cell(self, cell, resources, index) -> None:
        try:
            super().preprocess_cell(cell, resources, index)
            if cell.cell_type == "code":
                self._record["cells_run"] += 1
                if not any(o.output_type == "error" for o in cell.outputs):
                    self._replay.append(cell.source)
        except Exception as exc:  # noqa: BLE001 - whatever the kernel did, it costs this cell only
            # A hang, a death, or a broken message (a kernel at its process limit can send
            # half a message): the cell scores nothing, and a fresh kernel carries on.
            timed_out = isinstance(exc, CellTimeoutError)
            reason = (
                "This cell did not finish within the time limit and ignored the interrupt;"
                " the kernel was restarted and the earlier cells re-run."
                if timed_out
                else "The kernel died or broke the messaging protocol while running this cell;"
                " it was restarted and the earlier cells re-run."
            )
            log.warning("cell %d: %s (%s: %s); the kernel's own last words: %s", index, reason,
                        type(exc).__name__, str(exc)[:200], self.km.kernel_log(500) if self.km else "")
            cell.outputs.append(error_output("CellTimeoutError" if timed_out else "DeadKernelError", reason))
            self.restart_and_replay()
        # nbgrader records a timeout as an error output itself; count both ways in one place
        names = {o.get("ename") for o in cell.get("outputs", []) if o.get("output_type") == "error"}
        if "DeadKernelError" in names:
            self._record["kernel_died"].append(self._where(cell, index))
        elif "CellTimeoutError" in names:
            self._record["timed_out"].append(self._where(cell, index))

    @staticmethod
    def _where(cell, index: int) -> str:
        return cell.get("metadata", {}).get("nbgrader", {}).get("grade_id") or f"cell {index}"

    # ------------------------------------------------------------ output limits

    def process_message(self, msg, cell, cell_index):
        """Keep only safe output types, at most max_cell_output_bytes per cell and
        max_notebook_output_bytes in all.

        Errors are always kept (shortened), since an error is what makes a test cell score zero."""
        if msg.get("msg_type") in ("display_data", "execute_result", "update_display_data"):
            content = msg.get("content", {})
            data = content.get("data", {})
            for mime in [m for m in data if m not in SAFE_MIME_TYPES]:
                data.pop(mime)
                data.setdefault("text/plain", f"[{mime} output removed by the grader]")
            content["metadata"] = numeric_sizes(content.get("metadata"))
        if msg.get("msg_type") in ("stream", "display_data", "execute_result", "update_display_data", "error"):
            content = msg.get("content", {})
            size = len(content["text"]) if "text" in content else len(json.dumps(content, default=str))
            used = self._output_bytes.get(cell_index, 0)
            over = (used + size > self.max_cell_output_bytes
                    or self._output_bytes["notebook"] + size > self.max_notebook_output_bytes)
            if over and msg["msg_type"] == "error":
                content = msg["content"]
                content["evalue"] = str(content.get("evalue", ""))[:2000]
                content["traceback"] = [str(line)[:2000] for line in content.get("traceback", [])[-20:]]
            elif over:
                self._note_truncated(cell, cell_index)
                return None
            self._output_bytes[cell_index] = used + size
            self._output_bytes["notebook"] += size
        return super().process_message(msg, cell, cell_index)

    def _note_truncated(self, cell, cell_index: int) -> None:
        where = self._where(cell, cell_index)
        if where in self._record["truncated"]:
            return
        self._record["truncated"].append(where)
        cell.outputs.append(NotebookNode(output_type="stream", name="stdout", text=(
            f"\n[output truncated: at most {self.max_cell_output_bytes} bytes per cell and "
            f"{self.max_notebook_output_bytes} bytes per notebook are kept]\n")))

    # ------------------------------------------------------------ the grading record

    def _write_record(self, resources) -> None:
        """<results_dir>/<student>/<notebook>.json, written by this process only.

        The batch calls a submission graded only when this record says the notebook
        ran to its end and every test cell's check ran."""
        info = (resources or {}).get("nbgrader", {})
        if not self.results_dir or "student" not in info or "notebook" not in info:
            return
        self._record.update(seconds=round(time.monotonic() - self._started, 3),
                            isolation=getattr(self, "_isolation", "no kernel was started"))
        path = Path(self.results_dir) / info["student"] / f"{info['notebook']}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(self._record, indent=1))

    def restart_and_replay(self) -> None:
        """Fresh kernel, then the cells that had run cleanly, silently and in order."""
        self._restarts += 1
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
        student = self.student()
        for cell in self.nb.cells:
            if not is_test_cell(cell):
                continue
            neutralise_results(cell)  # the checks below run after every cell: nothing is added later
            grade_id = cell.metadata.nbgrader["grade_id"]
            check = self._checks.get(grade_id)
            if check is None:
                log.warning("no hidden check for %s", grade_id)
                self._record["checks"][grade_id] = "no hidden check"
                continue
            message, kept = run_check_scored(check, student)
            self._record["checks"][grade_id] = message
            if message is not None and kept > 0:
                # last, so that an error or stderr output before it still scores zero
                cell.outputs.extend(score_outputs(cell.metadata.nbgrader["points"], kept, message))
                log.info("%s: %s (keeps %.4g)", grade_id, message, kept)
            elif message is not None:
                cell.outputs.insert(0, error_output(CHECK_FAILED, message))
                log.info("%s: %s", grade_id, message)
        self._record["finished"] = True


@contextlib.contextmanager
def live_student(nb: NotebookNode, workdir: str, timeout: int = 60, graders_dir: str = "", config=None):
    """Execute a notebook in a fresh sandboxed kernel and yield a Student bound to it.

    The kernel's working folder starts as a copy of the files in `workdir`."""
    executor = ExecuteWithChecks(timeout=timeout, graders_dir=graders_dir, config=config)
    executor.run_checks = False
    from nbclient import NotebookClient

    NotebookClient.__init__(executor, nb)
    executor.reset_execution_trackers()
    resources = {"metadata": {"path": workdir}}
    executor.begin(resources)
    executor._check_assign_resources(resources)
    with executor.setup_kernel():
        for index, cell in enumerate(executor.nb.cells):
            executor.preprocess_cell(cell, resources, index)
        yield executor.student()
