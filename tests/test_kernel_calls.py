"""The plain-data channel between checks and the student's code."""

import math

import numpy as np
import pytest
import torch
from nbformat.v4 import new_code_cell, new_notebook

from vicourse.grading import kernel_side
from vicourse.grading.checking import TorchTensor, as_float, assert_close, assert_within_se
from vicourse.grading.executor import live_student
from vicourse.grading.sandbox_isolation import isolation
from vicourse.grading.student import StudentCodeError, local_student

from conftest import ROOT


def test_results_become_plain_data():
    assert kernel_side.to_plain(np.float32(0.5)) == 0.5
    assert kernel_side.to_plain(torch.tensor([[1.0, 2.0]])) == [[1.0, 2.0]]
    assert kernel_side.to_plain((np.arange(2), {"a": np.int64(3)})) == [[0, 1], {"a": 3}]

    class Rigged(float):
        def __eq__(self, other):
            return True

    plain = kernel_side.to_plain(Rigged(1.0))
    assert type(plain) is float and plain != 2.0
    with pytest.raises(TypeError):
        kernel_side.to_plain(object())


def test_arguments_arrive_as_numpy_torch_and_tuples():
    student = local_student({"kinds": lambda *a: [type(x).__name__ for x in a]})
    assert student.kinds(np.zeros(2), TorchTensor([1.0]), (1, 2), [1]) == ["ndarray", "Tensor", "tuple", "list"]


def test_arrays_arrive_bit_for_bit_with_their_dtype_shape_and_writable():
    """Numeric arrays travel as raw bytes: NaN and infinities (which JSON lacks), 0-d and empty
    arrays, non-contiguous views, integer and bool dtypes, and float32 tensors rounded as torch rounds."""
    def describe(x):
        x[...] = x  # a student's function may write into its input
        return {"dtype": str(x.dtype), "shape": list(x.shape), "bytes": x.tobytes().hex()}

    student = local_student({"describe": describe, "tensor": lambda t: [str(t.dtype), t.tolist()]})
    values = np.random.default_rng(1).normal(size=12)
    for x in (values.reshape(3, 4), values.reshape(3, 4).T, np.array(2.5), np.zeros((0, 3)),
              np.array([np.nan, np.inf, -np.inf, -0.0]), np.arange(5, dtype=np.int32), np.array([True, False]),
              values.astype(">f8")):
        got = student.describe(x)
        assert got["dtype"] == str(x.dtype) and got["shape"] == list(x.shape)
        assert bytes.fromhex(got["bytes"]) == np.ascontiguousarray(x).tobytes()
    assert student.tensor(TorchTensor(values[:3], "float32")) == ["torch.float32", torch.tensor(values[:3].tolist(), dtype=torch.float32).tolist()]
    assert student.tensor(TorchTensor(values[:3], "float64")) == ["torch.float64", values[:3].tolist()]


def test_a_training_call_runs_with_the_grader_references_and_puts_the_students_back():
    """While a training call runs, the names it is given are bound to the grader's code; afterwards
    the student's own definitions (and the absence of one) are restored, even when the call raises."""
    namespace = {"loss": lambda x: -1.0}
    namespace["train"] = lambda x: [namespace["loss"](x), "helper" in namespace]
    exec("def crash(x):\n    return loss(x) / 0\n", namespace)
    student = local_student(namespace)
    references = {"loss": "import math\ndef loss(x):\n    return math.sqrt(x)\n",
                  "helper": "def helper():\n    return 1\n"}
    trainer = student.training(60, references, ("train_cell",))
    assert trainer.train(4.0) == [2.0, True]
    assert student.train(4.0) == [-1.0, False] and "helper" not in namespace
    with pytest.raises(StudentCodeError, match="ZeroDivisionError"):
        trainer.crash(4.0)
    assert namespace["loss"](4.0) == -1.0 and "helper" not in namespace


def test_a_training_call_reaches_a_real_kernel_with_its_references(tmp_path):
    source = "def loss(x):\n    return 'student'\n\ndef train(x):\n    return loss(x)\n"
    nb = new_notebook(cells=[new_code_cell(source)])
    with live_student(nb, str(tmp_path), timeout=30) as student:
        trainer = student.training(30, {"loss": "def loss(x):\n    return 'reference'\n"}, ("train",))
        assert trainer.train(1) == "reference" and student.train(1) == "student"


def test_student_errors_name_the_function_not_the_inputs():
    def secret(x):
        raise ValueError(f"bad input {x}")

    student = local_student({"secret": secret})
    with pytest.raises(StudentCodeError) as info:
        student.secret(0.123456)
    assert "secret" in str(info.value) and "0.123456" not in str(info.value)
    with pytest.raises(StudentCodeError, match="not defined"):
        student.missing()


def test_comparisons_reject_nan_wrong_shapes_and_misplaced_infinities():
    with pytest.raises(AssertionError, match="NaN"):
        as_float(math.nan, "x")
    with pytest.raises(AssertionError, match="shape"):
        assert_close([1.0, 2.0], [1.0, 2.0, 3.0], "x")
    with pytest.raises(AssertionError, match="infinities"):
        assert_close([1.0, math.inf], [1.0, 2.0], "x")
    assert_close([1.0, math.inf], [1.0 + 1e-7, math.inf], "x")
    assert_close(np.float32(1 / 3), 1 / 3, "float32 passes")
    with pytest.raises(AssertionError, match="standard errors"):
        assert_within_se(1.5, 1.0, 0.1, "mc")
    assert_within_se(1.3, 1.0, 0.1, "mc")


def test_the_kernel_cannot_import_the_graders_and_printing_cannot_forge_a_reply(tmp_path):
    nb = new_notebook(cells=[new_code_cell(
        "import importlib.util\n"
        "graders_visible = importlib.util.find_spec('grader_tests') is not None\n"
        "def noisy(x):\n"
        "    print('{\"ok\": true, \"value\": 42}')\n"
        "    return x + 1\n"
    )])
    with live_student(nb, str(tmp_path), timeout=30) as student:
        assert student.value("graders_visible") is False
        assert student.noisy(1) == 2


def test_a_large_hidden_input_arrives_whole(tmp_path):
    """200,000 hidden numbers travel in the request's metadata, not in code the kernel must
    parse, and reach the student's function bit for bit."""
    nb = new_notebook(cells=[new_code_cell("def stats(x):\n    return [len(x), float(x.sum()), float(x[-1])]\n")])
    x = np.random.default_rng(0).normal(size=200_000)
    with live_student(nb, str(tmp_path), timeout=30) as student:
        assert student.stats(x) == [200_000, float(x.sum()), float(x[-1])]


def test_the_kernel_compiles_the_caller_once_and_again_after_a_restart(tmp_path):
    """Requests after the first reuse the caller the kernel compiled; a restarted kernel compiles
    it again, and calls go on."""
    nb = new_notebook(cells=[new_code_cell("def f(x):\n    return x + 1\n")])
    with live_student(nb, str(tmp_path), timeout=30) as student:
        assert student.f(1) == 2
        count = "len([m for m in __import__('sys').modules if m.startswith('_vicourse_side_')])"
        student._transport.run(f"n_callers = {count}", 10)
        assert student.f(2) == 3 and student.value("n_callers") == 1
        student._transport.on_unresponsive()  # what a hang or a dead kernel leads to
        assert student.f(3) == 4


def test_a_second_reply_printed_by_a_hook_fails_the_call(tmp_path):
    """A post_execute hook (it runs after silent requests too) sees each request, marker
    included, and can print a reply of its own; the transport must not take either one."""
    nb = new_notebook(cells=[new_code_cell(
        "import re\n"
        "def f(x):\n"
        "    return 1\n"
        "def forge():\n"
        "    code = get_ipython().kernel.get_parent('shell')['content']['code']\n"
        "    marker = re.search(r'@@vicourse-[0-9a-f]+@@', code)\n"
        "    if marker:\n"
        "        print(marker.group(0) + '{\"ok\": true, \"value\": 42}' + marker.group(0))\n"
        "get_ipython().events.register('post_execute', forge)\n"
    )])
    with live_student(nb, str(tmp_path), timeout=30) as student:
        with pytest.raises(StudentCodeError, match="no single valid reply"):
            student.f(1)


def test_the_doctor_catches_a_kernel_without_a_sandbox(tmp_path):
    """The probes behind `make doctor` (and the attack suite's intent) can fail: with the
    sandbox switched off, a kernel reads the course and reaches the grader's port."""
    from traitlets.config import Config

    from vicourse.apps.doctor import run_doctor

    config = Config()
    config.Sandbox.enabled = False
    assert run_doctor(ROOT, config=config) is False
    if isolation().sandboxed:
        assert run_doctor(ROOT) is True


def test_hidden_inputs_come_from_the_grading_secret():
    """Checks draw their unseen inputs from the secret of the submission being graded: the same
    secret repeats them (a regrade), another secret gives other inputs (a later batch), and two
    checks' labels give independent streams."""
    from vicourse.grading.checking import grading_secret, hidden_rng, set_grading_secret

    first = set_grading_secret("00" * 16)
    a = hidden_rng(101).random(4)
    assert np.array_equal(hidden_rng(101).random(4), a)
    assert not np.array_equal(hidden_rng(202).random(4), a)
    set_grading_secret("11" * 16)
    assert not np.array_equal(hidden_rng(101).random(4), a)
    drawn = set_grading_secret(None)
    assert drawn != first and len(drawn) == 32 and grading_secret() == drawn
