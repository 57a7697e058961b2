"""Hidden checks for assignment 01_entropy_kl: entropy, cross-entropy and the KL divergence.

Every check calls the student's functions through the `nb` proxy on the visible example and on
unseen inputs drawn from the grading secret (`hidden_rng`), and compares the returned data with reference
implementations in this module (scipy's special functions, Cholesky-based Gaussian formulas,
brute-force nearest neighbours).  Everything is in nats.
"""

import math

import numpy as np
from scipy.linalg import cho_factor, cho_solve, solve_triangular
from scipy.special import logsumexp, rel_entr, xlogy

from vicourse.grading.checking import (TorchTensor, Variant, as_array, as_float, assert_close, assert_within_se,
                                       grade_items, hidden_rng)


# ---------------------------------------------------------------------------- references


def _ref_entropy(p):
    p = np.asarray(p, dtype=float)
    return float(-np.sum(xlogy(p, p)))


def _ref_cross_entropy(p, q):
    p, q = np.asarray(p, dtype=float), np.asarray(q, dtype=float)
    return float(-np.sum(xlogy(p, q)))  # xlogy(p > 0, 0) = -inf, xlogy(0, 0) = 0


def _ref_kl(p, q):
    return float(np.sum(rel_entr(np.asarray(p, dtype=float), np.asarray(q, dtype=float))))


def _ref_fit_q(p, n_steps, lr):
    p = np.asarray(p, dtype=float)
    theta = np.zeros_like(p)
    for _ in range(n_steps):
        q = np.exp(theta - theta.max())
        theta = theta - lr * (q / q.sum() - p)
    return np.exp(theta - logsumexp(theta))


def _ref_convexity_gap(p1, p2, q1, q2, lam):
    rhs = lam * _ref_kl(p1, q1) + (1 - lam) * _ref_kl(p2, q2)
    return rhs - _ref_kl(lam * p1 + (1 - lam) * p2, lam * q1 + (1 - lam) * q2)


def _ref_kl_normal_std(mu, sigma):
    mu, sigma = np.asarray(mu, dtype=float), np.asarray(sigma, dtype=float)
    return np.log(1.0 / sigma) + 0.5 * (sigma**2 + mu**2) - 0.5


def _ref_gaussian_kl(mu0, cov0, mu1, cov1):
    """Through Cholesky factors: tr(S1^-1 S0) = ||L1^-1 L0||_F^2, log|S| = 2 sum log diag L."""
    mu0, mu1 = np.atleast_1d(np.asarray(mu0, dtype=float)), np.atleast_1d(np.asarray(mu1, dtype=float))
    cov0, cov1 = np.atleast_2d(np.asarray(cov0, dtype=float)), np.atleast_2d(np.asarray(cov1, dtype=float))
    l0, l1 = np.linalg.cholesky(cov0), np.linalg.cholesky(cov1)
    m = solve_triangular(l1, l0, lower=True)
    v = solve_triangular(l1, mu1 - mu0, lower=True)
    logdet_ratio = 2 * (np.sum(np.log(np.diag(l1))) - np.sum(np.log(np.diag(l0))))
    return 0.5 * (np.sum(m**2) + np.sum(v**2) - len(mu0) + logdet_ratio)


def _ref_log_normal(x, mu, cov):
    factor = cho_factor(cov, lower=True)
    diff = x - mu
    maha = np.sum(diff * cho_solve(factor, diff.T).T, axis=1)
    logdet = 2 * np.sum(np.log(np.diag(factor[0])))
    return -0.5 * (maha + logdet + len(mu) * np.log(2 * np.pi))


# ---------------------------------------------------------------------------- inputs

_KINDS = ("numpy array", "list", "tuple", "float32 torch tensor", "float64 torch tensor")


def _typed(arrays, kind):
    """The arrays as the given input type, and the float64 values the student's code will see."""
    if kind == 0:
        return [np.asarray(a, dtype=float) for a in arrays], arrays
    if kind == 1:
        return [list(map(float, a)) for a in arrays], arrays
    if kind == 2:
        return [tuple(map(float, a)) for a in arrays], arrays
    if kind == 3:
        seen = [np.asarray(a, dtype=np.float32).astype(float) for a in arrays]
        return [TorchTensor(a, "float32") for a in arrays], seen
    return [TorchTensor(a, "float64") for a in arrays], arrays


def _discrete_cases(seed):
    """(label, p, q) pairs: random, with zeros in p, shared zeros, q = 0 where p > 0, a point mass."""
    rng = hidden_rng(seed)
    cases = []
    for n in (2, 3, 4, 6, 9):
        cases.append(("an unseen pair", rng.dirichlet(np.ones(n)), rng.dirichlet(np.ones(n))))
    p = rng.dirichlet(np.ones(6))
    p[[1, 4]] = 0.0
    cases.append(("zeros in p", p / p.sum(), rng.dirichlet(np.ones(6))))
    p, q = rng.dirichlet(np.ones(5)), rng.dirichlet(np.ones(5))
    p[2] = q[2] = 0.0
    cases.append(("p and q both zero at one outcome", p / p.sum(), q / q.sum()))
    p, q = rng.dirichlet(np.ones(4)), rng.dirichlet(np.ones(4))
    q[0] = 0.0
    cases.append(("q = 0 where p > 0", p, q / q.sum()))
    p = np.zeros(5)
    p[rng.integers(5)] = 1.0
    cases.append(("a point mass p", p, rng.dirichlet(np.ones(5))))
    return cases


def _check_discrete(call, reference, seed, what, hint, use_q=True):
    for i, (label, p, q) in enumerate(_discrete_cases(seed)):
        kind = i % len(_KINDS)
        args, seen = _typed([p, q] if use_q else [p], kind)
        assert_close(call(*args), reference(*seen), f"{what} on {label} ({_KINDS[kind]} input){hint}", rtol=1e-5, atol=1e-7)


# ---------------------------------------------------------------------------- Part A


def test_entropy(nb):
    """Part A1: entropy in nats, zeros allowed, on the examples and on unseen distributions of several input types."""
    assert_close(nb.entropy([0.5, 0.5]), math.log(2), "entropy([0.5, 0.5]) must be log 2 in nats (natural log)")
    assert_close(nb.entropy([1.0, 0.0, 0.0]), 0.0, "entropy of a point mass (0 log 0 counts as 0)")
    _check_discrete(nb.entropy, _ref_entropy, 101, "entropy",
                    ": use the natural log, sum over outcomes, and count 0 log 0 as 0", use_q=False)


def test_cross_entropy(nb):
    """Part A2: cross-entropy H(p, q) in nats, zeros and infinities, on unseen pairs of several input types."""
    p, q = [0.2, 0.3, 0.5], [0.4, 0.4, 0.2]
    assert_close(nb.cross_entropy(p, q), _ref_cross_entropy(p, q), "cross_entropy on the example of the test cell")
    _check_discrete(nb.cross_entropy, _ref_cross_entropy, 202, "cross_entropy(p, q)",
                    ": H(p, q) = -sum_x p(x) log q(x), weighted by the first argument, natural log; "
                    "outcomes with p = 0 add nothing and q = 0 where p > 0 gives inf")


def test_kl_divergence(nb):
    """Part A3: KL(p || q) in nats, zeros and infinities, on unseen pairs of several input types."""
    p, q = [0.2, 0.3, 0.5], [0.4, 0.4, 0.2]
    assert_close(nb.kl_divergence(p, q), _ref_kl(p, q), "kl_divergence on the example of the test cell")
    _check_discrete(nb.kl_divergence, _ref_kl, 303, "kl_divergence(p, q)",
                    ": KL(p||q) = sum_x p(x) log(p(x)/q(x)) with the natural log, weighted by the first "
                    "argument; terms with p = 0 are 0 and q = 0 where p > 0 gives inf")


# ---------------------------------------------------------------------------- Part B


def test_kl_asymmetry(nb):
    """Part B1: KL(p||q) and KL(q||p) for p = (0.5, 0.5), q = (0.1, 0.9), in nats and in bits."""
    p, q = [0.5, 0.5], [0.1, 0.9]
    pq, qp = _ref_kl(p, q), _ref_kl(q, p)
    got = {name: as_float(nb.value(name), name) for name in ("kl_pq", "kl_qp", "kl_pq_bits", "kl_qp_bits")}
    if math.isclose(got["kl_pq"], qp, rel_tol=1e-5) and math.isclose(got["kl_qp"], pq, rel_tol=1e-5):
        raise AssertionError("kl_pq and kl_qp are swapped: kl_pq is KL(p||q), the expectation under p")
    if math.isclose(got["kl_pq"], pq / math.log(2), rel_tol=1e-5):
        raise AssertionError("kl_pq looks like it is in bits: kl_pq and kl_qp must be in nats")
    assert_close(got["kl_pq"], pq, "kl_pq = KL(p||q) in nats, computed with kl_divergence")
    assert_close(got["kl_qp"], qp, "kl_qp = KL(q||p) in nats, computed with kl_divergence")
    assert_close(got["kl_pq_bits"], pq / math.log(2), "kl_pq_bits = KL(p||q) in bits (nats / ln 2)")
    assert_close(got["kl_qp_bits"], qp / math.log(2), "kl_qp_bits = KL(q||p) in bits (nats / ln 2)")


# ---------------------------------------------------------------------------- Part C


def test_kl_from_entropies(nb):
    """Part C2: H(p, q) - H(p) equals KL(p || q) on unseen pairs, with and without zeros."""
    _check_discrete(nb.kl_from_entropies, _ref_kl, 404, "kl_from_entropies(p, q)",
                    ": return cross_entropy(p, q) - entropy(p); both must handle zeros")


# ---------------------------------------------------------------------------- Part D


def test_fit_q(nb):
    """Part D3: gradient descent on softmax logits from theta = 0, iterates compared on unseen p, steps and rates."""
    rng = hidden_rng(505)
    p = np.array([0.7, 0.2, 0.1])
    assert_close(nb.fit_q(p, 1, 1.0), _ref_fit_q(p, 1, 1.0), "fit_q([0.7, 0.2, 0.1], 1, 1.0) (one step from theta = 0)",
                 rtol=1e-6, atol=1e-10)
    for i, (n, steps, lr) in enumerate([(3, 0, 1.0), (4, 1, 0.5), (5, 7, 1.0), (6, 25, 2.0), (4, 2000, 1.0)]):
        p = rng.dirichlet(2 * np.ones(n))
        arg = TorchTensor(p, "float64") if i == 2 else p
        got = as_array(nb.fit_q(arg, steps, lr), f"fit_q after {steps} steps", shape=(n,))
        assert_close(got, _ref_fit_q(p, steps, lr),
                     f"fit_q on an unseen p after {steps} steps with lr = {lr}: start at theta = 0, take exactly "
                     "n_steps steps theta <- theta - lr (softmax(theta) - p) and return softmax(theta)",
                     rtol=1e-6, atol=1e-10)


# ---------------------------------------------------------------------------- Part E


def test_convexity_gap(nb):
    """Part E2: RHS - LHS of joint convexity on unseen distributions and weights; must be exact and non-negative."""
    rng = hidden_rng(606)
    cases = [(np.array([0.7, 0.2, 0.1]), np.array([0.1, 0.3, 0.6]), np.array([0.3, 0.3, 0.4]),
              np.array([0.5, 0.25, 0.25]), 0.3)]
    for n, lam in [(2, None), (3, None), (5, None), (8, None), (4, 0.0), (6, 1.0)]:
        dists = [rng.dirichlet(np.ones(n)) for _ in range(4)]
        cases.append((*dists, rng.uniform(0.1, 0.9) if lam is None else lam))
    for i, (p1, p2, q1, q2, lam) in enumerate(cases):
        what = "convexity_gap on the example of the test cell" if i == 0 else f"convexity_gap on unseen distributions (lam = {lam:.3g})"
        got = as_float(nb.convexity_gap(p1, p2, q1, q2, lam), what)
        if got < -1e-9:
            raise AssertionError(f"{what}: got a negative gap; return RHS - LHS")
        assert_close(got, _ref_convexity_gap(p1, p2, q1, q2, lam),
                     f"{what}: return lam KL(p1||q1) + (1-lam) KL(p2||q2) - KL(p_mix||q_mix) with "
                     "p_mix = lam p1 + (1-lam) p2 and q_mix = lam q1 + (1-lam) q2", rtol=1e-5, atol=1e-6)


# ---------------------------------------------------------------------------- Part F


def test_kl_normal_std(nb):
    """Part F2: elementwise KL(N(mu, sigma^2) || N(0, 1)) for scalars, arrays and tensors of unseen values."""
    rng = hidden_rng(707)
    mu, sigma = rng.normal(0, 1.5, size=6), np.exp(rng.normal(0, 0.7, size=6))
    hint = ": KL = log(1/sigma) + (sigma^2 + mu^2)/2 - 1/2 elementwise, with sigma the standard deviation"
    assert_close(nb.kl_normal_std(float(mu[0]), float(sigma[0])), _ref_kl_normal_std(mu[0], sigma[0]),
                 "kl_normal_std on unseen scalars" + hint)
    got = as_array(nb.kl_normal_std(mu, sigma), "kl_normal_std on arrays", shape=(6,))
    assert_close(got, _ref_kl_normal_std(mu, sigma), "kl_normal_std on unseen arrays" + hint)
    mu32, sigma32 = (np.asarray(a, dtype=np.float32).astype(float) for a in (mu[:4], sigma[:4]))
    got = as_array(nb.kl_normal_std(TorchTensor(mu[:4], "float32"), TorchTensor(sigma[:4], "float32")),
                   "kl_normal_std on torch tensors", shape=(4,))
    assert_close(got, _ref_kl_normal_std(mu32, sigma32), "kl_normal_std on unseen torch tensors" + hint)


def _spd(rng, d):
    a = rng.normal(size=(d, d))
    return a @ a.T / d + 0.5 * np.eye(d)


def test_gaussian_kl(nb):
    """Part F3: closed-form Gaussian KL for scalars (variances), d = 1 arrays and unseen d = 2, 3, 5 Gaussians."""
    rng = hidden_rng(808)
    hint = (": KL = 1/2 [tr(S1^-1 S0) + (mu1-mu0)^T S1^-1 (mu1-mu0) - d + log(|S1|/|S0|)]; "
            "check the -d, which covariance is inverted, and the log-determinant ratio")
    m0, m1 = np.array([1.0, -1.0]), np.array([0.0, 0.5])
    s0, s1 = np.array([[2.0, 0.3], [0.3, 1.0]]), np.array([[1.0, -0.2], [-0.2, 0.5]])
    assert_close(nb.gaussian_kl(m0, s0, m1, s1), _ref_gaussian_kl(m0, s0, m1, s1),
                 "gaussian_kl on the 2-D example of the test cell" + hint)
    a, b = rng.normal(size=2), rng.uniform(0.3, 3.0, size=2)
    assert_close(nb.gaussian_kl(float(a[0]), float(b[0]), float(a[1]), float(b[1])),
                 _ref_gaussian_kl(a[0], b[0], a[1], b[1]), "gaussian_kl on unseen scalars (1-D, cov = variance)" + hint)
    assert_close(nb.gaussian_kl(a[:1], b[:1].reshape(1, 1), a[1:], b[1:].reshape(1, 1)),
                 _ref_gaussian_kl(a[0], b[0], a[1], b[1]), "gaussian_kl on unseen 1-D arrays of shape (1,) and (1, 1)" + hint)
    for d in (2, 3, 5):
        mu0, mu1, cov0, cov1 = rng.normal(size=d), rng.normal(size=d), _spd(rng, d), _spd(rng, d)
        assert_close(nb.gaussian_kl(mu0, cov0, mu1, cov1), _ref_gaussian_kl(mu0, cov0, mu1, cov1),
                     f"gaussian_kl on unseen {d}-dimensional Gaussians" + hint)
    mu0, cov0, cov1 = rng.normal(size=3), _spd(rng, 3), _spd(rng, 3)
    assert_close(nb.gaussian_kl(mu0, cov0, mu0, cov1), _ref_gaussian_kl(mu0, cov0, mu0, cov1),
                 "gaussian_kl on unseen 3-D Gaussians with equal means" + hint)
    seen = [np.asarray(v, dtype=np.float32).astype(float) for v in (mu0, cov0, mu1[:3], cov1)]
    assert_close(nb.gaussian_kl(*(TorchTensor(v, "float32") for v in (mu0, cov0, mu1[:3], cov1))),
                 _ref_gaussian_kl(*seen), "gaussian_kl on unseen 3-D Gaussians given as torch tensors" + hint)


def test_gaussian_kl_mc(nb):
    """Part F4: Monte Carlo KL from given samples: equal to the estimate from those samples and within 4 SE of the closed form."""
    rng = hidden_rng(909)
    n = 5000
    for d in (1, 2, 3):
        mu0, mu1 = rng.normal(size=d), rng.normal(size=d)
        cov0, cov1 = _spd(rng, d), _spd(rng, d)
        x = mu0 + rng.standard_normal((n, d)) @ np.linalg.cholesky(cov0).T
        log_ratio = _ref_log_normal(x, mu0, cov0) - _ref_log_normal(x, mu1, cov1)
        what = f"gaussian_kl_mc on unseen {d}-dimensional Gaussians"
        got = as_float(nb.gaussian_kl_mc(mu0, cov0, mu1, cov1, x), what)
        assert_close(got, log_ratio.mean(),
                     f"{what}: return the mean over the given samples of log N0(x) - log N1(x), using the samples "
                     "passed in (do not draw new ones) and full log densities", rtol=1e-5, atol=1e-6)
        assert_within_se(got, _ref_gaussian_kl(mu0, cov0, mu1, cov1), log_ratio.std(ddof=1) / math.sqrt(n), what)


# ---------------------------------------------------------------------------- Part G


def _ref_kl_knn(x, y):
    """Wang-Kulkarni-Verdu 1-NN estimator, with brute-force distances (no k-d tree, unlike the model answer)."""
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    x, y = (a[:, None] if a.ndim == 1 else a for a in (x, y))
    n, d = x.shape
    within = np.sqrt(np.sum((x[:, None, :] - x[None, :, :]) ** 2, axis=-1))
    np.fill_diagonal(within, np.inf)
    between = np.sqrt(np.sum((x[:, None, :] - y[None, :, :]) ** 2, axis=-1))
    return float(d * np.mean(np.log(between.min(axis=1) / within.min(axis=1))) + math.log(len(y) / (n - 1)))


def test_kl_knn(nb):
    """Part G1: the nearest-neighbour KL estimator on unseen samples (1 to 3 dimensions, n != m), equal to the reference on the same samples."""
    rng = hidden_rng(1401)
    hint = ("; rho_i is the distance from x_i to its nearest *other* x, nu_i to its nearest y, both Euclidean, and the "
            "estimate is d * mean(log(nu / rho)) + log(m / (n - 1))")
    for d, n, m in ((1, 60, 45), (2, 150, 220), (3, 90, 70)):
        x = rng.normal(size=(n, d)) * rng.uniform(0.5, 2.0, size=d)
        y = rng.normal(0.7, 1.3, size=(m, d))
        what = f"kl_knn on unseen {d}-dimensional samples (n = {n}, m = {m})"
        assert_close(as_float(nb.kl_knn(x, y), what), _ref_kl_knn(x, y), what + hint, rtol=1e-6, atol=1e-8)
    x, y = rng.normal(size=40), rng.normal(1.0, 1.0, size=30)
    what = "kl_knn on unseen 1-D samples given as 1-D arrays"
    assert_close(as_float(nb.kl_knn(x, y), what), _ref_kl_knn(x, y), what + hint, rtol=1e-6, atol=1e-8)
    x, y = rng.normal(size=(50, 2)), rng.normal(size=(80, 2))
    seen = [np.asarray(a, dtype=np.float32).astype(float) for a in (x, y)]
    what = "kl_knn on unseen samples given as float32 torch tensors"
    assert_close(as_float(nb.kl_knn(TorchTensor(x, "float32"), TorchTensor(y, "float32")), what),
                 _ref_kl_knn(*seen), what + hint, rtol=1e-4, atol=1e-6)


def _ref_kl_unnormalised(log_p_tilde, log_q):
    log_w = np.asarray(log_p_tilde, dtype=float) - np.asarray(log_q, dtype=float)
    log_z = logsumexp(log_w) - math.log(log_w.size)
    weights = np.exp(log_w - logsumexp(log_w))
    return [-float(np.mean(log_w)), float(log_z), float(np.sum(weights * log_w) - log_z)]


def test_kl_unnormalised(nb):
    """Part G2: KL(q||p) - log Z, log Z and the self-normalised KL(p||q) from unseen log densities, large ones included, and against a known normaliser."""
    rng = hidden_rng(1502)
    names = ("the first output, KL(q||p) - log Z", "the second output, log Z", "the third output, the self-normalised KL(p||q)")
    cases = []
    for n, shift in ((200, 0.0), (1000, -3.5), (50, 750.0), (300, -900.0)):
        log_q = rng.normal(-1.0, 1.0, size=n)
        cases.append((f"unseen log densities (n = {n}, log p~ around {shift:g})", log_q + shift + rng.normal(0, 1.5, size=n), log_q))
    for label, log_p_tilde, log_q in cases:
        got = as_array(nb.kl_unnormalised(log_p_tilde, log_q), f"kl_unnormalised on {label}", shape=(3,))
        for value, expected, name in zip(got, _ref_kl_unnormalised(log_p_tilde, log_q), names):
            assert_close(value, expected, f"kl_unnormalised on {label}: {name}; compute with log-sum-exp so that large "
                         "log densities neither overflow nor underflow", rtol=1e-7, atol=1e-7)
    # a known normaliser: p~ = Z N(1, 0.8^2), sampled from q = N(0, 1.5^2); the weights have finite variance
    log_z_true, n = 2.7, 200_000
    x = rng.normal(0.0, 1.5, size=n)
    log_q = -0.5 * (x / 1.5) ** 2 - math.log(1.5 * math.sqrt(2 * math.pi))
    log_p = -0.5 * ((x - 1.0) / 0.8) ** 2 - math.log(0.8 * math.sqrt(2 * math.pi))
    first, log_z, _ = as_array(nb.kl_unnormalised(log_p + log_z_true, log_q), "kl_unnormalised on samples", shape=(3,))
    kl_qp = math.log(0.8 / 1.5) + (1.5**2 + 1.0) / (2 * 0.8**2) - 0.5
    assert_within_se(first + log_z_true, kl_qp, np.std(log_q - log_p, ddof=1) / math.sqrt(n),
                     "kl_unnormalised: the first output plus the true log Z against the closed-form KL(q||p)")
    weights = np.exp(log_p - log_q)
    assert_within_se(math.exp(log_z - log_z_true), 1.0, np.std(weights, ddof=1) / math.sqrt(n),
                     "kl_unnormalised: exp(second output) against the true Z")


# ---------------------------------------------------------------------------- Part H


def test_tf_answers(nb):
    """Part H1: four true/false items on properties of KL (finiteness, symmetry, additivity,
    Gibbs' inequality), scored right minus wrong."""
    got = nb.value("tf_answers")
    if not isinstance(got, dict) or {str(k) for k in got} != {"1", "2", "3", "4"}:
        raise AssertionError("tf_answers must be a dict with keys 1, 2, 3, 4")
    if not all(isinstance(v, bool) for v in got.values()):
        raise AssertionError("each entry of tf_answers must be True or False")
    got = {str(k): v for k, v in got.items()}
    grade_items(got, {"1": True, "2": False, "3": True, "4": False}, "true/false answers")


# ---------------------------------------------------------------------------- calibration

_SIG_ENTROPY = 'def entropy(p):\n    """Entropy H(p) in nats of a discrete distribution p (array-like); 0 log 0 counts as 0."""\n'
_SIG_CROSS = 'def cross_entropy(p, q):\n    """Cross-entropy H(p, q) = -sum_x p(x) log q(x) in nats; inf if q = 0 where p > 0."""\n'
_SIG_KL = 'def kl_divergence(p, q):\n    """KL(p || q) = sum_x p(x) log(p(x) / q(x)) in nats; inf if q = 0 where p > 0."""\n'
_SIG_GKL = ('def gaussian_kl(mu0, cov0, mu1, cov1):\n'
            '    """KL(N(mu0, cov0) || N(mu1, cov1)) in nats for d-dimensional Gaussians (scalars: 1-D variances)."""\n')
_SIG_MC = ('def gaussian_kl_mc(mu0, cov0, mu1, cov1, samples):\n'
           '    """Monte Carlo estimate of KL(N0 || N1): mean of log N0(x) - log N1(x) over the given samples x ~ N0."""\n')
_SIG_NSTD = 'def kl_normal_std(mu, sigma):\n    """Elementwise KL(N(mu, sigma^2) || N(0, 1)) in nats; sigma is the standard deviation."""\n'
_SIG_GAP = ('def convexity_gap(p1, p2, q1, q2, lam):\n'
            '    """lam KL(p1||q1) + (1-lam) KL(p2||q2) - KL(lam p1 + (1-lam) p2 || lam q1 + (1-lam) q2)."""\n')
_SIG_FITQ = ('def fit_q(p, n_steps, lr):\n'
             '    """q = softmax(theta) after n_steps gradient-descent steps on KL(p || q), starting at theta = 0."""\n')
_SIG_KFE = 'def kl_from_entropies(p, q):\n    """KL(p || q) computed as cross-entropy minus entropy, in nats."""\n'


def _entropy(body):
    return _SIG_ENTROPY + "    p = np.asarray(p, dtype=float)\n" + body


def _cross(body):
    return _SIG_CROSS + "    p = np.asarray(p, dtype=float)\n    q = np.asarray(q, dtype=float)\n" + body


def _kl(body):
    return _SIG_KL + "    p = np.asarray(p, dtype=float)\n    q = np.asarray(q, dtype=float)\n" + body


_ASYM_HEAD = "p_coin = np.array([0.5, 0.5])\nq_coin = np.array([0.1, 0.9])\n"
_ASYM_TAIL = 'print(f"KL(p||q) = {kl_pq:.4f} nats = {kl_pq_bits:.4f} bits")\n'

_GKL_HEAD = """    mu0 = np.atleast_1d(np.asarray(mu0, dtype=float))
    mu1 = np.atleast_1d(np.asarray(mu1, dtype=float))
    cov0 = np.atleast_2d(np.asarray(cov0, dtype=float))
    cov1 = np.atleast_2d(np.asarray(cov1, dtype=float))
    d = mu0.shape[0]
    diff = mu1 - mu0
    ld0 = np.linalg.slogdet(cov0)[1]
    ld1 = np.linalg.slogdet(cov1)[1]
"""

_MC_HEAD = """    x = np.asarray(samples, dtype=float)
    mu0, mu1 = np.atleast_1d(np.asarray(mu0, dtype=float)), np.atleast_1d(np.asarray(mu1, dtype=float))
    cov0, cov1 = np.atleast_2d(np.asarray(cov0, dtype=float)), np.atleast_2d(np.asarray(cov1, dtype=float))
"""



_SIG_KNN = ('def kl_knn(x, y):\n'
            '    """Nearest-neighbour estimate of KL(p || q) in nats from samples x ~ p, shape (n, d), and y ~ q, shape (m, d)."""\n')
_SIG_UNN = ('def kl_unnormalised(log_p_tilde, log_q):\n'
            '    """(KL(q||p) - log Z, log Z, KL(p||q)) estimated from log p~(x_i) and log q(x_i) at samples x_i ~ q."""\n')
_KNN_HEAD = """    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    x, y = (a[:, None] if a.ndim == 1 else a for a in (x, y))
    n, d = x.shape
"""
_UNN_HEAD = """    log_w = np.asarray(log_p_tilde, dtype=float) - np.asarray(log_q, dtype=float)
    log_sum = special.logsumexp(log_w)
    log_z = log_sum - np.log(log_w.size)
    weights = np.exp(log_w - log_sum)
"""

WRONG_ANSWERS = [
    # Part A1
    Variant("entropy in bits (log2)", {"entropy": _entropy(
        "    nz = p[p > 0]\n    return float(-np.sum(nz * np.log2(nz)))\n")}, loses={"test_entropy", "test_kl_from_entropies"}),
    Variant("entropy averaged over outcomes (mean instead of sum)", {"entropy": _entropy(
        "    nz = p[p > 0]\n    return float(-np.mean(nz * np.log(nz)))\n")}, loses={"test_entropy", "test_kl_from_entropies"}),
    Variant("entropy without zero handling (0 log 0 -> nan)", {"entropy": _entropy(
        "    with np.errstate(all='ignore'):\n        return float(-np.sum(p * np.log(p)))\n")},
        loses={"test_entropy", "test_kl_from_entropies"}),
    Variant("entropy with the sign flipped", {"entropy": _entropy(
        "    nz = p[p > 0]\n    return float(np.sum(nz * np.log(nz)))\n")}, loses={"test_entropy", "test_kl_from_entropies"}),
    Variant("entropy hard-coded to log 2", {"entropy": _SIG_ENTROPY + "    return 0.6931471805599453\n"},
            loses={"test_entropy", "test_kl_from_entropies"}),
    # Part A2
    Variant("cross-entropy with swapped arguments", {"cross_entropy": _cross(
        "    s = q > 0\n    with np.errstate(divide='ignore'):\n        return float(-np.sum(q[s] * np.log(p[s])))\n")},
        loses={"test_cross_entropy", "test_kl_from_entropies"}),
    Variant("cross-entropy as E_p[1/log q] (the handout's typo)", {"cross_entropy": _cross(
        "    s = p > 0\n    with np.errstate(all='ignore'):\n        return float(np.sum(p[s] / np.log(q[s])))\n")},
        loses={"test_cross_entropy", "test_kl_from_entropies"}),
    Variant("cross-entropy in bits", {"cross_entropy": _cross(
        "    s = p > 0\n    with np.errstate(divide='ignore'):\n        return float(-np.sum(p[s] * np.log2(q[s])))\n")},
        loses={"test_cross_entropy", "test_kl_from_entropies"}),
    Variant("cross-entropy without zero handling (0 log 0 -> nan)", {"cross_entropy": _cross(
        "    with np.errstate(all='ignore'):\n        return float(-np.sum(p * np.log(q)))\n")},
        loses={"test_cross_entropy", "test_kl_from_entropies"}),
    # Part A3 (Part B and E call kl_divergence, so they lose too)
    Variant("KL with swapped arguments", {"kl_divergence": _kl(
        "    return float(np.sum(special.rel_entr(q, p)))\n")},
        loses={"test_kl_divergence", "test_kl_asymmetry", "test_convexity_gap"}),
    Variant("KL in bits (log2)", {"kl_divergence": _kl(
        "    s = p > 0\n    with np.errstate(divide='ignore'):\n        return float(np.sum(p[s] * np.log2(p[s] / q[s])))\n")},
        loses={"test_kl_divergence", "test_kl_asymmetry", "test_convexity_gap"}),
    Variant("KL hard-coded to the coin example (0.5108)", {"kl_divergence": _SIG_KL + "    return 0.5108\n"},
            loses={"test_kl_divergence", "test_kl_asymmetry", "test_convexity_gap"}),
    Variant("KL with the sign flipped", {"kl_divergence": _kl(
        "    s = p > 0\n    with np.errstate(divide='ignore'):\n        return float(np.sum(p[s] * np.log(q[s] / p[s])))\n")},
        loses={"test_kl_divergence", "test_kl_asymmetry", "test_convexity_gap"}),
    Variant("KL averaged over outcomes (mean instead of sum)", {"kl_divergence": _kl(
        "    return float(np.mean(special.rel_entr(p, q)))\n")},
        loses={"test_kl_divergence", "test_kl_asymmetry", "test_convexity_gap"}),
    Variant("KL without zero handling (0 log 0 -> nan)", {"kl_divergence": _kl(
        "    with np.errstate(all='ignore'):\n        return float(np.sum(p * np.log(p / q)))\n")},
        loses={"test_kl_divergence"}),
    Variant("KL clipping q instead of returning inf", {"kl_divergence": _kl(
        "    q = np.clip(q, 1e-12, None)\n    s = p > 0\n    return float(np.sum(p[s] * np.log(p[s] / q[s])))\n")},
        loses={"test_kl_divergence"}),
    # Part B
    Variant("asymmetry: the two directions swapped", {"kl_asymmetry": _ASYM_HEAD
        + "kl_pq = kl_divergence(q_coin, p_coin)\nkl_qp = kl_divergence(p_coin, q_coin)\n"
        + "kl_pq_bits = kl_pq / np.log(2)\nkl_qp_bits = kl_qp / np.log(2)\n" + _ASYM_TAIL}, loses={"test_kl_asymmetry"}),
    Variant("asymmetry: nats and bits mixed up", {"kl_asymmetry": _ASYM_HEAD
        + "kl_pq = kl_divergence(p_coin, q_coin) / np.log(2)\nkl_qp = kl_divergence(q_coin, p_coin) / np.log(2)\n"
        + "kl_pq_bits = kl_pq / np.log(2)\nkl_qp_bits = kl_qp / np.log(2)\n" + _ASYM_TAIL}, loses={"test_kl_asymmetry"}),
    Variant("asymmetry: bits multiplied by ln 2", {"kl_asymmetry": _ASYM_HEAD
        + "kl_pq = kl_divergence(p_coin, q_coin)\nkl_qp = kl_divergence(q_coin, p_coin)\n"
        + "kl_pq_bits = kl_pq * np.log(2)\nkl_qp_bits = kl_qp * np.log(2)\n" + _ASYM_TAIL}, loses={"test_kl_asymmetry"}),
    Variant("asymmetry: typed-in rounded constants", {"kl_asymmetry": _ASYM_HEAD
        + "kl_pq, kl_qp = 0.5108, 0.3681\nkl_pq_bits, kl_qp_bits = 0.7370, 0.5310\n" + _ASYM_TAIL},
        loses={"test_kl_asymmetry"}),
    # Part C
    Variant("H(p) - H(p, q) (sign)", {"kl_from_entropies": _SIG_KFE + "    return entropy(p) - cross_entropy(p, q)\n"},
            loses={"test_kl_from_entropies"}),
    Variant("H(q, p) - H(q) (roles swapped)", {"kl_from_entropies": _SIG_KFE + "    return cross_entropy(q, p) - entropy(q)\n"},
            loses={"test_kl_from_entropies"}),
    # Part D
    Variant("fit_q: gradient ascent (sign error)", {"fit_q": _SIG_FITQ + """    p = np.asarray(p, dtype=float)
    theta = np.zeros_like(p)
    for _ in range(int(n_steps)):
        theta = theta + lr * (special.softmax(theta) - p)
    return special.softmax(theta)
"""}, loses={"test_fit_q"}),
    Variant("fit_q: returns p without iterating", {"fit_q": _SIG_FITQ + "    return np.asarray(p, dtype=float)\n"},
            loses={"test_fit_q"}),
    Variant("fit_q: one step too many", {"fit_q": _SIG_FITQ + """    p = np.asarray(p, dtype=float)
    theta = np.zeros_like(p)
    for _ in range(int(n_steps) + 1):
        theta = theta - lr * (special.softmax(theta) - p)
    return special.softmax(theta)
"""}, loses={"test_fit_q"}),
    # Part E
    Variant("convexity gap as LHS - RHS", {"convexity_gap": _SIG_GAP + """    p1, p2, q1, q2 = (np.asarray(a, dtype=float) for a in (p1, p2, q1, q2))
    lhs = kl_divergence(lam * p1 + (1 - lam) * p2, lam * q1 + (1 - lam) * q2)
    return lhs - lam * kl_divergence(p1, q1) - (1 - lam) * kl_divergence(p2, q2)
"""}, loses={"test_convexity_gap"}),
    Variant("convexity gap with the mixture weights swapped", {"convexity_gap": _SIG_GAP + """    p1, p2, q1, q2 = (np.asarray(a, dtype=float) for a in (p1, p2, q1, q2))
    lhs = kl_divergence((1 - lam) * p1 + lam * p2, (1 - lam) * q1 + lam * q2)
    return lam * kl_divergence(p1, q1) + (1 - lam) * kl_divergence(p2, q2) - lhs
"""}, loses={"test_convexity_gap"}),
    # Part F
    Variant("kl_normal_std with log sigma instead of log sigma^2", {"kl_normal_std": _SIG_NSTD
        + "    mu, sigma = np.asarray(mu, dtype=float), np.asarray(sigma, dtype=float)\n"
        + "    return 0.5 * (sigma**2 + mu**2 - 1 - np.log(sigma))\n"}, loses={"test_kl_normal_std"}),
    Variant("kl_normal_std missing the -1", {"kl_normal_std": _SIG_NSTD
        + "    mu, sigma = np.asarray(mu, dtype=float), np.asarray(sigma, dtype=float)\n"
        + "    return 0.5 * (sigma**2 + mu**2 - 2 * np.log(sigma))\n"}, loses={"test_kl_normal_std"}),
    Variant("kl_normal_std summed over dimensions", {"kl_normal_std": _SIG_NSTD
        + "    mu, sigma = np.asarray(mu, dtype=float), np.asarray(sigma, dtype=float)\n"
        + "    return float(np.sum(0.5 * (sigma**2 + mu**2 - 1 - 2 * np.log(sigma))))\n"}, loses={"test_kl_normal_std"}),
    Variant("gaussian_kl missing the -d", {"gaussian_kl": _SIG_GKL + _GKL_HEAD
        + "    return float(0.5 * (np.trace(np.linalg.solve(cov1, cov0)) + diff @ np.linalg.solve(cov1, diff) + ld1 - ld0))\n"},
        loses={"test_gaussian_kl"}),
    Variant("gaussian_kl with swapped covariances", {"gaussian_kl": _SIG_GKL + _GKL_HEAD
        + "    return float(0.5 * (np.trace(np.linalg.solve(cov0, cov1)) + diff @ np.linalg.solve(cov0, diff) - d + ld0 - ld1))\n"},
        loses={"test_gaussian_kl"}),
    Variant("gaussian_kl with the log-determinant ratio upside down", {"gaussian_kl": _SIG_GKL + _GKL_HEAD
        + "    return float(0.5 * (np.trace(np.linalg.solve(cov1, cov0)) + diff @ np.linalg.solve(cov1, diff) - d + ld0 - ld1))\n"},
        loses={"test_gaussian_kl"}),
    Variant("gaussian_kl with log det from the diagonal only", {"gaussian_kl": _SIG_GKL + _GKL_HEAD
        + "    ld0, ld1 = np.sum(np.log(np.diag(cov0))), np.sum(np.log(np.diag(cov1)))\n"
        + "    return float(0.5 * (np.trace(np.linalg.solve(cov1, cov0)) + diff @ np.linalg.solve(cov1, diff) - d + ld1 - ld0))\n"},
        loses={"test_gaussian_kl"}),
    Variant("gaussian_kl without the 1/2", {"gaussian_kl": _SIG_GKL + _GKL_HEAD
        + "    return float(np.trace(np.linalg.solve(cov1, cov0)) + diff @ np.linalg.solve(cov1, diff) - d + ld1 - ld0)\n"},
        loses={"test_gaussian_kl"}),
    Variant("gaussian_kl with the Mahalanobis term under Sigma0", {"gaussian_kl": _SIG_GKL + _GKL_HEAD
        + "    return float(0.5 * (np.trace(np.linalg.solve(cov1, cov0)) + diff @ np.linalg.solve(cov0, diff) - d + ld1 - ld0))\n"},
        loses={"test_gaussian_kl"}),
    Variant("gaussian_kl_mc summing instead of averaging", {"gaussian_kl_mc": _SIG_MC + _MC_HEAD
        + "    lr = stats.multivariate_normal.logpdf(x, mu0, cov0) - stats.multivariate_normal.logpdf(x, mu1, cov1)\n"
        + "    return float(np.sum(lr))\n"}, loses={"test_gaussian_kl_mc"}),
    Variant("gaussian_kl_mc with log N1 - log N0 (sign)", {"gaussian_kl_mc": _SIG_MC + _MC_HEAD
        + "    lr = stats.multivariate_normal.logpdf(x, mu1, cov1) - stats.multivariate_normal.logpdf(x, mu0, cov0)\n"
        + "    return float(np.mean(lr))\n"}, loses={"test_gaussian_kl_mc"}),
    Variant("gaussian_kl_mc drawing its own samples", {"gaussian_kl_mc": _SIG_MC + _MC_HEAD
        + "    x = np.random.default_rng(12345).multivariate_normal(mu0, cov0, size=len(x))\n"
        + "    lr = stats.multivariate_normal.logpdf(x, mu0, cov0) - stats.multivariate_normal.logpdf(x, mu1, cov1)\n"
        + "    return float(np.mean(lr))\n"}, loses={"test_gaussian_kl_mc"}),
    Variant("gaussian_kl_mc dropping the log-determinants", {"gaussian_kl_mc": _SIG_MC + _MC_HEAD
        + "    x = x.reshape(len(x), -1)\n"
        + "    q0 = np.sum((x - mu0) * np.linalg.solve(cov0, (x - mu0).T).T, axis=1)\n"
        + "    q1 = np.sum((x - mu1) * np.linalg.solve(cov1, (x - mu1).T).T, axis=1)\n"
        + "    return float(np.mean(-0.5 * q0 + 0.5 * q1))\n"}, loses={"test_gaussian_kl_mc"}),
    Variant("gaussian_kl_mc returning the closed form", {"gaussian_kl_mc": _SIG_MC
        + "    return gaussian_kl(mu0, cov0, mu1, cov1)\n"}, loses={"test_gaussian_kl_mc"}),
    # Part G
    Variant("kl_knn counting each point as its own neighbour", {"kl_knn": _SIG_KNN + _KNN_HEAD
        + "    rho = spatial.cKDTree(x).query(x, k=1)[0]\n"
        + "    nu = spatial.cKDTree(y).query(x, k=1)[0]\n"
        + "    return float(d * np.mean(np.log(nu / rho)) + np.log(len(y) / (n - 1)))\n"}, loses={"test_kl_knn"}),
    Variant("kl_knn without the factor d", {"kl_knn": _SIG_KNN + _KNN_HEAD
        + "    rho = spatial.cKDTree(x).query(x, k=2)[0][:, 1]\n"
        + "    nu = spatial.cKDTree(y).query(x, k=1)[0]\n"
        + "    return float(np.mean(np.log(nu / rho)) + np.log(len(y) / (n - 1)))\n"}, loses={"test_kl_knn"}),
    Variant("kl_knn with log(m / n) instead of log(m / (n - 1))", {"kl_knn": _SIG_KNN + _KNN_HEAD
        + "    rho = spatial.cKDTree(x).query(x, k=2)[0][:, 1]\n"
        + "    nu = spatial.cKDTree(y).query(x, k=1)[0]\n"
        + "    return float(d * np.mean(np.log(nu / rho)) + np.log(len(y) / n))\n"}, loses={"test_kl_knn"}),
    Variant("kl_knn without the sample-size correction", {"kl_knn": _SIG_KNN + _KNN_HEAD
        + "    rho = spatial.cKDTree(x).query(x, k=2)[0][:, 1]\n"
        + "    nu = spatial.cKDTree(y).query(x, k=1)[0]\n"
        + "    return float(d * np.mean(np.log(nu / rho)))\n"}, loses={"test_kl_knn"}),
    Variant("kl_knn with squared distances", {"kl_knn": _SIG_KNN + _KNN_HEAD
        + "    rho = spatial.cKDTree(x).query(x, k=2)[0][:, 1] ** 2\n"
        + "    nu = spatial.cKDTree(y).query(x, k=1)[0] ** 2\n"
        + "    return float(d * np.mean(np.log(nu / rho)) + np.log(len(y) / (n - 1)))\n"}, loses={"test_kl_knn"}),
    Variant("kl_knn with the roles of the samples swapped", {"kl_knn": _SIG_KNN + _KNN_HEAD
        + "    rho = spatial.cKDTree(y).query(y, k=2)[0][:, 1]\n"
        + "    nu = spatial.cKDTree(x).query(y, k=1)[0]\n"
        + "    return float(d * np.mean(np.log(nu / rho)) + np.log(n / (len(y) - 1)))\n"}, loses={"test_kl_knn"}),
    Variant("kl_unnormalised: log Z as the mean log-weight (the ELBO)", {"kl_unnormalised": _SIG_UNN + _UNN_HEAD
        + "    return float(-np.mean(log_w)), float(np.mean(log_w)), float(np.sum(weights * log_w) - log_z)\n"},
        loses={"test_kl_unnormalised"}),
    Variant("kl_unnormalised exponentiating the log densities directly", {"kl_unnormalised": _SIG_UNN + """    with np.errstate(all="ignore"):
        w = np.exp(np.asarray(log_p_tilde, dtype=float)) / np.exp(np.asarray(log_q, dtype=float))
        z = np.mean(w)
        return float(np.mean(np.log(np.exp(log_q) / np.exp(log_p_tilde)))), float(np.log(z)), float(np.sum(w / w.sum() * (np.log(w) - np.log(z))))
"""}, loses={"test_kl_unnormalised"}),
    Variant("kl_unnormalised: inclusive KL with unnormalised weights", {"kl_unnormalised": _SIG_UNN + _UNN_HEAD
        + "    return float(-np.mean(log_w)), float(log_z), float(np.mean(np.exp(log_w) * (log_w - log_z)))\n"},
        loses={"test_kl_unnormalised"}),
    Variant("kl_unnormalised: inclusive KL forgetting log Z", {"kl_unnormalised": _SIG_UNN + _UNN_HEAD
        + "    return float(-np.mean(log_w)), float(log_z), float(np.sum(weights * log_w))\n"},
        loses={"test_kl_unnormalised"}),
    Variant("kl_unnormalised: first output with the sign flipped", {"kl_unnormalised": _SIG_UNN + _UNN_HEAD
        + "    return float(np.mean(log_w)), float(log_z), float(np.sum(weights * log_w) - log_z)\n"},
        loses={"test_kl_unnormalised"}),
    Variant("kl_unnormalised: first output corrected by the estimated log Z", {"kl_unnormalised": _SIG_UNN + _UNN_HEAD
        + "    return float(-np.mean(log_w) + log_z), float(log_z), float(np.sum(weights * log_w) - log_z)\n"},
        loses={"test_kl_unnormalised"}),
    # Part H
    Variant("true/false: item 2 as True (equal KLs both ways mean equal distributions)", {"tf_answers":
        "tf_answers = {1: True, 2: True, 3: True, 4: False}\n"}, keeps={"test_tf_answers": 2 / 4}),
    Variant("true/false: items 1 and 4 flipped (cross-entropy below entropy)", {"tf_answers":
        "tf_answers = {1: False, 2: False, 3: True, 4: True}\n"}, loses={"test_tf_answers"}),
    Variant("true/false: strings instead of booleans", {"tf_answers":
        "tf_answers = {1: 'True', 2: 'False', 3: 'True', 4: 'False'}\n"}, loses={"test_tf_answers"}),
    # guesses earn nothing: the key is two True and two False, scored right minus wrong
    Variant("guess: all True in tf_answers", {"tf_answers": "tf_answers = {1: True, 2: True, 3: True, 4: True}\n"},
            loses={"test_tf_answers"}),
    Variant("guess: all False in tf_answers", {"tf_answers": "tf_answers = {1: False, 2: False, 3: False, 4: False}\n"},
            loses={"test_tf_answers"}),
    Variant("guess: empty in tf_answers", {"tf_answers": "tf_answers = {}\n"}, loses={"test_tf_answers"}),
]

CORRECT_ALTERNATIVES = [
    Variant("scipy.stats.entropy / scipy.special.rel_entr / xlogy", {
        "entropy": _SIG_ENTROPY + "    return stats.entropy(np.asarray(p, dtype=float))\n",
        "cross_entropy": _SIG_CROSS + "    return -np.sum(special.xlogy(np.asarray(p, dtype=float), np.asarray(q, dtype=float)))\n",
        "kl_divergence": _SIG_KL + "    return np.sum(special.rel_entr(np.asarray(p, dtype=float), np.asarray(q, dtype=float)))\n",
    }),
    Variant("KL through scipy.stats.entropy(p, q)", {
        "kl_divergence": _SIG_KL + "    return stats.entropy(np.asarray(p, dtype=float), np.asarray(q, dtype=float))\n",
    }),
    Variant("torch implementations returning tensors", {
        "entropy": "import torch\n\n" + _SIG_ENTROPY
        + "    p = torch.as_tensor(p, dtype=torch.float64)\n    return -torch.special.xlogy(p, p).sum()\n",
        "cross_entropy": "import torch\n\n" + _SIG_CROSS
        + "    p, q = torch.as_tensor(p, dtype=torch.float64), torch.as_tensor(q, dtype=torch.float64)\n"
        + "    return -torch.special.xlogy(p, q).sum()\n",
        "kl_divergence": "import torch\n\n" + _SIG_KL
        + "    p, q = torch.as_tensor(p, dtype=torch.float64), torch.as_tensor(q, dtype=torch.float64)\n"
        + "    return (torch.special.xlogy(p, p) - torch.special.xlogy(p, q)).sum()\n",
        "kl_normal_std": "import torch\n\n" + _SIG_NSTD
        + "    mu, sigma = torch.as_tensor(mu, dtype=torch.float64), torch.as_tensor(sigma, dtype=torch.float64)\n"
        + "    return 0.5 * (sigma**2 + mu**2 - 1) - torch.log(sigma)\n",
        "gaussian_kl": "import torch\n\n" + _SIG_GKL + """    mu0, mu1 = (torch.as_tensor(v, dtype=torch.float64).reshape(-1) for v in (mu0, mu1))
    d = mu0.shape[0]
    cov0, cov1 = (torch.as_tensor(v, dtype=torch.float64).reshape(d, d) for v in (cov0, cov1))
    n0 = torch.distributions.MultivariateNormal(mu0, covariance_matrix=cov0)
    n1 = torch.distributions.MultivariateNormal(mu1, covariance_matrix=cov1)
    return torch.distributions.kl_divergence(n0, n1)
""",
        "gaussian_kl_mc": "import torch\n\n" + _SIG_MC + """    x = torch.as_tensor(samples, dtype=torch.float64)
    mu0, mu1 = (torch.as_tensor(v, dtype=torch.float64).reshape(-1) for v in (mu0, mu1))
    d = mu0.shape[0]
    cov0, cov1 = (torch.as_tensor(v, dtype=torch.float64).reshape(d, d) for v in (cov0, cov1))
    x = x.reshape(-1, d)
    n0 = torch.distributions.MultivariateNormal(mu0, covariance_matrix=cov0)
    n1 = torch.distributions.MultivariateNormal(mu1, covariance_matrix=cov1)
    return (n0.log_prob(x) - n1.log_prob(x)).mean()
""",
        "fit_q": "import torch\n\n" + _SIG_FITQ + """    p = torch.as_tensor(p, dtype=torch.float64)
    theta = torch.zeros_like(p)
    for _ in range(n_steps):
        theta = theta - lr * (torch.softmax(theta, 0) - p)
    return torch.softmax(theta, 0)
""",
    }),
    Variant("torch.distributions and torch.cdist in float64, returning tensors", {
        "kl_normal_std": "import torch\n\n" + _SIG_NSTD + """    mu = torch.as_tensor(mu, dtype=torch.float64)
    sigma = torch.as_tensor(sigma, dtype=torch.float64)
    q = torch.distributions.Normal(mu, sigma)
    prior = torch.distributions.Normal(torch.zeros_like(mu), torch.ones_like(sigma))
    return torch.distributions.kl_divergence(q, prior)
""",
        "gaussian_kl": "import torch\n\n" + _SIG_GKL + """    mu0 = torch.atleast_1d(torch.as_tensor(mu0, dtype=torch.float64))
    mu1 = torch.atleast_1d(torch.as_tensor(mu1, dtype=torch.float64))
    cov0 = torch.atleast_2d(torch.as_tensor(cov0, dtype=torch.float64))
    cov1 = torch.atleast_2d(torch.as_tensor(cov1, dtype=torch.float64))
    return torch.distributions.kl_divergence(torch.distributions.MultivariateNormal(mu0, cov0),
                                             torch.distributions.MultivariateNormal(mu1, cov1))
""",
        "convexity_gap": "import torch\n\n" + _SIG_GAP + """    p1, p2, q1, q2 = (torch.as_tensor(a, dtype=torch.float64) for a in (p1, p2, q1, q2))
    kl = lambda a, b: torch.sum(torch.special.xlogy(a, a) - torch.special.xlogy(a, b))
    return lam * kl(p1, q1) + (1 - lam) * kl(p2, q2) - kl(lam * p1 + (1 - lam) * p2, lam * q1 + (1 - lam) * q2)
""",
        "kl_knn": "import torch\n\n" + _SIG_KNN + """    x = torch.as_tensor(x, dtype=torch.float64)
    y = torch.as_tensor(y, dtype=torch.float64)
    if x.ndim == 1:
        x, y = x[:, None], y[:, None]
    n, d = x.shape
    exact = "donot_use_mm_for_euclid_dist"
    within = torch.cdist(x, x, compute_mode=exact).fill_diagonal_(float("inf"))
    rho = within.min(dim=1).values
    nu = torch.cdist(x, y, compute_mode=exact).min(dim=1).values
    return d * torch.log(nu / rho).mean() + np.log(y.shape[0] / (n - 1))
""",
    }),
    Variant("pure Python loops", {
        "entropy": "import math\n\n" + _SIG_ENTROPY + """    total = 0.0
    for pi in p:
        pi = float(pi)
        if pi > 0:
            total -= pi * math.log(pi)
    return total
""",
        "cross_entropy": "import math\n\n" + _SIG_CROSS + """    total = 0.0
    for pi, qi in zip(p, q):
        pi, qi = float(pi), float(qi)
        if pi == 0:
            continue
        if qi == 0:
            return math.inf
        total -= pi * math.log(qi)
    return total
""",
        "kl_divergence": "import math\n\n" + _SIG_KL + """    total = 0.0
    for pi, qi in zip(p, q):
        pi, qi = float(pi), float(qi)
        if pi == 0:
            continue
        if qi == 0:
            return math.inf
        total += pi * math.log(pi / qi)
    return total
""",
        "convexity_gap": _SIG_GAP + """    p_mix = [lam * a + (1 - lam) * b for a, b in zip(p1, p2)]
    q_mix = [lam * a + (1 - lam) * b for a, b in zip(q1, q2)]
    return lam * kl_divergence(p1, q1) + (1 - lam) * kl_divergence(p2, q2) - kl_divergence(p_mix, q_mix)
""",
        "fit_q": "import math\n\n" + _SIG_FITQ + """    p = [float(v) for v in p]
    theta = [0.0] * len(p)

    def softmax(t):
        m = max(t)
        e = [math.exp(v - m) for v in t]
        return [v / sum(e) for v in e]

    for _ in range(n_steps):
        q = softmax(theta)
        theta = [t - lr * (qi - pi) for t, qi, pi in zip(theta, q, p)]
    return softmax(theta)
""",
    }),
    Variant("float32 arithmetic", {
        "entropy": _SIG_ENTROPY + """    p = np.asarray(p, dtype=np.float32)
    nz = p[p > 0]
    return -np.sum(nz * np.log(nz))
""",
        "cross_entropy": _SIG_CROSS + """    p, q = np.asarray(p, dtype=np.float32), np.asarray(q, dtype=np.float32)
    s = p > 0
    with np.errstate(divide="ignore"):
        return -np.sum(p[s] * np.log(q[s]))
""",
        "kl_divergence": _SIG_KL + """    p, q = np.asarray(p, dtype=np.float32), np.asarray(q, dtype=np.float32)
    s = p > 0
    with np.errstate(divide="ignore"):
        return np.sum(p[s] * (np.log(p[s]) - np.log(q[s])))
""",
        "kl_normal_std": _SIG_NSTD + """    mu, sigma = np.asarray(mu, dtype=np.float32), np.asarray(sigma, dtype=np.float32)
    return np.float32(0.5) * (sigma**2 + mu**2 - 1) - np.log(sigma)
""",
        "gaussian_kl": _SIG_GKL + """    mu0, mu1 = (np.atleast_1d(np.asarray(v, dtype=np.float32)) for v in (mu0, mu1))
    cov0, cov1 = (np.atleast_2d(np.asarray(v, dtype=np.float32)) for v in (cov0, cov1))
    diff = mu1 - mu0
    inv1 = np.linalg.inv(cov1)
    return 0.5 * (np.trace(inv1 @ cov0) + diff @ inv1 @ diff - len(mu0)
                  + np.log(np.linalg.det(cov1)) - np.log(np.linalg.det(cov0)))
""",
    }),
    Variant("scipy.stats.multivariate_normal for the Monte Carlo estimate", {
        "gaussian_kl_mc": _SIG_MC + _MC_HEAD + """    lr = stats.multivariate_normal.logpdf(x, mu0, cov0) - stats.multivariate_normal.logpdf(x, mu1, cov1)
    return np.mean(lr)
""",
    }),
    Variant("answers as numpy booleans and lower-case letters", {
        "tf_answers": "tf_answers = {1: np.True_, 2: np.False_, 3: np.True_, 4: np.False_}\n",
    }),
    Variant("kl_knn with brute-force distances, and scikit-learn's NearestNeighbors", {"kl_knn": _SIG_KNN + _KNN_HEAD
        + """    from sklearn.neighbors import NearestNeighbors
    rho = NearestNeighbors(n_neighbors=2).fit(x).kneighbors(x)[0][:, 1]
    nu = np.sqrt(((x[:, None, :] - y[None, :, :]) ** 2).sum(-1)).min(axis=1)
    return d * np.mean(np.log(nu) - np.log(rho)) + np.log(len(y)) - np.log(n - 1)
"""}),
    Variant("kl_unnormalised in torch, with softmax weights", {"kl_unnormalised": "import torch\n\n" + _SIG_UNN
        + """    log_w = torch.as_tensor(log_p_tilde, dtype=torch.float64) - torch.as_tensor(log_q, dtype=torch.float64)
    log_z = torch.logsumexp(log_w, 0) - np.log(log_w.numel())
    weights = torch.softmax(log_w, 0)
    return -log_w.mean(), log_z, (weights * (log_w - log_z)).sum()
"""}),
]
