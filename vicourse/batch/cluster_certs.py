"""The grading cluster's certificates (`vicourse cluster-certs`, `make cluster-certs`).

dask's mutual TLS lets a process into the cluster only with a certificate signed by the
cluster's CA, and only to a scheduler and workers whose certificates the same CA signed.
This module makes a CA of the course's own (nobody else's certificate is trusted) and one
certificate for each role, each in a folder of its own, so that each machine is given only
what it needs:

    cluster-certs/ca/         the CA; ca-key.pem signs certificates: never leaves this machine
    cluster-certs/scheduler/  ca.pem, cert.pem, key.pem: the scheduler's machine
    cluster-certs/worker/     ca.pem, cert.pem, key.pem: every worker machine
    cluster-certs/client/     ca.pem, cert.pem, key.pem: the machine that runs `make grade`

Private keys are written mode 0600 in folders mode 0700; git ignores cluster-certs/ and
`make clean` leaves it alone. Keys are ECDSA P-256 and certificates last DAYS days.
"""

from __future__ import annotations

import datetime
import os
import shutil
import socket
from pathlib import Path

CERTS = "cluster-certs"
DAYS = 400  # a course year with room to spare; `vicourse cluster-certs --force` makes new ones
PORT = 8786
ROLES = ("scheduler", "worker", "client")


def create(folder: Path, course_id: str, force: bool = False) -> Path:
    """A new course CA and a certificate for each role in `folder`; refuses to replace an
    existing CA unless `force` (the old certificates then stop working everywhere)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    if (folder / "ca").exists():
        if not force:
            raise SystemExit(f"{folder / 'ca'} exists: the cluster already has a CA. Pass --force to replace it "
                             "(FORCE=1) and every certificate it signed (each machine then needs its new folder).")
        for part in ("ca", *ROLES):
            shutil.rmtree(folder / part, ignore_errors=True)
    private_folder(folder)
    now = datetime.datetime.now(datetime.timezone.utc)

    def name(role: str):
        return x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, course_id),
                          x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, "grading cluster"),
                          x509.NameAttribute(NameOID.COMMON_NAME, f"{course_id} {role}")])

    def certificate(subject, key, issuer, issuer_key, ca: bool, usages=()):
        builder = (x509.CertificateBuilder().subject_name(subject).issuer_name(issuer)
                   .public_key(key.public_key()).serial_number(x509.random_serial_number())
                   .not_valid_before(now - datetime.timedelta(hours=1))  # clocks a little behind still accept it
                   .not_valid_after(now + datetime.timedelta(days=DAYS))
                   .add_extension(x509.BasicConstraints(ca=ca, path_length=0 if ca else None), critical=True)
                   .add_extension(x509.KeyUsage(digital_signature=not ca, key_cert_sign=ca, crl_sign=ca,
                                                content_commitment=False, key_encipherment=False,
                                                data_encipherment=False, key_agreement=False,
                                                encipher_only=False, decipher_only=False), critical=True)
                   .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False))
        if usages:
            builder = builder.add_extension(x509.ExtendedKeyUsage(list(usages)), critical=False)
        return builder.sign(issuer_key, hashes.SHA256())

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = name("CA")
    ca_cert = certificate(ca_name, ca_key, ca_name, ca_key, ca=True)
    ca_pem = pem(ca_cert)
    private_folder(folder / "ca")
    write_key(folder / "ca" / "ca-key.pem", ca_key)
    (folder / "ca" / "ca.pem").write_bytes(ca_pem)
    both = (ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH)
    # the scheduler and the workers also connect to each other; the client only connects
    usages = {"scheduler": both, "worker": both, "client": (ExtendedKeyUsageOID.CLIENT_AUTH,)}
    for role in ROLES:
        key = ec.generate_private_key(ec.SECP256R1())
        private_folder(folder / role)
        write_key(folder / role / "key.pem", key)
        (folder / role / "cert.pem").write_bytes(pem(certificate(name(role), key, ca_name, ca_key, False,
                                                                 usages[role])))
        (folder / role / "ca.pem").write_bytes(ca_pem)
    return folder


def pem(cert) -> bytes:
    from cryptography.hazmat.primitives import serialization

    return cert.public_bytes(serialization.Encoding.PEM)


def write_key(path: Path, key) -> None:
    """An unencrypted PKCS#8 key (dask reads no passphrases), created mode 0600: never readable by others."""
    from cryptography.hazmat.primitives import serialization

    data = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "wb") as file:
        file.write(data)
    os.chmod(path, 0o600)


def private_folder(path: Path) -> None:
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(path, 0o700)


def role_files(folder: Path, role: str) -> dict[str, Path]:
    return {"ca": folder / role / "ca.pem", "cert": folder / role / "cert.pem", "key": folder / role / "key.pem"}


def security(folder: Path, *roles: str):
    """dask's Security for a process holding the given roles' certificates: ("client",) for
    `make grade`; ("scheduler", "worker", "client") for a Python process that starts the
    scheduler itself (dask-jobqueue's SLURMCluster). Encryption is required: no plain TCP."""
    from distributed import Security

    folder = Path(folder)
    options = {"tls_ca_file": str(role_files(folder, roles[0])["ca"])}
    for role in roles:
        files = role_files(folder, role)
        missing = [str(path) for path in files.values() if not path.is_file()]
        if missing:
            raise SystemExit(f"no {role} certificate: {', '.join(missing)} missing. "
                             f"`make cluster-certs` makes them (docs/cluster.md)")
        options[f"tls_{role}_cert"], options[f"tls_{role}_key"] = str(files["cert"]), str(files["key"])
    return Security(require_encryption=True, **options)


def scheduler_command(folder: Path, port: int = PORT, host: str | None = None,
                      dashboard: str | None = "127.0.0.1:8787") -> list[str]:
    """`dask scheduler` listening for TLS only; its dashboard (plain HTTP, no login) on the
    scheduler's loopback only, for an ssh tunnel (None: no dashboard)."""
    files = role_files(folder, "scheduler")
    where = ["--host", host] if host else []
    return [".venv/bin/dask", "scheduler", "--protocol", "tls", *where, "--port", str(port),
            "--tls-ca-file", str(files["ca"]), "--tls-cert", str(files["cert"]), "--tls-key", str(files["key"]),
            *(["--dashboard-address", dashboard] if dashboard else ["--no-dashboard"])]


def worker_command(folder: Path, scheduler: str, workers: str = "<cores>") -> list[str]:
    """`dask worker`s (one thread each) that join the scheduler and listen over TLS only."""
    files = role_files(folder, "worker")
    return [".venv/bin/dask", "worker", scheduler, "--protocol", "tls", "--nworkers", workers, "--nthreads", "1",
            "--tls-ca-file", str(files["ca"]), "--tls-cert", str(files["cert"]), "--tls-key", str(files["key"]),
            "--no-dashboard", "--dashboard-address", "127.0.0.1:0"]


def instructions(folder: Path, scheduler: str | None = None) -> str:
    """Where each folder goes, and the command lines that use it."""
    scheduler = scheduler or f"tls://{socket.getfqdn()}:{PORT}"
    port = scheduler.rsplit(":", 1)[-1] if scheduler.rsplit(":", 1)[-1].isdigit() else str(PORT)
    path = str(folder)
    return f"""\
The grading cluster's certificates are in {path}
(private keys mode 0600 in folders mode 0700; git ignores the folder; `make clean` keeps it):

  {path}/ca/         the course CA. ca-key.pem signs certificates: keep it on this machine only.
  {path}/scheduler/  copy to the scheduler's machine
  {path}/worker/     copy to every worker machine
  {path}/client/     stays on the machine that runs `make grade` (this one)

Copy each folder to the same path on its machine, with its modes, for example
  ssh HOST 'mkdir -p -m 700 {path}' && scp -rp {path}/worker HOST:{path}/

Then, from the course folder (its .venv installed on every machine):
  on the scheduler's machine:
    {' '.join(scheduler_command(folder, int(port)))}
  on each worker machine (one worker per core):
    {' '.join(worker_command(folder, scheduler))}
  here:
    make grade A=NN_topic SCHEDULER={scheduler}

Only processes holding a certificate signed by this CA can join or use the cluster. Any of
them (a worker's too) can act as a client, so give a certificate only to machines you trust
as you trust the grading account. Slurm and Kubernetes: docs/cluster.md.
"""
