"""Which dask cluster the coordinator (`make grade`) may hand submissions to, and how.

Anyone who can talk to a dask scheduler can have every worker run any function as the
grading user: read every submission, the graders and the gradebook templates, and change
results before they reach the coordinator. So a cluster that other machines can reach must
use mutual TLS: a scheduler at `tls://` is reached with the client certificate of
`make cluster-certs` (vicourse/batch/cluster_certs.py), and the scheduler and its workers accept
only processes whose certificates the course's CA signed.

A plain `tcp://` scheduler is refused unless it and all its workers listen on loopback,
where only this machine reaches them; `--insecure` overrides that, with a warning in
capitals. The local cluster of `make grade` (vicourse/batch/coordinator.py) opens no socket at all: its
scheduler and workers are threads of the coordinator that talk in memory (inproc://).
"""

from __future__ import annotations

import contextlib
import ipaddress
import socket
import sys
from dataclasses import dataclass
from pathlib import Path

from .cluster_certs import CERTS, security

ENCRYPTED = ("tls", "wss")  # dask's schemes that carry TLS


class InsecureCluster(SystemExit):
    """The coordinator refuses to send submissions to this cluster."""


@dataclass
class Access:
    """How to reach one scheduler: its address, the Security (None: plain TCP), and whether
    plain TCP beyond this machine was allowed (--insecure)."""

    scheduler: str
    security: object = None
    insecure: bool = False


def scheme_and_host(address: str) -> tuple[str, str]:
    from distributed.comm.addressing import parse_address, parse_host_port

    scheme, location = parse_address(address)
    if scheme == "inproc":
        return scheme, "127.0.0.1"
    return scheme, str(parse_host_port(location)[0])


def is_loopback(host: str) -> bool:
    """Whether every address `host` names is on loopback (only this machine reaches it)."""
    try:
        found = {info[4][0] for info in socket.getaddrinfo(host.strip("[]"), None)}
    except (OSError, UnicodeError):
        return False
    return bool(found) and all(ipaddress.ip_address(a.split("%")[0]).is_loopback for a in found)


def check_scheduler(root: Path, scheduler: str, insecure: bool = False, certs: Path | None = None) -> Access:
    """Check `scheduler` before anything is staged: TLS with the course's client certificate,
    plain TCP on loopback, or, with `insecure`, plain TCP anywhere (said loudly)."""
    scheme, host = scheme_and_host(scheduler)
    if scheme in ENCRYPTED:
        folder = Path(certs) if certs else Path(root) / CERTS
        warn_about_worker_secrets(root)
        return Access(scheduler, client_security(folder))
    if not is_loopback(host):
        if not insecure:
            raise InsecureCluster(
                f"refusing to grade on {scheduler}: plain {scheme}:// is neither encrypted nor authenticated, and "
                "anyone who can reach that port (students included) can run code on the workers, read every "
                "submission and change the results. Use mutual TLS: `make cluster-certs`, then "
                "SCHEDULER=tls://... (docs/cluster.md); or pass --insecure (INSECURE=1) to accept the risk.")
        shout(f"the cluster at {scheduler} is plain {scheme}:// (--insecure)")
        warn_about_worker_secrets(root)
    return Access(scheduler, None, insecure)


def client_security(folder: Path):
    """The client certificate in `folder`/client, else the TLS settings of dask's own config."""
    if (folder / "client").is_dir():
        return security(folder, "client")
    from distributed import Security

    configured = Security()  # distributed.comm.tls.* of dask's config (~/.config/dask, DASK_* variables)
    if configured.tls_ca_file and configured.tls_client_cert:
        configured.require_encryption = True
        return configured
    raise InsecureCluster(f"no client certificate in {folder / 'client'} (and none in dask's config): "
                          "`make cluster-certs` makes one (docs/cluster.md)")


@contextlib.contextmanager
def connect(chosen: Access):
    """A dask client of the scheduler, checked as above before any submission is sent."""
    from distributed import Client

    with Client(chosen.scheduler, timeout=60, security=chosen.security) as client:
        if chosen.security is None:
            check_plain_cluster(client, chosen)
        yield client


def check_plain_cluster(client, chosen: Access) -> None:
    """A loopback address can still lead to a scheduler or workers listening on the network
    (`dask scheduler` listens on every interface unless given --host)."""
    info = client.scheduler_info()
    reachable = sorted(address for address in [info["address"], *info["workers"]]
                       if not is_loopback(scheme_and_host(address)[1]))
    if not reachable or not is_loopback(scheme_and_host(chosen.scheduler)[1]):
        return  # nothing beyond this machine, or check_scheduler has refused or warned already
    if not chosen.insecure:
        raise InsecureCluster(f"refusing to grade on {chosen.scheduler}: it is plain TCP, and other machines can "
                              f"reach it at {', '.join(reachable)}. Use mutual TLS (`make cluster-certs`, "
                              "docs/cluster.md), or pass --insecure (INSECURE=1) to accept the risk.")
    shout(f"the cluster at {chosen.scheduler} is plain TCP, reachable at {', '.join(reachable)} (--insecure)")


def shout(what: str) -> None:
    print(f"\nWARNING: GRADING ON AN UNENCRYPTED, UNAUTHENTICATED CLUSTER: {what}.\n"
          "WARNING: ANYONE WHO CAN REACH IT CAN RUN CODE ON THE WORKERS, READ EVERY SUBMISSION AND CHANGE\n"
          "WARNING: THE RESULTS. Use mutual TLS instead: `make cluster-certs` (docs/cluster.md).\n",
          file=sys.stderr, flush=True)


def warn_about_worker_secrets(root: Path) -> None:
    """Workers on other machines read nbgrader_config.py: a gradebook password written there reaches them."""
    from sqlalchemy.engine import make_url

    from ..course import check_config

    configured = check_config(Path(root)).CourseDirectory.get("db_url")
    try:
        password = configured and make_url(configured).password
    except Exception:  # noqa: BLE001 - not a URL SQLAlchemy reads: nbgrader will say so
        password = None
    if password:
        print("WARNING: nbgrader_config.py holds the gradebook's password, and every worker machine reads that "
              "file. Keep the password on this machine instead (~/.pgpass, or --db-url): docs/cluster.md.",
              file=sys.stderr, flush=True)
