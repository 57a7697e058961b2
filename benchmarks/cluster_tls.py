"""What mutual TLS costs a grading cluster, per submission, against plain TCP, in one run.

    .venv/bin/python benchmarks/cluster_tls.py [--count 6] [--round-trips 40]

Two clusters on loopback, each a `dask scheduler` and two `dask worker --nthreads 1`
processes: one plain TCP, one mutual TLS with certificates from `vicourse cluster-certs`
(vicourse/batch/cluster_certs.py), started with the options that command prints. Then
1. round trips: one at a time, a task carrying a submission of 01_entropy_kl as bytes,
   as grade_all sends it, that returns the same bytes (about what a graded notebook
   weighs): the median time per task on each cluster, in alternating blocks;
2. connecting: a new client's connection (TLS adds its handshake), which grade_all
   makes once per batch;
3. end to end: grade_all grades the same `count` correct submissions of 01 on each
   cluster (warmed up by an untimed batch of two, so that every worker's forkserver
   has started), in the order TCP, TLS, TLS, TCP: seconds per submission, with the
   median kernel start of those submissions for scale.
Prints each side, the differences and the ratios, and the load average.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import nbformat  # noqa: E402

from vicourse.authoring import examples, release  # noqa: E402
from vicourse.batch import cluster_certs, coordinator
from vicourse.course import copy_course, read_notebook, run_module_command, source_notebook  # noqa: E402

A = "01_entropy_kl"
CELL_OPTIONS = ["--Execute.timeout=30"]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class LoopbackCluster:
    """A scheduler and two single-threaded workers on 127.0.0.1, plain TCP or (with certs) TLS."""

    def __init__(self, certs: Path | None):
        port = free_port()
        common = dict(env={**os.environ, "PYTHONPATH": str(ROOT)}, stdout=subprocess.DEVNULL,
                      stderr=subprocess.DEVNULL, start_new_session=True)
        if certs is None:
            self.address = f"tcp://127.0.0.1:{port}"
            scheduler = ["--host", "127.0.0.1", "--port", str(port), "--no-dashboard"]
            worker = [self.address, "--nthreads", "1", "--no-dashboard"]
        else:
            self.address = f"tls://127.0.0.1:{port}"
            scheduler = cluster_certs.scheduler_command(certs, port, "127.0.0.1", dashboard=None)[2:]
            worker = cluster_certs.worker_command(certs, self.address, "1")[2:]
        self.security = cluster_certs.security(certs, "client") if certs else None
        self.processes = [subprocess.Popen([*run_module_command("distributed.cli.dask_scheduler"), *scheduler],
                                           **common)]
        self.processes += [subprocess.Popen([*run_module_command("distributed.cli.dask_worker"), *worker,
                                             "--no-nanny", "--memory-limit", "0"], **common) for _ in range(2)]
        self.client = self.connect()
        self.client.wait_for_workers(2, timeout=120)

    def connect(self):
        from distributed import Client

        return Client(self.address, timeout=60, security=self.security)

    def stop(self) -> None:
        self.client.close()
        for process in self.processes:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def echo(job: dict) -> dict:
    return {"files": job["files"], "notes": []}


def round_trip(client, job: dict) -> float:
    started = time.perf_counter()
    result = client.submit(echo, job, pure=False).result()
    seconds = time.perf_counter() - started
    assert result["files"] == job["files"]
    return seconds


def connect_seconds(side: LoopbackCluster) -> float:
    started = time.perf_counter()
    client = side.connect()
    client.scheduler_info()
    seconds = time.perf_counter() - started
    client.close()
    return seconds


def grade_on(root: Path, side: LoopbackCluster, certs: Path | None, count: int) -> tuple[float, list[float]]:
    """Seconds per submission for a batch of `count`, and each submission's kernel start."""
    started = time.perf_counter()
    outcomes = coordinator.grade_all(root, A, scheduler=side.address, certs=certs, timeout=600, extra=CELL_OPTIONS,
                               force=True, progress=False)
    seconds = time.perf_counter() - started
    assert [o.status for o in outcomes] == ["graded"] * count, [(o.student, o.status, o.notes) for o in outcomes]
    return seconds / count, [o.timing.get("kernel_start", float("nan")) for o in outcomes]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--count", type=int, default=6, help="submissions per end-to-end batch")
    parser.add_argument("--round-trips", type=int, default=40, help="tasks per protocol, in blocks of ten")
    args = parser.parse_args()
    scratch = Path(tempfile.mkdtemp(prefix="vicourse-tls-bench-"))
    sides = {}
    try:
        root = copy_course(ROOT, scratch / "course")
        release.generate_releases(root, [A])
        release_nb = read_notebook(root / "release" / A / f"{A}.ipynb")
        full = examples.filled(release_nb, read_notebook(source_notebook(root, A)))
        examples.submit(root, A, {f"c-{i:02d}": full for i in range(args.count)})
        certs = cluster_certs.create(scratch / "certs", "benchmark")
        sides = {"tcp": LoopbackCluster(None), "tls": LoopbackCluster(certs)}
        job = {"files": {f"{A}.ipynb": nbformat.writes(full).encode()}, "student": "c-00", "assignment": A}
        size = len(job["files"][f"{A}.ipynb"])

        trips = {name: [] for name in sides}
        for name in sides:  # warm: the function and the connections to the workers
            round_trip(sides[name].client, job)
        for block in range(max(1, args.round_trips // 10)):
            for name in (("tcp", "tls") if block % 2 == 0 else ("tls", "tcp")):
                trips[name] += [round_trip(sides[name].client, job) for _ in range(10)]
        connects = {name: statistics.median(connect_seconds(side) for _ in range(5)) for name, side in sides.items()}

        per_submission = {name: [] for name in sides}
        kernels = []
        for name in sides:  # untimed: each worker starts its forkserver (nbgrader imported) on its first task
            coordinator.grade_all(root, A, scheduler=sides[name].address, certs=certs if name == "tls" else None,
                            timeout=600, extra=CELL_OPTIONS, only=["c-00", "c-01"], force=True, progress=False)
        for name in ("tcp", "tls", "tls", "tcp"):
            seconds, starts = grade_on(root, sides[name], certs if name == "tls" else None, args.count)
            per_submission[name].append(seconds)
            kernels += starts
    finally:
        for side in sides.values():
            side.stop()
        shutil.rmtree(scratch, ignore_errors=True)

    trip = {name: statistics.median(values) for name, values in trips.items()}
    end = {name: statistics.mean(values) for name, values in per_submission.items()}
    kernel = statistics.median(k for k in kernels if k == k)
    print(f"mutual TLS against plain TCP, on loopback (load average {os.getloadavg()[0]:.1f}, {os.cpu_count()} cores)")
    print(f"  a submission's round trip ({size / 1000:.0f} kB each way), median of {len(trips['tcp'])}: "
          f"TCP {trip['tcp'] * 1000:.1f} ms, TLS {trip['tls'] * 1000:.1f} ms: "
          f"{(trip['tls'] - trip['tcp']) * 1000:+.1f} ms ({trip['tls'] / trip['tcp']:.2f}x)")
    print(f"  a client's connection, once per batch, median of 5: TCP {connects['tcp'] * 1000:.0f} ms, "
          f"TLS {connects['tls'] * 1000:.0f} ms: {(connects['tls'] - connects['tcp']) * 1000:+.0f} ms")
    print(f"  end to end, {args.count} submissions of {A} per batch, 2 workers, runs TCP TLS TLS TCP: "
          f"TCP {', '.join(f'{s:.2f}' for s in per_submission['tcp'])} s, "
          f"TLS {', '.join(f'{s:.2f}' for s in per_submission['tls'])} s per submission: "
          f"{end['tls'] - end['tcp']:+.2f} s ({end['tls'] / end['tcp']:.3f}x)")
    print(f"  TLS's overhead: {(trip['tls'] - trip['tcp']) * 1000:+.1f} ms per submission and "
          f"{(connects['tls'] - connects['tcp']) * 1000:+.0f} ms per batch, against a grading kernel's start of "
          f"{kernel * 1000:.0f} ms (median over those batches)")


if __name__ == "__main__":
    main()
