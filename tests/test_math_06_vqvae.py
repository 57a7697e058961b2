"""Cross-checks for assignment 06 (VQ-VAE) against independent implementations.

The solution's functions, called in its live kernel, against scipy, scikit-learn,
torch.distributions and slow loops; autograd's gradients against the derivatives
worked out by hand; and the numbers the solution prints, recomputed from the
objects it built.
"""

import math

import numpy as np
import pytest
import torch
from scipy.spatial.distance import cdist
from scipy.stats import entropy
from sklearn.neighbors import NearestNeighbors

from vicourse.checking import TorchTensor
from vicourse.shipped.vi_torch import digit_arrays

NAME = "06_vqvae"


def t(a, dtype="float32"):
    return TorchTensor(np.asarray(a, dtype=float), dtype)


@pytest.fixture(scope="module")
def rng():
    return np.random.default_rng(66)


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


def test_prior_is_autoregressive_by_its_jacobian(nb, grader):
    """The grader's leak test agrees with an exact statement: no logit depends on the code at its
    own position or later, and every position after the first depends on some earlier code."""
    rng = np.random.default_rng(0)
    assert not grader._leaks(nb, rng)
    grid = rng.integers(0, 32, 16)
    base = np.asarray(nb.prior_logits(t(grid.reshape(1, 4, 4), "int64"))).reshape(16, 32)
    depends = np.zeros((16, 16), bool)  # depends[s, t]: logits at s change with the code at t
    for position in range(16):
        changed = grid.copy()
        changed[position] = (changed[position] + 7) % 32
        logits = np.asarray(nb.prior_logits(t(changed.reshape(1, 4, 4), "int64"))).reshape(16, 32)
        depends[:, position] = ~np.isclose(logits, base, atol=1e-6).all(axis=1)
    assert not np.triu(depends).any(), "no dependence on the current or later codes"
    assert depends[1:].any(axis=1).all(), "each later position uses the codes before it"


def test_stated_numbers_recomputed(nb):
    x_test = digit_arrays()[2]
    reconstruction = np.asarray(nb.vqvae_reconstruct(t(x_test)))
    assert nb.value("vq_test_mse") == pytest.approx(np.mean((reconstruction - x_test) ** 2), rel=1e-4)
    codes = np.asarray(nb.value("test_codes"))
    assert nb.value("vq_perplexity") == pytest.approx(math.exp(entropy(np.bincount(codes.ravel(), minlength=32))))
    logits = np.asarray(nb.prior_logits(t(codes, "int64")))
    log_p = logits - np.log(np.exp(logits - logits.max(-1, keepdims=True)).sum(-1, keepdims=True)) \
        - logits.max(-1, keepdims=True)
    bits = -np.take_along_axis(log_p, codes[..., None], -1).mean() / math.log(2)
    assert nb.value("prior_test_bits") == pytest.approx(bits, rel=1e-4)


def test_grader_metrics_agree_with_the_notebook(nb, grader):
    scores = grader.vqvae_heldout_scores(nb)
    assert scores["test mse"] == pytest.approx(nb.value("vq_test_mse"), rel=1e-4)
    assert scores["codes used"] == pytest.approx(nb.value("vq_used"))
    assert grader.prior_heldout_scores(nb)["bits per code"] == pytest.approx(nb.value("prior_test_bits"), rel=1e-4)


def test_model_answers_match_the_numbers(nb):
    """What the written model answers say about the solution's own numbers."""
    vq, ae = nb.value("vq_test_mse"), nb.value("ae_test_mse")
    assert 3 < vq / ae < 7, "C.2: the VQ-VAE's error is about five times the autoencoder's"
    assert 0.005 < vq < 0.009 and 0.001 < ae < 0.002, "C.2: about 0.007 against 0.0015"
    assert nb.value("bits_per_image") == 80, "C.2: 16 codes of 5 bits"
    independent, prior = nb.value("independent_bits"), nb.value("prior_test_bits")
    assert 0.4 < 5 - independent < 1.0, "D.4: independent positions save about 0.7 bits"
    assert 0.4 < independent - prior < 0.9, "D.4: the prior about 0.6 more"
    assert 1.1 < 5 - prior < 1.6 and 17 < 16 * (5 - prior) < 25, "D.4: 1.3 bits per code, about 21 per image"
