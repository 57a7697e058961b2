"""Cross-checks for assignment 05 (VAE and GM-VAE) against independent implementations.

The solution's functions, called in its live kernel, against torch.distributions,
scipy and scikit-learn (a GaussianMixture carrying the learned prior); and the
numbers the solution prints, recomputed from the objects it built.
"""

import itertools
import math

import numpy as np
import pytest
import torch
from scipy.special import logsumexp
from scipy.stats import multivariate_normal
from sklearn.metrics import normalized_mutual_info_score
from sklearn.mixture import GaussianMixture

from vicourse.checking import TorchTensor
from vicourse.shipped.vi_torch import digit_arrays

NAME = "05_gmvae"
D = torch.distributions


def t(a):
    return TorchTensor(np.asarray(a, dtype=float))


@pytest.fixture(scope="module")
def rng():
    return np.random.default_rng(55)


def test_vae_negative_elbo_matches_torch_distributions(nb, rng):
    x = (rng.random((7, 64)) < 0.3).astype(float)
    logits, mu, logvar = rng.normal(0, 2, (7, 64)), rng.normal(0, 1, (7, 3)), rng.normal(0, 1, (7, 3))
    xt, lt, mt, vt = (torch.tensor(a) for a in (x, logits, mu, logvar))
    q = D.Normal(mt, torch.exp(0.5 * vt))
    want = (-D.Bernoulli(logits=lt).log_prob(xt).sum(-1) + D.kl_divergence(q, D.Normal(0.0, 1.0)).sum(-1)).mean()
    assert nb.vae_negative_elbo(t(x), t(logits), t(mu), t(logvar)) == pytest.approx(want.item(), rel=1e-5)


def test_importance_weighted_bound_matches_scipy(nb, rng):
    log_w = rng.normal(-500, 40, (30, 4))
    got = nb.importance_weighted_bound(TorchTensor(log_w, "float64"))
    assert np.allclose(got, logsumexp(log_w, axis=0) - math.log(30), rtol=1e-12)


def _sklearn_mixture(pi, mu_c, logvar_c):
    """A fitted-looking scikit-learn GaussianMixture carrying the given diagonal components."""
    mixture = GaussianMixture(len(pi), covariance_type="diag")
    mixture.weights_, mixture.means_ = np.asarray(pi), np.asarray(mu_c)
    mixture.covariances_ = np.exp(np.asarray(logvar_c))
    mixture.precisions_cholesky_ = 1.0 / np.sqrt(mixture.covariances_)
    return mixture


def test_responsibilities_match_sklearn_predict_proba(nb, rng):
    z, pi = rng.normal(0, 2, (25, 4)), rng.dirichlet(np.ones(5))
    mu_c, logvar_c = rng.normal(0, 2, (5, 4)), rng.normal(0, 0.5, (5, 4))
    got = np.asarray(nb.cluster_responsibilities(t(z), t(pi), t(mu_c), t(logvar_c)))
    assert np.allclose(got, _sklearn_mixture(pi, mu_c, logvar_c).predict_proba(z), atol=1e-5)


def test_gaussian_entropy_matches_scipy(nb, rng):
    logvar = rng.normal(0, 2, (3, 4))
    want = [multivariate_normal(cov=np.diag(np.exp(row))).entropy() for row in logvar]
    assert np.allclose(nb.gaussian_entropy(t(logvar)), want, rtol=1e-5)


def test_gmvae_negative_elbo_matches_a_monte_carlo_estimate(nb, rng):
    """The closed-form terms agree with sampling z from q(z|x) and c from the responsibilities."""
    mu, logvar = rng.normal(0, 1, (1, 2)), rng.normal(-1, 0.3, (1, 2))
    pi, mu_c, logvar_c = np.array([0.3, 0.7]), rng.normal(0, 1, (2, 2)), rng.normal(0, 0.3, (2, 2))
    x, logits = np.zeros((1, 64)), np.full((1, 64), -4.0)
    z = mu + np.exp(0.5 * logvar) * rng.standard_normal((1, 2))
    got = nb.gmvae_negative_elbo(*(t(a) for a in (x, logits, z, mu, logvar, pi, mu_c, logvar_c)))
    # exact: reconstruction + sum_c gamma_c KL(q || p_c) + KL(gamma || pi), gamma at the given z
    gamma = np.asarray(nb.cluster_responsibilities(t(z), t(pi), t(mu_c), t(logvar_c)))[0]
    q = D.Normal(torch.tensor(mu[0]), torch.tensor(np.exp(0.5 * logvar[0])))
    samples = q.sample((400_000,))
    kls = []
    for c in range(2):
        p = D.Normal(torch.tensor(mu_c[c]), torch.tensor(np.exp(0.5 * logvar_c[c])))
        terms = (q.log_prob(samples) - p.log_prob(samples)).sum(-1).numpy()
        kls.append((terms.mean(), terms.std() / math.sqrt(len(terms))))
    reconstruction = 64 * math.log1p(math.exp(-4.0))
    estimate = reconstruction + sum(g * k for g, (k, _) in zip(gamma, kls)) + float(np.sum(gamma * np.log(gamma / pi)))
    se = math.sqrt(sum((g * s) ** 2 for g, (_, s) in zip(gamma, kls)))
    assert abs(got - estimate) < 4 * se


def test_cluster_accuracy_matches_brute_force(nb, rng):
    y_true, y_pred = rng.integers(0, 4, 40), rng.integers(0, 4, 40)
    best = max(np.mean(np.asarray(perm)[y_pred] == y_true) for perm in itertools.permutations(range(4)))
    assert nb.cluster_accuracy(y_true, y_pred) == pytest.approx(best)


def test_stated_importance_weighted_bounds_rise_with_k(nb):
    bounds = {int(k): v for k, v in nb.value("iw_bounds").items()}
    values = [bounds[k] for k in sorted(bounds)]
    assert values == sorted(values), "the bound never decreases with K"
    assert bounds[1] == pytest.approx(-nb.value("vae_test"), abs=0.1), "K = 1 is the ELBO"


def test_stated_bottleneck_table_adds_up(nb):
    for d, (reconstruction, kl, active) in nb.value("bottleneck").items():
        assert kl > 0 and reconstruction > 0 and 1 <= active <= int(d)


def test_stated_clustering_scores_recomputed(nb):
    y = np.asarray(nb.value("y_test"))
    for name, clusters in nb.value("clusterings").items():
        accuracy, nmi = nb.value("scores")[name]
        assert nmi == pytest.approx(normalized_mutual_info_score(y, clusters))
        assert accuracy == pytest.approx(nb.cluster_accuracy(y, np.asarray(clusters)))
    y_train, groups = np.asarray(nb.value("y_train")), np.asarray(nb.value("groups"))
    accuracy, nmi = nb.value("partition_scores")
    assert nmi == pytest.approx(normalized_mutual_info_score(y_train, groups))
    assert accuracy == pytest.approx(nb.cluster_accuracy(y_train, groups))


def test_stated_confusion_table_recomputed(nb):
    """The table printed under the figure counts each component's test images by label."""
    y, clusters = np.asarray(nb.value("y_test")), np.asarray(nb.value("clusterings")["GM-VAE"])
    expected = np.array([[np.sum((clusters == c) & (y == label)) for label in range(10)] for c in range(10)])
    assert np.array_equal(np.asarray(nb.value("confusion")), expected)


def test_gmvae_clusters_match_sklearn_on_the_latent_codes(nb):
    """The learned prior, as a scikit-learn GaussianMixture, assigns the test codes as the notebook does."""
    pi, mu_c, logvar_c = (np.asarray(a) for a in nb.gmvae_mixture())
    codes = np.asarray(nb.gmvae_encode(t(digit_arrays(binarized=False)[2])))
    mixture = _sklearn_mixture(pi / pi.sum(), mu_c, logvar_c)
    assert (mixture.predict(codes) == np.asarray(nb.value("clusterings")["GM-VAE"])).mean() > 0.99


def test_grader_metric_agrees_with_the_notebook(nb, grader):
    """The hidden check's -ELBO on the test images is the notebook's, up to sampling noise."""
    assert grader.vae_heldout_scores(nb)["test"] == pytest.approx(nb.value("vae_test"), abs=0.3)
    assert grader.gmvae_heldout_scores(nb)["test"] == pytest.approx(nb.value("scores")["GM-VAE"][1], abs=1e-6)


def test_model_answers_match_the_tables(nb):
    """What the written model answers say about the solution's own numbers."""
    table = {int(d): row for d, row in nb.value("bottleneck").items()}
    elbo = {d: reconstruction + kl for d, (reconstruction, kl, _) in table.items()}
    assert elbo[1] > elbo[2] > elbo[4], "A.4: the bound improves up to d = 4"
    assert abs(elbo[8] - elbo[4]) < 1.0 and elbo[16] > min(elbo.values()), "A.4: and stops improving after"
    assert table[16][2] < 12, "A.4: most of 16 dimensions stay inactive"
    scores = nb.value("scores")
    accuracy = {name: value[0] for name, value in scores.items()}
    nmi = {name: value[1] for name, value in scores.items()}
    gain = accuracy["GM-VAE"] - accuracy["k-means on pixels"]
    start_gain = accuracy["GM-VAE before joint training"] - accuracy["k-means on pixels"]
    assert gain == pytest.approx(0.14, abs=0.02), "C.3 (a): about 0.14 above k-means on the pixels"
    assert accuracy["GM-VAE"] == pytest.approx(0.93, abs=0.01) and accuracy["k-means on pixels"] == pytest.approx(
        0.79, abs=0.01), "C.3 (a): about 0.93 against 0.79"
    assert nmi["GM-VAE"] - nmi["k-means on pixels"] == pytest.approx(0.13, abs=0.02), "C.3 (a): NMI about 0.13 above"
    assert accuracy["GM-VAE before joint training"] == pytest.approx(0.89, abs=0.01), "C.3 (a): about 0.89 at the start"
    assert 0.65 <= start_gain / gain <= 0.85, "C.3 (a): the start brings about three quarters of the gain"
    assert gain - start_gain == pytest.approx(0.03, abs=0.01), "C.3 (a): joint training adds about 0.03 of accuracy"
    assert nmi["GM-VAE"] - nmi["GM-VAE before joint training"] == pytest.approx(0.05, abs=0.01), "C.3 (a): and 0.05 of NMI"
    assert accuracy["k-means on pre-trained codes"] <= accuracy["k-means on pixels"] + 0.01, "C.3 (a): no better"
    assert accuracy["Gaussian mixture on pre-trained codes"] == pytest.approx(0.81, abs=0.01), "C.3 (a): near 0.81"
    assert nb.value("partition_scores")[0] == pytest.approx(0.94, abs=0.005), "C.3 (a): about 94% of training images"
    pi = np.asarray(nb.gmvae_mixture()[0])
    confusion = np.asarray(nb.value("confusion"))
    majority = confusion.argmax(axis=1)
    assert sorted(majority) == list(range(10)), "C.3 (b): the figure's labels are ten different digits"
    assert (round(pi.min(), 2), round(pi.max(), 2)) == (0.07, 0.11), "C.3 (b): weights between 0.07 and 0.11"
    ones, eights = list(majority).index(1), list(majority).index(8)
    assert confusion[ones, 9] >= 2, "C.3 (b): the component of the 1s also holds some 9s"
    assert min(confusion[eights, [1, 2, 3]]) >= 2, "C.3 (b): the component of the 8s some 1s, 2s and 3s"
