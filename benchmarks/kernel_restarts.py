"""How often a restarted kernel fails to take its replay: the path that grading takes after a call
hangs or a kernel dies (ExecuteWithChecks.restart_and_replay).

    .venv/bin/python benchmarks/kernel_restarts.py [kernels]

For each of `kernels` fresh sandboxed kernels: run a notebook that defines f, make calls and one
plain run (whose replies the grader never reads, as in grading), restart the kernel as a hang would,
and call f again. The replay must define f again within seconds. Before the kernel client matched
readiness to its own kernel_info requests, a stale reply from the old kernel was taken for readiness
now and then: the replay went unanswered, and grading waited out the whole replay limit (here 10 s;
120 s in grading). Prints each failure and the count.
"""

import sys
import tempfile
import time

from nbformat.v4 import new_code_cell, new_notebook

from vicourse.grading.executor import live_student

REPLAY_LIMIT = 10.0  # seconds; a failed replay costs this, a good one about half a second


def one_restart() -> tuple[bool, float]:
    nb = new_notebook(cells=[new_code_cell("def f(x):\n    return x + 1\n")])
    with tempfile.TemporaryDirectory() as folder, live_student(nb, folder, timeout=30) as student:
        student._transport.on_unresponsive.__self__.replay_timeout = REPLAY_LIMIT
        assert student.f(1) == 2
        student._transport.run("n = 1", 10)
        assert student.f(2) == 3
        started = time.monotonic()
        student._transport.on_unresponsive()  # what a hang or a dead kernel leads to
        try:
            ok = student.f(3) == 4
        except Exception:  # noqa: BLE001 - `f` undefined after a failed replay
            ok = False
        return ok, time.monotonic() - started


def main(kernels: int) -> None:
    failed = 0
    for index in range(kernels):
        ok, seconds = one_restart()
        if not ok or seconds > REPLAY_LIMIT / 2:
            failed += 1
            print(f"kernel {index}: the replay failed after {seconds:.1f} s", flush=True)
    print(f"{failed} of {kernels} restarted kernels failed to take their replay")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 30)
