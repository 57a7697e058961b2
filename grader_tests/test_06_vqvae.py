"""Hidden checks for assignment 06 (the VQ-VAE and a prior over its codes).

Function checks send fixed and random tensors (fixed seeds) to the student's
functions and compare with private float64 references, to float32 precision.
Gradients come from the notebook's locked helpers (`straight_through_gradients`,
`vq_losses_gradients`), which run autograd on the student's functions in the
student's kernel and return plain numbers; the comparison runs here.

Trained-model checks never take a number from the notebook.  They send test
images, and copies perturbed here at grading time, to the student's
`vqvae_reconstruct` and `vqvae_codes`, and compute the mean squared error and
the codebook usage themselves.  The prior check asks `prior_logits` for the
logits of the test images' codes, computes the bits per code here, and changes
codes at and after each position to make sure a prediction never depends on
the code it predicts.

Thresholds come from five seeds of the solution (benchmarks/notebooks.py
prints them), on a 2-core CPU, with the numbers quoted beside each one.

Calibration (vicourse.calibration) runs the notebook once and re-runs only the
graded cells, so it grades each variant with the solution's trained models; the
trained-model checks still call `quantize` and `autoregressive_mask` at
evaluation time, so a wrong version of either costs those checks there too.  In a
real submission a wrong function in the training path (A.1 to B.1) also trains a
worse model, which the trained-model checks then judge as they should.
"""

import math

import numpy as np
from scipy.special import log_softmax

from vicourse.checking import TorchTensor, Variant, as_array, as_float, assert_close, hidden_rng
from vicourse.shipped.vi_torch import digit_arrays

# float32 work on sums of a few hundred numbers: relative 1e-4 with a small absolute floor
F32 = {"rtol": 1e-4, "atol": 1e-5}
LOG2 = math.log(2)


def _t(a, dtype="float32"):
    return TorchTensor(np.asarray(a, dtype=float), dtype)


def _f32(a):
    """The values as the student's kernel will see them (float32), back in float64."""
    return np.asarray(a, dtype=np.float32).astype(float)


def _sq_distances(z, codebook):
    return ((z[..., None, :] - codebook) ** 2).sum(-1)


# ---------------------------------------------------------------- Part A


def _quantize_cases(rng):
    """(z_e, codebook) pairs, including codes of very different norms, where the largest dot product
    and the nearest code disagree."""
    cases = []
    for shape, k, d in (((6,), 3, 2), ((4, 5), 7, 3), ((2, 4, 4), 32, 8), ((1,), 1, 4)):
        cases.append((rng.normal(0, 1, (*shape, d)), rng.normal(0, 1, (k, d))))
    codebook = rng.normal(0, 1, (10, 4)) * rng.uniform(0.2, 3.0, (10, 1))
    cases.append((rng.normal(0, 1, (40, 4)), codebook))
    return [(_f32(z), _f32(c)) for z, c in cases]


def test_quantize(nb):
    """Part A.1: nearest code by Euclidean distance for unseen batches and codebooks of several shapes."""
    rng = hidden_rng(6001)
    for z_e, codebook in _quantize_cases(rng):
        reply = nb.quantize(_t(z_e), _t(codebook))
        if not isinstance(reply, list) or len(reply) != 2:
            raise AssertionError("quantize must return two tensors (z_q, indices)")
        z_q = as_array(reply[0], "z_q returned by quantize", shape=z_e.shape)
        indices = as_array(reply[1], "the indices returned by quantize", shape=z_e.shape[:-1])
        k = len(codebook)
        if np.any(indices != np.round(indices)) or np.any(indices < 0) or np.any(indices >= k):
            raise AssertionError(f"quantize must return integer indices between 0 and K - 1 = {k - 1}")
        indices = indices.astype(int)
        distances = _sq_distances(z_e, codebook)
        chosen = np.take_along_axis(distances, indices[..., None], axis=-1)[..., 0]
        # a chosen code within float32 rounding of the nearest one is a tie, and accepted
        if not np.all(chosen <= distances.min(-1) * (1 + 1e-5) + 1e-6):
            raise AssertionError(f"quantize on unseen vectors of shape {z_e.shape} and {k} codes does not always "
                                 "pick the code at the smallest Euclidean distance")
        assert_close(z_q, codebook[indices], "z_q returned by quantize: the code vectors of the returned indices",
                     rtol=1e-6, atol=1e-6)


def test_straight_through(nb):
    """Part A.2: forward value z_q and gradient to z_e equal to the upstream gradient, unseen tensors."""
    rng = hidden_rng(6002)
    for shape in ((3, 2), (2, 4, 4, 8), (1, 5)):
        z_e, z_q, upstream = (_f32(rng.normal(0, 1, shape)) for _ in range(3))
        reply = nb.straight_through_gradients(_t(z_e), _t(z_q), _t(upstream))
        if not isinstance(reply, list) or len(reply) != 2:
            raise AssertionError("`straight_through_gradients` (the locked helper) must be left as it is")
        assert_close(as_array(reply[0], "straight_through", shape=shape), z_q,
                     f"straight_through on unseen {shape} tensors: the forward value must be z_q", **F32)
        assert_close(as_array(reply[1], "the gradient reaching z_e", shape=shape), upstream,
                     f"the gradient that reaches z_e through straight_through on unseen {shape} tensors: the "
                     "encoder must receive the decoder's gradient unchanged", **F32)


def _vq_reference(z_e, z_q, beta):
    diff = z_e - z_q
    n = diff.size
    codebook_loss, commitment = float(np.mean(diff ** 2)), beta * float(np.mean(diff ** 2))
    zero = np.zeros_like(diff)
    # d codebook/dz_e, d codebook/dz_q, d commitment/dz_e, d commitment/dz_q
    return codebook_loss, commitment, (zero, -2 * diff / n, 2 * beta * diff / n, zero)


def test_vq_losses(nb):
    """Part A.3: values of both losses and the four gradients (each loss moves one side only), unseen tensors."""
    rng = hidden_rng(6003)
    names = ("the codebook loss's gradient with respect to z_e (it must not move the encoder)",
             "the codebook loss's gradient with respect to z_q (it moves the codes)",
             "the commitment loss's gradient with respect to z_e (it moves the encoder, weighted by beta)",
             "the commitment loss's gradient with respect to z_q (it must not move the codes)")
    for shape, beta in (((4, 3), 0.25), ((2, 4, 4, 8), 0.25), ((5, 2), 1.7)):
        z_e, z_q = _f32(rng.normal(0, 1, shape)), _f32(rng.normal(0, 1, shape))
        reply = nb.vq_losses_gradients(_t(z_e), _t(z_q), beta)
        if not isinstance(reply, list) or len(reply) != 6:
            raise AssertionError("`vq_losses_gradients` (the locked helper) must be left as it is")
        codebook_loss, commitment, gradients = _vq_reference(z_e, z_q, beta)
        assert_close(as_float(reply[0], "the codebook loss"), codebook_loss,
                     f"the codebook loss for unseen {shape} tensors (the MEAN squared difference)", **F32)
        assert_close(as_float(reply[1], "the commitment loss"), commitment,
                     f"the commitment loss for unseen {shape} tensors with beta = {beta}", **F32)
        for got, want, name in zip(reply[2:], gradients, names):
            assert_close(as_array(got, name, shape=shape), want, f"{name}, for unseen {shape} tensors",
                         rtol=1e-4, atol=1e-7)


# ---------------------------------------------------------------- Part B


def _ema_reference(counts, sums, z_e, indices, decay, epsilon):
    k = len(counts)
    assigned = np.eye(k)[indices]
    new_counts = decay * counts + (1 - decay) * assigned.sum(0)
    new_sums = decay * sums + (1 - decay) * assigned.T @ z_e
    total = new_counts.sum()
    smoothed = (new_counts + epsilon) / (total + k * epsilon) * total
    return new_counts, new_sums, new_sums / smoothed[:, None]


def test_ema_update(nb):
    """Part B.1: one EMA step on unseen states, including codes never used (zero counts and sums)."""
    rng = hidden_rng(6004)
    cases = []
    for k, d, m, decay, epsilon in ((4, 2, 9, 0.99, 1e-5), (8, 3, 30, 0.9, 1e-5), (6, 4, 12, 0.5, 0.1)):
        counts, sums = rng.uniform(0.5, 5, k), rng.normal(0, 2, (k, d))
        counts[-1], sums[-1] = 0.0, 0.0  # a code that has never been used, and is not used now
        indices = rng.integers(0, k - 1, m)
        cases.append((counts, sums, rng.normal(0, 1, (m, d)), indices, decay, epsilon))
    for counts, sums, z_e, indices, decay, epsilon in cases:
        counts, sums, z_e = _f32(counts), _f32(sums), _f32(z_e)
        reply = nb.ema_update(_t(counts), _t(sums), _t(z_e), _t(indices, "int64"), decay, epsilon)
        if not isinstance(reply, list) or len(reply) != 3:
            raise AssertionError("ema_update must return three tensors (new counts, new sums, new codebook)")
        k, d = sums.shape
        new_counts = as_array(reply[0], "the new counts from ema_update", shape=(k,))
        new_sums = as_array(reply[1], "the new sums from ema_update", shape=(k, d))
        codebook = reply[2]
        try:
            codebook = as_array(codebook, "the new codebook from ema_update", shape=(k, d))
        except AssertionError as error:
            raise AssertionError(f"{error}; a code that no vector has chosen must stay finite "
                                 "(smooth the counts)") from None
        if not np.isfinite(codebook).all():
            raise AssertionError("the new codebook from ema_update is infinite for a code that no vector has "
                                 "chosen: smooth the counts")
        want_counts, want_sums, want_codebook = _ema_reference(counts, sums, z_e, indices, decay, epsilon)
        assert_close(new_counts, want_counts, f"the new counts N for unseen inputs (decay {decay}), unsmoothed",
                     **F32)
        assert_close(new_sums, want_sums, f"the new sums m for unseen inputs (decay {decay})", **F32)
        assert_close(codebook, want_codebook, f"the new codebook m / N for unseen inputs (decay {decay}, "
                     f"epsilon {epsilon}), with Laplace-smoothed counts", **F32)


def test_codebook_usage(nb):
    """Part B.2: perplexity and fraction of codes used, on unseen index tensors."""
    rng = hidden_rng(6005)
    cases = [(rng.integers(0, 5, (7,)), 5), (rng.integers(0, 12, (3, 4, 4)), 40),
             (np.repeat(np.array([2, 2, 2, 9]), 5), 10), (rng.integers(0, 3, (50,)) * 2, 64)]
    for indices, k in cases:
        reply = nb.codebook_usage(_t(indices, "int64"), k)
        if not isinstance(reply, list) or len(reply) != 2:
            raise AssertionError("codebook_usage must return two numbers (perplexity, fraction used)")
        p = np.bincount(indices.ravel(), minlength=k) / indices.size
        used = p[p > 0]
        perplexity, fraction = math.exp(-float(np.sum(used * np.log(used)))), float(np.mean(p > 0))
        assert_close(as_float(reply[0], "the perplexity"), perplexity,
                     f"the perplexity of unseen indices with K = {k} (exp of the entropy in nats)", rtol=1e-5)
        assert_close(as_float(reply[1], "the fraction of codes used"), fraction,
                     f"the fraction of the K = {k} codes used at least once, for unseen indices", rtol=1e-9)


# ---------------------------------------------------------------- Part C


def _perturb(x, rng):
    """Grey images with a random change of contrast and a little noise, clipped to [0, 1]."""
    scale = rng.uniform(0.8, 1.0, (len(x), 1))
    return np.clip(x * scale + rng.normal(0, 0.03, x.shape), 0.0, 1.0)


def _codes(nb, x):
    codes = as_array(nb.vqvae_codes(_t(x)), "vqvae_codes", shape=(len(x), 4, 4))
    return codes.astype(int)


def vqvae_heldout_scores(nb) -> dict:
    """Test MSE of the student's VQ-VAE on the test images and on perturbed copies; codebook usage on test."""
    _, _, x_test, _ = digit_arrays()
    rng = hidden_rng(6006)
    scores = {}
    for name, x in (("test mse", x_test), ("perturbed mse", _perturb(x_test, rng))):
        reconstruction = as_array(nb.vqvae_reconstruct(_t(x)), "vqvae_reconstruct", shape=(len(x), 64))
        scores[name] = float(np.mean((reconstruction - x) ** 2))
    codes = _codes(nb, x_test)
    frequencies = np.bincount(codes.ravel(), minlength=32) / codes.size
    used = frequencies[frequencies > 0]
    scores["codes used"] = float(np.mean(frequencies > 0))
    scores["perplexity"] = math.exp(-float(np.sum(used * np.log(used))))
    return scores


# Five seeds of the solution (benchmarks/notebooks.py 06_vqvae, 2-core CPU, one math thread,
# in the grading sandbox; 2026-11-23):
#
#                          seed 0    seed 1    seed 2    seed 3    seed 4
#   seconds (whole nb)      40.26     26.28     27.19     30.24     25.67   (the machine was shared)
#   test MSE             0.006977  0.006162  0.006408  0.006920  0.006650
#   perturbed MSE        0.006837  0.005915  0.006105  0.006718  0.006474
#   codes used (of 32)          1         1         1         1         1
#   perplexity              28.50     30.52     29.86     23.63     30.66
#   prior, bits per code    3.675     3.785     3.644     3.223     3.713   (uniform: 5)
#
# A decoder that ignores its input scores about 0.11 (the pixels' variance); the same-size
# autoencoder about 0.0015.  The MSE limits sit about a fifth above the worst seed, the prior's a
# fifth of a bit (below a model of independent positions, about 4.3 bits).  The same seed gives
# the same numbers on every run on this machine.
VQ_MSE_LIMIT = 0.0085
VQ_PERTURBED_MSE_LIMIT = 0.0085
VQ_USED_LIMIT = 0.75


def test_trained_vqvae(nb):
    """Part C.1: reconstruction MSE of held-out and perturbed images, and codes used, computed here."""
    scores = vqvae_heldout_scores(nb)
    if not scores["test mse"] <= VQ_MSE_LIMIT:
        raise AssertionError(f"the trained VQ-VAE reconstructs held-out test images with mean squared error "
                             f"{scores['test mse']:.4f}; a correctly trained model reaches {VQ_MSE_LIMIT} or less")
    if not scores["perturbed mse"] <= VQ_PERTURBED_MSE_LIMIT:
        raise AssertionError(f"on noisy, lower-contrast copies of the test images the mean squared error is "
                             f"{scores['perturbed mse']:.4f}; a model that learned the digits stays under "
                             f"{VQ_PERTURBED_MSE_LIMIT}")
    if not scores["codes used"] >= VQ_USED_LIMIT:
        raise AssertionError(f"only {scores['codes used']:.0%} of the 32 codes occur on the test images; a "
                             f"correctly trained codebook uses at least {VQ_USED_LIMIT:.0%}")


# ---------------------------------------------------------------- Part D


def test_autoregressive_mask(nb):
    """Part D.1: masks for unseen degrees, strict and not."""
    rng = hidden_rng(6007)
    for n_in, n_out, top in ((5, 4, 3), (16, 9, 15), (1, 3, 2), (12, 12, 4)):
        d_in, d_out = rng.integers(0, top + 1, n_in), rng.integers(0, top + 1, n_out)
        for strict in (True, False):
            got = as_array(nb.autoregressive_mask(_t(d_in, "int64"), _t(d_out, "int64"), strict),
                           "autoregressive_mask", shape=(n_out, n_in))
            want = (d_out[:, None] > d_in[None, :]) if strict else (d_out[:, None] >= d_in[None, :])
            assert_close(got, want.astype(float), f"autoregressive_mask for {n_in} unseen input and {n_out} output "
                         f"degrees, strict={strict} (rows are OUTPUT units)", rtol=0, atol=1e-9)


def test_code_nll_bits(nb):
    """Part D.2: mean negative log2-likelihood of unseen codes under unseen logits."""
    rng = hidden_rng(6008)
    for shape, k, scale in (((7,), 4, 1.0), ((3, 4, 4), 32, 3.0), ((2, 5), 10, 40.0)):
        logits, indices = _f32(rng.normal(0, scale, (*shape, k))), rng.integers(0, k, shape)
        want = -float(np.mean(np.take_along_axis(log_softmax(logits, -1), indices[..., None], -1))) / LOG2
        got = as_float(nb.code_nll_bits(_t(logits), _t(indices, "int64")), "code_nll_bits")
        assert_close(got, want, f"code_nll_bits for {indices.size} unseen codes out of K = {k} (the MEAN over "
                     "positions of -log2 of the softmax probability)", **F32)


def _prior_nll_bits(nb, codes):
    logits = as_array(nb.prior_logits(_t(codes, "int64")), "prior_logits", shape=(*codes.shape, 32))
    return -float(np.mean(np.take_along_axis(log_softmax(logits, -1), codes[..., None], -1))) / LOG2, logits


def prior_heldout_scores(nb) -> dict:
    """Bits per code of the student's prior on the codes of the test images (their own VQ-VAE's codes)."""
    _, _, x_test, _ = digit_arrays()
    bits, _ = _prior_nll_bits(nb, _codes(nb, x_test))
    return {"bits per code": bits}


def _leaks(nb, rng, grids=6):
    """Whether any prediction changes when the code at its own position or a later one changes."""
    base = rng.integers(0, 32, (grids, 16))
    batch = []
    for grid in base:
        for t in range(16):  # copy t: codes from position t on redrawn
            changed = grid.copy()
            changed[t:] = rng.integers(0, 32, 16 - t)
            batch.append(changed)
    batch = np.concatenate([base, np.array(batch)])
    logits = as_array(nb.prior_logits(_t(batch.reshape(-1, 4, 4), "int64")), "prior_logits",
                      shape=(len(batch), 4, 4, 32)).reshape(len(batch), 16, 32)
    original, changed = logits[:grids], logits[grids:].reshape(grids, 16, 16, 32)
    for t in range(16):
        # positions 0..t predict from codes before t only: they must not move
        if not np.allclose(changed[:, t, :t + 1], original[:, :t + 1], rtol=1e-4, atol=1e-4):
            return True
    return False


# Five seeds of the solution: 3.223 to 3.785 bits per code (the table above).  A uniform prior
# scores log2 32 = 5 bits per code.
PRIOR_BITS_LIMIT = 4.0


def test_trained_prior(nb):
    """Part D.3: bits per code of the trained prior on the test images' codes, and no look-ahead."""
    rng = hidden_rng(6009)
    if _leaks(nb, rng):
        raise AssertionError("the prior's prediction for a grid position changes when the code AT that position "
                             "(or after it) changes: it can see the code it predicts")
    bits = prior_heldout_scores(nb)["bits per code"]
    if not bits <= PRIOR_BITS_LIMIT:
        raise AssertionError(f"the trained prior spends {bits:.2f} bits per code on the test images' codes; a "
                             f"correctly trained prior needs {PRIOR_BITS_LIMIT} or less (uniform: 5)")


# ---------------------------------------------------------------- calibration data


def _fn(signature, body):
    return f"{signature}\n" + "\n".join("    " + line for line in body.strip("\n").splitlines()) + "\n"


QZ = "def quantize(z_e, codebook):"
ST = "def straight_through(z_e, z_q):"
VL = "def vq_losses(z_e, z_q, beta=0.25):"
EM = "def ema_update(counts, sums, z_e, indices, decay=0.99, epsilon=1e-5):"
CU = "def codebook_usage(indices, num_codes):"
AM = "def autoregressive_mask(in_degrees, out_degrees, strict):"
NB = "def code_nll_bits(logits, indices):"

EMA_SUMS = """assigned = F.one_hot(indices, counts.shape[0]).to(z_e.dtype)
new_counts = decay * counts + (1 - decay) * assigned.sum(dim=0)
new_sums = decay * sums + (1 - decay) * assigned.T @ z_e"""
SMOOTHED = """total = new_counts.sum()
smoothed = (new_counts + epsilon) / (total + counts.shape[0] * epsilon) * total"""
USAGE = """frequencies = torch.bincount(indices.flatten(), minlength=num_codes).double() / indices.numel()
used = frequencies[frequencies > 0]"""


def _w(name, cell, sig, body, *loses):
    return Variant(name, {cell: _fn(sig, body)}, loses=set(loses))


WRONG_ANSWERS = [
    _w("quantize by the largest dot product instead of the nearest code", "quantize", QZ,
       "indices = (z_e @ codebook.T).argmax(dim=-1)\nreturn codebook[indices], indices",
       "test_quantize", "test_trained_vqvae", "test_trained_prior"),
    _w("quantize by the smallest dot product", "quantize", QZ,
       "indices = (z_e @ codebook.T).argmin(dim=-1)\nreturn codebook[indices], indices",
       "test_quantize", "test_trained_vqvae", "test_trained_prior"),
    _w("straight-through without a stop-gradient: the value is z_e", "straight_through", ST,
       "return z_e + (z_q - z_e)", "test_straight_through"),
    _w("no gradient reaching the encoder (z_q returned as it is)", "straight_through", ST,
       "return z_q", "test_straight_through"),
    _w("no gradient reaching the encoder (everything detached)", "straight_through", ST,
       "return (z_e + (z_q - z_e)).detach()", "test_straight_through"),
    _w("losses without any stop-gradient", "vq_losses", VL,
       "return F.mse_loss(z_q, z_e), beta * F.mse_loss(z_e, z_q)", "test_vq_losses"),
    _w("stop-gradients on the wrong sides", "vq_losses", VL,
       "return F.mse_loss(z_q.detach(), z_e), beta * F.mse_loss(z_e.detach(), z_q)", "test_vq_losses"),
    _w("beta on the codebook loss instead of the commitment loss", "vq_losses", VL,
       "return beta * F.mse_loss(z_q, z_e.detach()), F.mse_loss(z_e, z_q.detach())", "test_vq_losses"),
    _w("losses summed instead of averaged", "vq_losses", VL,
       "return ((z_q - z_e.detach()) ** 2).sum(), beta * ((z_e - z_q.detach()) ** 2).sum()", "test_vq_losses"),
    _w("EMA without Laplace smoothing (0/0 for unused codes)", "ema_update", EM,
       f"{EMA_SUMS}\nreturn new_counts, new_sums, new_sums / new_counts.unsqueeze(1)", "test_ema_update"),
    _w("EMA as in the handout: each code moved towards its vectors one at a time", "ema_update", EM, """
codebook = sums / counts.clamp_min(epsilon).unsqueeze(1)
for vector, index in zip(z_e, indices):
    codebook[index] = decay * codebook[index] + (1 - decay) * vector
return counts, sums, codebook""", "test_ema_update"),
    _w("EMA with the smoothed counts returned as the running counts", "ema_update", EM,
       f"{EMA_SUMS}\n{SMOOTHED}\nreturn smoothed, new_sums, new_sums / smoothed.unsqueeze(1)", "test_ema_update"),
    _w("EMA whose counts do not decay", "ema_update", EM, """
assigned = F.one_hot(indices, counts.shape[0]).to(z_e.dtype)
new_counts = counts + assigned.sum(dim=0)
new_sums = decay * sums + (1 - decay) * assigned.T @ z_e
total = new_counts.sum()
smoothed = (new_counts + epsilon) / (total + counts.shape[0] * epsilon) * total
return new_counts, new_sums, new_sums / smoothed.unsqueeze(1)""", "test_ema_update"),
    _w("perplexity as 2 to the entropy in nats", "codebook_usage", CU,
       f"{USAGE}\nentropy = -(used * used.log()).sum()\n"
       "return (2 ** entropy).item(), (frequencies > 0).double().mean().item()", "test_codebook_usage"),
    _w("perplexity as the entropy itself", "codebook_usage", CU,
       f"{USAGE}\nreturn -(used * used.log()).sum().item(), (frequencies > 0).double().mean().item()",
       "test_codebook_usage"),
    _w("usage as the number of codes, not the fraction", "codebook_usage", CU,
       f"{USAGE}\nreturn (-(used * used.log()).sum()).exp().item(), float((frequencies > 0).sum())",
       "test_codebook_usage"),
    _w("a prior that sees the current code (masks never strict)", "autoregressive_mask", AM,
       "return (out_degrees[:, None] >= in_degrees[None, :]).float()",
       "test_autoregressive_mask", "test_trained_prior"),
    _w("masks transposed (input by output)", "autoregressive_mask", AM,
       "mask = out_degrees[:, None] > in_degrees[None, :] if strict else out_degrees[:, None] >= in_degrees[None, :]\n"
       "return mask.float().T", "test_autoregressive_mask", "test_trained_prior"),
    _w("bits per code in nats", "code_nll_bits", NB,
       "return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), indices.reshape(-1)).item()",
       "test_code_nll_bits"),
    _w("bits per code from the logits without normalising", "code_nll_bits", NB,
       "picked = logits.gather(-1, indices.unsqueeze(-1))\nreturn -picked.mean().item() / math.log(2)",
       "test_code_nll_bits"),
    _w("bits per code summed instead of averaged", "code_nll_bits", NB,
       "return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), indices.reshape(-1), "
       "reduction='sum').item() / math.log(2)", "test_code_nll_bits"),
]


def _c(name, cell, sig, body):
    return Variant(name, {cell: _fn(sig, body)})


CORRECT_ALTERNATIVES = [
    _c("quantize with torch.cdist", "quantize", QZ, """
flat = z_e.reshape(-1, z_e.shape[-1])
indices = torch.cdist(flat, codebook).argmin(dim=1).reshape(z_e.shape[:-1])
return codebook[indices], indices"""),
    _c("quantize by expanding |a - b|^2 = |a|^2 - 2 a.b + |b|^2", "quantize", QZ, """
distances = (z_e ** 2).sum(-1, keepdim=True) - 2 * z_e @ codebook.T + (codebook ** 2).sum(-1)
indices = torch.argmin(distances, dim=-1)
return torch.index_select(codebook, 0, indices.flatten()).reshape(z_e.shape), indices"""),
    _c("quantize with a one-hot matrix product", "quantize", QZ, """
indices = torch.cdist(z_e.reshape(-1, z_e.shape[-1]), codebook).argmin(dim=1)
z_q = F.one_hot(indices, codebook.shape[0]).to(codebook.dtype) @ codebook
return z_q.reshape(z_e.shape), indices.reshape(z_e.shape[:-1])"""),
    _c("straight-through with the detached difference written the other way", "straight_through", ST,
       "return z_q.detach() + z_e - z_e.detach()"),
    _c("losses written out with explicit means", "vq_losses", VL, """
codebook_loss = ((z_e.detach() - z_q) ** 2).mean()
commitment_loss = beta * ((z_e - z_q.detach()) ** 2).mean()
return codebook_loss, commitment_loss"""),
    _c("EMA with index_add_ and bincount", "ema_update", EM, """
k = counts.shape[0]
batch_counts = torch.bincount(indices, minlength=k).to(counts.dtype)
batch_sums = torch.zeros_like(sums).index_add_(0, indices, z_e)
new_counts = counts * decay + batch_counts * (1 - decay)
new_sums = sums * decay + batch_sums * (1 - decay)
n = new_counts.sum()
return new_counts, new_sums, new_sums / ((new_counts + epsilon) * n / (n + k * epsilon))[:, None]"""),
    _c("usage with torch.distributions and unique", "codebook_usage", CU, """
counts = torch.bincount(indices.reshape(-1), minlength=num_codes).double()
entropy = torch.distributions.Categorical(probs=counts / counts.sum()).entropy()
return float(torch.exp(entropy)), len(torch.unique(indices)) / num_codes"""),
    _c("masks by comparing with broadcasting in integers", "autoregressive_mask", AM, """
difference = out_degrees.unsqueeze(1) - in_degrees.unsqueeze(0)
return (difference >= (1 if strict else 0)).to(torch.float32)"""),
    _c("bits per code with log_softmax and gather in float64", "code_nll_bits", NB, """
log_p = torch.log_softmax(logits.double(), dim=-1).gather(-1, indices.unsqueeze(-1))
return float(-log_p.mean() / math.log(2))"""),
]

# Stock autograde re-runs the whole notebook, training included (about 35 s a submission on one
# core), for each submission it grades.  Besides the solution and the blank release it grades one
# variant, chosen so that its outcome must be the calibration's although it re-trains: the leaking
# mask is used by the prior both when it trains and when the check evaluates it, so both routes
# see the same leak.  The other variants are graded by the calibration alone, to keep `make test`
# within its budget.
STOCK_AUTOGRADE = {"WRONG_ANSWERS": ["a prior that sees the current code (masks never strict)"],
                   "CORRECT_ALTERNATIVES": []}
