"""Hidden checks for assignment 03 (the reparameterization trick).

Every function a student writes receives its random samples as an argument, so
each check compares exactly (float32-tolerant) with the estimate from THOSE
samples, on the notebook's example and on unseen inputs from fixed seeds.
Where a check also compares with the exact gradient or distribution, the
tolerance is z = 4 Monte Carlo standard errors.
"""

import math

import numpy as np

from vicourse.checking import Variant, as_array, as_float, assert_close, assert_within_se, grade_items, hidden_rng

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
    """Part D.3: the six true/false statements about Cholesky factors, each worth its share."""
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
    the five letters, chosen or not, is an item worth its share."""
    value = nb.value("vae_choices")
    if not isinstance(value, list) or not all(isinstance(c, str) for c in value):
        raise AssertionError('vae_choices must be a list of letters, e.g. ["A", "D"]')
    chosen = {c.strip().upper() for c in value}
    if not chosen <= set("ABCDE"):
        raise AssertionError("vae_choices: use the letters A to E only")
    grade_items({c: c in chosen for c in "ABCDE"}, {c: c in "BC" for c in "ABCDE"}, "statements (chosen or not)")


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
            {"tf_cholesky": TF_OK.replace("2: False", "2: True")}, keeps={"test_tf_cholesky": 5 / 6}),
    Variant("true/false: ReLU diagonal accepted and the factor called upper-triangular",
            {"tf_cholesky": TF_OK.replace("5: False", "5: True").replace("2: False", "2: True")},
            keeps={"test_tf_cholesky": 4 / 6}),
    Variant("true/false: eps @ L accepted",
            {"tf_cholesky": TF_OK.replace("4: False", "4: True")}, keeps={"test_tf_cholesky": 5 / 6}),
    Variant("VAE choices: 'backprop through randomness is impossible' included",
            {"vae_choices": 'vae_choices = ["A", "B", "C"]'}, keeps={"test_vae_choices": 4 / 5}),
    Variant("VAE choices: variance statement missed",
            {"vae_choices": 'vae_choices = ["B"]'}, keeps={"test_vae_choices": 4 / 5}),
    Variant("VAE choices: 'randomness removed' and E included",
            {"vae_choices": 'vae_choices = ["B", "C", "D", "E"]'}, keeps={"test_vae_choices": 3 / 5}),
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
    Variant("VAE choices as a lower-case tuple", {"vae_choices": 'vae_choices = ("c", "b")'}),
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
