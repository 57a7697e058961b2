"""The grading cluster over mutual TLS, with real processes, and what its workers are given.

One course (tests/fixtures/toy_course, with a written question's rubric and a data file
added to its source) gets its certificates from `vicourse cluster-certs`, and a `dask
scheduler` and two `dask worker --nthreads 1` processes (tests/test_cluster.py's Cluster)
start with the TLS options that command prints. Then, with that one cluster:

* clients without a certificate, and with one from another CA, are refused, and can run
  nothing; the same client without a certificate runs code on a plain-TCP scheduler;
* a scheduler whose certificate another CA signed gets no submission from the coordinator,
  nor does a plain-TCP one on loopback whose worker listens on the network;
* `grade_all` grades every submission while one worker is killed mid-batch;
* the workers open nothing of the course beyond what grading needs (a Python audit hook
  in each worker process logs what they open and list): not source/, not submissions
  other than their own (those travel as bytes), not the gradebook, not the CA or the
  client key; the template gradebook they copy holds no rubric, and the graded notebook
  the coordinator writes has it back, as stock autograde writes it.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import socket
import ssl
import stat
import subprocess
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_markdown_cell

from conftest import ROOT
from test_cluster import A, OPTIONS, TOY, Cluster, free_port
from vicourse.__main__ import cluster_certs as cluster_certs_command
from vicourse.authoring import examples, release
from vicourse.batch import cluster, cluster_certs, coordinator, dask_tasks
from vicourse.batch.outcomes import Outcome
from vicourse.batch.submitted import stage
from vicourse.course import copy_course, nbgrader, read_notebook, run_module_command, source_notebook

RUBRIC = "the answer names doubling as linear; RUBRIC-7f3c"
QUESTION = ("### Question C (not graded here)\n\nIs `double` linear?\n\n=== BEGIN MARK SCHEME ===\n"
            f"**Mark scheme.** Full marks when <em>{RUBRIC}</em>.\n=== END MARK SCHEME ===")
DATA = "x\n1\n"
PROBE_TIMEOUT = 3  # seconds a refused client keeps trying
NETWORK = "192.0.2.1"  # TEST-NET-1: an address on no network, for a worker that says it is on one


def add_rubric_and_data(root: Path) -> None:
    """A locked question cell with a rubric, and a data file beside the notebook."""
    path = source_notebook(root, A)
    notebook = read_notebook(path)
    question = new_markdown_cell(QUESTION)
    question.metadata["nbgrader"] = {"grade": False, "grade_id": "linear_question", "locked": True,
                                     "schema_version": 3, "solution": False, "task": False}
    notebook.cells.append(question)
    nbformat.write(notebook, str(path))
    (path.parent / "table.csv").write_text(DATA)


def refused(attempt) -> str | None:
    """None if `attempt()` worked; else why it failed."""
    try:
        attempt()
    except (Exception, SystemExit) as exc:  # noqa: BLE001 - any failure to connect is a refusal (InsecureCluster too)
        return f"{type(exc).__name__}: {exc}"[:200]
    return None


def plant(marker: str):
    """What an intruder would run: a file as proof."""
    def run(dask_scheduler=None):
        Path(marker).write_text("ran")
    return run


def client_run(address: str, marker: str, security=None) -> None:
    from distributed import Client

    with Client(address, timeout=PROBE_TIMEOUT, security=security) as client:
        client.run_on_scheduler(plant(marker))


def tls_without_certificate(address: str, ca: Path) -> None:
    """Speak dask over TLS, trusting the course CA, but with no certificate of our own."""
    from distributed.comm import connect

    context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=str(ca))
    context.check_hostname = False

    async def talk():
        comm = await connect(address, timeout=PROBE_TIMEOUT, ssl_context=context)
        await comm.write({"op": "identity"})
        return await comm.read()

    asyncio.run(talk())


def coordinator_connects(root: Path, address: str) -> None:
    """What grade_all does before it sends a submission: check the address, connect (with the
    client certificate for tls://), and for plain TCP ask where the scheduler and workers listen."""
    with cluster.connect(cluster.check_scheduler(root, address)) as client:
        client.scheduler_info()


def wait_until_listening(port: int, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def once_a_worker_joined(address: str, then):
    from distributed import Client

    with Client(address, timeout=30) as waiting:
        waiting.wait_for_workers(1, timeout=60)
    return then()


@pytest.fixture(scope="module")
def course(tmp_path_factory):
    root = copy_course(TOY, tmp_path_factory.mktemp("toy-tls"), config=ROOT / "nbgrader_config.py")
    add_rubric_and_data(root)
    release.generate_releases(root)
    cluster_certs_command(root, None, None, False)  # `vicourse cluster-certs`: root/cluster-certs
    rogue = cluster_certs.create(tmp_path_factory.mktemp("rogue") / "certs", "vi-course")  # same names, another CA
    release_nb = read_notebook(root / "release" / A / f"{A}.ipynb")
    source_nb = read_notebook(source_notebook(root, A))
    full = examples.filled(release_nb, source_nb)
    wrong = examples.filled(release_nb, source_nb, replace={"double": "def double(x):\n    return x\n"})
    examples.submit(root, A, {"s1": full, "s2": full, "s3": wrong, "s4": full})
    return root, root / cluster_certs.CERTS, rogue


@pytest.fixture(scope="module")
def tls(course, tmp_path_factory):
    root, certs, rogue = course
    audit = tmp_path_factory.mktemp("audit")
    env = {"PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "tests" / "fixtures" / "file_audit")]),
           "VICOURSE_AUDIT_ROOT": str(root), "VICOURSE_AUDIT_LOG": str(audit / "opened.tsv")}
    processes = []
    tls_cluster = Cluster(certs, env=env)
    try:
        marker = str(audit / "intruder-ran")
        # another CA's scheduler, and a plain-TCP one on loopback (the control: there a client needs
        # nothing) with a worker that says it listens on the network (it listens on loopback)
        rogue_port, plain_port, worker_port = free_port(), free_port(), free_port()
        common = dict(stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
                      env=dict(os.environ, PYTHONPATH=str(ROOT)))
        processes.append(subprocess.Popen([*run_module_command("distributed.cli.dask_scheduler"),
                                           *cluster_certs.scheduler_command(rogue, rogue_port, "127.0.0.1",
                                                                            dashboard=None)[2:]], **common))
        processes.append(subprocess.Popen([*run_module_command("distributed.cli.dask_scheduler"), "--host",
                                           "127.0.0.1", "--port", str(plain_port), "--no-dashboard"], **common))
        processes.append(subprocess.Popen([*run_module_command("distributed.cli.dask_worker"),
                                           f"tcp://127.0.0.1:{plain_port}", "--listen-address",
                                           f"tcp://127.0.0.1:{worker_port}", "--contact-address",
                                           f"tcp://{NETWORK}:{worker_port}", "--nthreads", "1", "--no-nanny",
                                           "--no-dashboard", "--memory-limit", "0"], **common))
        clients_before = tls_cluster.client.run_on_scheduler(lambda dask_scheduler: sorted(dask_scheduler.clients))
        address = tls_cluster.address
        probes = {
            "plain TCP to the TLS port": lambda: client_run(address.replace("tls://", "tcp://"), marker),
            "TLS without a certificate": lambda: tls_without_certificate(address, certs / "client" / "ca.pem"),
            "another CA's client certificate": lambda: client_run(address, marker,
                                                                  cluster_certs.security(rogue, "client")),
            "the coordinator to another CA's scheduler": lambda: coordinator_connects(
                root, f"tls://127.0.0.1:{rogue_port}"),
            "the coordinator to plain TCP with a worker on the network": lambda: once_a_worker_joined(
                f"tcp://127.0.0.1:{plain_port}", lambda: coordinator_connects(root, f"tcp://127.0.0.1:{plain_port}")),
            "control: no certificate, plain-TCP scheduler": lambda: once_a_worker_joined(
                f"tcp://127.0.0.1:{plain_port}", lambda: client_run(f"tcp://127.0.0.1:{plain_port}", marker + "-ok")),
        }
        wait_until_listening(rogue_port)  # refused for its certificate, not for being down
        with ThreadPoolExecutor(len(probes)) as pool:
            waiting = {name: pool.submit(refused, probe) for name, probe in probes.items()}
            results = {name: future.result() for name, future in waiting.items()}
        clients_after = tls_cluster.client.run_on_scheduler(lambda dask_scheduler: sorted(dask_scheduler.clients))

        done: list = []
        grading = threading.Thread(target=lambda: done.append(coordinator.grade_all(
            root, A, scheduler=address, timeout=120, extra=OPTIONS, progress=False)))
        grading.start()
        deadline = time.monotonic() + 120
        while grading.is_alive() and not (tls_cluster.busy("w1") and tls_cluster.kernels("w1")) \
                and time.monotonic() < deadline:
            time.sleep(0.2)
        killed_while_grading = bool(tls_cluster.kernels("w1"))
        tls_cluster.workers["w1"].send_signal(signal.SIGKILL)
        grading.join(300)
        log = audit / "opened.tsv"
        opened = sorted({line.split("\t", 1)[1] for line in (log.read_text() if log.exists() else "").splitlines()})
        yield {"root": root, "probes": results, "clients": (clients_before, clients_after),
               "planted": Path(marker).exists(), "control_planted": Path(marker + "-ok").exists(),
               "outcomes": {o.student: o for o in done[0]} if done else {},
               "killed_while_grading": killed_while_grading, "opened": opened}
    finally:
        tls_cluster.stop()
        for process in processes:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def test_cluster_certs_keeps_private_keys_private(course):
    certs = course[1]
    keys = sorted(certs.rglob("*key.pem"))
    assert [str(k.relative_to(certs)) for k in keys] == ["ca/ca-key.pem", "client/key.pem", "scheduler/key.pem",
                                                         "worker/key.pem"]
    assert all(stat.S_IMODE(k.stat().st_mode) == 0o600 for k in keys)
    assert all(stat.S_IMODE(p.stat().st_mode) == 0o700 for p in [certs, *(certs / r for r in ("ca", "worker"))])
    # the instructions name each folder and the TLS command lines
    text = (certs / "README.txt").read_text()
    assert "--tls-cert" in text and "tls://" in text and "ca-key.pem" in text
    with pytest.raises(SystemExit, match="--force"):
        cluster_certs_command(course[0], None, None, False)  # an existing CA is never silently replaced


def test_clients_without_the_course_certificate_are_refused(tls):
    probes = tls["probes"]
    for name in ("plain TCP to the TLS port", "TLS without a certificate", "another CA's client certificate"):
        assert probes[name], f"{name}: connected"
    assert "SSL" in probes["TLS without a certificate"]  # the server ended the TLS session
    assert "certificate" in probes["another CA's client certificate"].lower()
    assert not tls["planted"], "a client without the course's certificate ran code on the cluster"
    assert tls["clients"][0] == tls["clients"][1], "the scheduler registered a client it should have refused"
    # the probe works: on a plain-TCP scheduler the same client, with no certificate, runs its code
    assert probes["control: no certificate, plain-TCP scheduler"] is None
    assert tls["control_planted"]


def test_the_coordinator_sends_nothing_to_a_scheduler_of_another_ca(tls):
    why = tls["probes"]["the coordinator to another CA's scheduler"]
    assert why, "the coordinator trusted another CA's scheduler"
    assert "certificate" in why.lower(), why


def test_plain_tcp_on_loopback_with_a_worker_on_the_network_is_refused(tls):
    why = tls["probes"]["the coordinator to plain TCP with a worker on the network"]
    assert why and why.startswith("InsecureCluster") and f"tcp://{NETWORK}:" in why, why


def test_grade_all_over_tls_grades_everything_while_a_worker_dies(tls):
    outcomes = tls["outcomes"]
    assert tls["killed_while_grading"], "w1 was not grading when it was killed"
    assert sorted(outcomes) == ["s1", "s2", "s3", "s4"]
    assert {o.status for o in outcomes.values()} == {"graded"}, outcomes
    scores = {name: o.score for name, o in outcomes.items()}
    assert scores["s1"] == scores["s2"] == scores["s4"] == scores["s3"] + 2


# What a worker may open or list of the course folder: its config, the releases (what every student
# has; the others, to recognise another assignment's notebook), the graders, the template gradebook,
# the non-notebook files of source/ copied for it, and its own certificate.
WORKER_MAY_READ = ("nbgrader_config.py", "release", "grader_tests", "build/gradebook-templates",
                   "build/worker-source", "cluster-certs/worker")


def test_workers_read_only_what_grading_needs(tls):
    opened = tls["opened"]
    assert any(p.startswith("build/gradebook-templates") for p in opened), opened  # the audit saw the workers
    beyond = [p for p in opened if not any(p == allowed or p.startswith(allowed + "/") for allowed in WORKER_MAY_READ)]
    assert beyond == [], f"workers read {beyond}"


def test_the_workers_template_has_no_rubric_and_the_graded_notebook_has_it_as_stock_writes_it(tls, tmp_path):
    root = tls["root"]
    template = (root / coordinator.TEMPLATES / f"{A}.db").read_bytes()
    assert b"RUBRIC-7f3c" not in template and b"MARK SCHEME" not in template
    assert (root / "build" / "worker-source" / A / "table.csv").read_text() == DATA
    assert not list((root / "build" / "worker-source").rglob("*.ipynb"))
    # stock `nbgrader autograde` of the same staged submission, in a fresh copy of the course
    stock = copy_course(root, tmp_path / "stock", config=root / "nbgrader_config.py")
    release.generate_releases(stock)
    staged = stage(root, A, Outcome("s1"))  # as the grading process staged it
    shutil.copytree(staged.parent, stock / "submitted" / "s1")
    result = nbgrader(stock, "autograde", A, "--force", *OPTIONS)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    ours, theirs = (read_notebook(r / "autograded" / "s1" / A / f"{A}.ipynb") for r in (root, stock))
    shown = [(c.source, c.metadata.get("nbgrader")) for c in ours.cells]
    assert shown == [(c.source, c.metadata.get("nbgrader")) for c in theirs.cells]
    assert any(RUBRIC in source for source, _ in shown)
    assert (root / "autograded" / "s1" / A / "table.csv").read_text() == DATA


def test_plain_tcp_beyond_loopback_is_refused_unless_insecure(course, tmp_path, capsys):
    fresh = copy_course(TOY, tmp_path / "toy", config=ROOT / "nbgrader_config.py")
    with pytest.raises(cluster.InsecureCluster, match="--insecure"):
        coordinator.grade_all(fresh, A, scheduler=f"tcp://{NETWORK}:8786", progress=False)
    assert not (fresh / "build").exists() and not (fresh / "gradebook.db").exists()  # refused before any work
    root = course[0]
    chosen = cluster.check_scheduler(root, f"tcp://{NETWORK}:8786", insecure=True)
    assert chosen.security is None and "UNENCRYPTED" in capsys.readouterr().err
    assert cluster.check_scheduler(root, "tcp://127.0.0.1:8786").security is None  # loopback: this machine only
    assert cluster.check_scheduler(root, f"tls://{NETWORK}:8786").security.require_encryption


def test_the_local_cluster_is_reachable_from_this_process_only():
    """Its scheduler and workers talk in memory; the HTTP servers dask starts in each anyway
    listen on loopback and serve nothing (dask's default: every interface, task and worker pages)."""
    import urllib.error
    import urllib.request

    with dask_tasks.dask_client(None, 2) as (client, _):
        info = client.scheduler_info()
        assert info["address"].startswith("inproc://")
        assert info["workers"] and all(a.startswith("inproc://") for a in info["workers"])
        local = dask_tasks._LOCAL["cluster"]
        servers = [local.scheduler.http_server, *(worker.http_server for worker in local.workers.values())]
        # every socket each server listens on, IPv6 included (tornado keeps them in _sockets)
        listening = [sock.getsockname() for server in servers for sock in server._sockets.values()]
        assert len(listening) >= 3  # the scheduler's and each worker's HTTP server
        assert all(cluster.is_loopback(host) for host, *_ in listening), listening
        for _, port, *_ in listening:
            for page in ("/info/main/workers.html", "/metrics", "/health"):
                with pytest.raises(urllib.error.HTTPError, match="404"):
                    urllib.request.urlopen(f"http://127.0.0.1:{port}{page}", timeout=5)

