"""Hidden checks for assignment 03 (the reparameterization trick).

Every function a student writes receives its random samples as an argument, so
each check compares exactly (float32-tolerant) with the estimate from THOSE
samples, on the notebook's example and on unseen inputs drawn from the grading
secret (`hidden_rng`).
Where a check also compares with the exact gradient or distribution, the
tolerance is z = 4 Monte Carlo standard errors.
"""

import math

import numpy as np

from vicourse.grading.checking import (Variant, as_array, as_float, assert_close, assert_within_se, grade_items,
                                       hidden_rng)

THETA_EX = 1.5
EPS_EX = np.array([0.3, -1.2, 0.8, 2.0, -0.5])


# ---------------------------------------------------------------- private references


def _tol(terms):
    """rtol 1e-5 plus an absolute floor scaled to the size of the averaged terms (float32-safe)."""
    scale = max(1.0, float(np.mean(np.abs(terms))))
    return {"rtol": 1e-5, "atol": 1e-5 * scale}


def _cases(seed, count=4):
    """Unseen (theta, eps) pairs: random location, sample sizes from 1 upwards."""
    rng = hidden_rng(seed)
    sizes = [1, 2] + [int(s) for s in rng.integers(3, 300, size=count - 2)]
    return [(float(rng.uniform(-3, 3)), rng.standard_normal(n)) for n in sizes]


def _lower_cholesky(rng, d):
    """A random lower-triangular matrix with a positive diagonal, built entry by entry."""
    L = np.zeros((d, d))
    for i in range(d):
        for j in range(i):
            L[i, j] = rng.normal()
        L[i, i] = rng.uniform(0.3, 2.0)
    return L


def _pathwise_terms(theta, u, v):
    """Per-sample chain-rule gradients of (sin(a u) + e^b v)² with respect to (a, b)."""
    a, b = theta
    x = math.sin(a * u) + math.exp(b) * v
    return np.stack([2 * x * u * math.cos(a * u), 2 * x * math.exp(b) * v])


# ---------------------------------------------------------------- Part A


def test_reparam_grad_x2(nb):
    """Part A.2: mean of 2(θ + ε) over the given samples, on the example and on unseen θ and samples."""
    terms = 2 * (THETA_EX + EPS_EX)
    assert_close(as_float(nb.reparam_grad_x2(THETA_EX, EPS_EX), "reparam_grad_x2 on the example"),
                 terms.mean(), "reparam_grad_x2 on the notebook's example", **_tol(terms))
    for theta, eps in _cases(3001):
        terms = 2 * (theta + eps)
        got = as_float(nb.reparam_grad_x2(theta, eps), "reparam_grad_x2")
        assert_close(got, terms.mean(),
                     "reparam_grad_x2 on unseen θ and samples (average 2(θ + ε_i) over the GIVEN samples)",
                     **_tol(terms))


def test_autograd_grad_x2(nb):
    """Part A.3: autograd derivative of mean((θ + ε)²) on the example and on unseen θ and samples."""
    for theta, eps in [(THETA_EX, EPS_EX)] + _cases(3002):
        terms = 2 * (theta + eps)
        got = as_float(nb.autograd_grad_x2(theta, eps), "autograd_grad_x2")
        assert_close(got, terms.mean(),
                     "autograd_grad_x2 (derivative of the AVERAGE of (θ + ε_i)² over the given samples)",
                     **_tol(terms))


# ---------------------------------------------------------------- Part B


def test_score_function_grad_x2(nb):
    """Part B.1: mean of x²(x − θ) over the given samples, on the example and on unseen θ and samples."""
    for theta, eps in [(THETA_EX, EPS_EX)] + _cases(3003):
        x = theta + eps
        terms = x ** 2 * (x - theta)
        got = as_float(nb.score_function_grad_x2(theta, x), "score_function_grad_x2")
        assert_close(got, terms.mean(),
                     "score_function_grad_x2 on unseen θ and samples (average f(x_i) times the score (x_i - θ))",
                     **_tol(terms))


def test_score_function_grad_x2_baseline(nb):
    """Part B.3: mean of (x² − b)(x − θ) over the given samples, for the optimal and for unseen baselines."""
    rng = hidden_rng(3004)
    cases = [(THETA_EX, EPS_EX, THETA_EX ** 2 + 1)]
    for theta, eps in _cases(3005):
        cases.append((theta, eps, theta ** 2 + 1))
        cases.append((theta, eps, float(rng.uniform(-4, 4))))
    for theta, eps, b in cases:
        x = theta + eps
        terms = (x ** 2 - b) * (x - theta)
        got = as_float(nb.score_function_grad_x2_baseline(theta, x, b), "score_function_grad_x2_baseline")
        assert_close(got, terms.mean(),
                     "score_function_grad_x2_baseline on unseen inputs (subtract b from x², then "
                     "multiply by (x - θ))", **_tol(np.abs(terms) + np.abs(x ** 2 * (x - theta))))


# ---------------------------------------------------------------- Part C


def _mu_sigma_cases(seed):
    rng = hidden_rng(seed)
    out = [(0.7, 2.0, EPS_EX)]
    for n in (1, 3, int(rng.integers(10, 300)), int(rng.integers(10, 300))):
        out.append((float(rng.uniform(-3, 3)), float(rng.uniform(0.2, 3.0)), rng.standard_normal(n)))
    return out


def test_reparam_grad_mu_sigma(nb):
    """Part C.2: (mean 2x, mean 2xε) on given samples, and within 4 SE of (2μ, 2σ) on a large sample."""
    for mu, sigma, eps in _mu_sigma_cases(3006):
        x = mu + sigma * eps
        d_mu, d_sigma = 2 * x, 2 * x * eps
        got = as_array(nb.reparam_grad_mu_sigma(mu, sigma, eps), "reparam_grad_mu_sigma", shape=(2,))
        assert_close(got[0], d_mu.mean(), "d/dμ estimate from the given samples (x = μ + σε)", **_tol(d_mu))
        assert_close(got[1], d_sigma.mean(), "d/dσ estimate from the given samples (dx/dσ = ε)",
                     **_tol(d_sigma))
    rng = hidden_rng(3007)
    mu, sigma, n = float(rng.uniform(-2, 2)), float(rng.uniform(0.5, 2.0)), 20_000
    got = as_array(nb.reparam_grad_mu_sigma(mu, sigma, rng.standard_normal(n)), "reparam_grad_mu_sigma",
                   shape=(2,))
    assert_within_se(got[0], 2 * mu, 2 * sigma / math.sqrt(n), "d/dμ estimate on a large sample")
    assert_within_se(got[1], 2 * sigma, math.sqrt(4 * mu ** 2 + 8 * sigma ** 2) / math.sqrt(n),
                     "d/dσ estimate on a large sample")


def test_reparam_grad_mu_logvar(nb):
    """Part C.3: pathwise (d/dμ, d/dlogσ²) on given samples, and within 4 SE of (2μ, σ²) on a large sample."""
    rng = hidden_rng(3008)
    cases = [(0.7, math.log(0.25), EPS_EX)]
    for n in (1, 3, int(rng.integers(10, 300)), int(rng.integers(10, 300))):
        cases.append((float(rng.uniform(-3, 3)), float(rng.uniform(-3, 2)), rng.standard_normal(n)))
    for mu, logvar, eps in cases:
        sigma = math.exp(logvar / 2)
        x = mu + sigma * eps
        d_mu, d_s = 2 * x, 2 * x * eps * (sigma / 2)
        got = as_array(nb.reparam_grad_mu_logvar(mu, logvar, eps), "reparam_grad_mu_logvar", shape=(2,))
        assert_close(got[0], d_mu.mean(), "d/dμ estimate from the given samples (σ = exp(logvar / 2))",
                     **_tol(d_mu))
        assert_close(got[1], d_s.mean(),
                     "d/dlogvar estimate from the given samples (logvar = log σ², so dσ/dlogvar = σ/2)",
                     **_tol(d_s))
    mu, logvar, n = float(rng.uniform(-2, 2)), float(rng.uniform(-1, 1)), 20_000
    sigma = math.exp(logvar / 2)
    got = as_array(nb.reparam_grad_mu_logvar(mu, logvar, rng.standard_normal(n)), "reparam_grad_mu_logvar",
                   shape=(2,))
    assert_within_se(got[0], 2 * mu, 2 * sigma / math.sqrt(n), "d/dμ estimate on a large sample")
    assert_within_se(got[1], sigma ** 2, sigma * math.sqrt(mu ** 2 + 2 * sigma ** 2) / math.sqrt(n),
                     "d/dlogvar estimate on a large sample (the exact value is σ²)")


# ---------------------------------------------------------------- Part D


def test_cholesky_from_params(nb):
    """Part D.1: strict lower triangle of raw, exp of its diagonal, zeros above, on the example and unseen sizes."""
    rng = hidden_rng(3009)
    raws = [np.array([[0.0, 5.0], [0.6, math.log(0.5)]])]
    raws += [1.5 * rng.standard_normal((d, d)) for d in (1, 2, 3, 5)]
    for raw in raws:
        d = raw.shape[0]
        want = np.zeros((d, d))
        for i in range(d):
            for j in range(i):
                want[i, j] = raw[i, j]
            want[i, i] = math.exp(raw[i, i])
        got = as_array(nb.cholesky_from_params(raw), "cholesky_from_params", shape=(d, d))
        if np.any(np.abs(np.triu(got, 1)) > 0):
            raise AssertionError("cholesky_from_params: entries above the diagonal must be zero "
                                 "(the Cholesky factor is lower-triangular)")
        assert_close(got, want, f"cholesky_from_params for an unseen {d}x{d} raw array "
                     "(exp on the diagonal, raw values below it)", rtol=1e-5, atol=1e-6)


def test_sample_mvn(nb):
    """Part D.2: rows mu + L eps_i for the given eps, and empirical mean/covariance within 4 SE."""
    rng = hidden_rng(3010)
    cases = [(np.array([1.0, -2.0]), np.array([[2.0, 0.0], [0.6, 0.5]]),
              np.array([[1.0, 0.0], [0.0, 1.0], [0.5, -1.0]]))]
    for d, n in ((1, 5), (3, 1), (3, 40), (4, 25)):
        cases.append((rng.normal(size=d), _lower_cholesky(rng, d), rng.standard_normal((n, d))))
    for mu, L, eps in cases:
        want = np.array([mu + L @ e for e in eps])
        got = as_array(nb.sample_mvn(mu, L, eps), "sample_mvn", shape=eps.shape)
        assert_close(got, want, "sample_mvn on unseen mu, L, eps (row i must be mu + L @ eps[i]; "
                     "check whether L is transposed)", rtol=1e-5, atol=1e-5)
    d, n = 3, 4000
    mu, L = rng.normal(size=d), _lower_cholesky(rng, d)
    sigma = L @ L.T
    z = as_array(nb.sample_mvn(mu, L, rng.standard_normal((n, d))), "sample_mvn", shape=(n, d))
    mean, cov = z.mean(axis=0), np.cov(z, rowvar=False)
    for i in range(d):
        assert_within_se(mean[i], mu[i], math.sqrt(sigma[i, i] / n), f"sample mean of coordinate {i}")
        for j in range(i, d):
            se = math.sqrt((sigma[i, i] * sigma[j, j] + sigma[i, j] ** 2) / n)
            assert_within_se(cov[i, j], sigma[i, j], se, f"sample covariance entry ({i}, {j}) vs L L^T")


def test_tf_cholesky(nb):
    """Part D.3: the six true/false statements about Cholesky factors, scored right minus wrong."""
    value = nb.value("tf_answers")
    if not isinstance(value, dict):
        raise AssertionError("tf_answers must be a dict {statement number: True/False}")
    try:
        answers = {int(k): v for k, v in value.items()}
    except (TypeError, ValueError):
        raise AssertionError("tf_answers keys must be the statement numbers 1 to 6") from None
    if sorted(answers) != [1, 2, 3, 4, 5, 6] or not all(isinstance(v, bool) for v in answers.values()):
        raise AssertionError("tf_answers must map each of 1..6 to True or False")
    grade_items(answers, {1: True, 2: False, 3: True, 4: False, 5: False, 6: True}, "true/false answers")


# ---------------------------------------------------------------- Part E


def test_pathwise_grad(nb):
    """Part E.2: chain-rule gradient of mean((sin(a u) + e^b v)²) on given samples; 4 SE of the truth."""
    rng = hidden_rng(3011)
    cases = [(np.array([0.5, -0.3]), 2.0, EPS_EX)]
    for n in (1, 3, int(rng.integers(10, 300)), int(rng.integers(10, 300))):
        cases.append((np.array([rng.uniform(-2, 2), rng.uniform(-1, 1)]), float(rng.uniform(-2, 2)),
                      rng.standard_normal(n)))
    for theta, u, v in cases:
        terms = _pathwise_terms(theta, u, v)
        got = as_array(nb.pathwise_grad(theta, u, v), "pathwise_grad", shape=(2,))
        assert_close(got[0], terms[0].mean(), "d/da estimate from the given samples (chain rule through "
                     "sin(a u))", **_tol(terms[0]))
        assert_close(got[1], terms[1].mean(), "d/db estimate from the given samples", **_tol(terms[1]))
    theta, u, n = np.array([rng.uniform(-1, 1), rng.uniform(-0.5, 0.5)]), float(rng.uniform(0.5, 2)), 20_000
    v = rng.standard_normal(n)
    got = as_array(nb.pathwise_grad(theta, u, v), "pathwise_grad", shape=(2,))
    a, b = theta
    s = math.sin(a * u)
    se_a = 2 * abs(u * math.cos(a * u)) * math.exp(b) / math.sqrt(n)
    se_b = math.sqrt(4 * s ** 2 * math.exp(2 * b) + 8 * math.exp(4 * b)) / math.sqrt(n)
    assert_within_se(got[0], u * math.sin(2 * a * u), se_a, "d/da estimate on a large sample")
    assert_within_se(got[1], 2 * math.exp(2 * b), se_b, "d/db estimate on a large sample")


def test_vae_choices(nb):
    """Part E.3: the set of correct statements about the reparameterization trick in VAEs; each of
    the six letters, chosen or not, is an item, scored right minus wrong (three are right)."""
    value = nb.value("vae_choices")
    if not isinstance(value, list) or not all(isinstance(c, str) for c in value):
        raise AssertionError('vae_choices must be a list of letters, e.g. ["A", "D"]')
    chosen = {c.strip().upper() for c in value}
    if not chosen <= set("ABCDEF"):
        raise AssertionError("vae_choices: use the letters A to F only")
    grade_items({c: c in chosen for c in "ABCDEF"}, {c: c in "BCF" for c in "ABCDEF"}, "statements (chosen or not)")


# ---------------------------------------------------------------- Part F


def _softmax_rows(a):
    a = a - a.max(axis=-1, keepdims=True)
    e = np.exp(a)
    return e / e.sum(axis=-1, keepdims=True)


def _ref_score_cat(theta, f_values, z, b):
    pi = _softmax_rows(np.asarray(theta, dtype=float))
    return (np.asarray(f_values, dtype=float)[z] - b)[:, None] * (np.eye(len(pi))[z] - pi)


def _ref_gumbel_softmax(theta, w, t, g, tau, hard=False):
    """Row i: J_i (2 (value_i - t) w), J_i = (diag y_i - y_i y_i^T) / tau the softmax's Jacobian, value_i the
    relaxed w . y_i, or w at argmax(theta + g_i) for straight-through."""
    y = _softmax_rows((np.asarray(theta, dtype=float) + g) / tau)
    value = w[np.argmax(theta + g, axis=1)] if hard else y @ w
    outer = 2 * (value - t)[:, None] * w                       # d f / d y, one row per sample
    return (y * outer - y * np.sum(y * outer, axis=1, keepdims=True)) / tau


def test_score_function_grad_cat(nb):
    """Part F.1: per-sample (f(z_i) - b)(e_{z_i} - pi) on unseen logits, values, samples and baselines; the
    mean within 4 SE of the exact gradient, with or without a baseline."""
    rng = hidden_rng(3012)
    for k, n in ((2, 1), (3, 7), (5, 300), (4, 40)):
        theta, f_values = rng.normal(0, 1.2, size=k), rng.uniform(-2, 3, size=k)
        z = rng.choice(k, size=n, p=_softmax_rows(theta))
        b = float(rng.uniform(-1, 2)) if n != 40 else 0.0
        want = _ref_score_cat(theta, f_values, z, b)
        got = as_array(nb.score_function_grad_cat(theta, f_values, z, b), "score_function_grad_cat", shape=want.shape)
        assert_close(got, want, f"score_function_grad_cat on unseen logits with K = {k}: one row per sample, "
                     "(f(z_i) - b) times e_{z_i} - softmax(theta)", **_tol(want))
    theta, f_values, n = rng.normal(0, 1, size=3), rng.uniform(-1, 2, size=3), 20_000
    pi = _softmax_rows(theta)
    exact = pi * (f_values - pi @ f_values)
    z = rng.choice(3, size=n, p=pi)
    for b in (0.0, float(pi @ f_values)):
        rows = as_array(nb.score_function_grad_cat(theta, f_values, z, b), "score_function_grad_cat", shape=(n, 3))
        se = _ref_score_cat(theta, f_values, z, b).std(axis=0, ddof=1) / math.sqrt(n)
        for j in range(3):
            assert_within_se(rows[:, j].mean(), exact[j], se[j], f"score_function_grad_cat, component {j} of the "
                             "mean on a large sample against the exact gradient")


def test_gumbel_softmax_grad(nb):
    """Part F.2: per-sample gradients of (w . y_i - t)^2, relaxed and straight-through, on unseen logits, values,
    noise and temperatures, against the softmax's Jacobian."""
    rng = hidden_rng(3013)
    cases = [(np.zeros(2), np.array([0.0, 1.0]), 0.0, np.array([[0.0, 1.0]]), 1.0)]
    for k, n, tau in ((3, 1, 0.3), (3, 6, 1.0), (4, 50, 0.5), (2, 20, 2.0), (5, 30, 0.8)):
        cases.append((rng.normal(0, 1, size=k), rng.uniform(-1, 3, size=k), float(rng.uniform(-0.5, 2)),
                      rng.gumbel(size=(n, k)), tau))
    for theta, w, t, g, tau in cases:
        for hard in (False, True):
            want = _ref_gumbel_softmax(theta, w, t, g, tau, hard)
            what = "gumbel_softmax_grad" + (" with hard=True" if hard else "")
            got = as_array(nb.gumbel_softmax_grad(theta, w, t, g, tau, hard=hard) if hard else
                           nb.gumbel_softmax_grad(theta, w, t, g, tau), what, shape=want.shape)
            hint = ("; straight-through: the value (w . one-hot of argmax(theta + g_i) - t)^2, the gradient through the "
                    "soft y_i" if hard else "; y_i = softmax((theta + g_i) / tau), one gradient row per sample")
            assert_close(got, want, f"{what} on unseen logits, values and noise (K = {len(theta)}, tau = {tau:g}){hint}",
                         **_tol(want))


# ---------------------------------------------------------------- calibration data


def _fn(signature, body):
    return f"{signature}\n" + "\n".join("    " + line for line in body.strip("\n").splitlines()) + "\n"


X2 = "def reparam_grad_x2(theta, eps):"
AG = "def autograd_grad_x2(theta, eps):"
SF = "def score_function_grad_x2(theta, x):"
SB = "def score_function_grad_x2_baseline(theta, x, b):"
MS = "def reparam_grad_mu_sigma(mu, sigma, eps):"
ML = "def reparam_grad_mu_logvar(mu, logvar, eps):"
CH = "def cholesky_from_params(raw):"
MV = "def sample_mvn(mu, L, eps):"
PW = "def pathwise_grad(theta, u, v):"
SC = "def score_function_grad_cat(theta, f_values, z, b):"
GS = "def gumbel_softmax_grad(theta, w, t, g, tau, hard=False):"
_SC_HEAD = """
theta, f_values, z = np.asarray(theta, dtype=float), np.asarray(f_values, dtype=float), np.asarray(z)
pi = np.exp(theta - theta.max())
pi = pi / pi.sum()
"""
_GS_HEAD = """
g = torch.as_tensor(np.asarray(g, dtype=float))
w = torch.as_tensor(np.asarray(w, dtype=float))
th = torch.as_tensor(np.asarray(theta, dtype=float)).expand_as(g).clone().requires_grad_(True)
"""
TF_OK = "tf_answers = {1: True, 2: False, 3: True, 4: False, 5: False, 6: True}"


def _w(name, cell, sig, body, loses):
    return Variant(name, {cell: _fn(sig, body)}, loses={loses})


WRONG_ANSWERS = [
    _w("reparam: factor 2 missing", "reparam_grad_x2", X2,
       "return float(np.mean(theta + np.asarray(eps)))", "test_reparam_grad_x2"),
    _w("reparam: exact 2θ instead of the estimate", "reparam_grad_x2", X2,
       "return 2.0 * theta", "test_reparam_grad_x2"),
    _w("reparam: hard-coded example value", "reparam_grad_x2", X2, "return 3.56", "test_reparam_grad_x2"),
    _w("reparam: gradient of E[x] instead of E[x²]", "reparam_grad_x2", X2,
       "return 1.0", "test_reparam_grad_x2"),
    _w("autograd: sum instead of mean", "autograd_grad_x2", AG, """
t = torch.tensor(float(theta), requires_grad=True)
((t + torch.as_tensor(eps)) ** 2).sum().backward()
return t.grad.item()""", "test_autograd_grad_x2"),
    _w("autograd: exact 2θ", "autograd_grad_x2", AG, "return 2.0 * theta", "test_autograd_grad_x2"),
    _w("score function without the (x − θ) factor", "score_function_grad_x2", SF,
       "return float(np.mean(np.asarray(x) ** 2))", "test_score_function_grad_x2"),
    _w("score function with the wrong sign", "score_function_grad_x2", SF,
       "x = np.asarray(x)\nreturn float(np.mean(x ** 2 * (theta - x)))", "test_score_function_grad_x2"),
    _w("score function replaced by the pathwise estimate", "score_function_grad_x2", SF,
       "return float(np.mean(2 * np.asarray(x)))", "test_score_function_grad_x2"),
    _w("score function with f(x) = x", "score_function_grad_x2", SF,
       "x = np.asarray(x)\nreturn float(np.mean(x * (x - theta)))", "test_score_function_grad_x2"),
    _w("score function divided by θ", "score_function_grad_x2", SF,
       "x = np.asarray(x)\nreturn float(np.mean(x ** 2 * (x - theta))) / theta",
       "test_score_function_grad_x2"),
    _w("baseline ignored", "score_function_grad_x2_baseline", SB,
       "x = np.asarray(x)\nreturn float(np.mean(x ** 2 * (x - theta)))", "test_score_function_grad_x2_baseline"),
    _w("baseline added instead of subtracted", "score_function_grad_x2_baseline", SB,
       "x = np.asarray(x)\nreturn float(np.mean((x ** 2 + b) * (x - theta)))",
       "test_score_function_grad_x2_baseline"),
    _w("baseline subtracted from the score", "score_function_grad_x2_baseline", SB,
       "x = np.asarray(x)\nreturn float(np.mean(x ** 2 * (x - theta - b)))", "test_score_function_grad_x2_baseline"),
    _w("mu/sigma: σ² used for σ", "reparam_grad_mu_sigma", MS,
       "eps = np.asarray(eps)\nx = mu + sigma ** 2 * eps\nreturn float(np.mean(2 * x)), float(np.mean(2 * x * eps))",
       "test_reparam_grad_mu_sigma"),
    _w("mu/sigma: d/dσ without ε", "reparam_grad_mu_sigma", MS,
       "eps = np.asarray(eps)\nx = mu + sigma * eps\nreturn float(np.mean(2 * x)), float(np.mean(2 * x))",
       "test_reparam_grad_mu_sigma"),
    _w("mu/sigma: exact (2μ, 2σ)", "reparam_grad_mu_sigma", MS, "return 2 * mu, 2 * sigma",
       "test_reparam_grad_mu_sigma"),
    _w("mu/sigma: components swapped", "reparam_grad_mu_sigma", MS,
       "eps = np.asarray(eps)\nx = mu + sigma * eps\nreturn float(np.mean(2 * x * eps)), float(np.mean(2 * x))",
       "test_reparam_grad_mu_sigma"),
    _w("logvar taken as log σ", "reparam_grad_mu_logvar", ML, """
eps = np.asarray(eps)
sigma = np.exp(logvar)
x = mu + sigma * eps
return float(np.mean(2 * x)), float(np.mean(2 * x * eps * sigma))""", "test_reparam_grad_mu_logvar"),
    _w("logvar: factor 1/2 of the chain rule missing", "reparam_grad_mu_logvar", ML, """
eps = np.asarray(eps)
sigma = np.exp(logvar / 2)
x = mu + sigma * eps
return float(np.mean(2 * x)), float(np.mean(2 * x * eps * sigma))""", "test_reparam_grad_mu_logvar"),
    _w("logvar: returns d/dσ instead of d/dlogvar", "reparam_grad_mu_logvar", ML, """
eps = np.asarray(eps)
x = mu + np.exp(logvar / 2) * eps
return float(np.mean(2 * x)), float(np.mean(2 * x * eps))""", "test_reparam_grad_mu_logvar"),
    _w("logvar: σ² used as the scale", "reparam_grad_mu_logvar", ML, """
eps = np.asarray(eps)
var = np.exp(logvar)
x = mu + var * eps
return float(np.mean(2 * x)), float(np.mean(2 * x * eps * var))""", "test_reparam_grad_mu_logvar"),
    _w("cholesky: softplus instead of exp", "cholesky_from_params", CH,
       "raw = np.asarray(raw)\nreturn np.tril(raw, -1) + np.diag(np.log1p(np.exp(np.diag(raw))))",
       "test_cholesky_from_params"),
    _w("cholesky: upper triangle kept", "cholesky_from_params", CH,
       "raw = np.asarray(raw)\nreturn raw - np.diag(np.diag(raw)) + np.diag(np.exp(np.diag(raw)))",
       "test_cholesky_from_params"),
    _w("cholesky: upper-triangular factor", "cholesky_from_params", CH,
       "raw = np.asarray(raw)\nreturn np.triu(raw, 1) + np.diag(np.exp(np.diag(raw)))",
       "test_cholesky_from_params"),
    _w("cholesky: exp on the whole lower triangle", "cholesky_from_params", CH,
       "return np.tril(np.exp(np.asarray(raw)))", "test_cholesky_from_params"),
    _w("cholesky: raw diagonal without exp", "cholesky_from_params", CH,
       "return np.tril(np.asarray(raw))", "test_cholesky_from_params"),
    _w("sample_mvn: L transposed (eps @ L)", "sample_mvn", MV,
       "return np.asarray(mu) + np.asarray(eps) @ np.asarray(L)", "test_sample_mvn"),
    _w("sample_mvn: mean missing", "sample_mvn", MV, "return np.asarray(eps) @ np.asarray(L).T", "test_sample_mvn"),
    _w("sample_mvn: Σ = L Lᵀ used instead of L", "sample_mvn", MV,
       "L = np.asarray(L)\nreturn np.asarray(mu) + np.asarray(eps) @ (L @ L.T).T", "test_sample_mvn"),
    _w("sample_mvn: hard-coded example", "sample_mvn", MV,
       "return np.array([[3.0, -1.4], [1.0, -1.5], [2.0, -2.2]])", "test_sample_mvn"),
    Variant("true/false: Cholesky factor called upper-triangular",
            {"tf_cholesky": TF_OK.replace("2: False", "2: True")}, keeps={"test_tf_cholesky": 4 / 6}),
    Variant("true/false: ReLU diagonal accepted and the factor called upper-triangular",
            {"tf_cholesky": TF_OK.replace("5: False", "5: True").replace("2: False", "2: True")},
            keeps={"test_tf_cholesky": 2 / 6}),
    Variant("true/false: eps @ L accepted",
            {"tf_cholesky": TF_OK.replace("4: False", "4: True")}, keeps={"test_tf_cholesky": 4 / 6}),
    Variant("true/false: three wrong (upper triangle, ReLU, eps @ L)",
            {"tf_cholesky": TF_OK.replace("2: False", "2: True").replace("4: False", "4: True")
             .replace("5: False", "5: True")}, loses={"test_tf_cholesky"}),
    Variant("VAE choices: differentiability of the decoder missed",
            {"vae_choices": 'vae_choices = ["B", "C"]'}, keeps={"test_vae_choices": 4 / 6}),
    Variant("VAE choices: 'backprop through randomness is impossible' included, F missed",
            {"vae_choices": 'vae_choices = ["A", "B", "C"]'}, keeps={"test_vae_choices": 2 / 6}),
    Variant("VAE choices: variance statement and F missed",
            {"vae_choices": 'vae_choices = ["B"]'}, keeps={"test_vae_choices": 2 / 6}),
    Variant("VAE choices: 'randomness removed' and E included",
            {"vae_choices": 'vae_choices = ["B", "C", "D", "E"]'}, loses={"test_vae_choices"}),
    # guesses earn nothing: three of the six true/false answers are True, three of the six letters are right
    Variant("guess: all True in tf_cholesky", {"tf_cholesky": "tf_answers = {1: True, 2: True, 3: True, 4: True, 5: True, 6: True}"},
            loses={"test_tf_cholesky"}),
    Variant("guess: all False in tf_cholesky", {"tf_cholesky": "tf_answers = {1: False, 2: False, 3: False, 4: False, 5: False, "
                                                "6: False}"}, loses={"test_tf_cholesky"}),
    Variant("guess: empty in tf_cholesky", {"tf_cholesky": "tf_answers = {}"}, loses={"test_tf_cholesky"}),
    Variant("guess: all letters in vae_choices", {"vae_choices": 'vae_choices = list("ABCDEF")'}, loses={"test_vae_choices"}),
    Variant("guess: empty in vae_choices", {"vae_choices": "vae_choices = []"}, loses={"test_vae_choices"}),
    _w("pathwise: chain-rule factor u missing", "pathwise_grad", PW, """
a, b = theta
v = np.asarray(v)
x = np.sin(a * u) + np.exp(b) * v
return np.array([np.mean(2 * x * np.cos(a * u)), np.mean(2 * x * np.exp(b) * v)])""", "test_pathwise_grad"),
    _w("pathwise: exact gradient instead of the estimate", "pathwise_grad", PW, """
a, b = theta
return np.array([u * np.sin(2 * a * u), 2 * np.exp(2 * b)])""", "test_pathwise_grad"),
    _w("pathwise: gradient of the sum", "pathwise_grad", PW, """
th = torch.tensor(np.asarray(theta, dtype=float), requires_grad=True)
x = torch.sin(th[0] * u) + torch.exp(th[1]) * torch.as_tensor(v)
(x ** 2).sum().backward()
return th.grad.numpy()""", "test_pathwise_grad"),
    _w("score function (categorical): the baseline ignored", "score_function_grad_cat", SC, _SC_HEAD + """
return f_values[z][:, None] * (np.eye(theta.size)[z] - pi)""", "test_score_function_grad_cat"),
    _w("score function (categorical): the score as e_z, without - pi", "score_function_grad_cat", SC, _SC_HEAD + """
return (f_values[z] - b)[:, None] * np.eye(theta.size)[z]""", "test_score_function_grad_cat"),
    _w("score function (categorical): the baseline subtracted from the score", "score_function_grad_cat", SC,
       _SC_HEAD + """
return f_values[z][:, None] * (np.eye(theta.size)[z] - pi - b)""", "test_score_function_grad_cat"),
    _w("score function (categorical): the mean over samples instead of one row each", "score_function_grad_cat", SC,
       _SC_HEAD + """
return np.mean((f_values[z] - b)[:, None] * (np.eye(theta.size)[z] - pi), axis=0)""", "test_score_function_grad_cat"),
    _w("score function (categorical): probabilities without the softmax", "score_function_grad_cat", SC, """
theta, f_values, z = np.asarray(theta, dtype=float), np.asarray(f_values, dtype=float), np.asarray(z)
return (f_values[z] - b)[:, None] * (np.eye(theta.size)[z] - theta)""", "test_score_function_grad_cat"),
    _w("score function (categorical): the exact gradient in every row", "score_function_grad_cat", SC, _SC_HEAD + """
return np.tile(pi * (f_values - pi @ f_values), (len(z), 1))""", "test_score_function_grad_cat"),
    _w("Gumbel-softmax without the temperature", "gumbel_softmax_grad", GS, _GS_HEAD + """
y = torch.softmax(th + g, dim=-1)
if hard:
    y = torch.nn.functional.one_hot(y.argmax(-1), y.shape[-1]).to(y.dtype) + y - y.detach()
((y @ w - t) ** 2).sum().backward()
return th.grad.numpy()""", "test_gumbel_softmax_grad"),
    _w("Gumbel-softmax ignoring the noise", "gumbel_softmax_grad", GS, _GS_HEAD + """
y = torch.softmax(th / tau, dim=-1)
if hard:
    y = torch.nn.functional.one_hot((th + g).argmax(-1), y.shape[-1]).to(y.dtype) + y - y.detach()
((y @ w - t) ** 2).sum().backward()
return th.grad.numpy()""", "test_gumbel_softmax_grad"),
    _w("straight-through returning the relaxed gradient (hard ignored)", "gumbel_softmax_grad", GS, _GS_HEAD + """
y = torch.softmax((th + g) / tau, dim=-1)
((y @ w - t) ** 2).sum().backward()
return th.grad.numpy()""", "test_gumbel_softmax_grad"),
    _w("straight-through with the one-hot detached: zero gradient", "gumbel_softmax_grad", GS, _GS_HEAD + """
y = torch.softmax((th + g) / tau, dim=-1)
if hard:
    y = torch.nn.functional.one_hot(y.argmax(-1), y.shape[-1]).to(y.dtype) + 0 * y
((y @ w - t) ** 2).sum().backward()
return th.grad.numpy()""", "test_gumbel_softmax_grad"),
    _w("Gumbel-softmax: one shared theta, the summed gradient in every row", "gumbel_softmax_grad", GS, """
g = torch.as_tensor(np.asarray(g, dtype=float))
th = torch.tensor(np.asarray(theta, dtype=float), requires_grad=True)
y = torch.softmax((th + g) / tau, dim=-1)
if hard:
    y = torch.nn.functional.one_hot(y.argmax(-1), y.shape[-1]).to(y.dtype) + y - y.detach()
((y @ torch.as_tensor(np.asarray(w, dtype=float)) - t) ** 2).sum().backward()
return np.tile(th.grad.numpy(), (g.shape[0], 1))""", "test_gumbel_softmax_grad"),
    _w("pathwise: derivative of exp(b) taken as 1", "pathwise_grad", PW, """
a, b = theta
v = np.asarray(v)
x = np.sin(a * u) + np.exp(b) * v
return np.array([np.mean(2 * x * u * np.cos(a * u)), np.mean(2 * x * v)])""", "test_pathwise_grad"),
]


def _c(name, cell, sig, body):
    return Variant(name, {cell: _fn(sig, body)})


CORRECT_ALTERNATIVES = [
    _c("reparam via torch autograd, returns a tensor", "reparam_grad_x2", X2, """
t = torch.tensor(float(theta), requires_grad=True)
((t + torch.as_tensor(eps)) ** 2).mean().backward()
return t.grad"""),
    _c("reparam in float32", "reparam_grad_x2", X2,
       "e = np.asarray(eps, dtype=np.float32)\nreturn np.float32(2) * (np.float32(theta) + e).mean()"),
    _c("reparam with an explicit loop", "reparam_grad_x2", X2, """
total = 0.0
for e in eps:
    total += 2 * (theta + e)
return total / len(eps)"""),
    _c("autograd in float32 on the CPU", "autograd_grad_x2", AG, """
t = torch.tensor(float(theta), dtype=torch.float32, requires_grad=True)
e = torch.tensor(np.asarray(eps), dtype=torch.float32)
loss = torch.mean(torch.square(t + e))
(g,) = torch.autograd.grad(loss, t)
return g"""),
    _c("score function with a loop", "score_function_grad_x2", SF, """
s = 0.0
for xi in x:
    s += xi * xi * (xi - theta)
return s / len(x)"""),
    _c("score function via torch autograd of log q, float32", "score_function_grad_x2", SF, """
t = torch.tensor(float(theta), dtype=torch.float32, requires_grad=True)
xt = torch.tensor(np.asarray(x), dtype=torch.float32)
logq = torch.distributions.Normal(t, 1.0).log_prob(xt)
surrogate = (xt ** 2 * logq).mean()
surrogate.backward()
return t.grad"""),
    _c("baseline via torch", "score_function_grad_x2_baseline", SB, """
xt = torch.as_tensor(x)
return ((xt ** 2 - b) * (xt - theta)).mean()"""),
    _c("mu/sigma via autograd, returns a tensor", "reparam_grad_mu_sigma", MS, """
p = torch.tensor([float(mu), float(sigma)], requires_grad=True)
x = p[0] + p[1] * torch.as_tensor(eps)
(x ** 2).mean().backward()
return p.grad"""),
    _c("mu/sigma in float32 as an array", "reparam_grad_mu_sigma", MS, """
e = np.asarray(eps, dtype=np.float32)
x = np.float32(mu) + np.float32(sigma) * e
return np.array([np.mean(2 * x), np.mean(2 * x * e)], dtype=np.float32)"""),
    _c("logvar via autograd", "reparam_grad_mu_logvar", ML, """
p = torch.tensor([float(mu), float(logvar)], requires_grad=True)
x = p[0] + torch.exp(0.5 * p[1]) * torch.as_tensor(eps)
(x ** 2).mean().backward()
return p.grad.tolist()"""),
    _c("logvar by hand, simplified", "reparam_grad_mu_logvar", ML, """
e = np.asarray(eps)
s = np.sqrt(np.exp(logvar))
x = mu + s * e
return [2 * x.mean(), (x * e).mean() * s]"""),
    _c("cholesky with loops", "cholesky_from_params", CH, """
d = len(raw)
L = [[0.0] * d for _ in range(d)]
for i in range(d):
    for j in range(i):
        L[i][j] = float(raw[i][j])
    L[i][i] = float(np.exp(raw[i][i]))
return L"""),
    _c("cholesky in torch float32", "cholesky_from_params", CH, """
r = torch.tensor(np.asarray(raw), dtype=torch.float32)
return torch.tril(r, diagonal=-1) + torch.diag_embed(torch.exp(torch.diagonal(r)))"""),
    _c("sample_mvn row by row", "sample_mvn", MV, """
L = np.asarray(L)
return np.array([np.asarray(mu) + L @ e for e in np.asarray(eps)])"""),
    _c("sample_mvn with torch float32", "sample_mvn", MV, """
m = torch.tensor(np.asarray(mu), dtype=torch.float32)
Lt = torch.tensor(np.asarray(L), dtype=torch.float32)
e = torch.tensor(np.asarray(eps), dtype=torch.float32)
return m + (Lt @ e.T).T"""),
    _c("sample_mvn with einsum", "sample_mvn", MV,
       "return np.asarray(mu) + np.einsum('ij,nj->ni', np.asarray(L), np.asarray(eps))"),
    Variant("true/false with string keys", {"tf_cholesky": 'tf_answers = {"1": True, "2": False, "3": True, '
                                                           '"4": False, "5": False, "6": True}'}),
    Variant("VAE choices as a lower-case tuple", {"vae_choices": 'vae_choices = ("c", "f", "b")'}),
    _c("score function (categorical) with a loop and a Python list", "score_function_grad_cat", SC, """
theta = np.asarray(theta, dtype=float)
pi = np.exp(theta) / np.exp(theta).sum()
rows = []
for zi in np.asarray(z).tolist():
    score = -pi.copy()
    score[zi] += 1.0
    rows.append(((f_values[zi] - b) * score).tolist())
return rows"""),
    _c("score function (categorical) by autograd of torch.distributions.Categorical, float32", "score_function_grad_cat",
       SC, """
zt = torch.as_tensor(np.asarray(z), dtype=torch.long)
th = torch.tensor(np.asarray(theta, dtype=np.float32)).expand(len(zt), -1).clone().requires_grad_(True)
log_q = torch.distributions.Categorical(logits=th).log_prob(zt)
weight = torch.as_tensor(np.asarray(f_values, dtype=np.float32))[zt] - b
(weight * log_q).sum().backward()
return th.grad"""),
    _c("Gumbel-softmax by hand: the softmax's Jacobian, in numpy", "gumbel_softmax_grad", GS, """
g = np.asarray(g, dtype=float)
a = (np.asarray(theta, dtype=float) + g) / tau
y = np.exp(a - a.max(axis=1, keepdims=True))
y = y / y.sum(axis=1, keepdims=True)
value = w[np.argmax(a, axis=1)] if hard else y @ w
d_value = 2 * (value - t)
return d_value[:, None] * (y * w - y * (y @ w)[:, None]) / tau"""),
    _c("Gumbel-softmax in float32 torch, a loop over samples with torch.autograd.grad", "gumbel_softmax_grad", GS, """
rows = []
wt = torch.tensor(np.asarray(w), dtype=torch.float32)
for gi in np.asarray(g):
    th = torch.tensor(np.asarray(theta), dtype=torch.float32, requires_grad=True)
    y = torch.softmax((th + torch.tensor(gi, dtype=torch.float32)) / tau, dim=0)
    if hard:
        y = torch.nn.functional.one_hot(y.argmax(), y.numel()).float() + y - y.detach()
    (grad,) = torch.autograd.grad((y @ wt - t) ** 2, th)
    rows.append(grad)
return torch.stack(rows)"""),
    _c("pathwise by hand with numpy", "pathwise_grad", PW, """
a, b = theta
v = np.asarray(v)
x = np.sin(a * u) + np.exp(b) * v
return [np.mean(2 * x * u * np.cos(a * u)), np.mean(2 * x * np.exp(b) * v)]"""),
    _c("pathwise with torch float32 and autograd.grad", "pathwise_grad", PW, """
a = torch.tensor(float(theta[0]), dtype=torch.float32, requires_grad=True)
b = torch.tensor(float(theta[1]), dtype=torch.float32, requires_grad=True)
x = torch.sin(a * u) + torch.exp(b) * torch.tensor(np.asarray(v), dtype=torch.float32)
ga, gb = torch.autograd.grad((x ** 2).mean(), (a, b))
return torch.stack([ga, gb])"""),
]
