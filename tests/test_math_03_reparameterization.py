"""Cross-checks for assignment 03 (reparameterization) against independent implementations.

Independent sources: torch autograd through torch.distributions' own reparameterized
samplers (Normal.rsample, MultivariateNormal.rsample with scale_tril), the
LowerCholeskyTransform, exact Gaussian moment algebra for the estimator variances,
finite differences, and simulation with tolerances of 4 standard errors.
"""

import math

import numpy as np
import pytest
import torch

NAME = "03_reparameterization"
Z = 4.0


# ---------------------------------------------------------------- exact Gaussian moment algebra


def _gauss_moment(k):
    """E[eps^k] for eps ~ N(0, 1): 0 for odd k, (k - 1)!! for even k."""
    return 0 if k % 2 else math.prod(range(k - 1, 0, -2))


def _expect(coeffs):
    return sum(c * _gauss_moment(k) for k, c in enumerate(coeffs))


def _moments(coeffs):
    """Mean, variance and fourth central moment of the polynomial g(eps) = sum_k c_k eps^k."""
    p = np.polynomial.Polynomial(coeffs)
    mean = _expect(p.coef)
    centred = p - mean
    return mean, _expect((centred ** 2).coef), _expect((centred ** 4).coef)


def _estimator_polys(theta):
    """Single-sample estimators as polynomials in eps (x = theta + eps)."""
    return {
        "reparam": [2 * theta, 2.0],                    # 2(θ + ε)
        "score": [0.0, theta ** 2, 2 * theta, 1.0],     # (θ + ε)² ε
        "baseline": [0.0, -1.0, 2 * theta, 1.0],        # ((θ + ε)² - θ² - 1) ε
    }


def _theory(theta):
    return {"reparam": 4.0, "score": theta ** 4 + 14 * theta ** 2 + 15, "baseline": 8 * theta ** 2 + 10}


def _se_of_variance(var1, mu4_1, n, reps):
    """SE of the sample variance of `reps` averages of n iid draws with variance var1, 4th central moment mu4_1."""
    var_n = var1 / n
    mu4_n = (mu4_1 + 3 * (n - 1) * var1 ** 2) / n ** 3
    return math.sqrt((mu4_n - var_n ** 2) / reps)


@pytest.mark.parametrize("theta", [-2.0, 0.0, 0.5, 1.0, 3.0])
def test_variance_formulas_exact_moments(theta):
    """Mean 2θ and variances 4, θ⁴+14θ²+15, 8θ²+10 from exact Gaussian moments."""
    for name, coeffs in _estimator_polys(theta).items():
        mean, var, _ = _moments(coeffs)
        assert mean == pytest.approx(2 * theta)
        assert var == pytest.approx(_theory(theta)[name])


@pytest.mark.parametrize("theta", [0.5, 1.0, 2.0])
def test_variance_formulas_by_simulation(theta):
    """Single-sample variances 4 and (θ⁴+14θ²+15), baseline 8θ²+10, by simulation within 4 SE."""
    rng = np.random.default_rng(31)
    n = 400_000
    eps = rng.standard_normal(n)
    x = theta + eps
    samples = {"reparam": 2 * x, "score": x ** 2 * (x - theta),
               "baseline": (x ** 2 - theta ** 2 - 1) * (x - theta)}
    for name, coeffs in _estimator_polys(theta).items():
        _, var, mu4 = _moments(coeffs)
        se = math.sqrt((mu4 - var ** 2) / n)
        assert abs(np.var(samples[name], ddof=1) - _theory(theta)[name]) <= Z * se, name


def test_notebook_variance_table(nb):
    """The variances the notebook prints agree with theory within 4 SE; the theory column is right."""
    table = nb.value("variance_table")
    theory = nb.value("theory")
    theta, reps = nb.value("theta_v"), nb.value("R")
    assert theta == 1.0
    assert theory == pytest.approx({"reparam": 4.0, "score": 30.0, "baseline": 18.0})
    for name, coeffs in _estimator_polys(theta).items():
        _, var, mu4 = _moments(coeffs)
        assert var == pytest.approx(theory[name])
        for n, v in zip(table["n"], table[name]):
            assert abs(v - var / n) <= Z * _se_of_variance(var, mu4, n, reps), (name, n)


# ---------------------------------------------------------------- Part A: autograd agreement


@pytest.mark.parametrize("theta,n,seed", [(1.5, 5, 0), (-0.8, 200, 1), (2.3, 1, 2)])
def test_reparam_matches_autograd_through_normal_rsample(nb, theta, n, seed):
    """reparam_grad_x2 and autograd_grad_x2 equal autograd through torch Normal(θ, 1).rsample."""
    t = torch.tensor(theta, dtype=torch.float64, requires_grad=True)
    torch.manual_seed(seed)
    x = torch.distributions.Normal(t, torch.tensor(1.0, dtype=torch.float64)).rsample((n,))
    (x ** 2).mean().backward()
    torch.manual_seed(seed)
    eps = torch.empty(n, dtype=torch.float64).normal_().numpy()
    assert np.allclose(x.detach().numpy(), theta + eps)
    assert nb.reparam_grad_x2(theta, eps) == pytest.approx(t.grad.item(), rel=1e-12, abs=1e-12)
    assert nb.autograd_grad_x2(theta, eps) == pytest.approx(t.grad.item(), rel=1e-12, abs=1e-12)


def test_reparam_unbiased_within_se(nb):
    """On 20 000 samples the estimate is within 4 SE (2/√n) of the exact 2θ."""
    eps = np.random.default_rng(33).standard_normal(20_000)
    assert abs(nb.reparam_grad_x2(0.9, eps) - 1.8) <= Z * 2 / math.sqrt(eps.size)


def test_score_function_matches_torch_log_prob(nb):
    """The score estimate equals the autograd gradient of mean(x² · log N(x; θ, 1)) (x held fixed)."""
    rng = np.random.default_rng(34)
    for theta in (1.5, -2.0, 0.3):
        x = theta + rng.standard_normal(64)
        t = torch.tensor(theta, dtype=torch.float64, requires_grad=True)
        xt = torch.as_tensor(x)
        surrogate = (xt ** 2 * torch.distributions.Normal(t, 1.0).log_prob(xt)).mean()
        surrogate.backward()
        assert nb.score_function_grad_x2(theta, x) == pytest.approx(t.grad.item(), rel=1e-10)
        b = theta ** 2 + 1
        t.grad = None
        ((xt ** 2 - b) * torch.distributions.Normal(t, 1.0).log_prob(xt)).mean().backward()
        assert nb.score_function_grad_x2_baseline(theta, x, b) == pytest.approx(t.grad.item(), rel=1e-10)


# ---------------------------------------------------------------- Part C


@pytest.mark.parametrize("mu,sigma,seed", [(0.7, 1.5, 0), (-2.0, 0.3, 1), (1.0, 2.0, 2)])
def test_mu_sigma_logvar_match_autograd_through_rsample(nb, mu, sigma, seed):
    """(d/dμ, d/dσ) and (d/dμ, d/dlogσ²) equal autograd through torch Normal(μ, σ).rsample."""
    n = 100
    m = torch.tensor(mu, dtype=torch.float64, requires_grad=True)
    s = torch.tensor(sigma, dtype=torch.float64, requires_grad=True)
    torch.manual_seed(seed)
    (torch.distributions.Normal(m, s).rsample((n,)) ** 2).mean().backward()
    torch.manual_seed(seed)
    eps = torch.empty(n, dtype=torch.float64).normal_().numpy()
    assert np.allclose(nb.reparam_grad_mu_sigma(mu, sigma, eps), [m.grad.item(), s.grad.item()], rtol=1e-10)

    logvar = torch.tensor(2 * math.log(sigma), dtype=torch.float64, requires_grad=True)
    m.grad = None
    torch.manual_seed(seed)
    (torch.distributions.Normal(m, torch.exp(logvar / 2)).rsample((n,)) ** 2).mean().backward()
    assert np.allclose(nb.reparam_grad_mu_logvar(mu, logvar.item(), eps), [m.grad.item(), logvar.grad.item()],
                       rtol=1e-10)


def test_mu_sigma_logvar_truth_within_se(nb):
    """Large-sample estimates within 4 SE of (2μ, 2σ) and (2μ, σ²)."""
    mu, sigma, n = -0.6, 1.3, 20_000
    eps = np.random.default_rng(35).standard_normal(n)
    d_mu, d_sigma = nb.reparam_grad_mu_sigma(mu, sigma, eps)
    assert abs(d_mu - 2 * mu) <= Z * 2 * sigma / math.sqrt(n)
    assert abs(d_sigma - 2 * sigma) <= Z * math.sqrt(4 * mu ** 2 + 8 * sigma ** 2) / math.sqrt(n)
    _, d_logvar = nb.reparam_grad_mu_logvar(mu, 2 * math.log(sigma), eps)
    assert abs(d_logvar - sigma ** 2) <= Z * sigma * math.sqrt(mu ** 2 + 2 * sigma ** 2) / math.sqrt(n)


# ---------------------------------------------------------------- Part D


def test_cholesky_from_params_matches_lower_cholesky_transform(nb):
    """cholesky_from_params equals torch's LowerCholeskyTransform and is the unique Cholesky factor of LLᵀ."""
    rng = np.random.default_rng(36)
    transform = torch.distributions.transforms.LowerCholeskyTransform()
    for d in (1, 2, 4):
        raw = rng.normal(size=(d, d))
        L = np.asarray(nb.cholesky_from_params(raw))
        assert np.allclose(L, transform(torch.as_tensor(raw)).numpy(), rtol=1e-12)
        assert np.allclose(np.linalg.cholesky(L @ L.T), L, rtol=1e-8, atol=1e-10)


def test_sample_mvn_equals_multivariate_normal_rsample(nb):
    """sample_mvn with torch's own eps reproduces MultivariateNormal(loc, scale_tril=L).rsample exactly."""
    mu = torch.tensor([1.0, -2.0, 0.5], dtype=torch.float64)
    L = torch.tensor([[1.2, 0.0, 0.0], [0.7, 0.4, 0.0], [-0.3, 0.9, 0.6]], dtype=torch.float64)
    mvn = torch.distributions.MultivariateNormal(mu, scale_tril=L)
    torch.manual_seed(7)
    z_torch = mvn.rsample((50,)).numpy()
    torch.manual_seed(7)
    eps = torch.empty((50, 3), dtype=torch.float64).normal_().numpy()
    assert np.allclose(nb.sample_mvn(mu.numpy(), L.numpy(), eps), z_torch, rtol=1e-12, atol=1e-12)


def test_sample_mvn_moments_within_se(nb):
    """Empirical mean and covariance of sample_mvn agree with MultivariateNormal's within 4 SE."""
    mu = np.array([0.5, -1.0, 2.0])
    L = np.array([[1.0, 0.0, 0.0], [-0.8, 0.5, 0.0], [0.4, 1.1, 0.7]])
    mvn = torch.distributions.MultivariateNormal(torch.as_tensor(mu), scale_tril=torch.as_tensor(L))
    sigma = mvn.covariance_matrix.numpy()
    n = 10_000
    z = np.asarray(nb.sample_mvn(mu, L, np.random.default_rng(37).standard_normal((n, 3))))
    mean_se = np.sqrt(np.diag(sigma) / n)
    assert np.all(np.abs(z.mean(axis=0) - mvn.mean.numpy()) <= Z * mean_se)
    cov_se = np.sqrt((np.outer(np.diag(sigma), np.diag(sigma)) + sigma ** 2) / n)
    assert np.all(np.abs(np.cov(z, rowvar=False) - sigma) <= Z * cov_se)


def test_true_false_answers_match_numerical_facts(nb):
    """The D.3 key agrees with numerical checks of statements 1, 3, 4 and 6."""
    answers = {int(k): v for k, v in nb.value("tf_answers").items()}
    rng = np.random.default_rng(38)
    A = rng.normal(size=(4, 4))                                    # 1: any L gives PSD L Lᵀ
    assert answers[1] == bool(np.linalg.eigvalsh(A @ A.T).min() > -1e-12)
    L = np.tril(rng.normal(size=(4, 4)), -1) + np.diag(rng.uniform(0.1, 2, 4))
    assert answers[3] == bool(np.linalg.eigvalsh(L @ L.T).min() > 0)  # 3: positive diagonal -> PD
    eps = rng.standard_normal((200_000, 4))                         # 4: eps @ L has covariance LᵀL
    cov = np.cov(eps @ L, rowvar=False)
    assert np.allclose(cov, L.T @ L, atol=0.05) and not np.allclose(L.T @ L, L @ L.T, atol=0.5)
    assert answers[4] is False
    assert answers[6] == bool(np.allclose(np.linalg.cholesky(L @ L.T), L))  # 6: uniqueness
    assert answers[2] is False and answers[5] is False


# ---------------------------------------------------------------- Part E


def test_pathwise_grad_finite_differences_and_truth(nb, grader):
    """pathwise_grad equals central finite differences of the sample objective; the grader's
    per-sample terms match too; a large sample is within 4 SE of (u sin 2au, 2e^{2b})."""
    rng = np.random.default_rng(39)
    theta, u = np.array([0.4, -0.2]), 1.3
    v = rng.standard_normal(300)

    def objective(th):
        return np.mean((np.sin(th[0] * u) + np.exp(th[1]) * v) ** 2)

    h = 1e-6
    fd = [(objective(theta + h * e) - objective(theta - h * e)) / (2 * h) for e in np.eye(2)]
    got = np.asarray(nb.pathwise_grad(theta, u, v))
    assert np.allclose(got, fd, rtol=1e-6, atol=1e-8)
    assert np.allclose(grader._pathwise_terms(theta, u, v).mean(axis=1), fd, rtol=1e-6, atol=1e-8)

    v = rng.standard_normal(20_000)
    got = np.asarray(nb.pathwise_grad(theta, u, v))
    terms = grader._pathwise_terms(theta, u, v)
    se = terms.std(axis=1, ddof=1) / math.sqrt(v.size)
    exact = [u * math.sin(2 * theta[0] * u), 2 * math.exp(2 * theta[1])]
    assert np.all(np.abs(got - exact) <= Z * se)


# ---------------------------------------------------------------- grader sanity


def test_grader_reference_matrices_are_valid_cholesky_factors(grader):
    """The grader's random factors are lower-triangular with a positive diagonal (numpy agrees)."""
    rng = np.random.default_rng(40)
    for d in (1, 3, 5):
        L = grader._lower_cholesky(rng, d)
        assert np.allclose(np.linalg.cholesky(L @ L.T), L)


def test_discrete_latent_against_torch_distributions(nb):
    """Part F: the exact gradient by autograd through the softmax; the score-function rows against
    autograd of torch.distributions.Categorical.log_prob; the Gumbel-softmax and straight-through
    means against draws of torch.distributions.RelaxedOneHotCategorical (independent of the
    notebook's); and every number F.3's model answer quotes."""
    theta0, w, t = np.array([0.5, 0.0, -0.5]), torch.tensor([0.0, 1.0, 2.0], dtype=torch.float64), 0.6
    f = (w - t) ** 2
    theta = torch.tensor(theta0, requires_grad=True)
    (torch.softmax(theta, 0) @ f).backward()
    exact = theta.grad.numpy()
    assert np.allclose(nb.value("exact_cat"), exact, rtol=1e-12)

    z = torch.as_tensor(np.random.default_rng(8).choice(3, size=500, p=torch.softmax(torch.tensor(theta0), 0).numpy()))
    rows = torch.tensor(theta0).expand(500, 3).clone().requires_grad_(True)
    b = 0.3
    ((f[z] - b) * torch.distributions.Categorical(logits=rows).log_prob(z)).sum().backward()
    assert np.allclose(nb.score_function_grad_cat(theta0, f.numpy(), z.numpy(), b), rows.grad.numpy(), rtol=1e-12, atol=1e-14)

    table = {name: (np.asarray(d), s, b2, v) for name, (d, s, b2, v) in nb.value("discrete_table").items()}
    n = nb.value("n_cat")
    torch.manual_seed(9)
    for tau in (0.1, 0.5, 1.0):
        for hard, name in ((False, f"Gumbel-softmax, tau = {tau}"), (True, f"straight-through, tau = {tau}")):
            if name not in table:
                continue
            logits = torch.tensor(theta0).expand(n, 3).clone().requires_grad_(True)
            y = torch.distributions.RelaxedOneHotCategorical(torch.tensor(tau), logits=logits).rsample()
            if hard:
                y = torch.nn.functional.one_hot(y.argmax(-1), 3).to(y.dtype) + y - y.detach()
            ((y @ w - t) ** 2).sum().backward()
            theirs = logits.grad.numpy()
            se = np.sqrt(2 * theirs.var(axis=0, ddof=1) / n)  # of the difference of two means of n draws each
            assert np.all(np.abs(table[name][0] + exact - theirs.mean(axis=0)) < 4 * se), name

    def mse(name, m):
        return table[name][2] + table[name][3] / m

    sf, sfb = "score function, b = 0", "score function, b = E[f(z)]"
    gs = {tau: f"Gumbel-softmax, tau = {tau}" for tau in (0.1, 0.5, 1.0)}
    st = {tau: f"straight-through, tau = {tau}" for tau in (0.5, 1.0)}
    assert [round(table[k][1], 1) for k in (sf, sfb)] == [0.5, 0.6]
    assert [round(table[gs[tau]][1]) for tau in (0.1, 0.5, 1.0)] == [8, 141, 501]
    assert [round(table[st[tau]][1]) for tau in (0.5, 1.0)] == [48, 195]
    assert [round(table[gs[tau]][2], 4) for tau in (1.0, 0.5, 0.1)] == [0.0307, 0.0136, 0.0006]
    assert [round(table[gs[1.0]][3], 3), round(table[gs[0.5]][3], 2), round(table[gs[0.1]][3], 2)] == [0.081, 0.29, 2.33]
    assert [round(mse(k, 1), 2) for k in (sf, sfb, gs[0.1], gs[0.5])] == [0.66, 0.31, 2.33, 0.30]
    assert round(mse(gs[1.0], 1), 3) == 0.112 and [round(mse(st[tau], 1), 2) for tau in (0.5, 1.0)] == [1.08, 0.45]
    assert min(table, key=lambda k: mse(k, 1)) == gs[1.0] and min(table, key=lambda k: mse(k, 100)) == sfb
    assert [round(mse(sfb, 100), 4), round(mse(gs[0.5], 100), 4), round(mse(gs[1.0], 100), 4)] == [0.0031, 0.0164, 0.0315]
