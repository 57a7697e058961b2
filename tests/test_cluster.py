"""Batch grading on a real multi-process dask cluster, into a real PostgreSQL server.

The test starts PostgreSQL (initdb into a temporary folder, pg_ctl on a free port), a
`dask scheduler` process and two `dask worker` processes (`--nthreads 1`), points the
toy course's nbgrader_config.py at the database, and grades a batch through the
scheduler, as `make grade SCHEDULER=tcp://...` does. One worker is killed (SIGKILL)
while it grades: every submission still ends with exactly one outcome and its
gradebook rows, and stock `nbgrader export` reads them. One submission attacks the
grading infrastructure (the scheduler, the database, the coordinator's state files)
and must earn nothing and change nothing. Then a re-run grades only what is new or
changed, and `force` regrades an unchanged one.

CI installs Debian's postgresql (.ci/run); elsewhere, without the server binaries, the
module is skipped with a message naming them.
"""

from __future__ import annotations

import glob
import json
import os
import pwd
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import nbformat
import psutil
import pytest
from nbformat.v4 import new_code_cell

from attacks import CLUSTER_ATTACK
from conftest import ROOT
from vicourse.authoring import examples, release
from vicourse.batch import coordinator
from vicourse.course import copy_course, nbgrader, read_notebook, run_module_command, source_notebook
from vicourse.reports import report

TOY = ROOT / "tests" / "fixtures" / "toy_course"
A = "00_toy"
OPTIONS = ["--Execute.timeout=5", "--Execute.iopub_timeout=5", "--ExecuteWithChecks.check_timeout=5"]


def postgres_binaries() -> str | None:
    """The folder holding initdb, pg_ctl and postgres: on PATH, else Debian's."""
    on_path = os.path.dirname(shutil.which("pg_ctl") or "")
    for folder in [on_path, *sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True)]:
        if folder and all(os.access(os.path.join(folder, tool), os.X_OK) for tool in ("initdb", "pg_ctl", "postgres")):
            return folder
    return None


PG_BIN = postgres_binaries()
# skipped in the `cluster_run` fixture, not here: tests/test_cluster_tls.py imports this module's helpers
NO_POSTGRES = PG_BIN is None and not os.environ.get("CI")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Postgres:
    """A throwaway PostgreSQL server on 127.0.0.1, trusting local connections as `grader`.

    PostgreSQL refuses to run as root: then it runs as the `postgres` account (or nobody)."""

    def __init__(self):
        self.port = free_port()
        self.data = Path(tempfile.mkdtemp(prefix="vicourse-pg-"))
        self.prefix: list[str] = []
        if os.geteuid() == 0:
            try:
                account = pwd.getpwnam("postgres")
            except KeyError:
                account = pwd.getpwnam("nobody")
            os.chown(self.data, account.pw_uid, account.pw_gid)
            self.prefix = ["setpriv", f"--reuid={account.pw_uid}", f"--regid={account.pw_gid}", "--clear-groups"]
        self.run("initdb", "-D", str(self.data / "db"), "-A", "trust", "-U", "grader", "-E", "UTF8",
                 "--locale=C", "--no-sync")
        self.run("pg_ctl", "-D", str(self.data / "db"), "-l", str(self.data / "log"), "-w", "start", "-o",
                 f"-p {self.port} -k {self.data} -c listen_addresses=127.0.0.1 -c fsync=off")
        self.url = f"postgresql+psycopg2://grader@127.0.0.1:{self.port}/postgres"

    def run(self, tool: str, *args: str) -> None:
        result = subprocess.run([*self.prefix, os.path.join(PG_BIN, tool), *args], capture_output=True, text=True,
                                cwd=self.data, timeout=120)
        assert result.returncode == 0, f"{tool}: {result.stdout[-1000:]} {result.stderr[-1000:]}"

    def stop(self) -> None:
        try:
            self.run("pg_ctl", "-D", str(self.data / "db"), "-m", "immediate", "-w", "stop")
        finally:
            shutil.rmtree(self.data, ignore_errors=True)


class Cluster:
    """`dask scheduler` and two `dask worker --nthreads 1` processes on localhost; with `certs` (a
    folder of `vicourse cluster-certs`), over mutual TLS, started with the options it prints.
    env: more variables for the processes."""

    def __init__(self, certs: Path | None = None, env: dict | None = None):
        self.port = free_port()
        env = {**os.environ, "PYTHONPATH": str(ROOT), **(env or {})}  # the workers import this copy of the library
        common = dict(env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        from distributed import Client

        security = None
        if certs is None:
            self.address = f"tcp://127.0.0.1:{self.port}"
            scheduler = ["--host", "127.0.0.1", "--port", str(self.port), "--no-dashboard"]
            worker = [self.address, "--nthreads", "1", "--no-dashboard"]
        else:
            from vicourse.batch import cluster_certs

            self.address = f"tls://127.0.0.1:{self.port}"
            scheduler = cluster_certs.scheduler_command(certs, self.port, "127.0.0.1", dashboard=None)[2:]
            worker = cluster_certs.worker_command(certs, self.address, "1")[2:]
            security = cluster_certs.security(certs, "client")
        self.scheduler = subprocess.Popen([*run_module_command("distributed.cli.dask_scheduler"), *scheduler],
                                          **common)
        self.workers = {
            name: subprocess.Popen([*run_module_command("distributed.cli.dask_worker"), *worker, "--no-nanny",
                                    "--name", name, "--memory-limit", "0"], **common)
            for name in ("w1", "w2")
        }
        self.client = Client(self.address, timeout=60, security=security)
        self.client.wait_for_workers(2, timeout=120)

    def busy(self, name: str) -> bool:
        """Whether the named worker is grading a submission now."""
        info = self.client.scheduler_info()["workers"]
        address = next((a for a, w in info.items() if w.get("name") == name), None)
        return bool(address and self.client.processing().get(address))

    def kernels(self, name: str) -> list:
        """The processes a worker's grading started: the sandbox and the kernel in it."""
        try:
            family = psutil.Process(self.workers[name].pid).children(recursive=True)
            return [p for p in family if "ipykernel" in " ".join(p.cmdline()) or p.name() == "bwrap"]
        except psutil.Error:
            return []

    def stop(self) -> None:
        self.client.close()
        for process in [*self.workers.values(), self.scheduler]:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
            process.wait()


@pytest.fixture(scope="module")
def cluster_run(tmp_path_factory):
    if NO_POSTGRES:
        pytest.skip("PostgreSQL server binaries (initdb, pg_ctl, postgres) not found: install Debian's postgresql "
                    "package to run the cluster + PostgreSQL test")
    database = Postgres()
    cluster = None
    try:
        config = tmp_path_factory.mktemp("config") / "nbgrader_config.py"
        config.write_text((ROOT / "nbgrader_config.py").read_text() + f"\nc.CourseDirectory.db_url = {database.url!r}\n")
        root = copy_course(TOY, tmp_path_factory.mktemp("toy"), config=config)
        release.generate_releases(root)  # stock generate_assignment, into PostgreSQL
        release_nb = read_notebook(root / "release" / A / f"{A}.ipynb")
        source_nb = read_notebook(source_notebook(root, A))
        cluster = Cluster()
        marker = "vicourse_attack_" + secrets.token_hex(6)
        planted = Path(tempfile.gettempdir()) / marker
        attacker = nbformat.from_dict(json.loads(nbformat.writes(release_nb)))
        attacker.cells.insert(1, new_code_cell(CLUSTER_ATTACK.format(
            scheduler_port=cluster.port, database_port=database.port, course=str(root), marker=marker,
            planted=str(planted))))
        full = examples.filled(release_nb, source_nb)
        wrong = examples.filled(release_nb, source_nb, replace={"double": "def double(x):\n    return x\n"})
        examples.submit(root, A, {"s1": full, "s2": full, "s3": wrong, "x-attacker": attacker})
        done: list = []
        grading = threading.Thread(target=lambda: done.append(coordinator.grade_all(
            root, A, scheduler=cluster.address, timeout=120, extra=OPTIONS, progress=False)))
        grading.start()
        deadline = time.monotonic() + 180
        while not (cluster.busy("w1") and cluster.kernels("w1")) and time.monotonic() < deadline:
            time.sleep(0.2)
        orphans = cluster.kernels("w1")  # its kernel is running a submission now
        cluster.workers["w1"].send_signal(signal.SIGKILL)
        grading.join(600)
        left = [p.pid for p in orphans if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]
        first = {o.student: o for o in done[0]}
        saved = json.loads((root / "reports" / A / "outcomes.json").read_text())
        columns, scores, max_points, manual = report.question_scores(root, A)
        exported = nbgrader(root, "export", "--to", str(root / "grades_all.csv"))
        import psycopg2

        with psycopg2.connect(host="127.0.0.1", port=database.port, user="grader", dbname="postgres") as db:
            cursor = db.cursor()
            cursor.execute("select count(*) from pg_tables where tablename = %s", (marker,))
            planted_table = cursor.fetchone()[0]
        # a re-run after one new submission and one changed one; then force on an unchanged one
        examples.submit(root, A, {"s5": full, "s2": wrong})
        second = {o.student: o for o in coordinator.grade_all(root, A, scheduler=cluster.address, timeout=120,
                                                       extra=OPTIONS, progress=False)}
        second_scores = report.question_scores(root, A)[1]
        (forced,) = coordinator.grade_all(root, A, scheduler=cluster.address, timeout=120, extra=OPTIONS, only=["s1"],
                                    force=True, progress=False)
        yield {"root": root, "first": first, "saved": saved, "scores": scores, "left": left, "exported": exported,
               "planted": planted.exists(), "orphans": orphans, "planted_table": planted_table, "marker": marker,
               "second": second, "second_scores": second_scores, "forced": forced,
               "outcomes_text": (root / "reports" / A / "outcomes.json").read_text(),
               "auto": [c for c in columns if c not in manual], "max_points": max_points}
        planted.unlink(missing_ok=True)
    finally:
        if cluster is not None:
            cluster.stop()
        database.stop()


def test_every_submission_has_one_outcome_and_its_rows_after_a_worker_died(cluster_run):
    names = ["s1", "s2", "s3", "x-attacker"]
    assert sorted(cluster_run["first"]) == names
    assert sorted(o["student"] for o in cluster_run["saved"]) == names  # exactly one each
    assert {o.status for o in cluster_run["first"].values()} == {"graded"}, cluster_run["first"]
    assert sorted(cluster_run["scores"]) == names  # rows in PostgreSQL
    full = sum(cluster_run["max_points"][c] for c in cluster_run["auto"])
    points = {s: sum(cluster_run["scores"][s].get(c) or 0 for c in cluster_run["auto"]) for s in names}
    assert points == {"s1": full, "s2": full, "s3": full - 2, "x-attacker": 0}


def test_the_killed_workers_kernels_died_with_it(cluster_run):
    assert cluster_run["orphans"] and cluster_run["left"] == []


def test_stock_export_reads_the_postgres_gradebook(cluster_run):
    assert cluster_run["exported"].returncode == 0, cluster_run["exported"].stderr[-2000:]
    rows = (cluster_run["root"] / "grades_all.csv").read_text()
    assert all(name in rows for name in ("s1", "s3", "x-attacker"))


def test_an_attack_on_the_cluster_database_and_state_changes_nothing(cluster_run):
    assert not cluster_run["planted"], "a submission ran code on a dask worker"
    assert cluster_run["planted_table"] == 0, "a submission reached the PostgreSQL gradebook"
    assert cluster_run["marker"] not in cluster_run["outcomes_text"]
    assert cluster_run["first"]["x-attacker"].score == 0


def test_a_rerun_grades_only_new_and_changed_submissions(cluster_run):
    first, second = cluster_run["first"], cluster_run["second"]
    regraded = sorted(name for name, o in second.items() if name not in first or o.run != first[name].run)
    assert regraded == ["s2", "s5"]
    assert {o.status for o in second.values()} == {"graded"}
    assert cluster_run["second_scores"]["s2"]["test_double"] == 0  # the changed submission, graded anew
    assert cluster_run["second_scores"]["s5"]["test_double"] == 2


def test_force_regrades_an_unchanged_submission(cluster_run):
    forced = cluster_run["forced"]
    assert forced.status == "graded" and forced.run != cluster_run["first"]["s1"].run
