"""Hidden checks for assignment 02_elbo (the evidence lower bound).

Each check receives a `Student` (vicourse.grading.student) and compares the student's
results with private reference implementations on the notebook's example and on
unseen random inputs drawn from the grading secret (`hidden_rng`). Multi-item blocks
are scored right minus wrong (`grade_items`) on balanced keys.
"""

import logging
import math

import numpy as np
from scipy.special import logsumexp, xlogy
from scipy.stats import norm

from vicourse.grading.checking import TorchTensor, Variant, as_array, assert_close, grade_items, hidden_rng

log = logging.getLogger("vicourse.checks")

# The notebook's running example (mirrors the read-only cell `example_data`).
PI_EX = np.array([0.3, 0.7])
MU_EX = np.array([-2.0, 1.5])
SIGMA_EX = np.array([0.8, 1.2])
X_EX = np.array([-3.0, -1.0, 0.0, 1.0, 2.5, 4.0])
Q_EX = np.array([[0.5, 0.5], [0.9, 0.1], [0.2, 0.8], [0.6, 0.4], [0.1, 0.9], [0.3, 0.7]])
LOGW_EX = np.array([[-1.0, -2.0, -0.5], [-3.0, -3.0, -3.0], [-900.0, -901.0, -905.0]])
MU_KL = np.array([[0.0, 0.0, 0.0], [1.0, -2.0, 0.5]])
LV_KL = np.array([[0.0, 0.0, 0.0], [-1.0, 0.5, 2.0]])


# ---------------------------------------------------------------- references


def _log_joint(x, pi, mu, sigma):
    """log p(x_i, z = k), shape (n, K)."""
    x = np.asarray(x, dtype=float)[:, None]
    return np.log(pi) + norm.logpdf(x, loc=np.asarray(mu, float), scale=np.asarray(sigma, float))


def _ref_log_evidence(x, pi, mu, sigma):
    return logsumexp(_log_joint(x, pi, mu, sigma), axis=1)


def _ref_posterior(x, pi, mu, sigma):
    lj = _log_joint(x, pi, mu, sigma)
    return np.exp(lj - logsumexp(lj, axis=1, keepdims=True))


def _ref_elbo(x, q, pi, mu, sigma):
    q = np.asarray(q, dtype=float)
    return np.sum(q * _log_joint(x, pi, mu, sigma), axis=1) - np.sum(xlogy(q, q), axis=1)


def _ref_iwae(log_w):
    log_w = np.asarray(log_w, dtype=float)
    return logsumexp(log_w, axis=-1, b=1.0 / log_w.shape[-1])


def _ref_kl(mu, logvar):
    """Per-dimension log(1/sigma) + (sigma^2 + mu^2)/2 - 1/2, summed over the last axis."""
    mu, logvar = np.asarray(mu, float), np.asarray(logvar, float)
    sigma = np.exp(0.5 * logvar)
    return np.sum(-np.log(sigma) + 0.5 * (sigma**2 + mu**2) - 0.5, axis=-1)


# ---------------------------------------------------------------- unseen inputs


def _mixture(rng, k):
    pi = rng.dirichlet(np.full(k, 2.0))
    mu = np.sort(rng.normal(0.0, 2.5, k))
    sigma = rng.uniform(0.5, 2.0, k)
    return pi, mu, sigma


def _points(rng, mu, n):
    return rng.uniform(mu.min() - 4.0, mu.max() + 4.0, n)


def _narrow_mixture(rng, k):
    """Components narrow enough that every density underflows to 0 at |x| = 50."""
    pi, mu, _ = _mixture(rng, k)
    return pi, mu, rng.uniform(0.5, 1.0, k)


TAIL_X = np.array([-60.0, -50.0, 45.0, 50.0])


# ---------------------------------------------------------------- checks


def test_log_evidence(nb):
    """Part C.1: log p(x) of a Gaussian mixture on the example, on unseen mixtures (K = 2, 3) and far in the tails."""
    assert_close(nb.log_evidence(X_EX, PI_EX, MU_EX, SIGMA_EX), _ref_log_evidence(X_EX, PI_EX, MU_EX, SIGMA_EX),
                 "log p(x) on the example mixture", rtol=1e-5, atol=1e-5)
    rng = hidden_rng(20201)
    for k in (2, 3, 3):
        pi, mu, sigma = _mixture(rng, k)
        x = _points(rng, mu, 25)
        assert_close(nb.log_evidence(x, pi, mu, sigma), _ref_log_evidence(x, pi, mu, sigma),
                     f"log p(x) on an unseen {k}-component mixture (log of the pi-weighted sum of the component densities)",
                     rtol=1e-5, atol=1e-5)
    pi, mu, sigma = _narrow_mixture(rng, 3)
    got = as_array(nb.log_evidence(TAIL_X, pi, mu, sigma), "log p(x) far in the tails", shape=(TAIL_X.size,))
    if not np.isfinite(got).all():
        raise AssertionError("log p(x) far in the tails (|x| around 50) is not finite: use log-sum-exp on the log-joint")
    assert_close(got, _ref_log_evidence(TAIL_X, pi, mu, sigma), "log p(x) far in the tails", rtol=1e-5, atol=1e-5)


def test_posterior(nb):
    """Part C.2: p(z|x) on the example, on unseen mixtures (K = 2, 3) and far in the tails."""
    assert_close(nb.posterior(X_EX, PI_EX, MU_EX, SIGMA_EX), _ref_posterior(X_EX, PI_EX, MU_EX, SIGMA_EX),
                 "p(z|x) on the example mixture", rtol=1e-5, atol=1e-5)
    rng = hidden_rng(20202)
    for k in (2, 3, 3):
        pi, mu, sigma = _mixture(rng, k)
        x = _points(rng, mu, 25)
        assert_close(nb.posterior(x, pi, mu, sigma), _ref_posterior(x, pi, mu, sigma),
                     f"p(z|x) on an unseen {k}-component mixture (shape (n, K), rows pi_k N_k / p(x))",
                     rtol=1e-5, atol=1e-5)
    pi, mu, sigma = _narrow_mixture(rng, 3)
    got = as_array(nb.posterior(TAIL_X, pi, mu, sigma), "p(z|x) far in the tails", shape=(TAIL_X.size, 3))
    if not np.isfinite(got).all():
        raise AssertionError("p(z|x) far in the tails (|x| around 50) is not finite: normalise in log space")
    # float32 work loses a few digits of the log-joint at |x| = 50, hence the looser tolerance here
    assert_close(got, _ref_posterior(TAIL_X, pi, mu, sigma), "p(z|x) far in the tails", rtol=1e-3, atol=1e-3)


def test_elbo(nb):
    """Part C.3: the ELBO for given q on the example, random q, one-hot q (0 log 0 = 0) and q = posterior."""
    assert_close(nb.elbo(X_EX, Q_EX, PI_EX, MU_EX, SIGMA_EX), _ref_elbo(X_EX, Q_EX, PI_EX, MU_EX, SIGMA_EX),
                 "ELBO on the example", rtol=1e-5, atol=1e-5)
    rng = hidden_rng(20203)
    for k in (2, 3):
        pi, mu, sigma = _mixture(rng, k)
        x = _points(rng, mu, 20)
        q = rng.dirichlet(np.ones(k), size=x.size)
        assert_close(nb.elbo(x, q, pi, mu, sigma), _ref_elbo(x, q, pi, mu, sigma),
                     f"ELBO for random q on an unseen {k}-component mixture "
                     "(expected log-joint under q plus the entropy of q)", rtol=1e-5, atol=1e-5)
    pi, mu, sigma = _mixture(rng, 3)
    x = _points(rng, mu, 6)
    one_hot = np.eye(3)[rng.integers(0, 3, x.size)]
    assert_close(nb.elbo(x, one_hot, pi, mu, sigma), _ref_elbo(x, one_hot, pi, mu, sigma),
                 "ELBO for one-hot q (q contains zeros: use 0 log 0 = 0)", rtol=1e-5, atol=1e-5)
    post = _ref_posterior(x, pi, mu, sigma)
    assert_close(nb.elbo(x, post, pi, mu, sigma), _ref_log_evidence(x, pi, mu, sigma),
                 "ELBO at q = posterior (it must equal log p(x))", rtol=1e-5, atol=1e-5)


def test_iwae_bound(nb):
    """Part C.4: log of the mean importance weight per row, on the example and on unseen log-weights (k = 1, 7, 50)."""
    assert_close(nb.iwae_bound(LOGW_EX), _ref_iwae(LOGW_EX), "IWAE estimates on the example log-weights",
                 rtol=1e-5, atol=1e-5)
    rng = hidden_rng(20204)
    cases = [
        (rng.normal(-3.0, 2.0, (20, 7)), "unseen log-weights with k = 7"),
        (rng.normal(-2.0, 1.0, (5, 1)), "unseen log-weights with k = 1 (the estimate is the log-weight itself)"),
        (rng.normal(-1000.0, 3.0, (6, 50)), "very negative log-weights (around -1000): work in log space"),
    ]
    for log_w, what in cases:
        assert_close(nb.iwae_bound(log_w), _ref_iwae(log_w), f"IWAE estimates for {what}", rtol=1e-5, atol=1e-5)


def test_kl_to_prior(nb):
    """Part D.1: closed-form KL(N(mu, diag exp(logvar)) || N(0, I)) summed over the last axis: numpy arrays, and
    torch tensors in float32 and float64 (what the question promises; no lists or Python numbers)."""
    assert_close(nb.kl_to_prior(MU_KL, LV_KL), _ref_kl(MU_KL, LV_KL), "KL on the example", rtol=1e-5, atol=1e-5)
    rng = hidden_rng(20205)
    mu, lv = rng.normal(0.0, 1.5, (8, 4)), rng.uniform(-5.0, 2.0, (8, 4))
    assert_close(nb.kl_to_prior(mu, lv), _ref_kl(mu, lv),
                 "KL for an unseen batch of shape (8, 4) (logvar is log sigma^2; sum over the last axis)",
                 rtol=1e-5, atol=1e-5)
    mu, lv = rng.normal(0.0, 1.0, 6), rng.uniform(-3.0, 1.0, 6)
    assert_close(nb.kl_to_prior(mu, lv), _ref_kl(mu, lv), "KL for a single 1-D input of shape (6,) (a scalar)",
                 rtol=1e-5, atol=1e-5)
    mu, lv = rng.normal(0.0, 1.0, (2, 3, 5)), rng.uniform(-3.0, 1.0, (2, 3, 5))
    assert_close(nb.kl_to_prior(mu, lv), _ref_kl(mu, lv), "KL for an input of shape (2, 3, 5) (result shape (2, 3))",
                 rtol=1e-5, atol=1e-5)
    mu, lv = rng.normal(0.0, 1.0, (8, 4)), rng.uniform(-4.0, 2.0, (8, 4))
    mu32, lv32 = mu.astype(np.float32).astype(float), lv.astype(np.float32).astype(float)
    assert_close(nb.kl_to_prior(TorchTensor(mu32), TorchTensor(lv32)), _ref_kl(mu32, lv32),
                 "KL for float32 torch tensors of shape (8, 4)", rtol=1e-5, atol=1e-5)
    mu, lv = rng.normal(0.0, 1.0, (3, 5)), rng.uniform(-4.0, 2.0, (3, 5))
    assert_close(nb.kl_to_prior(TorchTensor(mu, "float64"), TorchTensor(lv, "float64")), _ref_kl(mu, lv),
                 "KL for float64 torch tensors of shape (3, 5)", rtol=1e-5, atol=1e-5)


def _judgements(nb, name, answers):
    value = nb.value(name)
    if not isinstance(value, dict):
        raise AssertionError(f"`{name}` must be a dict mapping statement numbers to True/False")
    got = {str(k): v for k, v in value.items()}
    if set(got) != set(answers):
        raise AssertionError(f"`{name}` needs exactly the keys {sorted(int(k) for k in answers)}")
    if not all(isinstance(v, bool) for v in got.values()):
        raise AssertionError(f"every value of `{name}` must be True or False")
    grade_items(got, answers, f"judgements in `{name}`")


def test_elbo_claims(nb):
    """Part B.3: true/false judgements of six statements about the ELBO (three are common handout errors)."""
    _judgements(nb, "elbo_claims", {"1": True, "2": False, "3": True, "4": False, "5": False, "6": True})


def test_vi_claims(nb):
    """Part E.2: true/false judgements about reparameterisation, VAE posteriors, beta-VAE, forward/reverse KL and
    amortised inference."""
    _judgements(nb, "vi_claims", {"1": True, "2": False, "3": False, "4": True, "5": False, "6": True})



# ---------------------------------------------------------------- Part F: inclusive versus exclusive KL

_MIX_LOGW = np.log(np.array([1 / 3, 2 / 3]))
_MIX_MU = np.array([-3.0, 3.0])
_X = np.linspace(-20.0, 20.0, 16001)
_Z = np.linspace(-12.0, 12.0, 6001)
_LOG_PHI_Z = -0.5 * _Z**2 - 0.5 * np.log(2 * np.pi)


def _ref_log_p(x):
    x = np.asarray(x, dtype=float)[..., None]
    return logsumexp(_MIX_LOGW - 0.5 * (x - _MIX_MU) ** 2 - 0.5 * np.log(2 * np.pi), axis=-1)


_LOG_P_X = _ref_log_p(_X)


def _ref_kl_p_q(mu, sigma):
    log_q = -0.5 * ((_X - mu) / sigma) ** 2 - np.log(sigma) - 0.5 * np.log(2 * np.pi)
    return float(np.trapezoid(np.exp(_LOG_P_X) * (_LOG_P_X - log_q), _X))


def _ref_kl_q_p(mu, sigma):
    x = mu + sigma * _Z
    log_q = _LOG_PHI_Z - np.log(sigma)
    return float(np.trapezoid(np.exp(_LOG_PHI_Z) * (log_q - _ref_log_p(x)), _Z))


# the two local minima of KL(q || p) over (mu, sigma), measured with this reference
_EXCLUSIVE_MINIMA = {
    "the global minimum on the heavier mode": (2.98964, 1.01595),
    "the local minimum on the lighter mode": (-2.97588, 1.03465),
}


def _grad_hess_log_sigma(mu, sigma, h=1e-4):
    f = lambda a, b: _ref_kl_q_p(a, math.exp(b))  # noqa: E731
    t = np.array([mu, math.log(sigma)])
    e = np.eye(2) * h
    g = np.array([(f(*(t + e[i])) - f(*(t - e[i]))) / (2 * h) for i in range(2)])
    hess = np.array([[(f(*(t + e[i] + e[j])) - f(*(t + e[i] - e[j])) - f(*(t - e[i] + e[j]))
                       + f(*(t - e[i] - e[j]))) / (4 * h * h) for j in range(2)] for i in range(2)])
    return g, hess


def _gaussian_mixture_1d(k, rng):
    return rng.dirichlet(np.ones(k)), rng.normal(0, 3, size=k), rng.uniform(0.3, 2.0, size=k)


def test_moment_match(nb):
    """Part F1: moment matching (mean, standard deviation) for the mixture of Part F and unseen Gaussian mixtures."""
    rng = hidden_rng(1001)
    mixtures = [(np.array([1 / 3, 2 / 3]), np.array([-3.0, 3.0]), np.array([1.0, 1.0]))]
    mixtures += [_gaussian_mixture_1d(k, rng) for k in (2, 3, 4, 5)]
    for i, (w, m, s) in enumerate(mixtures):
        what = "moment_match for the mixture of Part F" if i == 0 else f"moment_match on an unseen {len(w)}-component mixture"
        got = as_array(nb.moment_match(w, m, s), what, shape=(2,))
        mu = np.sum(w * m)
        var = np.sum(w * s**2) + np.sum(w * (m - mu) ** 2)
        if math.isclose(got[1], var, rel_tol=1e-5) and not math.isclose(var, math.sqrt(var), rel_tol=1e-5):
            raise AssertionError(f"{what}: the second number looks like a variance; return the standard deviation sigma")
        assert_close(got, [mu, math.sqrt(var)],
                     f"{what}: mu = sum_k w_k m_k and sigma^2 = sum_k w_k (s_k^2 + m_k^2) - mu^2")


def _kl_inputs(seed):
    rng = hidden_rng(seed)
    return [(1.0, 3.0), (3.0, 1.0)] + [(rng.uniform(-5, 5), rng.uniform(0.2, 4.0)) for _ in range(5)]


def test_kl_p_q(nb):
    """Part F2: inclusive KL(p || N(mu, sigma^2)) for the mixture, at the example and unseen (mu, sigma)."""
    for mu, sigma in _kl_inputs(1102):
        assert_close(nb.kl_p_q(mu, sigma), _ref_kl_p_q(mu, sigma),
                     f"kl_p_q({mu:.3f}, {sigma:.3f}): integrate p(x) [log p(x) - log q(x)] over x, accurately "
                     "for mu in [-5, 5] and sigma in [0.2, 4]", rtol=1e-5, atol=1e-7)


def test_kl_q_p(nb):
    """Part F3: exclusive KL(N(mu, sigma^2) || p) for the mixture, at the example and unseen (mu, sigma)."""
    for mu, sigma in _kl_inputs(1203):
        assert_close(nb.kl_q_p(mu, sigma), _ref_kl_q_p(mu, sigma),
                     f"kl_q_p({mu:.3f}, {sigma:.3f}): integrate q(x) [log q(x) - log p(x)], e.g. over z with "
                     "x = mu + sigma z; it must stay accurate for narrow, wide and distant q", rtol=1e-5, atol=1e-7)


def _nearest_minimum(mu, sigma):
    name, (m, s) = min(_EXCLUSIVE_MINIMA.items(), key=lambda kv: math.hypot(mu - kv[1][0], sigma - kv[1][1]))
    return name, math.hypot(mu - m, sigma - s)


def test_fit_exclusive(nb):
    """Part F4: fit_exclusive returns a local minimum of KL(q || p) (small gradient, positive curvature) from every start."""
    rng = hidden_rng(1304)
    starts = [(3.0, 1.0), (-3.0, 1.0), (0.0, 1.0)] + [(rng.uniform(-4, 4), rng.uniform(0.5, 3.0)) for _ in range(2)]
    for i, (mu0, s0) in enumerate(starts):
        what = f"fit_exclusive({mu0:.3f}, {s0:.3f})"
        mu, sigma, kl = as_array(nb.fit_exclusive(mu0, s0), what, shape=(3,))
        if not sigma > 0:
            raise AssertionError(f"{what}: the second number must be the standard deviation sigma > 0")
        assert_close(kl, _ref_kl_q_p(mu, sigma), f"{what}: the third number must be KL(q||p) at the returned (mu, sigma)",
                     rtol=1e-5, atol=1e-7)
        grad, hess = _grad_hess_log_sigma(mu, sigma)
        if np.linalg.norm(grad) > 1e-3:
            raise AssertionError(f"{what}: the returned point is not a stationary point of KL(q||p) (the gradient is not "
                                 "close to 0); minimise kl_q_p over (mu, log sigma) until convergence")
        if np.linalg.eigvalsh(hess).min() < 0.05:
            raise AssertionError(f"{what}: the returned point is not a local minimum (the curvature is not positive)")
        name, dist = _nearest_minimum(mu, sigma)
        log.info("%s reached %s (mu = %.4f, sigma = %.4f, KL = %.4f)", what, name, mu, sigma, kl)
        if i < 2:
            expected = "the global minimum on the heavier mode" if mu0 > 0 else "the local minimum on the lighter mode"
            if name != expected or dist > 0.05:
                raise AssertionError(f"{what}: started on a mode, the fit should stay on that mode")


def test_mc_answers(nb):
    """Part F6: three multiple-choice items on the symmetric mixture 1/2 N(-5, 1) + 1/2 N(5, 1)
    (with its central local minimum), scored right minus wrong; each item has its own letter."""
    got = nb.value("mc_answers")
    if not isinstance(got, dict) or set(got) != {"a", "b", "c"}:
        raise AssertionError('mc_answers must be a dict with keys "a", "b", "c"')
    got = {k: str(v).strip().upper() for k, v in got.items()}
    grade_items(got, {"a": "C", "b": "B", "c": "A"}, "multiple-choice answers")


# ---------------------------------------------------------------- calibration data

_SIGS = {
    "log_evidence": ('def log_evidence(x, pi, mu, sigma):',
                     '"""Return log p(x_i) = log sum_k pi_k N(x_i; mu_k, sigma_k^2) for each x_i, shape (n,)."""'),
    "posterior": ('def posterior(x, pi, mu, sigma):',
                  '"""Return p(z = k | x_i) as an array of shape (n, K) whose rows sum to one."""'),
    "elbo": ('def elbo(x, q, pi, mu, sigma):',
             '"""Return the ELBO E_q[log p(x_i, z) - log q(z | x_i)] for each row of q, shape (n,)."""'),
    "iwae_bound": ('def iwae_bound(log_w):',
                   '"""Return log(mean_j exp(log_w[i, j])) for each row i of the (n, k) array log_w, shape (n,)."""'),
    "kl_to_prior": ('def kl_to_prior(mu, logvar):',
                      '"""Return KL(N(mu, diag(exp(logvar))) || N(0, I)) summed over the last axis."""'),
}


def _cell(name, body):
    sig, doc = _SIGS[name]
    lines = [l for l in body.strip("\n").splitlines()]
    indent = min(len(l) - len(l.lstrip()) for l in lines if l.strip())
    body = "\n".join("    " + l[indent:] for l in lines)
    return f"{sig}\n    {doc}\n{body}\n"


def _v(name, cell, body, loses):
    return Variant(name, {cell: _cell(cell, body)}, loses=loses)


_LJ = """
    x = np.asarray(x, dtype=float)[:, None]
    log_joint = np.log(pi) + norm.logpdf(x, mu, sigma)
"""

_SIG_MM = ('def moment_match(weights, means, sds):\n'
           '    """(mu, sigma) of the Gaussian minimising KL(p || q) for the 1-D mixture p = sum_k w_k N(m_k, s_k^2)."""\n')
_SIG_FIT = ('def fit_exclusive(mu0, sigma0):\n'
            '    """Local minimiser (mu, sigma, kl) of KL(N(mu, sigma^2) || p), started at (mu0, sigma0)."""\n')
_SIG_KQP = ('def kl_q_p(mu, sigma):\n'
            '    """Exclusive KL(N(mu, sigma^2) || p) in nats for the mixture p, by quadrature in z = (x - mu) / sigma."""\n')
_SIG_KPQ = 'def kl_p_q(mu, sigma):\n    """Inclusive KL(p || N(mu, sigma^2)) in nats for the mixture p, by quadrature."""\n'
_FIT_BFGS = _SIG_FIT + """    res = optimize.minimize(lambda t: kl_q_p(t[0], np.exp(t[1])), x0=[mu0, np.log(sigma0)], method="BFGS")
"""
_KQP_Z = _SIG_KQP + """    w = stats.norm.pdf(Z_GRID)
    x = mu + sigma * Z_GRID
"""

WRONG_ANSWERS = [
    _v("log-evidence with the log inside the sum over z (the Jensen slip)", "log_evidence", _LJ + """
    return np.sum(log_joint, axis=1)
""", {"test_log_evidence"}),
    _v("log-evidence as E_p(z)[log p(x|z)] (log inside the weighted sum)", "log_evidence", """
    x = np.asarray(x, dtype=float)[:, None]
    return np.sum(pi * norm.logpdf(x, mu, sigma), axis=1)
""", {"test_log_evidence"}),
    _v("log-evidence missing the mixture weights", "log_evidence", """
    x = np.asarray(x, dtype=float)[:, None]
    return logsumexp(norm.logpdf(x, mu, sigma), axis=1)
""", {"test_log_evidence"}),
    _v("log-evidence with the most likely component only (max instead of log-sum-exp)", "log_evidence", _LJ + """
    return np.max(log_joint, axis=1)
""", {"test_log_evidence"}),
    _v("log-evidence computed naively (log of a sum of densities: -inf in the tails)", "log_evidence", """
    x = np.asarray(x, dtype=float)[:, None]
    with np.errstate(divide="ignore"):
        return np.log(np.sum(pi * norm.pdf(x, mu, sigma), axis=1))
""", {"test_log_evidence"}),
    _v("log-evidence hard-coded to the example's values", "log_evidence", f"""
    return np.array({_ref_log_evidence(X_EX, PI_EX, MU_EX, SIGMA_EX).tolist()})[:len(x)]
""", {"test_log_evidence"}),
    _v("posterior not normalised (the joint p(x, z))", "posterior", _LJ + """
    return np.exp(log_joint)
""", {"test_posterior"}),
    _v("posterior missing the mixture weights", "posterior", """
    x = np.asarray(x, dtype=float)[:, None]
    log_lik = norm.logpdf(x, mu, sigma)
    return np.exp(log_lik - logsumexp(log_lik, axis=1, keepdims=True))
""", {"test_posterior"}),
    _v("posterior as a ratio of densities (NaN in the tails)", "posterior", """
    x = np.asarray(x, dtype=float)[:, None]
    joint = pi * norm.pdf(x, mu, sigma)
    with np.errstate(invalid="ignore"):
        return joint / joint.sum(axis=1, keepdims=True)
""", {"test_posterior"}),
    _v("posterior transposed to (K, n)", "posterior", _LJ + """
    return np.exp(log_joint - logsumexp(log_joint, axis=1, keepdims=True)).T
""", {"test_posterior"}),
    _v("ELBO missing the entropy term", "elbo", _LJ + """
    return np.sum(np.asarray(q) * log_joint, axis=1)
""", {"test_elbo"}),
    _v("ELBO missing the prior log pi_k", "elbo", """
    x = np.asarray(x, dtype=float)[:, None]
    q = np.asarray(q, dtype=float)
    return np.sum(q * norm.logpdf(x, mu, sigma), axis=1) - np.sum(xlogy(q, q), axis=1)
""", {"test_elbo"}),
    _v("ELBO with the entropy's sign flipped", "elbo", _LJ + """
    q = np.asarray(q, dtype=float)
    return np.sum(q * log_joint, axis=1) + np.sum(xlogy(q, q), axis=1)
""", {"test_elbo"}),
    _v("ELBO with q * log(q) (NaN when q has zeros)", "elbo", _LJ + """
    q = np.asarray(q, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.sum(q * log_joint - q * np.log(q), axis=1)
""", {"test_elbo"}),
    _v("IWAE missing the -log k", "iwae_bound", """
    return logsumexp(np.asarray(log_w, dtype=float), axis=-1)
""", {"test_iwae_bound"}),
    _v("IWAE as the mean log-weight (that is the k = 1 ELBO estimate averaged)", "iwae_bound", """
    return np.mean(np.asarray(log_w, dtype=float), axis=-1)
""", {"test_iwae_bound"}),
    _v("IWAE computed naively as log(mean(exp(log_w))) (-inf for very negative log-weights)", "iwae_bound", """
    with np.errstate(divide="ignore"):
        return np.log(np.mean(np.exp(np.asarray(log_w, dtype=float)), axis=-1))
""", {"test_iwae_bound"}),
    _v("IWAE over the wrong axis", "iwae_bound", """
    log_w = np.asarray(log_w, dtype=float)
    return logsumexp(log_w, axis=0) - np.log(log_w.shape[0])
""", {"test_iwae_bound"}),
    _v("KL reading logvar as log sigma (exp(2 logvar) as the variance)", "kl_to_prior", """
    mu, logvar = np.asarray(mu, dtype=float), np.asarray(logvar, dtype=float)
    return 0.5 * np.sum(np.exp(2 * logvar) + mu**2 - 1.0 - 2 * logvar, axis=-1)
""", {"test_kl_to_prior"}),
    _v("KL using exp(0.5 logvar) (sigma) where the variance belongs", "kl_to_prior", """
    mu, logvar = np.asarray(mu, dtype=float), np.asarray(logvar, dtype=float)
    return 0.5 * np.sum(np.exp(0.5 * logvar) + mu**2 - 1.0 - logvar, axis=-1)
""", {"test_kl_to_prior"}),
    _v("KL with 0.5 logvar in the log term", "kl_to_prior", """
    mu, logvar = np.asarray(mu, dtype=float), np.asarray(logvar, dtype=float)
    return 0.5 * np.sum(np.exp(logvar) + mu**2 - 1.0 - 0.5 * logvar, axis=-1)
""", {"test_kl_to_prior"}),
    _v("KL averaged instead of summed over the last axis", "kl_to_prior", """
    mu, logvar = np.asarray(mu, dtype=float), np.asarray(logvar, dtype=float)
    return 0.5 * np.mean(np.exp(logvar) + mu**2 - 1.0 - logvar, axis=-1)
""", {"test_kl_to_prior"}),
    _v("KL summed over all axes", "kl_to_prior", """
    mu, logvar = np.asarray(mu, dtype=float), np.asarray(logvar, dtype=float)
    return 0.5 * np.sum(np.exp(logvar) + mu**2 - 1.0 - logvar)
""", {"test_kl_to_prior"}),
    _v("KL missing the -1", "kl_to_prior", """
    mu, logvar = np.asarray(mu, dtype=float), np.asarray(logvar, dtype=float)
    return 0.5 * np.sum(np.exp(logvar) + mu**2 - logvar, axis=-1)
""", {"test_kl_to_prior"}),
    _v("KL with the log-variance's sign flipped", "kl_to_prior", """
    mu, logvar = np.asarray(mu, dtype=float), np.asarray(logvar, dtype=float)
    return 0.5 * np.sum(np.exp(logvar) + mu**2 - 1.0 + logvar, axis=-1)
""", {"test_kl_to_prior"}),
    _v("KL in the wrong direction, KL(N(0, I) || q)", "kl_to_prior", """
    mu, logvar = np.asarray(mu, dtype=float), np.asarray(logvar, dtype=float)
    return 0.5 * np.sum(np.exp(-logvar) * (1.0 + mu**2) - 1.0 + logvar, axis=-1)
""", {"test_kl_to_prior"}),
    _v("KL for numpy only (fails on torch tensors)", "kl_to_prior", """
    return 0.5 * np.sum(np.exp(logvar) + np.square(mu) - 1.0 - logvar, axis=-1)
""", {"test_kl_to_prior"}),
    Variant("ELBO claims with one judgement wrong (the sum of logs as the log of a sum)", {"elbo_claims": (
        "elbo_claims = {1: True, 2: False, 3: True, 4: False, 5: True, 6: True}\n")},
        keeps={"test_elbo_claims": 4 / 6}),
    Variant("ELBO claims with the gap read as independent of the decoder, and tightness as KL to p(x|z)", {
        "elbo_claims": "elbo_claims = {1: True, 2: True, 3: False, 4: False, 5: False, 6: True}\n"},
        keeps={"test_elbo_claims": 2 / 6}),
    Variant("ELBO claims as strings", {"elbo_claims": (
        "elbo_claims = {1: 'True', 2: 'False', 3: 'True', 4: 'False', 5: 'False', 6: 'True'}\n")},
        loses={"test_elbo_claims"}),
    Variant("VI claims with large beta read as correlating the latents", {"vi_claims": (
        "vi_claims = {1: True, 2: False, 3: True, 4: True, 5: False, 6: True}\n")},
        keeps={"test_vi_claims": 4 / 6}),
    Variant("VI claims with reverse KL read as mode-covering", {"vi_claims": (
        "vi_claims = {1: True, 2: False, 3: False, 4: True, 5: True, 6: True}\n")},
        keeps={"test_vi_claims": 4 / 6}),
    Variant("VI claims left unanswered", {"vi_claims": "vi_claims = {1: None, 2: None, 3: None, 4: None, 5: None, 6: None}\n"},
            loses={"test_vi_claims"}),
    # guesses earn nothing: each true/false key is half True, each multiple-choice item has its own letter
    *[Variant(f"guess: {name} in {cell}", {cell: f"{cell} = {answer}\n"}, loses={f"test_{cell}"})
      for cell in ("elbo_claims", "vi_claims")
      for name, answer in (("all True", {k: True for k in range(1, 7)}), ("all False", {k: False for k in range(1, 7)}),
                           ("empty", {}))],
    # Part F
    Variant("moment_match returning the variance", {"moment_match": _SIG_MM + """    w, m, s = (np.asarray(a, dtype=float) for a in (weights, means, sds))
    mu = np.sum(w * m)
    return mu, np.sum(w * (s**2 + m**2)) - mu**2
"""}, loses={"test_moment_match"}),
    Variant("moment_match ignoring the component variances", {"moment_match": _SIG_MM + """    w, m, s = (np.asarray(a, dtype=float) for a in (weights, means, sds))
    mu = np.sum(w * m)
    return mu, np.sqrt(np.sum(w * m**2) - mu**2)
"""}, loses={"test_moment_match"}),
    Variant("moment_match with unweighted means", {"moment_match": _SIG_MM + """    w, m, s = (np.asarray(a, dtype=float) for a in (weights, means, sds))
    mu = np.mean(m)
    return mu, np.sqrt(np.sum(w * (s**2 + m**2)) - mu**2)
"""}, loses={"test_moment_match"}),
    Variant("moment_match hard-coded to (1, 3)", {"moment_match": _SIG_MM + "    return 1.0, 3.0\n"},
            loses={"test_moment_match"}),
    Variant("kl_p_q computing the exclusive direction", {"kl_p_q": _SIG_KPQ + """    w = stats.norm.pdf(Z_GRID)
    x = mu + sigma * Z_GRID
    return float(np.trapezoid(w * (stats.norm.logpdf(x, mu, sigma) - log_p_mix(x)), Z_GRID))
"""}, loses={"test_kl_p_q"}),
    Variant("kl_p_q with the sign flipped", {"kl_p_q": _SIG_KPQ + """    lp = log_p_mix(X_GRID)
    return float(np.trapezoid(np.exp(lp) * (stats.norm.logpdf(X_GRID, mu, sigma) - lp), X_GRID))
"""}, loses={"test_kl_p_q"}),
    Variant("kl_q_p computing the inclusive direction", {"kl_q_p": _SIG_KQP + """    lp = log_p_mix(X_GRID)
    return float(np.trapezoid(np.exp(lp) * (lp - stats.norm.logpdf(X_GRID, mu, sigma)), X_GRID))
"""}, loses={"test_kl_q_p", "test_fit_exclusive"}),
    Variant("kl_q_p forgetting the entropy of q", {"kl_q_p": _KQP_Z
        + "    return float(-np.trapezoid(w * log_p_mix(x), Z_GRID))\n"}, loses={"test_kl_q_p", "test_fit_exclusive"}),
    Variant("kl_q_p with the entropy of q in bits", {"kl_q_p": _KQP_Z
        + "    return float(-0.5 * np.log2(2 * np.pi * np.e * sigma**2) - np.trapezoid(w * log_p_mix(x), Z_GRID))\n"},
        loses={"test_kl_q_p", "test_fit_exclusive"}),
    Variant("kl_q_p on the fixed x-grid (misses wide or distant q)", {"kl_q_p": _SIG_KQP + """    lq = stats.norm.logpdf(X_GRID, mu, sigma)
    return float(np.trapezoid(np.exp(lq) * (lq - log_p_mix(X_GRID)), X_GRID))
"""}, loses={"test_kl_q_p", "test_fit_exclusive"}),  # the fit escapes to a narrow q that the grid misses
    Variant("fit_exclusive returning the start", {"fit_exclusive": _SIG_FIT
        + "    return mu0, sigma0, kl_q_p(mu0, sigma0)\n"}, loses={"test_fit_exclusive"}),
    Variant("fit_exclusive minimising the inclusive KL", {"fit_exclusive": _SIG_FIT + """    res = optimize.minimize(lambda t: kl_p_q(t[0], np.exp(t[1])), x0=[mu0, np.log(sigma0)], method="BFGS")
    return res.x[0], np.exp(res.x[1]), kl_q_p(res.x[0], np.exp(res.x[1]))
"""}, loses={"test_fit_exclusive"}),
    Variant("fit_exclusive returning log sigma", {"fit_exclusive": _FIT_BFGS + "    return res.x[0], res.x[1], res.fun\n"},
            loses={"test_fit_exclusive"}),
    Variant("fit_exclusive returning the variance", {"fit_exclusive": _FIT_BFGS
        + "    return res.x[0], np.exp(2 * res.x[1]), res.fun\n"}, loses={"test_fit_exclusive"}),
    Variant("fit_exclusive stopping after two iterations", {"fit_exclusive": _SIG_FIT + """    res = optimize.minimize(lambda t: kl_q_p(t[0], np.exp(t[1])), x0=[mu0, np.log(sigma0)], method="BFGS",
                            options={"maxiter": 2})
    return res.x[0], np.exp(res.x[1]), res.fun
"""}, loses={"test_fit_exclusive"}),
    Variant("multiple choice: the two modes but not the central minimum", {"mc_answers":
        'mc_answers = {"a": "B", "b": "B", "c": "A"}\n'}, keeps={"test_mc_answers": 1 / 3}),
    Variant("multiple choice: inclusive variance of one component, optimiser leaves the centre", {"mc_answers":
        'mc_answers = {"a": "C", "b": "A", "c": "B"}\n'}, loses={"test_mc_answers"}),
    *[Variant(f"guess: all {letter} in mc_answers", {"mc_answers": f'mc_answers = {{"a": "{letter}", "b": "{letter}", "c": "{letter}"}}\n'},
              loses={"test_mc_answers"}) for letter in "ABC"],
    Variant("guess: empty in mc_answers", {"mc_answers": "mc_answers = {}\n"}, loses={"test_mc_answers"}),
]

CORRECT_ALTERNATIVES = [
    Variant("explicit loops with a max shift (pure python math)", {
        "log_evidence": _cell("log_evidence", """
            import math
            out = []
            for xi in np.asarray(x, dtype=float).tolist():
                terms = [math.log(p) - 0.5 * math.log(2 * math.pi * s * s) - (xi - m) ** 2 / (2 * s * s)
                         for p, m, s in zip(pi, mu, sigma)]
                top = max(terms)
                out.append(top + math.log(sum(math.exp(t - top) for t in terms)))
            return out
        """),
        "posterior": _cell("posterior", """
            import math
            rows = []
            for xi in np.asarray(x, dtype=float).tolist():
                terms = [math.log(p) - math.log(s) - (xi - m) ** 2 / (2 * s * s) for p, m, s in zip(pi, mu, sigma)]
                top = max(terms)
                e = [math.exp(t - top) for t in terms]
                rows.append([v / sum(e) for v in e])
            return rows
        """),
        "elbo": _cell("elbo", """
            import math
            out = []
            for xi, qi in zip(np.asarray(x, dtype=float).tolist(), np.asarray(q, dtype=float).tolist()):
                total = 0.0
                for qk, p, m, s in zip(qi, pi, mu, sigma):
                    if qk > 0:
                        log_joint = math.log(p) - 0.5 * math.log(2 * math.pi * s * s) - (xi - m) ** 2 / (2 * s * s)
                        total += qk * (log_joint - math.log(qk))
                out.append(total)
            return out
        """),
        "iwae_bound": _cell("iwae_bound", """
            import math
            out = []
            for row in np.asarray(log_w, dtype=float).tolist():
                top = max(row)
                out.append(top + math.log(sum(math.exp(v - top) for v in row) / len(row)))
            return out
        """),
        "kl_to_prior": _cell("kl_to_prior", """
            import math
            if isinstance(mu, torch.Tensor):
                return 0.5 * (logvar.exp() + mu * mu - 1 - logvar).sum(-1)
            def total(m, lv):
                if isinstance(m[0], list):
                    return [total(a, b) for a, b in zip(m, lv)]
                return 0.5 * sum(a * a + math.exp(b) - 1 - b for a, b in zip(m, lv))
            return total(np.asarray(mu, float).tolist(), np.asarray(logvar, float).tolist())
        """),
    }),
    Variant("torch implementations (tensors returned)", {
        "log_evidence": _cell("log_evidence", """
            x = torch.as_tensor(np.asarray(x, dtype=float))[:, None]
            dist = torch.distributions.Normal(torch.as_tensor(mu), torch.as_tensor(sigma))
            return torch.logsumexp(torch.log(torch.as_tensor(pi)) + dist.log_prob(x), dim=1)
        """),
        "posterior": _cell("posterior", """
            x = torch.as_tensor(np.asarray(x, dtype=float))[:, None]
            dist = torch.distributions.Normal(torch.as_tensor(mu), torch.as_tensor(sigma))
            return torch.softmax(torch.log(torch.as_tensor(pi)) + dist.log_prob(x), dim=1)
        """),
        "elbo": _cell("elbo", """
            x = torch.as_tensor(np.asarray(x, dtype=float))[:, None]
            q = torch.as_tensor(np.asarray(q, dtype=float))
            dist = torch.distributions.Normal(torch.as_tensor(mu), torch.as_tensor(sigma))
            log_joint = torch.log(torch.as_tensor(pi)) + dist.log_prob(x)
            return (q * log_joint).sum(1) - torch.special.xlogy(q, q).sum(1)
        """),
        "iwae_bound": _cell("iwae_bound", """
            log_w = torch.as_tensor(np.asarray(log_w, dtype=float))
            return torch.logsumexp(log_w, dim=-1) - math.log(log_w.shape[-1])
        """),
        "kl_to_prior": _cell("kl_to_prior", """
            mu, logvar = torch.as_tensor(mu), torch.as_tensor(logvar)
            q = torch.distributions.Normal(mu, torch.exp(0.5 * logvar))
            p = torch.distributions.Normal(torch.zeros_like(mu), torch.ones_like(mu))
            return torch.distributions.kl_divergence(q, p).sum(-1)
        """),
    }),
    Variant("float32 numpy with scipy helpers", {
        "log_evidence": _cell("log_evidence", """
            x = np.asarray(x, dtype=np.float32)[:, None]
            pi, mu, sigma = (np.asarray(a, dtype=np.float32) for a in (pi, mu, sigma))
            log_joint = np.log(pi) - np.log(sigma) - np.float32(0.5 * np.log(2 * np.pi)) - 0.5 * ((x - mu) / sigma) ** 2
            return logsumexp(log_joint, axis=1).astype(np.float32)
        """),
        "posterior": _cell("posterior", """
            from scipy.special import softmax
            x = np.asarray(x, dtype=np.float32)[:, None]
            pi, mu, sigma = (np.asarray(a, dtype=np.float32) for a in (pi, mu, sigma))
            log_joint = np.log(pi) - np.log(sigma) - 0.5 * ((x - mu) / sigma) ** 2
            return softmax(log_joint, axis=1).astype(np.float32)
        """),
        "elbo": _cell("elbo", """
            from scipy.special import entr
            x = np.asarray(x, dtype=np.float32)[:, None]
            q = np.asarray(q, dtype=np.float32)
            pi, mu, sigma = (np.asarray(a, dtype=np.float32) for a in (pi, mu, sigma))
            log_joint = np.log(pi) - np.log(sigma) - np.float32(0.5 * np.log(2 * np.pi)) - 0.5 * ((x - mu) / sigma) ** 2
            return (np.sum(q * log_joint, axis=1) + np.sum(entr(q), axis=1)).astype(np.float32)
        """),
        "iwae_bound": _cell("iwae_bound", """
            log_w = np.asarray(log_w, dtype=np.float32)
            return logsumexp(log_w, axis=-1, b=np.float32(1.0 / log_w.shape[-1])).astype(np.float32)
        """),
        "kl_to_prior": _cell("kl_to_prior", """
            if hasattr(mu, "exp"):
                return 0.5 * (logvar.exp() + mu.pow(2) - 1 - logvar).sum(dim=-1)
            mu, logvar = np.asarray(mu, np.float32), np.asarray(logvar, np.float32)
            return (0.5 * (np.exp(logvar) + mu**2 - 1 - logvar)).sum(axis=-1)
        """),
    }),
    # kl_to_prior as a VAE course writes it with torch.distributions, in float64 and float32, for numpy and torch input
    Variant("kl_to_prior: torch.distributions Normal and kl_divergence in float64, numpy out for numpy in", {
        "kl_to_prior": _cell("kl_to_prior", """
            from torch.distributions import Normal, kl_divergence
            tensors = isinstance(mu, torch.Tensor)
            mu = torch.as_tensor(mu, dtype=torch.float64)
            logvar = torch.as_tensor(logvar, dtype=torch.float64)
            q = Normal(mu, torch.exp(0.5 * logvar))
            kl = kl_divergence(q, Normal(torch.zeros_like(mu), torch.ones_like(mu))).sum(dim=-1)
            return kl if tensors else kl.numpy()
        """)}),
    Variant("kl_to_prior: torch.tensor in float64 against Normal(0, 1) given as Python numbers", {
        "kl_to_prior": _cell("kl_to_prior", """
            mu = torch.tensor(np.asarray(mu), dtype=torch.float64)
            logvar = torch.tensor(np.asarray(logvar), dtype=torch.float64)
            q = torch.distributions.Normal(mu, logvar.mul(0.5).exp())
            return torch.distributions.kl_divergence(q, torch.distributions.Normal(0, 1)).sum(-1)
        """)}),
    Variant("kl_to_prior: torch.from_numpy for arrays, .double() for tensors, Independent normals", {
        "kl_to_prior": _cell("kl_to_prior", """
            from torch.distributions import Independent, Normal, kl_divergence
            mu = torch.from_numpy(mu) if isinstance(mu, np.ndarray) else mu.double()
            logvar = torch.from_numpy(logvar) if isinstance(logvar, np.ndarray) else logvar.double()
            q = Independent(Normal(mu, torch.exp(logvar / 2)), 1)
            prior = Independent(Normal(torch.zeros(mu.shape), torch.ones(mu.shape)), 1)  # float32 against float64
            return kl_divergence(q, prior)
        """)}),
    Variant("kl_to_prior: a diagonal MultivariateNormal in float64", {
        "kl_to_prior": _cell("kl_to_prior", """
            mu = torch.as_tensor(mu, dtype=torch.float64)
            var = torch.as_tensor(logvar, dtype=torch.float64).exp()
            q = torch.distributions.MultivariateNormal(mu, covariance_matrix=torch.diag_embed(var))
            prior = torch.distributions.MultivariateNormal(torch.zeros_like(mu), covariance_matrix=torch.diag_embed(torch.ones_like(var)))
            return torch.distributions.kl_divergence(q, prior)
        """)}),
    Variant("kl_to_prior: float32 torch for every input, tensors out", {
        "kl_to_prior": _cell("kl_to_prior", """
            mu = torch.as_tensor(mu, dtype=torch.float32)
            logvar = torch.as_tensor(logvar, dtype=torch.float32)
            return (0.5 * (logvar.exp() + mu.square() - 1.0 - logvar)).sum(dim=-1)
        """)}),
    Variant("ELBO via the identity log p(x) - KL(q || posterior), with the student's own functions", {
        "elbo": _cell("elbo", """
            q = np.asarray(q, dtype=float)
            post = posterior(x, pi, mu, sigma)
            kl = np.sum(xlogy(q, q) - xlogy(q, post), axis=1)
            return log_evidence(x, pi, mu, sigma) - kl
        """),
        "iwae_bound": _cell("iwae_bound", """
            log_w = np.asarray(log_w, dtype=float)
            return np.logaddexp.reduce(log_w, axis=-1) - np.log(log_w.shape[-1])
        """),
        "kl_to_prior": _cell("kl_to_prior", """
            lib = torch if isinstance(mu, torch.Tensor) else np
            sigma = lib.exp(0.5 * logvar)
            return (lib.log(1.0 / sigma) + (sigma**2 + mu**2) / 2 - 0.5).sum(-1)
        """),
    }),
    Variant("ELBO with a masked q * log q (np.where, log(0) evaluated but discarded)", {
        "elbo": _cell("elbo", """
            x = np.asarray(x, dtype=float)[:, None]
            q = np.asarray(q, dtype=float)
            log_joint = np.log(pi) + norm.logpdf(x, mu, sigma)
            q_log_q = np.where(q > 0, q * np.log(q), 0.0)
            return np.sum(q * log_joint - q_log_q, axis=1)
        """),
    }),
    Variant("claims given with keys in another order", {
        "elbo_claims": "elbo_claims = dict([(6, True), (5, False), (4, False), (3, True), (2, False), (1, True)])\n",
        "vi_claims": "vi_claims = {6: True, 5: False, 4: True, 3: False, 2: False, 1: True}\n",
    }),
    Variant("scipy.integrate.quad for both mixture divergences", {
        "kl_p_q": _SIG_KPQ + """    f = lambda x: np.exp(log_p_mix(x)) * (log_p_mix(x) - stats.norm.logpdf(x, mu, sigma))
    return integrate.quad(f, -np.inf, np.inf, epsabs=1e-11, epsrel=1e-11, limit=200)[0]
""",
        "kl_q_p": _SIG_KQP + """    f = lambda x: stats.norm.pdf(x, mu, sigma) * (stats.norm.logpdf(x, mu, sigma) - log_p_mix(x))
    return integrate.quad(f, mu - 12 * sigma, mu + 12 * sigma, epsabs=1e-11, epsrel=1e-11, limit=200)[0]
""",
    }),
    Variant("fit_exclusive with Nelder-Mead", {"fit_exclusive": _SIG_FIT + """    res = optimize.minimize(lambda t: kl_q_p(t[0], np.exp(t[1])), x0=[mu0, np.log(sigma0)], method="Nelder-Mead",
                            options={"xatol": 1e-7, "fatol": 1e-12})
    return res.x[0], np.exp(res.x[1]), res.fun
"""}),
    Variant("fit_exclusive with L-BFGS-B on (mu, sigma) with bounds", {"fit_exclusive": _SIG_FIT + """    res = optimize.minimize(lambda t: kl_q_p(t[0], t[1]), x0=[mu0, sigma0], method="L-BFGS-B",
                            bounds=[(-10, 10), (0.05, 10)], options={"ftol": 1e-14, "gtol": 1e-9})
    return res.x[0], res.x[1], res.fun
"""}),
    Variant("moment_match in pure Python", {
        "moment_match": _SIG_MM + """    mu = sum(w * m for w, m in zip(weights, means))
    second = sum(w * (s * s + m * m) for w, m, s in zip(weights, means, sds))
    return mu, (second - mu * mu) ** 0.5
""",
    }),
    Variant("multiple-choice letters in lower case with spaces", {"mc_answers": 'mc_answers = {"a": "c", "b": "b", "c": " a"}\n'}),
]
