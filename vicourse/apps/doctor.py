"""`vicourse doctor` (`make doctor`): what a student kernel gets on this machine, shown by trying.

It prints the isolation that grading will report, then starts one kernel the
way grading does and has it try what a hostile submission would: read the
course's configuration and a file this process wrote, reach a port this process opened, see other
processes, write outside its home, allocate past the memory limit, and keep a key in the kernel
keyring.
"""

from __future__ import annotations

import socket
import tempfile
from pathlib import Path

from nbformat.v4 import new_code_cell, new_notebook

from ..grading.executor import live_student
from ..grading.sandbox_isolation import Sandbox, isolation

PROBE = '''
import os, resource, socket, sys
def _try(action):
    try:
        action()
        return True
    except Exception:
        return False
def _connect(port):
    with socket.create_connection(("127.0.0.1", port), timeout=2):
        pass
def _write(path):
    with open(path, "w") as handle:
        handle.write("x")
    os.remove(path)
def _allocate():
    bytearray(int({memory_mb} * 1.25) << 20)
def _add_key():
    import ctypes
    number = {{"x86_64": 248, "aarch64": 217}}.get(os.uname().machine)
    libc = ctypes.CDLL(None, use_errno=True)
    if number is None or libc.syscall(number, b"user", b"doctor-probe", b"x", 1, ctypes.c_int(-4)) < 0:
        raise OSError("refused")
facts = {{
    "reads the course configuration": _try(lambda: open({config!r}).read()),
    "reads a file the grader wrote": _try(lambda: open({secret!r}).read()),
    "reaches a port the grader opened": _try(lambda: _connect({port})),
    "sees processes outside its sandbox": len([p for p in os.listdir("/proc") if p.isdigit()]) > 8,
    "writes next to the Python environment": _try(lambda: _write(os.path.join(sys.prefix, "doctor-probe"))),
    "allocates past the memory limit": _try(_allocate),
    "adds a key to the kernel keyring (which outlives the sandbox)": _try(_add_key),
}}
'''


def run_doctor(course: Path | None = None, config=None) -> bool:
    """Print the isolation and the probes' results; True if every probe was stopped."""
    found = isolation(config)
    print(f"isolation: {found.summary}")
    course = course or Path.cwd()
    with socket.socket() as listener, tempfile.TemporaryDirectory() as folder:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        secret = Path(folder) / "secret.txt"
        secret.write_text("only the grader may read this")
        code = PROBE.format(config=str(course / "nbgrader_config.py"), secret=str(secret),
                            port=listener.getsockname()[1], memory_mb=Sandbox(config=config).memory_mb)
        nb = new_notebook(cells=[new_code_cell(code)])
        with live_student(nb, folder, timeout=60, config=config) as student:
            facts = student.value("facts")
    good = True
    for what, happened in facts.items():
        good &= not happened
        print(f"  {'FAIL' if happened else 'ok  '}  a student kernel {'' if happened else 'never '}{what}")
    print("every probe was stopped" if good else "STUDENT CODE IS NOT CONTAINED ON THIS MACHINE")
    return good
