"""Cross-checks for assignment 06 (VQ-VAE) against independent implementations.

The solution's functions, called in its live kernel, against scipy, scikit-learn,
torch.distributions and slow loops; autograd's gradients against the derivatives
worked out by hand; the grader's rebuilt models against the notebook's own; the
secret images against what they must defend; and the numbers the solution prints,
recomputed from the objects it built.
"""

import math
import re

import numpy as np
import pytest
import torch
from scipy.spatial.distance import cdist
from scipy.stats import entropy
from sklearn.neighbors import NearestNeighbors

from conftest import ROOT
from vicourse.course import read_notebook, source_notebook
from vicourse.grading.checking import TorchTensor, set_grading_secret
from vicourse.grading.hidden_checks import run_check
from vicourse.grading.student import local_student
from vicourse.grading.trained_models import load_parameters
from vicourse.shipped.vi_torch import digit_arrays

NAME = "06_vqvae"
SEED = 0  # the notebook's


def t(a, dtype="float32"):
    return TorchTensor(np.asarray(a, dtype=float), dtype)


@pytest.fixture(scope="module")
def rng():
    return np.random.default_rng(66)


@pytest.fixture(scope="module")
def public(nb, grader):
    """The grader's rebuilt copies of models trained on the public digits, through the notebook's entry
    points with the course's functions: the same training as the notebook's own `vqvae` and `prior`."""
    x_train, kernel = digit_arrays()[0], nb.with_timeout(grader.TRAINING_SECONDS)
    vqvae = load_parameters(grader.VQVAEShape(), kernel.trained_vqvae_parameters(x_train, SEED, grader.VQ_FUNCTIONS),
                            "vqvae")
    train_codes = vqvae.codes(x_train)
    prior = load_parameters(grader.CodePriorShape(), kernel.trained_prior_parameters(
        train_codes.reshape(-1, 4, 4), SEED, grader.MASK_FUNCTION), "prior")
    return {"vqvae": vqvae, "prior": prior, "train codes": train_codes}


def test_quantize_matches_sklearn_nearest_neighbours(nb, rng):
    z, codebook = rng.normal(0, 1, (200, 8)).astype(np.float32), rng.normal(0, 1, (32, 8)).astype(np.float32)
    z_q, indices = nb.quantize(t(z), t(codebook))
    want = NearestNeighbors(n_neighbors=1).fit(codebook).kneighbors(z, return_distance=False)[:, 0]
    assert np.array_equal(indices, want)
    assert np.allclose(z_q, codebook[want])


def test_straight_through_gradient_is_the_identity(nb, rng):
    z_e, z_q, upstream = (rng.normal(0, 1, (3, 4)) for _ in range(3))
    out, grad = nb.straight_through_gradients(t(z_e), t(z_q), t(upstream))
    assert np.allclose(out, z_q, atol=1e-6) and np.allclose(grad, upstream, atol=1e-6)


def test_vq_loss_gradients_match_the_derivatives_by_hand(nb, rng):
    """d/dz_q of mean((z_q - z_e)^2) is 2 (z_q - z_e) / n; the stop-gradients zero the other sides."""
    z_e, z_q = rng.normal(0, 1, (5, 3)), rng.normal(0, 1, (5, 3))
    loss, commit, g_ce, g_cq, g_me, g_mq = nb.vq_losses_gradients(t(z_e), t(z_q), 0.25)
    n = z_e.size
    assert loss == pytest.approx(cdist(z_e, z_q, "sqeuclidean").diagonal().sum() / n, rel=1e-5)
    assert commit == pytest.approx(0.25 * loss, rel=1e-6)
    assert np.allclose(g_cq, 2 * (z_q - z_e) / n, atol=1e-6) and np.allclose(g_ce, 0)
    assert np.allclose(g_me, 0.5 * (z_e - z_q) / n, atol=1e-6) and np.allclose(g_mq, 0)


def test_ema_update_matches_a_loop_over_vectors(nb, rng):
    k, d, decay, eps = 6, 3, 0.95, 1e-3
    counts, sums = rng.uniform(0, 3, k), rng.normal(0, 1, (k, d))
    z, idx = rng.normal(0, 1, (25, d)), rng.integers(0, k, 25)
    batch_counts, batch_sums = np.zeros(k), np.zeros((k, d))
    for vector, i in zip(z, idx):
        batch_counts[i] += 1
        batch_sums[i] += vector
    new_counts = decay * counts + (1 - decay) * batch_counts
    new_sums = decay * sums + (1 - decay) * batch_sums
    n = new_counts.sum()
    want = new_sums / ((new_counts + eps) / (n + k * eps) * n)[:, None]
    got = nb.ema_update(t(counts, "float64"), t(sums, "float64"), t(z, "float64"), t(idx, "int64"), decay, eps)
    assert np.allclose(got[0], new_counts) and np.allclose(got[1], new_sums) and np.allclose(got[2], want)


def test_ema_fixed_point_is_the_minimiser_of_the_codebook_loss(nb):
    """Iterated on one batch, each code goes to the mean of its vectors: where the codebook loss is smallest."""
    z = np.array([[0.0, 1.0], [2.0, 3.0], [4.0, -1.0], [1.0, 1.0]])
    idx = np.array([0, 0, 1, 1])
    counts, sums = np.ones(3), np.zeros((3, 2))
    for _ in range(150):  # the fixed point does not depend on the decay; 0.9**150 is about 1e-7
        counts, sums, codebook = nb.ema_update(t(counts, "float64"), t(sums, "float64"), t(z, "float64"),
                                               t(idx, "int64"), 0.9, 1e-5)
    assert np.allclose(np.asarray(codebook)[:2], [z[:2].mean(0), z[2:].mean(0)], atol=1e-4)


def test_perplexity_matches_scipy_entropy(nb, rng):
    idx = rng.integers(0, 20, 300)
    perplexity, used = nb.codebook_usage(t(idx, "int64"), 32)
    assert perplexity == pytest.approx(math.exp(entropy(np.bincount(idx, minlength=32))), rel=1e-9)
    assert used == pytest.approx(len(np.unique(idx)) / 32)


def test_code_nll_bits_matches_categorical(nb, rng):
    logits, idx = rng.normal(0, 2, (10, 32)), rng.integers(0, 32, 10)
    want = -torch.distributions.Categorical(logits=torch.tensor(logits)).log_prob(torch.tensor(idx)).mean()
    assert nb.code_nll_bits(t(logits), t(idx, "int64")) == pytest.approx(want.item() / math.log(2), rel=1e-5)


def test_the_course_functions_pass_the_function_checks(grader):
    """What the trained-model checks train with is the reference: it earns every function check."""
    namespace = {"torch": torch, "F": torch.nn.functional}
    exec(grader.VQ_FUNCTIONS + grader.MASK_FUNCTION, namespace)
    helpers = next(c.source for c in read_notebook(source_notebook(ROOT, NAME)).cells
                   if c.metadata.get("nbgrader", {}).get("grade_id") == "gradient_helpers")
    exec(helpers, namespace)
    student = local_student(namespace)
    for check in ("test_quantize", "test_straight_through", "test_vq_losses", "test_ema_update",
                  "test_autoregressive_mask"):
        assert run_check(getattr(grader, check), student) is None, check


def test_reference_code_reaches_the_kernel_only_after_the_checks_it_answers(grader):
    """Each training call sends the course's answers to some questions into the student's kernel: those
    questions' checks must already have run (checks run in the order of the test cells), or the kernel
    could keep the reference and answer a check still to come with it."""
    order = [c.metadata.nbgrader["grade_id"] for c in read_notebook(source_notebook(ROOT, NAME)).cells
             if c.metadata.get("nbgrader", {}).get("grade") and c.cell_type == "code"]
    sent = {"test_trained_vqvae": grader.VQ_FUNCTIONS, "test_trained_prior": grader.MASK_FUNCTION}
    for check, source in sent.items():
        defined = {name for name in re.findall(r"^def (\w+)\(", source, re.M)}
        assert defined == set(grader.SENT_WITH[check]), check
        for name in defined:
            assert order.index(f"test_{name}") < order.index(check), (name, check)


def test_grader_rebuilds_the_notebooks_models(nb, grader, public):
    """Trained by the entry points with the course's functions, the solution's models are the notebook's own;
    rebuilt here, they give the codes, the error and the bits the notebook printed."""
    x_test = digit_arrays()[2]
    codes = public["vqvae"].codes(x_test)
    assert np.array_equal(codes, np.asarray(nb.value("test_codes")).reshape(-1, 16))
    reconstruction = public["vqvae"].decode(codes)
    assert np.mean((reconstruction - x_test) ** 2) == pytest.approx(nb.value("vq_test_mse"), rel=1e-4)
    bits = -np.mean(public["prior"].log_probabilities(codes)) / math.log(2)
    assert bits == pytest.approx(nb.value("prior_test_bits"), rel=1e-4)
    assert grader.independent_bits(public["train codes"], codes) == pytest.approx(nb.value("independent_bits"),
                                                                                 rel=1e-6)


def test_rebuilt_prior_is_autoregressive_by_its_jacobian(grader):
    """With any weights, no logit depends on the code at its own position or a later one."""
    torch.manual_seed(0)
    prior = grader.CodePriorShape().double()
    for parameter in prior.parameters():
        torch.nn.init.normal_(parameter)
    grid = np.random.default_rng(0).integers(0, 32, (1, 16))
    base = prior.logits(grid)[0]
    depends = np.zeros((16, 16), bool)  # depends[s, t]: the logits at s change with the code at t
    for position in range(16):
        changed = grid.copy()
        changed[0, position] = (changed[0, position] + 7) % 32
        depends[:, position] = ~torch.isclose(prior.logits(changed)[0], base).all(dim=1).numpy()
    assert not np.triu(depends).any(), "no dependence on the current or later codes"
    assert depends[1:].any(axis=1).all(), "each later position uses the codes before it"


def test_secret_images_differ_with_the_secret_and_stay_in_range(grader):
    images = []
    for index in range(3):
        set_grading_secret(f"{index:032x}")
        images.append(grader.secret_digits(grader.SECRET_IMAGES))
    set_grading_secret(f"{0:032x}")
    again = grader.secret_digits(grader.SECRET_IMAGES)
    assert np.array_equal(again.x_train, images[0].x_train), "a secret repeats its images"
    for one in images:
        assert one.x_train.shape == (1347, 64) and one.x_test.shape == (450, 64)
        assert one.x_train.min() >= 0 and one.x_train.max() <= 1
    assert not np.allclose(images[0].x_test, images[1].x_test) and not np.allclose(images[1].x_test, images[2].x_test)


def test_a_model_of_the_public_digits_fails_on_secret_images(grader, public):
    """Parameters trained on the public digits, pasted into a submission, reconstruct the secret images
    worse than their mean image does, whatever the secret: far beyond the limit."""
    for index in range(5):
        set_grading_secret(f"{index + 100:032x}")
        scores = grader.vqvae_scores(public["vqvae"], grader.secret_digits(grader.SECRET_IMAGES).x_test)
        assert scores["unexplained"] > 1 > 5 * grader.UNEXPLAINED_LIMIT, (index, scores)


def test_the_architecture_absorbs_the_block_shuffle_exactly(grader, public):
    """The first and last layers act on each 2x2 block alone, so a model with their kernels shuffled
    reconstructs shuffled images exactly as the original reconstructs the originals: the shuffle costs
    a trained model nothing, and defeats a model that has not seen it."""
    x = digit_arrays()[2][:50]
    order = [2, 0, 3, 1]

    def shuffled(images):
        blocks = np.asarray(images).reshape(-1, 4, 2, 4, 2).transpose(0, 1, 3, 2, 4).reshape(-1, 4, 4, 4)
        return blocks[..., order].reshape(-1, 4, 4, 2, 2).transpose(0, 1, 3, 2, 4).reshape(-1, 64)

    state = {k: v.clone() for k, v in public["vqvae"].state_dict().items()}
    for name in ("encoder.1.weight", "decoder.4.weight"):
        kernel = state[name].reshape(*state[name].shape[:2], 4)
        state[name] = kernel[..., order].reshape(state[name].shape)
    moved = load_parameters(grader.VQVAEShape(), {k: v.numpy() for k, v in state.items()}, "shuffled")
    codes = public["vqvae"].codes(x)
    assert np.array_equal(moved.codes(shuffled(x)), codes)
    assert np.allclose(moved.decode(codes), shuffled(public["vqvae"].decode(codes)), atol=1e-12)


def test_stated_numbers_recomputed(nb):
    x_test = digit_arrays()[2]
    assert nb.value("pixel_variance") == pytest.approx(np.mean((x_test - x_test.mean(0)) ** 2), rel=1e-5)
    codes = np.asarray(nb.value("test_codes"))
    assert nb.value("vq_perplexity") == pytest.approx(math.exp(entropy(np.bincount(codes.ravel(), minlength=32))))
    table = nb.value("collapse_table")
    assert table["K = 32, EMA, re-seeding (the model above)"]["mse"] == pytest.approx(nb.value("vq_test_mse"))
    for row in table.values():
        assert 1 <= row["perplexity"] and 0 < row["used"] <= 1


def test_visible_criteria_are_the_hidden_ones(grader):
    """The notebook states the hidden checks' thresholds, with the grader's numbers."""
    cells = {c.metadata.get("nbgrader", {}).get("grade_id"): c.source
             for c in read_notebook(source_notebook(ROOT, NAME)).cells}
    stated = cells["vqvae_training"]
    assert f"at most {grader.UNEXPLAINED_LIMIT:.0%} of their pixel variance" in re.sub(r'"\s+"', "", stated)
    assert f"at least {grader.USED_LIMIT:.0%} of the codes used" in re.sub(r'"\s+"', "", stated)
    assert f"at most {grader.PRIOR_SHARE_LIMIT:.0%} of the bits" in re.sub(r'"\s+"', "", cells["prior_training"])


def test_model_answers_match_the_numbers(nb):
    """What the written model answers say about the solution's own numbers. They state ranges over
    the solution's five seeds (benchmarks/README.md, 06); the notebook's run, seed 0, lies in each."""
    vq, ae = nb.value("vq_test_mse"), nb.value("ae_test_mse")
    assert 3 <= vq / ae <= 5, "C.2: the VQ-VAE's error is three to five times the autoencoder's"
    assert 0.0065 < vq < 0.0075 and 0.0013 < ae < 0.0017, "C.2: about 0.007 against 0.0015"
    table = {key.split(" (")[0]: row for key, row in nb.value("collapse_table").items()}

    def within(row, low, high, key="perplexity"):
        return low <= row[key] <= high

    ema32, plain32 = table["K = 32, EMA, re-seeding"], table["K = 32, EMA, no re-seeding"]
    assert ema32["used"] == 1 and within(ema32, 23.5, 31.5), "C.3: every code used, perplexity 24 to 31"
    assert within(plain32, 0.62, 1, "used") and within(plain32, 17.5, 28.5), "C.3: 62% to 100%, perplexity 18 to 28"
    ema128, plain128 = table["K = 128, EMA, re-seeding"], table["K = 128, EMA, no re-seeding"]
    gradient128 = table["K = 128, gradient codebook"]
    assert within(ema128, 0.985, 1, "used") and within(ema128, 103.5, 119.5), "C.3: 99 to 100%, 104 to 119"
    assert 76 <= ema128["reseeded"] <= 110, "C.3: moved 76 to 110 times"
    assert within(plain128, 0.245, 0.635, "used") and within(plain128, 25.5, 42.5), "C.3: 25% to 63%, 26 to 42"
    assert within(gradient128, 0.585, 1, "used") and within(gradient128, 69.5, 111.5), "C.3: 59% to 100%, 70 to 111"
    assert within(gradient128, 0.00435, 0.00545, "mse") and within(ema128, 0.00425, 0.00515, "mse"), "C.3: the MSEs"
    assert gradient128["mse"] < plain128["mse"], "C.3: better than the moving averages without re-seeding"
    mse = [table[f"K = {k}, EMA, re-seeding"]["mse"] for k in (8, 32, 128)]
    assert 0.0105 <= mse[0] <= 0.0125 and 0.0055 <= mse[1] <= 0.0075 and 0.0035 <= mse[2] <= 0.0055, \
        "C.3: 0.011 to 0.012, 0.006 to 0.007, 0.004 to 0.005"
    assert mse[0] - mse[1] > mse[1] - mse[2], "C.3: each fourfold K buys less"
    assert 6.5 <= table["K = 8, EMA, re-seeding"]["perplexity"] <= 8.5, "C.3: perplexity 7 to 8 at K = 8"
    independent, prior, train = nb.value("independent_bits"), nb.value("prior_test_bits"), nb.value("prior_train_bits")
    assert round(5 - independent, 1) == 0.7 and round(independent - prior, 1) == 0.6, "D.4: 0.7, then 0.6 more"
    assert 0.55 <= independent - prior <= 0.65 and 0.45 <= prior - train <= 0.65, "D.4: the ranges over seeds"
    assert round(independent, 2) == 4.30 and round(prior, 2) == 3.68 and round(train, 2) == 3.04, "D.4: as quoted"
    assert round(5 - prior, 1) == 1.3 and round(16 * (5 - prior)) == 21, "D.4: 1.3 bits per code, 21 per image"
