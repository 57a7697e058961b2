"""Cross-checks of assignment 01_entropy_kl against independent implementations.

The solution notebook's functions and the hidden grader's reference functions are compared with
scipy (entropy, rel_entr), torch.distributions (Gaussian KL), scikit-learn's nearest neighbours
and adaptive quadrature (scipy.integrate.quad) for the estimators of Part G.
"""

import math

import numpy as np
import pytest
import torch
from scipy import integrate, special, stats
from sklearn.neighbors import NearestNeighbors

NAME = "01_entropy_kl"


# ---------------------------------------------------------------- discrete quantities


def _pairs():
    rng = np.random.default_rng(2024)
    pairs = [(rng.dirichlet(np.ones(n)), rng.dirichlet(np.ones(n))) for n in (2, 3, 5, 10, 20)]
    p, q = rng.dirichlet(np.ones(6)), rng.dirichlet(np.ones(6))
    p[[0, 3]] = 0
    pairs.append((p / p.sum(), q))
    return pairs


def test_discrete_against_scipy(nb, grader):
    for p, q in _pairs():
        h, kl = stats.entropy(p), float(np.sum(special.rel_entr(p, q)))
        assert nb.entropy(p) == pytest.approx(h, rel=1e-12, abs=1e-14)
        assert nb.kl_divergence(p, q) == pytest.approx(kl, rel=1e-12, abs=1e-14)
        assert nb.kl_divergence(p, q) == pytest.approx(stats.entropy(p, q), rel=1e-12, abs=1e-14)
        assert nb.cross_entropy(p, q) == pytest.approx(h + kl, rel=1e-12)
        assert nb.kl_from_entropies(p, q) == pytest.approx(kl, rel=1e-9, abs=1e-12)
        assert grader._ref_entropy(p) == pytest.approx(h, rel=1e-12, abs=1e-14)
        assert grader._ref_kl(p, q) == pytest.approx(stats.entropy(p, q), rel=1e-12, abs=1e-14)
        assert grader._ref_cross_entropy(p, q) == pytest.approx(h + kl, rel=1e-12)
    # zeros: q = 0 where p > 0 gives inf in both the solution and scipy
    assert math.isinf(nb.kl_divergence([0.5, 0.5], [1.0, 0.0])) and math.isinf(stats.entropy([0.5, 0.5], [1.0, 0.0]))


def test_coin_asymmetry_values(nb):
    kl_pq, kl_qp = 0.5 * math.log(5) + 0.5 * math.log(5 / 9), 0.1 * math.log(0.2) + 0.9 * math.log(1.8)
    assert nb.value("kl_pq") == pytest.approx(kl_pq, rel=1e-12)
    assert nb.value("kl_qp") == pytest.approx(kl_qp, rel=1e-12)
    assert kl_pq == pytest.approx(stats.entropy([0.5, 0.5], [0.1, 0.9]), rel=1e-12)
    assert [round(v, 4) for v in (kl_pq, kl_qp)] == [0.5108, 0.3681]
    bits = [nb.value("kl_pq_bits"), nb.value("kl_qp_bits")]
    assert bits == pytest.approx([stats.entropy([0.5, 0.5], [0.1, 0.9], base=2), stats.entropy([0.1, 0.9], [0.5, 0.5], base=2)])
    assert [round(v, 4) for v in bits] == [0.7370, 0.5310]


def test_convexity_gap_and_fit_q(nb):
    rng = np.random.default_rng(7)
    for _ in range(20):
        n, lam = rng.integers(2, 7), rng.uniform()
        p1, p2, q1, q2 = (rng.dirichlet(np.ones(n)) for _ in range(4))
        rhs = lam * stats.entropy(p1, q1) + (1 - lam) * stats.entropy(p2, q2)
        lhs = stats.entropy(lam * p1 + (1 - lam) * p2, lam * q1 + (1 - lam) * q2)
        assert nb.convexity_gap(p1, p2, q1, q2, lam) == pytest.approx(rhs - lhs, rel=1e-9, abs=1e-12)
        assert rhs - lhs >= -1e-12
    p = rng.dirichlet(2 * np.ones(5))
    assert np.allclose(nb.fit_q(p, 3000, 1.0), p, atol=1e-10)
    assert np.allclose(nb.fit_q(p, 0, 1.0), np.full(5, 0.2))


# ---------------------------------------------------------------- Gaussians


def _spd(rng, d):
    a = rng.normal(size=(d, d))
    return a @ a.T / d + 0.5 * np.eye(d)


def _torch_kl(mu0, cov0, mu1, cov1):
    t = lambda v: torch.as_tensor(np.atleast_1d(v), dtype=torch.float64)  # noqa: E731
    n0 = torch.distributions.MultivariateNormal(t(mu0), covariance_matrix=t(cov0))
    n1 = torch.distributions.MultivariateNormal(t(mu1), covariance_matrix=t(cov1))
    return float(torch.distributions.kl_divergence(n0, n1))


def test_gaussian_kl_against_torch(nb, grader):
    rng = np.random.default_rng(11)
    for d in (1, 2, 3, 5, 8):
        mu0, mu1, cov0, cov1 = rng.normal(size=d), rng.normal(size=d), _spd(rng, d), _spd(rng, d)
        ref = _torch_kl(mu0, cov0, mu1, cov1)
        assert nb.gaussian_kl(mu0, cov0, mu1, cov1) == pytest.approx(ref, rel=1e-9)
        assert grader._ref_gaussian_kl(mu0, cov0, mu1, cov1) == pytest.approx(ref, rel=1e-9)
    mu, sigma = rng.normal(size=5), np.exp(rng.normal(size=5))
    ref = torch.distributions.kl_divergence(torch.distributions.Normal(torch.tensor(mu), torch.tensor(sigma)),
                                            torch.distributions.Normal(0.0, 1.0)).numpy()
    assert np.allclose(nb.kl_normal_std(mu, sigma), ref, rtol=1e-10)
    assert np.allclose(grader._ref_kl_normal_std(mu, sigma), ref, rtol=1e-10)
    one_d = torch.distributions.kl_divergence(torch.distributions.Normal(0.5, 2.0), torch.distributions.Normal(0.0, 1.0))
    assert nb.gaussian_kl(0.5, 4.0, 0.0, 1.0) == pytest.approx(float(one_d), rel=1e-7)  # scalars: cov is the variance


def test_gaussian_mc_within_standard_error(nb, grader):
    rng = np.random.default_rng(12)
    mu0, mu1, cov0, cov1 = rng.normal(size=3), rng.normal(size=3), _spd(rng, 3), _spd(rng, 3)
    x = rng.multivariate_normal(mu0, cov0, size=20_000)
    log_ratio = stats.multivariate_normal.logpdf(x, mu0, cov0) - stats.multivariate_normal.logpdf(x, mu1, cov1)
    est = nb.gaussian_kl_mc(mu0, cov0, mu1, cov1, x)
    assert est == pytest.approx(log_ratio.mean(), rel=1e-10)
    assert abs(est - _torch_kl(mu0, cov0, mu1, cov1)) < 4 * log_ratio.std(ddof=1) / math.sqrt(len(x))
    ref = grader._ref_log_normal(x[:50], mu0, cov0)
    assert np.allclose(ref, stats.multivariate_normal.logpdf(x[:50], mu0, cov0), rtol=1e-12)


# ---------------------------------------------------------------- Part G: estimators without both densities


def _knn_sklearn(x, y):
    """The 1-NN estimator of Wang, Kulkarni and Verdu (2009) through scikit-learn's neighbour search."""
    n, d = x.shape
    rho = NearestNeighbors(n_neighbors=2).fit(x).kneighbors(x)[0][:, 1]
    nu = NearestNeighbors(n_neighbors=1).fit(y).kneighbors(x)[0][:, 0]
    return d * np.mean(np.log(nu / rho)) + math.log(len(y) / (n - 1))


def test_knn_estimator_against_sklearn_and_the_closed_form(nb, grader):
    rng = np.random.default_rng(21)
    for d in (1, 2, 4):
        x, y = rng.normal(size=(300, d)), rng.normal(0.5, 1.2, size=(250, d))
        assert nb.kl_knn(x, y) == pytest.approx(_knn_sklearn(x, y), rel=1e-10)
        assert grader._ref_kl_knn(x, y) == pytest.approx(_knn_sklearn(x, y), rel=1e-10)
    # consistency: in one dimension the bias is already negligible at n = 2000, so the mean of ten
    # estimates lies within four standard errors of the closed form (torch.distributions)
    exact = _torch_kl(np.zeros(1), np.eye(1), np.ones(1), 2.25 * np.eye(1))
    estimates = [nb.kl_knn(rng.normal(size=2000), rng.normal(1.0, 1.5, size=2000)) for _ in range(10)]
    assert abs(np.mean(estimates) - exact) < 4 * np.std(estimates, ddof=1) / math.sqrt(10)


def test_knn_table_in_the_notebook(nb):
    """The bias shrinks with n, and the spread shrinks too (the table printed after G1)."""
    table = {int(k): v for k, v in nb.value("knn_table").items()}
    means = [table[n][0] for n in (100, 1000, 10000)]
    spreads = [table[n][1] for n in (100, 1000, 10000)]
    exact = _torch_kl(np.array([1.0, -1.0]), np.array([[2.0, 0.3], [0.3, 1.0]]), np.zeros(2), np.eye(2))
    assert abs(means[-1] - exact) < abs(means[0] - exact) and abs(means[-1] - exact) < 0.15
    assert spreads[0] > spreads[1] > spreads[2]


def test_unnormalised_estimates_against_quadrature(nb, grader):
    """The double well of G2: each estimate within a few standard errors of quadrature, the log Z
    estimate never below minus the first output (Jensen), and the grader's reference identical."""
    log_p_tilde = lambda x: -x**4 / 4 + x**2  # noqa: E731
    z = integrate.quad(lambda x: math.exp(log_p_tilde(x)), -np.inf, np.inf, epsabs=1e-13)[0]
    log_q = lambda x: stats.norm.logpdf(x, 0.0, 2.0)  # noqa: E731
    kl_qp = integrate.quad(lambda x: math.exp(log_q(x)) * (log_q(x) - log_p_tilde(x) + math.log(z)), -30, 30)[0]
    kl_pq = integrate.quad(lambda x: math.exp(log_p_tilde(x)) / z * (log_p_tilde(x) - math.log(z) - log_q(x)), -8, 8)[0]
    rng = np.random.default_rng(22)
    x = rng.normal(0.0, 2.0, size=400_000)
    lp, lq = log_p_tilde(x), log_q(x)
    first, log_z, inclusive = nb.kl_unnormalised(lp, lq)
    assert [first, log_z, inclusive] == pytest.approx(grader._ref_kl_unnormalised(lp, lq), rel=1e-12)
    se = np.std(lq - lp) / math.sqrt(len(x))
    assert abs(first - (kl_qp - math.log(z))) < 4 * se
    assert abs(log_z - math.log(z)) < 0.01 and abs(inclusive - kl_pq) < 0.01
    for n in (5, 50, 500):
        f, lz, _ = nb.kl_unnormalised(lp[:n], lq[:n])
        assert lz >= -f


def test_the_keyed_true_false_facts_of_h1():
    """H1's key, checked numerically: a swapped pair has equal KL both ways (item 2 is false),
    KL adds over independent pairs (item 3 is true), and H(p, q) >= H(p) always (item 4 is false)."""
    from scipy.special import rel_entr

    kl = lambda p, q: float(np.sum(rel_entr(p, q)))
    p, q = np.array([0.2, 0.8]), np.array([0.8, 0.2])
    assert np.isclose(kl(p, q), kl(q, p)) and not np.allclose(p, q)
    rng = np.random.default_rng(5)
    for _ in range(20):
        p1, q1, p2, q2 = (rng.dirichlet(np.ones(n)) for n in (3, 3, 4, 4))
        assert np.isclose(kl(np.outer(p1, p2).ravel(), np.outer(q1, q2).ravel()), kl(p1, q1) + kl(p2, q2))
        concentrated = rng.dirichlet(np.full(3, 0.1))
        assert -np.sum(p1 * np.log(concentrated)) >= -np.sum(p1 * np.log(p1))


def test_the_numbers_g4_reads_off_the_two_tables(nb):
    """G4's model answer quotes both tables: the k-NN table is recomputed with scikit-learn's
    neighbour search on the same draws and the closed form from torch.distributions, the double
    well with scipy's logsumexp on the same draws and adaptive quadrature."""
    mu0, cov0 = np.array([1.0, -1.0]), np.array([[2.0, 0.3], [0.3, 1.0]])
    exact = _torch_kl(mu0, cov0, np.zeros(2), np.eye(2))
    rng = np.random.default_rng(5)
    table = {int(k): v for k, v in nb.value("knn_table").items()}
    bias, spread, se = {}, {}, {}
    for n in (100, 1000, 10000):
        estimates = [_knn_sklearn(rng.multivariate_normal(mu0, cov0, size=n), rng.multivariate_normal(np.zeros(2), np.eye(2), size=n))
                     for _ in range(20)]
        assert table[n] == pytest.approx([np.mean(estimates), np.std(estimates, ddof=1)], rel=1e-9)
        bias[n], spread[n] = np.mean(estimates) - exact, np.std(estimates, ddof=1)
        se[n] = spread[n] / math.sqrt(20)
    assert [round(bias[n], 2) for n in (100, 1000)] == [-0.40, -0.14] and round(bias[10000], 3) == -0.053
    assert round(se[100], 3) == 0.058 and round(-bias[100] / se[100]) == 7
    assert all(-bias[n] / se[n] > 4 for n in bias), "a bias at every n, not noise"
    assert [round(bias[100] / bias[1000], 1), round(bias[1000] / bias[10000], 1)] == [2.9, 2.6]
    assert [round(spread[n], 2) for n in (100, 1000)] == [0.26, 0.13] and round(spread[10000], 3) == 0.039
    assert -bias[10000] > spread[10000]

    log_p_tilde = lambda x: -x**4 / 4 + x**2  # noqa: E731
    z = integrate.quad(lambda x: math.exp(log_p_tilde(x)), -np.inf, np.inf, epsabs=1e-13)[0]
    log_q = lambda x: stats.norm.logpdf(x, 0.0, 2.0)  # noqa: E731
    first_exact = integrate.quad(lambda x: math.exp(log_q(x)) * (log_q(x) - log_p_tilde(x)), -30, 30)[0]
    rng = np.random.default_rng(14)
    rows = {int(k): v for k, v in nb.value("is_table").items()}
    for n in (100, 10000, 1000000):
        x = rng.normal(0.0, 2.0, size=n)
        lw = log_p_tilde(x) - log_q(x)
        log_z = float(special.logsumexp(lw) - math.log(n))
        assert rows[n][:3] == pytest.approx([-lw.mean(), lw.std(ddof=1) / math.sqrt(n), log_z], rel=1e-9)
    first, se_first, log_z = rows[100][:3]
    assert [round(first, 2), round(se_first, 2), round(first_exact, 2)] == [6.80, 3.63, 5.89]
    assert 0.8 < first - first_exact < 1.0 and round((first - first_exact) / se_first, 2) == 0.25
    assert abs(log_z - math.log(z)) < 0.05, "within a few hundredths"
    # the weights are bounded, so Jensen's downward bias of the log Z estimate is small: about
    # -Var(w) / (2 n Z^2) by the delta method
    second = integrate.quad(lambda x: math.exp(2 * log_p_tilde(x) - log_q(x)), -np.inf, np.inf)[0]
    assert -0.01 < -(second / z**2 - 1) / (2 * 100) < 0
