"""Cross-checks for 04_em: the solution's EM functions and numbers, and the grader's
references, against scikit-learn's GaussianMixture and scipy."""

import warnings

import numpy as np
import pytest
from scipy import stats
from scipy.special import xlogy
from scipy.stats import multivariate_normal
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score
from sklearn.mixture import GaussianMixture
from sklearn.mixture._gaussian_mixture import _estimate_gaussian_parameters

NAME = "04_em"


def _sk_mixture(weights, means, covs):
    """A GaussianMixture holding the given parameters (no fitting)."""
    gm = GaussianMixture(n_components=len(weights), covariance_type="full")
    gm.weights_ = np.asarray(weights, float)
    gm.means_ = np.asarray(means, float)
    gm.covariances_ = np.asarray(covs, float)
    d = gm.means_.shape[1]
    gm.precisions_cholesky_ = np.array([np.linalg.solve(np.linalg.cholesky(c), np.eye(d)).T for c in gm.covariances_])
    return gm


def _sk_fit(x, weights, means, covs, n_iter, ridge):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", category=ConvergenceWarning)
        return GaussianMixture(n_components=len(weights), covariance_type="full", tol=0.0, max_iter=n_iter,
                               reg_covar=ridge, weights_init=weights, means_init=means,
                               precisions_init=np.linalg.inv(covs), init_params="random", random_state=0).fit(x)


def _mixtures(seed):
    rng = np.random.default_rng(seed)
    out = []
    for n, k, d in ((50, 3, 2), (30, 4, 3), (40, 2, 1)):
        w = rng.dirichlet(np.full(k, 2.0))
        m = rng.normal(0, 3, (k, d))
        a = rng.normal(size=(k, d, d))
        c = a @ a.transpose(0, 2, 1) / d + 0.3 * np.eye(d)
        z = rng.choice(k, size=n, p=w)
        x = m[z] + np.einsum("nij,nj->ni", np.linalg.cholesky(c)[z], rng.standard_normal((n, d)))
        out.append((x, w, m, c, rng.dirichlet(np.ones(k), size=n)))
    return out


@pytest.mark.parametrize("case", range(3))
def test_functions_match_sklearn(nb, grader, case):
    x, w, m, c, resp = _mixtures(11)[case]
    gm = _sk_mixture(w, m, c)
    # E-step and log-likelihood: solution and grader reference against sklearn
    assert np.allclose(nb.e_step(x, w, m, c), gm.predict_proba(x), rtol=1e-9, atol=1e-12)
    assert np.allclose(grader._ref_resp(x, w, m, c), gm.predict_proba(x), rtol=1e-9, atol=1e-12)
    ll_sk = gm.score_samples(x).sum()
    assert abs(nb.log_likelihood(x, w, m, c) - ll_sk) <= 1e-10 * abs(ll_sk)
    assert abs(grader._ref_loglik(x, w, m, c) - ll_sk) <= 1e-10 * abs(ll_sk)
    # M-step (with and without a ridge) against sklearn's estimator (which adds 10 eps to N_k)
    for ridge in (0.0, 0.05):
        nk, means_sk, covs_sk = _estimate_gaussian_parameters(x, resp, ridge, "full")
        for got in (nb.m_step(x, resp, ridge=ridge), grader._ref_m_step(x, resp, ridge)):
            assert np.allclose(got[0], nk / len(x), rtol=1e-12)
            assert np.allclose(got[1], means_sk, rtol=1e-10, atol=1e-12)
            assert np.allclose(got[2], covs_sk, rtol=1e-10, atol=1e-12)
    # free energy: direct formula with scipy densities; equals log p at the posterior
    log_joint = np.log(w) + np.column_stack([multivariate_normal(mk, ck).logpdf(x) for mk, ck in zip(m, c)])
    direct = np.sum(resp * log_joint) - np.sum(xlogy(resp, resp))
    assert abs(nb.free_energy(x, resp, w, m, c) - direct) <= 1e-10 * abs(direct)
    assert abs(grader._ref_free_energy(x, resp, w, m, c) - direct) <= 1e-10 * abs(direct)
    post = gm.predict_proba(x)
    assert abs(nb.free_energy(x, post, w, m, c) - ll_sk) <= 1e-10 * abs(ll_sk)
    hard = np.eye(len(w))[np.argmax(resp, axis=1)]                     # exact zeros: 0 log 0 = 0
    assert abs(nb.free_energy(x, hard, w, m, c) - np.sum(hard * log_joint)) <= 1e-10 * abs(direct)


def test_em_2d_tight_monotone_and_sklearn(nb, grader):
    x, w0, m0, c0 = grader._data_2d()
    assert np.array_equal(np.asarray(nb.value("X2")), x) and np.allclose(nb.value("m0"), m0)
    n_iter = 25
    fit = nb.run_em(x, w0, m0, c0, n_iter)
    ll, fe, fm = (np.asarray(fit[k]) for k in ("loglik", "F_after_E", "F_after_M"))
    n = len(x)
    assert np.max(np.abs(fe - ll[:-1])) / n <= 1e-10                      # F = log p after every E-step
    seq = np.append(np.column_stack([fe, fm]).ravel(), ll[-1])
    assert np.all(np.diff(seq) >= -1e-12 * np.abs(seq[:-1]))              # F never decreases
    assert np.any(ll[1:] - fm > 1e-6)                                       # after an M-step the bound is loose (T/F 2)
    gm = _sk_fit(x, w0, m0, c0, n_iter, 0.0)
    assert abs(gm.score(x) - ll[-1] / n) <= 1e-6                            # score: final parameters ("A")
    assert abs(gm.lower_bound_ - ll[-2] / n) <= 1e-6                        # lower_bound_: before the last M-step ("B")
    assert abs(gm.lower_bound_ - ll[-1] / n) > 1e-6
    assert nb.value("sklearn_match") == {"score": "A", "lower_bound_": "B", "score_samples_sum": "C", "predict_proba": "D"}
    assert abs(gm.score_samples(x).sum() - ll[-1]) <= 1e-6 * abs(ll[-1])      # "C": the total at theta_n
    theta_n = (np.asarray(fit["weights"]), np.asarray(fit["means"]), np.asarray(fit["covs"]))
    assert np.allclose(gm.predict_proba(x), nb.e_step(x, *theta_n), atol=1e-8)  # "D": responsibilities at theta_n
    assert abs(gm.lower_bound_ - fm[-1] / n) > 1e-6                          # not "E"
    assert np.allclose(fit["means"], gm.means_, atol=1e-8) and np.allclose(fit["covs"], gm.covariances_, atol=1e-8)


def test_unbiased_covariance_can_decrease_loglik(nb, grader):
    """T/F item 5: from the maximum-likelihood fit, an M-step with N_k - 1 lowers the log-likelihood."""
    x, w0, m0, c0 = grader._data_2d()
    fit = nb.run_em(x, w0, m0, c0, 200)
    theta = (np.asarray(fit["weights"]), np.asarray(fit["means"]), np.asarray(fit["covs"]))
    resp = np.asarray(nb.e_step(x, *theta))
    w, m, c = (np.asarray(a) for a in nb.m_step(x, resp))
    nk = resp.sum(axis=0)
    biased = c * (nk / (nk - 1.0))[:, None, None]
    assert nb.log_likelihood(x, w, m, biased) < nb.log_likelihood(x, *theta) - 1e-3
    assert nb.value("tf_answers") == {"1": True, "2": False, "3": False, "4": False, "5": True, "6": True}


def test_free_energy_is_concave_in_the_responsibilities(nb, grader):
    """T/F item 6: on random pairs of responsibilities, F at a mixture of them is at least the mixture of their F."""
    x, w0, m0, c0 = grader._data_2d()
    rng = np.random.default_rng(13)
    for _ in range(20):
        r1, r2 = rng.dirichlet(np.ones(3), size=len(x)), rng.dirichlet(np.full(3, 0.3), size=len(x))
        lam = rng.uniform()
        mix = nb.free_energy(x, lam * r1 + (1 - lam) * r2, w0, m0, c0)
        assert mix >= lam * nb.free_energy(x, r1, w0, m0, c0) + (1 - lam) * nb.free_energy(x, r2, w0, m0, c0) - 1e-9


def test_restart_table_against_sklearn(nb):
    """Part G: each restart's final log-likelihood equals sklearn's GaussianMixture from the same start, its NMI is
    recomputed from sklearn's labels, and every number G.2's model answer quotes."""
    z, y = np.asarray(nb.value("Z_digits")), np.asarray(nb.value("y_digits"))
    w0, c0 = np.asarray(nb.value("w0_digits")), np.asarray(nb.value("c0_digits"))
    n_iter, ridge = nb.value("DIGITS_ITERS"), nb.value("DIGITS_RIDGE")
    rng = np.random.default_rng(4)
    table = nb.value("restart_table")
    assert len(table) == 6
    for i, ll, nmi, ari, smallest in table:
        m0 = z[rng.choice(len(z), size=10, replace=False)]
        gm = _sk_fit(z, w0, m0, c0, n_iter, ridge)
        labels = gm.predict(z)
        assert abs(gm.score(z) - ll) <= 1e-6
        assert abs(normalized_mutual_info_score(y, labels) - nmi) <= 1e-9 and abs(adjusted_rand_score(y, labels) - ari) <= 1e-9
        assert np.bincount(labels, minlength=10).min() == smallest
    by_ll = sorted(table, key=lambda row: -row[1])
    assert nb.value("digit_best") == by_ll[0][0] == 0 and by_ll[1][0] == 1
    assert [round(by_ll[0][1], 3), round(by_ll[1][1], 3)] == [-43.889, -43.917]
    assert [round(by_ll[-1][1], 2), round(by_ll[0][1], 2)] == [-44.44, -43.89]
    assert round(by_ll[0][1] - by_ll[-1][1], 2) == 0.55 and round((by_ll[0][1] - by_ll[-1][1]) * len(z), -2) == 1000
    assert [round(by_ll[0][2], 3), round(by_ll[1][2], 3)] == [0.794, 0.829] and max(row[2] for row in table) == by_ll[1][2]
    assert round(stats.spearmanr([r[1] for r in table], [r[2] for r in table]).statistic, 2) == 0.77 == round(nb.value("rank_corr"), 2)


def test_digits_against_sklearn(nb, grader):
    z, y, w0, m0, c0 = grader._digits_setup()
    assert np.allclose(np.asarray(nb.value("Z_digits")), z, rtol=1e-12, atol=1e-9)
    assert np.array_equal(np.asarray(nb.value("m0_digits")), m0)
    n_iter, ridge = nb.value("DIGITS_ITERS"), nb.value("DIGITS_RIDGE")
    assert (n_iter, ridge) == (grader.DIGITS_ITERS, grader.DIGITS_RIDGE)
    gm = _sk_fit(z, w0, m0, c0, n_iter, ridge)
    labels = gm.predict(z)
    # the solution's numbers
    assert abs(nb.value("digits_ll_per_sample") - gm.score(z)) <= 1e-6
    assert abs(nb.value("digits_nmi") - normalized_mutual_info_score(y, labels)) <= 1e-9
    assert abs(nb.value("digits_ari") - adjusted_rand_score(y, labels)) <= 1e-9
    # the solution's traces on the digits (ridge: F = log p after E-steps still holds), and the grader's reference
    fit = nb.value("digits_fit")
    ll = np.asarray(fit["loglik"])
    assert abs(ll[-1] / len(z) - gm.score(z)) <= 1e-6
    assert np.max(np.abs(np.asarray(fit["F_after_E"]) - ll[:-1])) / len(z) <= 1e-10
    ref = grader._ref_digits()
    assert abs(ref["digits_ll_per_sample"] - gm.score(z)) <= 1e-6
    assert abs(ref["digits_nmi"] - normalized_mutual_info_score(y, labels)) <= 1e-9


def test_grader_example_matches_notebook(nb, grader):
    for name, value in (("toy_weights", grader.TOY_WEIGHTS), ("toy_means", grader.TOY_MEANS),
                        ("toy_covs", grader.TOY_COVS), ("X_toy", grader.X_TOY), ("toy_resp", grader.TOY_RESP)):
        assert np.array_equal(np.asarray(nb.value(name)), value), name
    # the far point of the example really underflows, so the stability checks are meaningful
    assert np.all(np.exp(grader._log_gauss(grader.X_TOY[-1:], grader.TOY_MEANS, grader.TOY_COVS)) == 0.0)
