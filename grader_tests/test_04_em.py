"""Hidden checks for assignment 04_em (EM for Gaussian mixtures as coordinate ascent on F).

Each check receives a `Student` (vicourse.grading.student) and compares the student's
results with private reference implementations (Cholesky densities from
scipy.linalg, weighted scatter matrices) on the notebook's example and on
unseen random mixtures drawn from the grading secret (`hidden_rng`).  Log-likelihoods and free energies are totals over the
data set; the digits values are per sample.
"""

import functools

import numpy as np
from scipy.special import logsumexp, xlogy
from scipy.linalg import cholesky, solve_triangular

from vicourse.grading.checking import Variant, as_array, as_float, assert_close, grade_items, hidden_rng

# The notebook's example (mirrors the read-only cells `helpers` and `data_2d`).
TOY_WEIGHTS = np.array([0.5, 0.3, 0.2])
TOY_MEANS = np.array([[0.0, 0.0], [3.0, 1.0], [-2.0, 3.0]])
TOY_COVS = np.array([[[1.0, 0.3], [0.3, 1.0]], [[0.5, 0.0], [0.0, 2.0]], [[2.0, -0.6], [-0.6, 1.0]]])
X_TOY = np.array([[0.2, -0.5], [2.8, 1.5], [-1.5, 2.5], [1.0, 0.5], [-0.5, 1.2], [4.0, -1.0], [60.0, -60.0]])
TOY_RESP = np.array([[0.7, 0.2, 0.1], [0.1, 0.8, 0.1], [0.2, 0.1, 0.7], [0.5, 0.5, 0.0],
                     [0.4, 0.3, 0.3], [0.0, 1.0, 0.0], [0.3, 0.3, 0.4]])


def _data_2d():
    """X2 and the starting point (w0, m0, c0) of the notebook's cell `data_2d`."""
    true_weights = np.array([0.3, 0.45, 0.25])
    true_means = np.array([[-3.0, 0.0], [1.5, 2.5], [2.5, -2.0]])
    true_covs = np.array([[[1.0, 0.6], [0.6, 0.8]], [[1.2, -0.5], [-0.5, 0.6]], [[0.4, 0.0], [0.0, 1.5]]])
    rng = np.random.default_rng(2024)
    n = 300
    z = rng.choice(3, size=n, p=true_weights)
    x = true_means[z] + np.einsum("nij,nj->ni", np.linalg.cholesky(true_covs)[z], rng.standard_normal((n, 2)))
    m0 = x[np.random.default_rng(1).choice(n, size=3, replace=False)]
    return x, np.full(3, 1.0 / 3.0), m0, np.tile(np.eye(2), (3, 1, 1))


@functools.lru_cache(maxsize=1)
def _digits_setup():
    """Z_digits, y_digits and the starting point of the notebook's cell `digits_data`."""
    from sklearn.datasets import load_digits
    from sklearn.decomposition import PCA

    digits = load_digits()
    z = PCA(n_components=15, svd_solver="full").fit_transform(digits.data)
    rng = np.random.default_rng(0)
    k = 10
    m0 = z[rng.choice(len(z), size=k, replace=False)]
    c0 = np.tile(np.cov(z, rowvar=False, bias=True), (k, 1, 1))
    return z, digits.target, np.full(k, 1.0 / k), m0, c0


DIGITS_ITERS = 60
DIGITS_RIDGE = 1e-3


# ---------------------------------------------------------------- references


def _log_gauss(x, means, covs):
    """log N(x_n | mu_k, Sigma_k), shape (N, K), through a Cholesky factor and a triangular solve."""
    x = np.asarray(x, dtype=float)
    out = np.empty((len(x), len(means)))
    for k, (m, c) in enumerate(zip(means, covs)):
        chol = cholesky(np.asarray(c, dtype=float), lower=True)
        white = solve_triangular(chol, (x - m).T, lower=True)
        out[:, k] = (-0.5 * np.sum(white**2, axis=0) - np.sum(np.log(np.diag(chol)))
                     - 0.5 * x.shape[1] * np.log(2.0 * np.pi))
    return out


def _log_joint(x, weights, means, covs):
    return np.log(weights) + _log_gauss(x, means, covs)


def _ref_resp(x, weights, means, covs):
    lj = _log_joint(x, weights, means, covs)
    return np.exp(lj - logsumexp(lj, axis=1, keepdims=True))


def _ref_m_step(x, resp, ridge=0.0):
    x, resp = np.asarray(x, dtype=float), np.asarray(resp, dtype=float)
    n, d = x.shape
    nk = resp.sum(axis=0)
    means = resp.T @ x / nk[:, None]
    weighted = resp.T[:, :, None] * x[None, :, :]                           # r_nk x_n, (K, N, D)
    second = weighted.transpose(0, 2, 1) @ x / nk[:, None, None]            # E_r[x x^T] per component
    covs = second - means[:, :, None] * means[:, None, :] + ridge * np.eye(d)
    return nk / n, means, covs


def _ref_loglik(x, weights, means, covs):
    return float(np.sum(logsumexp(_log_joint(x, weights, means, covs), axis=1)))


def _ref_free_energy(x, resp, weights, means, covs):
    resp = np.asarray(resp, dtype=float)
    return float(np.sum(resp * _log_joint(x, weights, means, covs)) - np.sum(xlogy(resp, resp)))


def _ref_run_em(x, weights, means, covs, n_iter, ridge=0.0, traces=True):
    loglik, f_e, f_m = [], [], []
    for _ in range(n_iter):
        resp = _ref_resp(x, weights, means, covs)
        if traces:
            loglik.append(_ref_loglik(x, weights, means, covs))
            f_e.append(_ref_free_energy(x, resp, weights, means, covs))
        weights, means, covs = _ref_m_step(x, resp, ridge)
        if traces:
            f_m.append(_ref_free_energy(x, resp, weights, means, covs))
    loglik.append(_ref_loglik(x, weights, means, covs))
    return {"weights": weights, "means": means, "covs": covs, "loglik": np.array(loglik),
            "F_after_E": np.array(f_e), "F_after_M": np.array(f_m)}


@functools.lru_cache(maxsize=1)
def _ref_digits():
    from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score

    z, y, w0, m0, c0 = _digits_setup()
    fit = _ref_run_em(z, w0, m0, c0, DIGITS_ITERS, DIGITS_RIDGE, traces=False)
    labels = np.argmax(_ref_resp(z, fit["weights"], fit["means"], fit["covs"]), axis=1)
    return {"digits_ll_per_sample": fit["loglik"][-1] / len(z),
            "digits_ari": adjusted_rand_score(y, labels),
            "digits_nmi": normalized_mutual_info_score(y, labels)}


# ---------------------------------------------------------------- unseen inputs


def _random_mixture(rng, k, d, spread=3.0):
    weights = rng.dirichlet(np.full(k, 3.0))
    means = rng.normal(0.0, spread, size=(k, d))
    a = rng.normal(size=(k, d, d))
    covs = a @ a.transpose(0, 2, 1) / d + 0.3 * np.eye(d)
    return weights, means, covs


def _sample(rng, n, weights, means, covs):
    z = rng.choice(len(weights), size=n, p=weights)
    eps = rng.standard_normal((n, means.shape[1]))
    return means[z] + np.einsum("nij,nj->ni", np.linalg.cholesky(covs)[z], eps)


def _cases(seed, with_far=True):
    """(X, weights, means, covs) on unseen mixtures; with_far adds points where every density underflows."""
    rng = hidden_rng(seed)
    out = []
    for n, k, d in ((40, 3, 2), (25, 4, 3), (30, 2, 1)):
        w, m, c = _random_mixture(rng, k, d)
        out.append((_sample(rng, n, w, m, c), w, m, c))
    if with_far:
        w, m, c = _random_mixture(rng, 3, 2)
        x = np.vstack([_sample(rng, 12, w, m, c), [[80.0, -75.0], [-90.0, 85.0]]])
        out.append((x, w, m, c))
    return out


# ---------------------------------------------------------------- checks


def test_e_step(nb):
    """Part B.1: responsibilities are the normalised posterior p(z=k|x_n), shape (N, K), stable for far points."""
    hint = ("responsibilities do not match p(z = k | x_n): include the weights pi_k, normalise each row, "
            "return shape (N, K) (rows are points) and work in log space")
    for i, (x, w, m, c) in enumerate([(X_TOY, TOY_WEIGHTS, TOY_MEANS, TOY_COVS)] + _cases(401)):
        what = "e_step on the notebook's example" if i == 0 else "e_step on an unseen mixture"
        r = as_array(nb.e_step(x, w, m, c), f"{what} (NaN usually means densities underflowed: use log-sum-exp)",
                     shape=(len(x), len(w)))
        assert np.allclose(r.sum(axis=1), 1.0, rtol=0, atol=1e-6), f"{what}: each row must sum to 1"
        assert_close(r, _ref_resp(x, w, m, c), f"{what}: {hint}", rtol=1e-6, atol=1e-9)


def test_m_step(nb):
    """Part B.2: closed-form maximum-likelihood M-step (divide by N_k), with and without a ridge, on unseen data."""
    rng = hidden_rng(402)
    cases = [(X_TOY, TOY_RESP, 0.0)]
    for n, k, d, ridge in ((50, 3, 2, 0.0), (30, 2, 3, 0.0), (20, 4, 1, 0.0), (40, 3, 2, 0.05)):
        w, m, c = _random_mixture(rng, k, d)
        cases.append((_sample(rng, n, w, m, c), rng.dirichlet(np.full(k, 1.0), size=n), ridge))
    for i, (x, resp, ridge) in enumerate(cases):
        what = "m_step on the notebook's example" if i == 0 else "m_step on unseen data"
        out = nb.m_step(x, resp, ridge=ridge) if ridge else nb.m_step(x, resp)
        assert isinstance(out, list) and len(out) == 3, f"{what}: return the tuple (weights, means, covs)"
        n, d = x.shape
        k = resp.shape[1]
        w_ref, m_ref, c_ref = _ref_m_step(x, resp, ridge)
        assert_close(as_array(out[0], f"{what}: weights", shape=(k,)), w_ref,
                     f"{what}: weights must be N_k / N", rtol=1e-6, atol=1e-10)
        assert_close(as_array(out[1], f"{what}: means", shape=(k, d)), m_ref,
                     f"{what}: means must be sum_n r_nk x_n / N_k", rtol=1e-6, atol=1e-9)
        tail = " plus ridge * I on the diagonal" if ridge else ""
        assert_close(as_array(out[2], f"{what}: covs", shape=(k, d, d)), c_ref,
                     f"{what}: covariances must be the maximum-likelihood closed form (divide by N_k, not N_k - 1, "
                     f"centre with the new means){tail}", rtol=1e-6, atol=1e-9)


def test_log_likelihood(nb):
    """Part B.3: total (summed) log-likelihood with the mixture weights, finite for far points, on unseen mixtures."""
    for i, (x, w, m, c) in enumerate([(X_TOY, TOY_WEIGHTS, TOY_MEANS, TOY_COVS)] + _cases(403)):
        what = "log_likelihood on the notebook's example" if i == 0 else "log_likelihood on an unseen mixture"
        got = as_float(nb.log_likelihood(x, w, m, c), what)
        assert np.isfinite(got), f"{what} is not finite: combine the components with log-sum-exp"
        assert_close(got, _ref_loglik(x, w, m, c),
                     f"{what}: it must be the SUM over points of log sum_k pi_k N(x_n | mu_k, Sigma_k)",
                     rtol=1e-7, atol=1e-8)


def test_free_energy(nb):
    """Part B.4: free energy with the entropy term and 0 log 0 = 0; equals the log-likelihood at the posterior."""
    rng = hidden_rng(404)
    cases = [(X_TOY, TOY_RESP, TOY_WEIGHTS, TOY_MEANS, TOY_COVS)]
    for x, w, m, c in _cases(405, with_far=False):
        n, k = len(x), len(w)
        cases.append((x, rng.dirichlet(np.full(k, 1.0), size=n), w, m, c))       # arbitrary q
        cases.append((x, np.eye(k)[rng.integers(0, k, size=n)], w, m, c))         # hard q: exact zeros
        cases.append((x, _ref_resp(x, w, m, c), w, m, c))                          # the posterior: F = log p
    for i, (x, resp, w, m, c) in enumerate(cases):
        what = "free_energy on the notebook's example" if i == 0 else "free_energy on an unseen mixture"
        got = as_float(nb.free_energy(x, resp, w, m, c), what)
        assert np.isfinite(got), f"{what} is not finite: use the convention 0 log 0 = 0"
        assert_close(got, _ref_free_energy(x, resp, w, m, c),
                     f"{what}: F = sum_nk r_nk [log pi_k + log N(x_n | mu_k, Sigma_k) - log r_nk] "
                     "(expected log-joint PLUS the entropy of q)", rtol=1e-7, atol=1e-8)


def _check_run(out, ref, n_iter, what, monotone):
    assert isinstance(out, dict), f"{what}: run_em must return a dict"
    missing = {"weights", "means", "covs", "loglik", "F_after_E", "F_after_M"} - set(out)
    assert not missing, f"{what}: the dict lacks the keys {sorted(missing)}"
    ll = as_array(out["loglik"], f"{what}: loglik (n_iter + 1 values)", shape=(n_iter + 1,))
    fe = as_array(out["F_after_E"], f"{what}: F_after_E (n_iter values)", shape=(n_iter,))
    fm = as_array(out["F_after_M"], f"{what}: F_after_M (n_iter values)", shape=(n_iter,))
    if monotone:
        assert np.allclose(fe, ll[:-1], rtol=1e-9, atol=1e-9), (
            f"{what}: F right after each E-step must equal the log-likelihood at the same parameters")
        seq = np.append(np.column_stack([fe, fm]).ravel(), ll[-1])
        assert np.all(np.diff(seq) >= -1e-9 * np.maximum(1.0, np.abs(seq[:-1]))), (
            f"{what}: F decreased over a half-step; the E- and M-steps must each maximise F")
    assert_close(ll, ref["loglik"], f"{what}: loglik[t] must be log p(X | theta_t) for t = 0..n_iter",
                 rtol=1e-6, atol=1e-8)
    assert_close(fe, ref["F_after_E"], f"{what}: F_after_E[t] must be F(theta_t, q_t)", rtol=1e-6, atol=1e-8)
    assert_close(fm, ref["F_after_M"], f"{what}: F_after_M[t] must be F(theta_t+1, q_t) with the OLD responsibilities",
                 rtol=1e-6, atol=1e-8)
    k, d = np.shape(ref["means"])
    assert_close(as_array(out["weights"], f"{what}: final weights", shape=(k,)), ref["weights"],
                 f"{what}: final weights", rtol=1e-6, atol=1e-9)
    assert_close(as_array(out["means"], f"{what}: final means", shape=(k, d)), ref["means"],
                 f"{what}: final means", rtol=1e-6, atol=1e-8)
    assert_close(as_array(out["covs"], f"{what}: final covs", shape=(k, d, d)), ref["covs"],
                 f"{what}: final covariances", rtol=1e-6, atol=1e-8)


def test_run_em(nb):
    """Part C: EM driven by the student's functions: traces match, F = log p after E-steps, F monotone."""
    x, w0, m0, c0 = _data_2d()
    _check_run(nb.run_em(x, w0, m0, c0, 10), _ref_run_em(x, w0, m0, c0, 10), 10,
               "run_em on the 2-D data", monotone=True)
    rng = hidden_rng(406)
    for (n, k, d, n_iter, ridge) in ((80, 3, 2, 8, 0.0), (60, 2, 3, 6, 0.0), (70, 3, 2, 6, 0.05)):
        w, m, c = _random_mixture(rng, k, d)
        x = _sample(rng, n, w, m, c)
        start = (np.full(k, 1.0 / k), x[rng.choice(n, size=k, replace=False)],
                 np.tile(np.cov(x, rowvar=False, bias=True).reshape(d, d), (k, 1, 1)))
        out = nb.run_em(x, *start, n_iter, ridge=ridge) if ridge else nb.run_em(x, *start, n_iter)
        what = "run_em on an unseen mixture" + (" with a ridge" if ridge else "")
        _check_run(out, _ref_run_em(x, *start, n_iter, ridge), n_iter, what, monotone=not ridge)


def test_digits_em(nb):
    """Part D: per-sample log-likelihood, ARI and NMI of the digits fit, recomputed by a reference EM."""
    ref = _ref_digits()
    ll = as_float(nb.value("digits_ll_per_sample"), "digits_ll_per_sample")
    assert_close(ll, ref["digits_ll_per_sample"],
                 "digits_ll_per_sample: the log-likelihood per sample (total / N) at the final parameters of "
                 "run_em(..., n_iter=DIGITS_ITERS, ridge=DIGITS_RIDGE) from (w0_digits, m0_digits, c0_digits)",
                 rtol=1e-6, atol=1e-8)
    for name, label in (("digits_ari", "adjusted_rand_score"), ("digits_nmi", "normalized_mutual_info_score")):
        got = as_float(nb.value(name), name)
        assert_close(got, ref[name], f"{name}: {label}(y_digits, labels) with labels = argmax of the "
                     "responsibilities at the final parameters", rtol=0, atol=1e-6)


def test_sklearn_match(nb):
    """Part E: gm.score is the log-likelihood per sample at the final parameters, lower_bound_ the one before the
    last M-step, score_samples(X).sum() the total, predict_proba the final responsibilities; one letter each,
    scored right minus wrong."""
    got = nb.value("sklearn_match")
    assert isinstance(got, dict), "sklearn_match must be a dict"
    grade_items(got, {"score": "A", "lower_bound_": "B", "score_samples_sum": "C", "predict_proba": "D"},
                "choices in sklearn_match")


def test_tf_answers(nb):
    """Part F.2: six true/false judgements about F, variational EM and the VAE, scored right minus wrong."""
    got = nb.value("tf_answers")
    assert isinstance(got, dict), "tf_answers must be a dict"
    truth = {"1": True, "2": False, "3": False, "4": False, "5": True, "6": True}
    grade_items(got, truth, "judgements")


def test_run_restarts(nb):
    """Part G.1: the student's own run_em from every start, in order, and the index of the highest FINAL
    log-likelihood among those runs, on unseen data and starts (the best placed neither first nor last). Judged
    against the student's run_em, not the reference, so that a bug in run_em is charged to run_em alone."""
    rng = hidden_rng(407)
    for n, k, d, n_iter, ridge, count in ((80, 3, 2, 6, 0.0, 4), (60, 2, 3, 5, 0.05, 3)):
        w, m, c = _random_mixture(rng, k, d)
        x = _sample(rng, n, w, m, c)
        cov = np.tile(np.cov(x, rowvar=False, bias=True).reshape(d, d), (k, 1, 1))
        starts = [(np.full(k, 1.0 / k), x[rng.choice(n, size=k, replace=False)], cov) for _ in range(count)]
        own = [nb.run_em(x, *start, n_iter, ridge=ridge) if ridge else nb.run_em(x, *start, n_iter) for start in starts]
        traces = [as_array(fit.get("loglik") if isinstance(fit, dict) else None, "run_em's loglik", shape=(None,))
                  for fit in own]
        order = list(np.argsort([trace[-1] for trace in traces]))  # lowest first; then the best moves to index 1
        order.insert(1, order.pop())
        starts, traces = [starts[i] for i in order], [traces[i] for i in order]
        what = "run_restarts on unseen data" + (" with a ridge" if ridge else "")
        out = nb.run_restarts(x, starts, n_iter, ridge=ridge) if ridge else nb.run_restarts(x, starts, n_iter)
        assert isinstance(out, list) and len(out) == 2, f"{what}: return the pair (fits, best)"
        fits, best = out
        assert isinstance(fits, list) and len(fits) == count, f"{what}: fits must hold one run_em dict per start"
        for i, (fit, trace) in enumerate(zip(fits, traces)):
            assert isinstance(fit, dict) and "loglik" in fit, f"{what}: each fit is run_em's dict"
            got = as_array(fit["loglik"], f"{what}: loglik of fit {i}", shape=trace.shape)
            assert_close(got, trace, f"{what}: fit {i} must be run_em from start {i}, with n_iter and the ridge",
                         rtol=1e-9, atol=1e-9)
        if isinstance(best, bool) or not isinstance(best, int):
            raise AssertionError(f"{what}: best must be an int index")
        if best != 1:
            raise AssertionError(f"{what}: best must be the index of the fit with the highest final log-likelihood")


# ---------------------------------------------------------------- calibration data

_E_UNNORMALISED = '''
def e_step(X, weights, means, covs):
    """Responsibilities r[n, k] = p(z_n = k | x_n), shape (N, K), computed in log space."""
    return np.exp(np.log(weights) + log_gauss(X, means, covs))
'''

_E_TRANSPOSED = '''
def e_step(X, weights, means, covs):
    """Responsibilities r[n, k] = p(z_n = k | x_n), shape (N, K), computed in log space."""
    log_joint = np.log(weights) + log_gauss(X, means, covs)
    return np.exp(log_joint - logsumexp(log_joint, axis=1, keepdims=True)).T
'''

_E_NO_WEIGHTS = '''
def e_step(X, weights, means, covs):
    """Responsibilities r[n, k] = p(z_n = k | x_n), shape (N, K), computed in log space."""
    log_dens = log_gauss(X, means, covs)
    return np.exp(log_dens - logsumexp(log_dens, axis=1, keepdims=True))
'''

_E_NAIVE = '''
def e_step(X, weights, means, covs):
    """Responsibilities r[n, k] = p(z_n = k | x_n), shape (N, K), computed in log space."""
    joint = np.asarray(weights) * np.exp(log_gauss(X, means, covs))
    return joint / joint.sum(axis=1, keepdims=True)
'''

_M_UNBIASED = '''
def m_step(X, resp, ridge=0.0):
    """Closed-form M-step: return (weights, means, covs); covs divide by N_k, then add ridge * I."""
    X, resp = np.asarray(X, dtype=float), np.asarray(resp, dtype=float)
    Nk = resp.sum(axis=0)
    means = (resp.T @ X) / Nk[:, None]
    diff = X[None] - means[:, None]
    covs = np.einsum("nk,kni,knj->kij", resp, diff, diff) / (Nk - 1.0)[:, None, None]
    return Nk / len(X), means, covs + ridge * np.eye(X.shape[1])
'''

_M_COUNTS = '''
def m_step(X, resp, ridge=0.0):
    """Closed-form M-step: return (weights, means, covs); covs divide by N_k, then add ridge * I."""
    X, resp = np.asarray(X, dtype=float), np.asarray(resp, dtype=float)
    Nk = resp.sum(axis=0)
    means = (resp.T @ X) / Nk[:, None]
    diff = X[None] - means[:, None]
    covs = np.einsum("nk,kni,knj->kij", resp, diff, diff) / Nk[:, None, None]
    return Nk / Nk.max(), means, covs + ridge * np.eye(X.shape[1])
'''

_M_OLD_MEAN = '''
def m_step(X, resp, ridge=0.0):
    """Closed-form M-step: return (weights, means, covs); covs divide by N_k, then add ridge * I."""
    X, resp = np.asarray(X, dtype=float), np.asarray(resp, dtype=float)
    Nk = resp.sum(axis=0)
    means = (resp.T @ X) / Nk[:, None]
    diff = X[None] - X.mean(axis=0)
    covs = np.einsum("nk,kni,knj->kij", resp, diff, diff) / Nk[:, None, None]
    return Nk / len(X), means, covs + ridge * np.eye(X.shape[1])
'''

_M_NO_RIDGE = '''
def m_step(X, resp, ridge=0.0):
    """Closed-form M-step: return (weights, means, covs); covs divide by N_k, then add ridge * I."""
    X, resp = np.asarray(X, dtype=float), np.asarray(resp, dtype=float)
    Nk = resp.sum(axis=0)
    means = (resp.T @ X) / Nk[:, None]
    diff = X[None] - means[:, None]
    covs = np.einsum("nk,kni,knj->kij", resp, diff, diff) / Nk[:, None, None]
    return Nk / len(X), means, covs
'''

_LL_UNIFORM = '''
def log_likelihood(X, weights, means, covs):
    """Total log-likelihood: the SUM over points n of log sum_k pi_k N(x_n | mu_k, Sigma_k)."""
    K = len(weights)
    return float(np.sum(logsumexp(np.log(1.0 / K) + log_gauss(X, means, covs), axis=1)))
'''

_LL_NO_WEIGHTS = '''
def log_likelihood(X, weights, means, covs):
    """Total log-likelihood: the SUM over points n of log sum_k pi_k N(x_n | mu_k, Sigma_k)."""
    return float(np.sum(logsumexp(log_gauss(X, means, covs), axis=1)))
'''

_LL_MEAN = '''
def log_likelihood(X, weights, means, covs):
    """Total log-likelihood: the SUM over points n of log sum_k pi_k N(x_n | mu_k, Sigma_k)."""
    return float(np.mean(logsumexp(np.log(weights) + log_gauss(X, means, covs), axis=1)))
'''

_LL_NAIVE = '''
def log_likelihood(X, weights, means, covs):
    """Total log-likelihood: the SUM over points n of log sum_k pi_k N(x_n | mu_k, Sigma_k)."""
    with np.errstate(divide="ignore"):
        return float(np.sum(np.log(np.exp(log_gauss(X, means, covs)) @ np.asarray(weights))))
'''

_F_NO_ENTROPY = '''
def free_energy(X, resp, weights, means, covs):
    """F = sum_nk r_nk [log pi_k + log N(x_n | mu_k, Sigma_k) - log r_nk], with 0 log 0 = 0."""
    return float(np.sum(np.asarray(resp) * (np.log(weights) + log_gauss(X, means, covs))))
'''

_F_NAN_ZEROS = '''
def free_energy(X, resp, weights, means, covs):
    """F = sum_nk r_nk [log pi_k + log N(x_n | mu_k, Sigma_k) - log r_nk], with 0 log 0 = 0."""
    resp = np.asarray(resp, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        return float(np.sum(resp * (np.log(weights) + log_gauss(X, means, covs) - np.log(resp))))
'''

_F_LOG_LIK = '''
def free_energy(X, resp, weights, means, covs):
    """F = sum_nk r_nk [log pi_k + log N(x_n | mu_k, Sigma_k) - log r_nk], with 0 log 0 = 0."""
    return float(np.sum(logsumexp(np.log(weights) + log_gauss(X, means, covs), axis=1)))
'''

_RUN_NEW_RESP = '''
def run_em(X, weights, means, covs, n_iter, ridge=0.0):
    """Run n_iter EM iterations from the given parameters; return the fit and the traces of F and log p."""
    loglik, F_after_E, F_after_M = [], [], []
    for _ in range(n_iter):
        loglik.append(log_likelihood(X, weights, means, covs))
        resp = e_step(X, weights, means, covs)
        F_after_E.append(free_energy(X, resp, weights, means, covs))
        weights, means, covs = m_step(X, resp, ridge=ridge)
        F_after_M.append(free_energy(X, e_step(X, weights, means, covs), weights, means, covs))
    loglik.append(log_likelihood(X, weights, means, covs))
    return {"weights": weights, "means": means, "covs": covs, "loglik": loglik,
            "F_after_E": F_after_E, "F_after_M": F_after_M}
'''

_RUN_SHORT_TRACE = '''
def run_em(X, weights, means, covs, n_iter, ridge=0.0):
    """Run n_iter EM iterations from the given parameters; return the fit and the traces of F and log p."""
    loglik, F_after_E, F_after_M = [], [], []
    for _ in range(n_iter):
        resp = e_step(X, weights, means, covs)
        F_after_E.append(free_energy(X, resp, weights, means, covs))
        weights, means, covs = m_step(X, resp, ridge=ridge)
        F_after_M.append(free_energy(X, resp, weights, means, covs))
        loglik.append(log_likelihood(X, weights, means, covs))
    return {"weights": weights, "means": means, "covs": covs, "loglik": loglik,
            "F_after_E": F_after_E, "F_after_M": F_after_M}
'''

_RUN_IGNORES_RIDGE = '''
def run_em(X, weights, means, covs, n_iter, ridge=0.0):
    """Run n_iter EM iterations from the given parameters; return the fit and the traces of F and log p."""
    loglik, F_after_E, F_after_M = [], [], []
    for _ in range(n_iter):
        loglik.append(log_likelihood(X, weights, means, covs))
        resp = e_step(X, weights, means, covs)
        F_after_E.append(free_energy(X, resp, weights, means, covs))
        weights, means, covs = m_step(X, resp)
        F_after_M.append(free_energy(X, resp, weights, means, covs))
    loglik.append(log_likelihood(X, weights, means, covs))
    return {"weights": weights, "means": means, "covs": covs, "loglik": loglik,
            "F_after_E": F_after_E, "F_after_M": F_after_M}
'''

_DIGITS_TEMPLATE = '''
digits_fit = run_em(Z_digits, w0_digits, m0_digits, c0_digits, n_iter=DIGITS_ITERS, ridge=DIGITS_RIDGE)
theta_digits = (digits_fit["weights"], digits_fit["means"], digits_fit["covs"])
digits_labels = np.argmax(e_step(Z_digits, *theta_digits), axis=1)
digits_ll_per_sample = log_likelihood(Z_digits, *theta_digits) / len(Z_digits)
digits_ari = adjusted_rand_score(y_digits, digits_labels)
digits_nmi = normalized_mutual_info_score(y_digits, digits_labels)
'''

_DIGITS_TOTAL = _DIGITS_TEMPLATE.replace(
    "log_likelihood(Z_digits, *theta_digits) / len(Z_digits)", "log_likelihood(Z_digits, *theta_digits)")
_DIGITS_INITIAL_LABELS = _DIGITS_TEMPLATE.replace(
    "e_step(Z_digits, *theta_digits)", "e_step(Z_digits, w0_digits, m0_digits, c0_digits)")

_E_SCIPY = '''
from scipy.stats import multivariate_normal

def e_step(X, weights, means, covs):
    """Responsibilities r[n, k] = p(z_n = k | x_n), shape (N, K), computed in log space."""
    log_joint = np.column_stack([np.log(w) + multivariate_normal(m, c).logpdf(X)
                                 for w, m, c in zip(weights, means, covs)]).reshape(len(X), len(weights))
    return np.exp(log_joint - logsumexp(log_joint, axis=1, keepdims=True))
'''

_E_LOOPS = '''
import math

def e_step(X, weights, means, covs):
    """Responsibilities r[n, k] = p(z_n = k | x_n), shape (N, K), computed in log space."""
    X = np.asarray(X, dtype=float)
    N, D = X.shape
    K = len(weights)
    log_joint = np.zeros((N, K))
    for k in range(K):
        prec = np.linalg.inv(covs[k])
        sign, logdet = np.linalg.slogdet(covs[k])
        diff = X - means[k]
        maha = np.einsum("ni,ij,nj->n", diff, prec, diff)
        log_joint[:, k] = math.log(weights[k]) - 0.5 * (maha + logdet + D * math.log(2 * math.pi))
    resp = np.zeros((N, K))
    for n in range(N):
        top = max(log_joint[n])
        total = sum(math.exp(v - top) for v in log_joint[n])
        for k in range(K):
            resp[n, k] = math.exp(log_joint[n, k] - top) / total
    return resp
'''

_M_LOOPS = '''
def m_step(X, resp, ridge=0.0):
    """Closed-form M-step: return (weights, means, covs); covs divide by N_k, then add ridge * I."""
    X, resp = np.asarray(X, dtype=float), np.asarray(resp, dtype=float)
    N, D = X.shape
    K = resp.shape[1]
    weights, means, covs = np.zeros(K), np.zeros((K, D)), np.zeros((K, D, D))
    for k in range(K):
        r = resp[:, k]
        Nk = r.sum()
        weights[k] = Nk / N
        means[k] = r @ X / Nk
        diff = X - means[k]
        covs[k] = (r[:, None] * diff).T @ diff / Nk + ridge * np.eye(D)
    return weights, means, covs
'''

_LL_SCIPY = '''
from scipy.special import logsumexp as _lse
from scipy.stats import multivariate_normal

def log_likelihood(X, weights, means, covs):
    """Total log-likelihood: the SUM over points n of log sum_k pi_k N(x_n | mu_k, Sigma_k)."""
    log_joint = np.column_stack([np.log(w) + multivariate_normal(m, c).logpdf(X)
                                 for w, m, c in zip(weights, means, covs)]).reshape(len(X), len(weights))
    return _lse(log_joint, axis=1).sum()
'''

_F_XLOGY = '''
from scipy.special import xlogy

def free_energy(X, resp, weights, means, covs):
    """F = sum_nk r_nk [log pi_k + log N(x_n | mu_k, Sigma_k) - log r_nk], with 0 log 0 = 0."""
    resp = np.asarray(resp, dtype=float)
    return np.sum(resp * (np.log(weights) + log_gauss(X, means, covs))) - np.sum(xlogy(resp, resp))
'''

_F_LOOPS = '''
import math
from scipy.stats import multivariate_normal

def free_energy(X, resp, weights, means, covs):
    """F = sum_nk r_nk [log pi_k + log N(x_n | mu_k, Sigma_k) - log r_nk], with 0 log 0 = 0."""
    resp = np.asarray(resp, dtype=float)
    total = 0.0
    for k in range(len(weights)):
        log_dens = np.atleast_1d(multivariate_normal(means[k], covs[k]).logpdf(X))
        r = resp[:, k]
        pos = r > 0
        total += np.sum(r[pos] * (math.log(weights[k]) + log_dens[pos] - np.log(r[pos])))
    return total
'''

_RUN_ARRAYS = '''
def run_em(X, weights, means, covs, n_iter, ridge=0.0):
    """Run n_iter EM iterations from the given parameters; return the fit and the traces of F and log p."""
    loglik = np.zeros(n_iter + 1)
    F_after_E, F_after_M = np.zeros(n_iter), np.zeros(n_iter)
    theta = (np.asarray(weights, float), np.asarray(means, float), np.asarray(covs, float))
    for t in range(n_iter):
        loglik[t] = log_likelihood(X, *theta)
        resp = e_step(X, *theta)
        F_after_E[t] = free_energy(X, resp, *theta)
        theta = m_step(X, resp, ridge)
        F_after_M[t] = free_energy(X, resp, *theta)
    loglik[n_iter] = log_likelihood(X, *theta)
    return dict(zip(("weights", "means", "covs"), theta), loglik=loglik, F_after_E=F_after_E, F_after_M=F_after_M)
'''

_DIGITS_LOGJOINT_LABELS = _DIGITS_TEMPLATE.replace(
    "np.argmax(e_step(Z_digits, *theta_digits), axis=1)",
    "np.argmax(np.log(theta_digits[0]) + log_gauss(Z_digits, theta_digits[1], theta_digits[2]), axis=1)")

_SKLEARN_OK = {"score": "A", "lower_bound_": "B", "score_samples_sum": "C", "predict_proba": "D"}
_TF_OK = {1: True, 2: False, 3: False, 4: False, 5: True, 6: True}


def _sklearn(**changes):
    return f"sklearn_match = {dict(_SKLEARN_OK, **changes)!r}\n"


def _tf(changes):
    return "tf_answers = " + repr({**_TF_OK, **changes}) + "\n"


_RESTARTS = '''
def run_restarts(X, starts, n_iter, ridge=0.0):
    """run_em from each start; return (fits, best), best the index of the highest final log-likelihood."""
    fits = [run_em(X, weights, means, covs, n_iter, ridge=ridge) for weights, means, covs in starts]
    return fits, int(BEST)
'''

_E_DEPENDENTS = {"test_e_step", "test_run_em", "test_digits_em"}

WRONG_ANSWERS = [
    Variant("unnormalised responsibilities", {"e_step": _E_UNNORMALISED}, loses=_E_DEPENDENTS),
    # run_em then raises, so run_restarts, which calls it, cannot run either
    Variant("responsibilities transposed (K, N)", {"e_step": _E_TRANSPOSED}, loses=_E_DEPENDENTS | {"test_run_restarts"}),
    Variant("e_step ignores the mixture weights", {"e_step": _E_NO_WEIGHTS}, loses=_E_DEPENDENTS),
    Variant("e_step normalises densities (underflow for far points)", {"e_step": _E_NAIVE},
            loses={"test_e_step"}),
    Variant("covariances divided by N_k - 1", {"m_step": _M_UNBIASED},
            loses={"test_m_step", "test_run_em", "test_digits_em"}),
    Variant("weights not divided by N", {"m_step": _M_COUNTS},
            loses={"test_m_step", "test_run_em", "test_digits_em"}),
    Variant("covariances centred on the global mean", {"m_step": _M_OLD_MEAN},
            loses={"test_m_step", "test_run_em", "test_digits_em"}),
    Variant("m_step ignores the ridge", {"m_step": _M_NO_RIDGE}, loses={"test_m_step", "test_run_em"}),
    Variant("log-likelihood with uniform weights (weights ignored)", {"log_likelihood": _LL_UNIFORM},
            loses={"test_log_likelihood", "test_run_em", "test_digits_em"}),
    Variant("log-likelihood without the mixture weights", {"log_likelihood": _LL_NO_WEIGHTS},
            loses={"test_log_likelihood", "test_run_em", "test_digits_em"}),
    Variant("log-likelihood as a mean over points", {"log_likelihood": _LL_MEAN},
            loses={"test_log_likelihood", "test_run_em", "test_digits_em"}),
    Variant("log-likelihood from densities (underflow for far points)", {"log_likelihood": _LL_NAIVE},
            loses={"test_log_likelihood"}),
    Variant("free energy without the entropy term", {"free_energy": _F_NO_ENTROPY},
            loses={"test_free_energy", "test_run_em"}),
    Variant("free energy with 0 log 0 = NaN", {"free_energy": _F_NAN_ZEROS}, loses={"test_free_energy"}),
    Variant("free energy returns the log-likelihood", {"free_energy": _F_LOG_LIK},
            loses={"test_free_energy", "test_run_em"}),
    Variant("F_after_M with new responsibilities", {"run_em": _RUN_NEW_RESP}, loses={"test_run_em"}),
    Variant("loglik trace misses theta_0", {"run_em": _RUN_SHORT_TRACE}, loses={"test_run_em"}),
    Variant("run_em ignores the ridge", {"run_em": _RUN_IGNORES_RIDGE}, loses={"test_run_em"}),
    Variant("digits log-likelihood as a total", {"digits_em": _DIGITS_TOTAL}, loses={"test_digits_em"}),
    Variant("digits labels from the initial parameters", {"digits_em": _DIGITS_INITIAL_LABELS},
            loses={"test_digits_em"}),
    Variant("lower_bound_ taken as the final log-likelihood", {"sklearn_match": _sklearn(lower_bound_="A")},
            keeps={"test_sklearn_match": 2 / 4}),
    Variant("lower_bound_ taken as the free energy after the last M-step", {"sklearn_match": _sklearn(lower_bound_="E")},
            keeps={"test_sklearn_match": 2 / 4}),
    Variant("score and lower_bound_ swapped", {"sklearn_match": _sklearn(score="B", lower_bound_="A")},
            loses={"test_sklearn_match"}),
    Variant("M-step makes F tight", {"tf_answers": _tf({2: True})}, keeps={"test_tf_answers": 4 / 6}),
    Variant("F read as convex in q", {"tf_answers": _tf({6: False})}, keeps={"test_tf_answers": 4 / 6}),
    Variant("variational EM read as monotone in log p, and the VAE's encoder as exact", {"tf_answers": _tf({3: True, 4: True})},
            keeps={"test_tf_answers": 2 / 6}),
    # guesses earn nothing: three True judgements of six, and a different letter for each sklearn quantity
    Variant("guess: all True in tf_answers", {"tf_answers": _tf({k: True for k in range(1, 7)})}, loses={"test_tf_answers"}),
    Variant("guess: all False in tf_answers", {"tf_answers": _tf({k: False for k in range(1, 7)})}, loses={"test_tf_answers"}),
    Variant("guess: empty in tf_answers", {"tf_answers": "tf_answers = {}\n"}, loses={"test_tf_answers"}),
    *[Variant(f"guess: all {letter} in sklearn_match", {"sklearn_match": _sklearn(**{k: letter for k in _SKLEARN_OK})},
              loses={"test_sklearn_match"}) for letter in "ABCDE"],
    Variant("guess: empty in sklearn_match", {"sklearn_match": "sklearn_match = {}\n"}, loses={"test_sklearn_match"}),
    # Part G
    Variant("restarts: the lowest final log-likelihood", {"run_restarts": _RESTARTS.replace(
        "int(BEST)", 'int(np.argmin([fit["loglik"][-1] for fit in fits]))')}, loses={"test_run_restarts"}),
    Variant("restarts: the best start by its initial log-likelihood", {"run_restarts": _RESTARTS.replace(
        "int(BEST)", 'int(np.argmax([fit["loglik"][0] for fit in fits]))')}, loses={"test_run_restarts"}),
    Variant("restarts: the ridge not passed on", {"run_restarts": _RESTARTS.replace(
        "n_iter, ridge=ridge)", "n_iter)").replace("int(BEST)", 'int(np.argmax([fit["loglik"][-1] for fit in fits]))')},
        loses={"test_run_restarts"}),
    Variant("restarts: the best index counted from the end", {"run_restarts": _RESTARTS.replace(
        "int(BEST)", 'len(fits) - 1 - int(np.argmax([fit["loglik"][-1] for fit in fits]))')}, loses={"test_run_restarts"}),
    Variant("restarts: returns the best fit instead of the list", {"run_restarts": _RESTARTS.replace(
        "return fits, int(BEST)", 'best = int(np.argmax([fit["loglik"][-1] for fit in fits]))\n    return fits[best], best')},
        loses={"test_run_restarts"}),
]

CORRECT_ALTERNATIVES = [
    Variant("e_step with scipy.stats.multivariate_normal and scipy logsumexp", {"e_step": _E_SCIPY}),
    Variant("e_step with explicit Python loops", {"e_step": _E_LOOPS}),
    Variant("m_step with a loop over components", {"m_step": _M_LOOPS}),
    Variant("log_likelihood with scipy densities and logsumexp", {"log_likelihood": _LL_SCIPY}),
    Variant("free_energy with scipy.special.xlogy", {"free_energy": _F_XLOGY}),
    Variant("free_energy with explicit loops", {"free_energy": _F_LOOPS}),
    Variant("run_em with preallocated arrays", {"run_em": _RUN_ARRAYS}),
    Variant("digits labels from the log-joint", {"digits_em": _DIGITS_LOGJOINT_LABELS}),
    Variant("restarts with a loop and max over the final log-likelihoods", {"run_restarts": '''
def run_restarts(X, starts, n_iter, ridge=0.0):
    """run_em from each start; return (fits, best), best the index of the highest final log-likelihood."""
    fits = []
    for start in starts:
        fits.append(run_em(X, *start, n_iter=n_iter, ridge=ridge))
    best = max(range(len(fits)), key=lambda i: fits[i]["loglik"][-1])
    return fits, best
'''}),
    Variant("sklearn letters in another key order", {"sklearn_match":
        'sklearn_match = {"predict_proba": "D", "score_samples_sum": "C", "lower_bound_": "B", "score": "A"}\n'}),
    Variant("all scipy / loop alternatives together",
            {"e_step": _E_SCIPY, "m_step": _M_LOOPS, "log_likelihood": _LL_SCIPY, "free_energy": _F_XLOGY}),
]
