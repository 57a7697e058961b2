"""Grading tasks on dask: the client the coordinator hands them to, and one result per submission.

The client is of a cluster that vicourse/batch/cluster.py checked, else of this process's own local
cluster, kept for later batches; a task that failed, or kept killing its workers, yields a result
saying so, whatever dask retried.
"""

from __future__ import annotations

import contextlib
import logging
import os

from .cluster import Access, connect
from .worker import grade_submission

def run_tasks(client, jobs: dict, workers: list[str] | None = None):
    """(student, result) for each job as it completes; a task that failed or kept killing its
    workers yields a result saying so. One result per student, whatever dask retried.

    workers: the ones to use (None: all); others only when none of these is left."""
    if client is None:
        for name, job in jobs.items():
            try:
                yield name, grade_submission(job, here=True)
            except Exception as exc:  # noqa: BLE001 - as a failed task, below
                yield name, task_failed(name, exc)
        return
    from distributed import as_completed
    from distributed.scheduler import KilledWorker

    futures = {client.submit(grade_submission, job, key=f"grade-{job['assignment']}-{i}-{os.urandom(4).hex()}",
                             pure=False, workers=workers, allow_other_workers=workers is not None): name
               for i, (name, job) in enumerate(jobs.items())}
    seen = set()
    for future in as_completed(futures):
        name = futures[future]
        if name in seen:
            continue
        seen.add(name)
        try:
            result = future.result()
        except KilledWorker as exc:
            result = lost(name, f"its grading killed the dask workers that ran it ({exc}); it was not graded")
        except Exception as exc:  # noqa: BLE001 - a task that broke costs its own submission only
            result = task_failed(name, exc)
        future.release()
        yield name, result


def task_failed(student: str, exc: Exception) -> dict:
    return lost(student, f"the grading task failed: {type(exc).__name__}: {str(exc)[:300]}")


def lost(student: str, reason: str) -> dict:
    """The result of a task that returned none: failed, and tried again by the next run."""
    return {"student": student, "status": "failed", "notes": [reason], "record": {}, "rows": None, "files": {},
            "isolation": "", "seconds": 0.0, "timing": {}, "again": True}


_LOCAL: dict[str, object] = {}  # this process's local cluster and its client, kept for the next batch


# The local cluster's settings. The scheduler hands a submission to a worker only when it is free
# (a saturation of 1), so none waits behind a slow one while another worker idles, and there is no
# work to steal. With no dashboard, the samplers that feed one (a stack sampler every 10 ms, system
# metrics, event-loop ticks) only took CPU from grading: 1.2 of 70 CPU-seconds in a 12-submission batch.
LOCAL_CLUSTER_CONFIG = {
    "distributed.scheduler.worker-saturation": 1.0,
    "distributed.scheduler.work-stealing": False,
    "distributed.worker.profile.enabled": False,
    "distributed.admin.system-monitor.interval": "5s",
    "distributed.admin.tick.interval": "1s",
    # dask starts an HTTP server in the scheduler and in each worker even without a dashboard, on every
    # interface unless told otherwise (LOCAL_HTTP); these serve nothing: no task list, no worker logs
    "distributed.scheduler.http.routes": [],
    "distributed.worker.http.routes": [],
}


# Where those servers listen: loopback, on ports of the system's choosing.
LOCAL_HTTP = {"dashboard_address": "127.0.0.1:0", "worker_dashboard_address": "127.0.0.1:0"}


@contextlib.contextmanager
def dask_client(scheduler: Access | None, workers: int):
    """A client of the cluster at `scheduler` (checked by cluster.check_scheduler), else of a local cluster
    of at least `workers` single-threaded workers: one submission at a time per worker, one math
    thread per kernel. The local cluster talks in memory (inproc://): it opens no port.

    The local cluster is kept for the rest of this process (closed when it exits), grown when a
    batch asks for more workers: a later batch (the demo's next assignment, the next test)
    finds its workers and its forkserver (nbgrader imported) started. Yields (client, the addresses of
    the workers to use, None for all); (None, None) for one worker while no local cluster runs:
    then the tasks run one after another in this process, in the same way."""
    import dask
    from distributed import Client, LocalCluster

    if scheduler:
        with connect(scheduler) as client:
            yield client, None
        return
    if workers == 1 and "cluster" not in _LOCAL:
        # one submission (grade-one) or one worker asked for: the same task, run in this process,
        # without starting a cluster for it
        yield None, None
        return
    cluster, client = _LOCAL.get("cluster"), _LOCAL.get("client")
    if cluster is None or cluster.status.name != "running" or client.status != "running":
        # A task only waits for the grading process it forks from this process's forkserver, so
        # the workers are threads of this process: none has an interpreter to start or nbgrader
        # to import.
        with dask.config.set(LOCAL_CLUSTER_CONFIG):
            cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=False,
                                   memory_limit=0, silence_logs=logging.ERROR, **LOCAL_HTTP)
        client = Client(cluster)
        _LOCAL.update(cluster=cluster, client=client)
    elif len(cluster.workers) < workers:
        with dask.config.set(LOCAL_CLUSTER_CONFIG):
            cluster.scale(workers)
    client.wait_for_workers(workers, timeout=300)
    running = sorted(client.scheduler_info()["workers"])
    yield client, (running[:workers] if len(running) > workers else None)
