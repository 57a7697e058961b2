"""Cross-checks for 02_elbo: the solution's functions and numbers, and the grader's
references, against independent implementations (sklearn, scipy quadrature, torch.distributions)."""

import math

import numpy as np
import pytest
import torch
from scipy import integrate, optimize, stats
from scipy.stats import norm
from sklearn.mixture import GaussianMixture

from vicourse.grading.checking import TorchTensor

NAME = "02_elbo"


def _sklearn_mixture(pi, mu, sigma):
    gm = GaussianMixture(n_components=len(pi), covariance_type="diag")
    gm.weights_ = np.asarray(pi, float)
    gm.means_ = np.asarray(mu, float)[:, None]
    gm.covariances_ = np.asarray(sigma, float)[:, None] ** 2
    gm.precisions_cholesky_ = 1.0 / np.asarray(sigma, float)[:, None]
    return gm


def _random_mixture(rng, k):
    return rng.dirichlet(np.ones(k) * 2), rng.normal(0, 2.5, k), rng.uniform(0.4, 2.0, k)


MIXTURES = [(2, 1), (3, 2), (4, 3)]


@pytest.mark.parametrize("k,seed", MIXTURES)
def test_log_evidence_and_posterior_match_sklearn(nb, grader, k, seed):
    rng = np.random.default_rng(seed)
    pi, mu, sigma = _random_mixture(rng, k)
    x = rng.normal(0, 4, 30)
    gm = _sklearn_mixture(pi, mu, sigma)
    want_le, want_post = gm.score_samples(x[:, None]), gm.predict_proba(x[:, None])
    np.testing.assert_allclose(nb.log_evidence(x, pi, mu, sigma), want_le, rtol=1e-10)
    np.testing.assert_allclose(nb.posterior(x, pi, mu, sigma), want_post, rtol=1e-8, atol=1e-12)
    np.testing.assert_allclose(grader._ref_log_evidence(x, pi, mu, sigma), want_le, rtol=1e-10)
    np.testing.assert_allclose(grader._ref_posterior(x, pi, mu, sigma), want_post, rtol=1e-8, atol=1e-12)


def test_log_evidence_is_a_normalised_density(nb):
    pi, mu, sigma = [0.3, 0.7], [-2.0, 1.5], [0.8, 1.2]
    grid = np.linspace(-30.0, 30.0, 12001)
    total = integrate.simpson(np.exp(nb.log_evidence(grid, pi, mu, sigma)), x=grid)
    assert abs(total - 1.0) < 1e-9
    # the mixture density at one point equals the weighted sum computed by quadrature-free scipy
    x0 = 0.7
    direct = sum(p * norm.pdf(x0, m, s) for p, m, s in zip(pi, mu, sigma))
    assert math.isclose(nb.log_evidence(np.array([x0]), pi, mu, sigma)[0], math.log(direct), rel_tol=1e-12)


def test_log_evidence_is_finite_in_the_tails(nb):
    le = nb.log_evidence(np.array([-80.0, 80.0]), [0.3, 0.7], [-2.0, 1.5], [0.5, 0.6])
    assert all(np.isfinite(le))
    # far out the narrow-vs-wide comparison is dominated by one component: check against it directly
    assert math.isclose(le[1], math.log(0.7) + norm.logpdf(80.0, 1.5, 0.6), rel_tol=1e-12)


@pytest.mark.parametrize("k,seed", MIXTURES)
def test_gap_equals_kl_to_posterior(nb, grader, k, seed):
    rng = np.random.default_rng(100 + seed)
    pi, mu, sigma = _random_mixture(rng, k)
    x = rng.normal(0, 3, 20)
    q = rng.dirichlet(np.ones(k), size=x.size)
    post = _sklearn_mixture(pi, mu, sigma).predict_proba(x[:, None])
    kl = np.sum(q * (np.log(q) - np.log(post)), axis=1)
    gap = np.asarray(nb.log_evidence(x, pi, mu, sigma)) - np.asarray(nb.elbo(x, q, pi, mu, sigma))
    np.testing.assert_allclose(gap, kl, rtol=1e-9, atol=1e-11)
    np.testing.assert_allclose(np.asarray(nb.log_evidence(x, pi, mu, sigma)) - grader._ref_elbo(x, q, pi, mu, sigma),
                               kl, rtol=1e-9, atol=1e-11)
    np.testing.assert_allclose(nb.elbo(x, post, pi, mu, sigma), nb.log_evidence(x, pi, mu, sigma), atol=1e-10)


def test_notebook_gap_table(nb):
    gap, kl, at_post = (np.asarray(nb.value(v)) for v in ("gap", "kl_q_post", "gap_at_post"))
    assert np.all(gap > 0)
    np.testing.assert_allclose(gap, kl, atol=1e-12)
    assert np.max(np.abs(at_post)) < 1e-12
    # the sweep's maximiser is the posterior probability, up to the grid spacing
    assert abs(nb.value("t_best") - nb.value("post_one")) <= 1.0 / 400


def test_kl_to_prior_matches_torch_distributions(nb, grader):
    rng = np.random.default_rng(7)
    mu, lv = rng.normal(0, 1.5, (10, 4)), rng.uniform(-5, 2, (10, 4))
    q = torch.distributions.Normal(torch.tensor(mu), torch.exp(0.5 * torch.tensor(lv)))
    p = torch.distributions.Normal(torch.zeros(10, 4, dtype=torch.float64), torch.ones(10, 4, dtype=torch.float64))
    want = torch.distributions.kl_divergence(q, p).sum(-1).numpy()
    np.testing.assert_allclose(nb.kl_to_prior(mu, lv), want, rtol=1e-10)
    np.testing.assert_allclose(grader._ref_kl(mu, lv), want, rtol=1e-10)
    # the same as a full multivariate normal with a diagonal covariance
    mvn_q = torch.distributions.MultivariateNormal(torch.tensor(mu), torch.diag_embed(torch.exp(torch.tensor(lv))))
    mvn_p = torch.distributions.MultivariateNormal(torch.zeros(4, dtype=torch.float64), torch.eye(4, dtype=torch.float64))
    np.testing.assert_allclose(torch.distributions.kl_divergence(mvn_q, mvn_p).numpy(), want, rtol=1e-9)
    # float32 torch tensors agree
    out = nb.kl_to_prior(TorchTensor(mu), TorchTensor(lv))
    np.testing.assert_allclose(out, want, rtol=1e-5)


def test_kl_monte_carlo_cell(nb):
    closed = nb.kl_to_prior(np.array([1.0, -2.0, 0.5]), np.array([-1.0, 0.5, 2.0]))
    assert abs(nb.value("kl_mc") - closed) < 4 * nb.value("kl_mc_se")


def test_linear_gaussian_numbers_by_quadrature(nb):
    a, b, s, x = (nb.value(v) for v in ("a_lin", "b_lin", "s_lin", "x_obs"))
    m_q, s_q = nb.value("m_q"), nb.value("s_q")
    evidence, _ = integrate.quad(lambda z: norm.pdf(x, a * z + b, s) * norm.pdf(z), -10, 10, points=[1.2], limit=200)
    assert math.isclose(nb.value("log_px_lin"), math.log(evidence), rel_tol=1e-9)
    elbo_q, _ = integrate.quad(
        lambda z: norm.pdf(z, m_q, s_q) * (norm.logpdf(x, a * z + b, s) + norm.logpdf(z) - norm.logpdf(z, m_q, s_q)),
        m_q - 12 * s_q, m_q + 12 * s_q, limit=200)
    assert math.isclose(nb.value("elbo_lin"), elbo_q, rel_tol=1e-9)
    # posterior by Bayes' rule vs the closed form used for the KL
    v_post = 1 / (1 + a**2 / s**2)
    m_post = v_post * a * (x - b) / s**2
    mean_num, _ = integrate.quad(lambda z: z * norm.pdf(x, a * z + b, s) * norm.pdf(z) / evidence, -10, 10, points=[1.2])
    assert math.isclose(mean_num, m_post, rel_tol=1e-8)
    f64 = lambda v: torch.tensor(v, dtype=torch.float64)  # noqa: E731
    kl = torch.distributions.kl_divergence(torch.distributions.Normal(f64(m_q), f64(s_q)),
                                           torch.distributions.Normal(f64(m_post), f64(math.sqrt(v_post)))).item()
    assert math.isclose(nb.value("kl_lin"), kl, rel_tol=1e-9)
    assert math.isclose(nb.value("log_px_lin") - nb.value("elbo_lin"), kl, rel_tol=1e-9)


def test_iwae_curve_is_monotone_and_below_the_evidence(nb):
    ks = np.asarray(nb.value("ks"))
    means, se = np.asarray(nb.value("iwae_means")), np.asarray(nb.value("iwae_se"))
    log_px = nb.value("log_px_lin")
    assert list(ks) == [2**i for i in range(len(ks))]
    assert np.all(np.diff(means) > 0), "the IWAE estimates must increase with k"
    assert np.all(means <= log_px + 4 * se)
    assert abs(means[0] - nb.value("elbo_lin")) < 4 * se[0], "k = 1 must agree with the closed-form ELBO"
    assert log_px - means[-1] < 0.01


def test_iwae_bound_matches_torch(nb, grader):
    rng = np.random.default_rng(11)
    for shape, loc in [((7, 5), -3.0), ((4, 1), 0.0), ((3, 64), -1000.0)]:
        log_w = rng.normal(loc, 2.0, shape)
        want = (torch.logsumexp(torch.tensor(log_w), dim=-1) - math.log(shape[1])).numpy()
        np.testing.assert_allclose(nb.iwae_bound(log_w), want, rtol=1e-12)
        np.testing.assert_allclose(grader._ref_iwae(log_w), want, rtol=1e-12)


def test_grader_example_matches_notebook(nb, grader):
    for var, const in [("pi_ex", grader.PI_EX), ("mu_ex", grader.MU_EX), ("sigma_ex", grader.SIGMA_EX),
                       ("x_ex", grader.X_EX), ("q_ex", grader.Q_EX)]:
        np.testing.assert_array_equal(np.asarray(nb.value(var)), const)


def test_solution_answers_agree_with_grader(nb):
    assert nb.value("elbo_claims") == {"1": True, "2": False, "3": True, "4": False, "5": False, "6": True}
    assert nb.value("vi_claims") == {"1": True, "2": False, "3": False, "4": True, "5": False, "6": True}
    assert nb.value("mc_answers") == {"a": "C", "b": "B", "c": "A"}


def test_the_keyed_facts_of_b3(nb):
    """B.3's key, checked numerically on mixtures: mass of q where p(x, z) = 0 gives an ELBO of -inf
    (item 1); the same q has another gap under other decoder parameters (item 3); the log of a sum is
    not the sum of logs (item 5); with equal expected log-joints, the q of larger entropy has the
    larger ELBO (item 6)."""
    x, q = np.array([0.3]), np.array([[0.5, 0.5]])
    with np.errstate(divide="ignore"):
        assert nb.elbo(x, q, np.array([1.0, 0.0]), np.array([0.0, 2.0]), np.ones(2))[0] == -np.inf
    gaps = [nb.log_evidence(x, np.array([0.4, 0.6]), mu, np.ones(2))[0] - nb.elbo(x, q, np.array([0.4, 0.6]), mu, np.ones(2))[0]
            for mu in (np.array([-1.0, 1.0]), np.array([-2.0, 0.5]))]
    assert abs(gaps[0] - gaps[1]) > 1e-3
    pi, mu, sigma = np.array([0.3, 0.7]), np.array([-1.0, 1.5]), np.array([1.0, 1.2])
    log_joint = np.log(pi) + stats.norm.logpdf(0.4, mu, sigma)
    assert not math.isclose(np.logaddexp.reduce(log_joint), log_joint.sum())
    symmetric = (np.array([0.5, 0.5]), np.array([-1.0, 1.0]), np.ones(2))  # at x = 0 both log-joints are equal
    wide, narrow = nb.elbo(np.zeros(2), np.array([[0.5, 0.5], [0.9, 0.1]]), *symmetric)
    assert wide > narrow and wide - narrow == pytest.approx(stats.entropy([0.5, 0.5]) - stats.entropy([0.9, 0.1]))


# ---------------------------------------------------------------- Part F: the bimodal mixture, by adaptive quadrature


def _log_p(x):
    a = math.log(1 / 3) - 0.5 * (x + 3) ** 2
    b = math.log(2 / 3) - 0.5 * (x - 3) ** 2
    m = max(a, b)
    return m + math.log(math.exp(a - m) + math.exp(b - m)) - 0.5 * math.log(2 * math.pi)


def _log_q(x, mu, sigma):
    return -0.5 * ((x - mu) / sigma) ** 2 - math.log(sigma) - 0.5 * math.log(2 * math.pi)


def _quad(f, a, b, points):
    return integrate.quad(f, a, b, points=points, epsabs=1e-13, epsrel=1e-12, limit=400)[0]


def kl_p_q_quad(mu, sigma):
    f = lambda x: math.exp(_log_p(x)) * (_log_p(x) - _log_q(x, mu, sigma))  # noqa: E731
    return _quad(f, -20.0, 20.0, [-3.0, 3.0])


def kl_q_p_quad(mu, sigma):
    f = lambda x: math.exp(_log_q(x, mu, sigma)) * (_log_q(x, mu, sigma) - _log_p(x))  # noqa: E731
    return _quad(f, mu - 14 * sigma, mu + 14 * sigma, [mu])


def _exclusive(theta):
    return kl_q_p_quad(theta[0], math.exp(theta[1]))


def _grad(theta, h=1e-4):
    theta = np.asarray(theta, dtype=float)
    return np.array([(_exclusive(theta + h * e) - _exclusive(theta - h * e)) / (2 * h) for e in np.eye(2)])


def test_inclusive_optimum_is_moment_matching(nb):
    res = optimize.minimize(lambda t: kl_p_q_quad(t[0], math.exp(t[1])), x0=[0.0, 0.0], method="Nelder-Mead",
                            options={"xatol": 1e-8, "fatol": 1e-13})
    assert res.x[0] == pytest.approx(1.0, abs=1e-4) and math.exp(res.x[1]) == pytest.approx(3.0, abs=1e-4)
    assert round(res.fun, 4) == 0.4657
    assert nb.moment_match([1 / 3, 2 / 3], [-3.0, 3.0], [1.0, 1.0]) == pytest.approx([1.0, 3.0], rel=1e-12)
    assert nb.kl_p_q(1.0, 3.0) == pytest.approx(kl_p_q_quad(1.0, 3.0), rel=1e-9)


def test_exclusive_minima_by_quadrature(nb, grader):
    found = []
    for start in [(3.0, 1.0), (-3.0, 1.0)]:
        res = optimize.minimize(_exclusive, x0=[start[0], math.log(start[1])], method="Nelder-Mead",
                                options={"xatol": 1e-9, "fatol": 1e-14})
        mu, sigma = res.x[0], math.exp(res.x[1])
        assert np.linalg.norm(_grad(res.x)) < 1e-5
        found.append((mu, sigma, res.fun))
        s_mu, s_sigma, s_kl = nb.fit_exclusive(*start)
        assert (s_mu, s_sigma) == pytest.approx((mu, sigma), abs=1e-4)
        assert s_kl == pytest.approx(res.fun, rel=1e-7)
    (m1, s1, k1), (m2, s2, k2) = found
    assert (round(m1, 3), round(s1, 3), round(k1, 4)) == (2.990, 1.016, 0.4026)
    assert (round(m2, 3), round(s2, 3), round(k2, 4)) == (-2.976, 1.035, 1.0920)
    assert np.allclose(list(grader._EXCLUSIVE_MINIMA.values()), [(m1, s1), (m2, s2)], atol=2e-5)


def test_no_wide_local_minimum_between_the_modes():
    """The wide point quoted in some notes, (0.774, 2.638) with KL 0.8478, is not stationary, and the
    sigma-profile of KL(q||p) decreases monotonically from mu = 0 to the right mode."""
    theta = np.array([0.774, math.log(2.638)])
    assert _exclusive(theta) == pytest.approx(0.8520, abs=1e-4)
    assert np.linalg.norm(_grad(theta)) > 5e-3
    profile = []
    for mu in np.linspace(0.0, 2.5, 11):
        res = optimize.minimize_scalar(lambda ls: _exclusive([mu, ls]), bounds=(math.log(0.5), math.log(4.0)),
                                       method="bounded", options={"xatol": 1e-8})
        profile.append(res.fun)
    assert np.all(np.diff(profile) < 0)
    # the flattest stretch, mu in [0.9, 1.3]: the slope of the profile stays clearly below zero
    # (about -0.0056 at its largest), so the shoulder holds no stationary point
    for mu in np.linspace(0.9, 1.3, 9):
        res = optimize.minimize_scalar(lambda ls: _exclusive([mu, ls]), bounds=(math.log(2.0), math.log(3.0)),
                                       method="bounded", options={"xatol": 1e-9})
        slope = (_exclusive([mu + 1e-3, res.x]) - _exclusive([mu - 1e-3, res.x])) / 2e-3
        assert slope < -0.004, (mu, slope)


def test_grader_mixture_references_against_quadrature(grader, nb):
    rng = np.random.default_rng(13)
    for mu, sigma in [(1.0, 3.0), (3.0, 1.0)] + [(rng.uniform(-5, 5), rng.uniform(0.2, 4.0)) for _ in range(6)]:
        inc, exc = kl_p_q_quad(mu, sigma), kl_q_p_quad(mu, sigma)
        assert grader._ref_kl_p_q(mu, sigma) == pytest.approx(inc, rel=1e-8, abs=1e-10)
        assert grader._ref_kl_q_p(mu, sigma) == pytest.approx(exc, rel=1e-8, abs=1e-10)
        assert nb.kl_p_q(mu, sigma) == pytest.approx(inc, rel=1e-8, abs=1e-10)
        assert nb.kl_q_p(mu, sigma) == pytest.approx(exc, rel=1e-8, abs=1e-10)


def test_the_symmetric_mixture_of_f6_has_a_third_local_minimum_at_the_centre():
    """F6(a), (c): for p = N(-5, 1)/2 + N(5, 1)/2 the exclusive KL has equal minima ln 2 at the
    modes and a wide local minimum at mu = 0 (sigma ~ 4.223, KL ~ 3.307), by adaptive quadrature."""

    def kl_q_p(mu, sigma):
        def integrand(x):
            log_q = stats.norm.logpdf(x, mu, sigma)
            log_p = np.logaddexp(stats.norm.logpdf(x, -5, 1), stats.norm.logpdf(x, 5, 1)) - np.log(2)
            return np.exp(log_q) * (log_q - log_p)
        return integrate.quad(integrand, mu - 12 * sigma, mu + 12 * sigma, points=[-5, 5], limit=200)[0]

    centre = optimize.minimize_scalar(lambda s: kl_q_p(0.0, s), bounds=(2.0, 8.0), method="bounded")
    assert abs(centre.x - 4.223) < 0.01 and abs(centre.fun - 3.307) < 0.002
    # a minimum in mu too: KL rises on both sides of the centre
    assert kl_q_p(0.05, centre.x) > centre.fun + 1e-6 and kl_q_p(-0.05, centre.x) > centre.fun + 1e-6
    assert abs(kl_q_p(5.0, 1.0) - np.log(2)) < 1e-5
