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

from conftest import ROOT
from vicourse.grading.checking import TorchTensor
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
    """Rows are images and columns samples, as in 02's iwae_bound."""
    log_w = rng.normal(-500, 40, (4, 30))
    got = nb.importance_weighted_bound(TorchTensor(log_w, "float64"))
    assert np.allclose(got, logsumexp(log_w, axis=1) - math.log(30), rtol=1e-12)


def test_free_bits_loss_is_the_elbo_without_a_budget_and_floors_each_dimension(nb, rng):
    x = (rng.random((9, 64)) < 0.3).astype(float)
    logits, mu, logvar = rng.normal(0, 2, (9, 64)), rng.normal(0, 1, (9, 4)), rng.normal(0, 1, (9, 4))
    mu[:, 0], logvar[:, 0] = 0.01, 0.01  # one dimension almost at the prior
    args = [t(a) for a in (x, logits, mu, logvar)]
    assert nb.free_bits_negative_elbo(*args, 0.0) == pytest.approx(nb.vae_negative_elbo(*args), rel=1e-6)
    q = D.Normal(torch.tensor(mu), torch.tensor(np.exp(0.5 * logvar)))
    kl = D.kl_divergence(q, D.Normal(0.0, 1.0)).mean(0).numpy()
    reconstruction = -D.Bernoulli(logits=torch.tensor(logits)).log_prob(torch.tensor(x)).sum(-1).mean().item()
    assert nb.free_bits_negative_elbo(*args, 0.3) == pytest.approx(reconstruction + np.maximum(kl, 0.3).sum(), rel=1e-5)


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


def test_mixture_start_matches_sklearns_gaussian_parameters(nb, rng):
    """One-hot responsibilities in scikit-learn's M-step give the same weights, means and variances."""
    from sklearn.mixture._gaussian_mixture import _estimate_gaussian_parameters

    groups = np.concatenate([np.arange(4), rng.integers(0, 4, 36)])
    codes = rng.normal(0, 1, (40, 3)) + groups[:, None]
    counts, means, variances = _estimate_gaussian_parameters(codes, np.eye(4)[groups], 1e-4, "diag")
    pi, mu_c, logvar_c = (np.asarray(a) for a in nb.mixture_from_groups(t(codes), TorchTensor(groups, "int64"), 4))
    assert np.allclose(pi, counts / 40) and np.allclose(mu_c, means, atol=1e-5)
    assert np.allclose(logvar_c, np.log(variances), atol=1e-4)


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


def _parameters(nb, model: str) -> dict:
    """The parameters of a model the solution trained on the digits, as the hidden checks receive them."""
    nb._transport.run(f"_parameters_for_test = parameters_of({model})", 60)
    return nb.value("_parameters_for_test")


def test_the_grader_rebuilds_the_notebooks_vae(nb, grader):
    """The grader's own forward passes give the notebook's test -ELBO for the notebook's VAE."""
    x_test = digit_arrays(binarized=True)[2]
    rebuilt = grader.vae_negative_elbo_nats(_parameters(nb, "vae"), x_test, np.random.default_rng(0), samples=20)
    assert rebuilt == pytest.approx(nb.value("vae_test"), abs=0.3)


def test_the_grader_rebuilds_the_notebooks_gmvae(nb, grader):
    """The grader's clusters for the notebook's GM-VAE are the notebook's, and so are scikit-learn's
    for the learned prior carried by a GaussianMixture."""
    parameters = _parameters(nb, "gmvae")
    x_test = digit_arrays(binarized=False)[2]
    clusters, _ = grader.gmvae_clusters_and_elbo(parameters, x_test, np.random.default_rng(0), samples=1)
    assert np.array_equal(clusters, np.asarray(nb.value("clusterings")["GM-VAE"]))
    logits = np.asarray(parameters["pi_logits"])
    pi = np.exp(logits - logits.max()) / np.exp(logits - logits.max()).sum()
    mixture = _sklearn_mixture(pi, np.asarray(parameters["mu_c"]), np.asarray(parameters["logvar_c"]))
    codes = grader._encode(grader.load_parameters(grader._GMVAE(), parameters, "gmvae").vae, x_test)[0]
    assert (mixture.predict(codes) == clusters).mean() > 0.99


def test_secret_images_are_not_the_digits():
    """A classifier of the public digits, applied to a world of secret glyphs, says little about
    their classes (NMI about 0.3 to 0.4 over five worlds, against 0.86 and more for a trained GM-VAE),
    and the same generator gives the same world again."""
    from sklearn.neighbors import KNeighborsClassifier

    from vicourse.grading.secret_images import GlyphWorld

    x_train, y_train, _, _ = digit_arrays()
    knn = KNeighborsClassifier(5).fit(x_train, y_train)
    rng = np.random.default_rng(7)
    images, labels = GlyphWorld(rng).draw(rng, 1000)
    assert normalized_mutual_info_score(labels, knn.predict(images)) < 0.5
    again = np.random.default_rng(7)
    assert np.array_equal(GlyphWorld(again).draw(again, 1000)[0], images)


def test_free_bits_table_recomputed(nb):
    """A.5's table: the plain row is A.4's d = 16 row, and free bits keeps every dimension near its budget."""
    collapse, bottleneck = nb.value("collapse"), nb.value("bottleneck")
    rows = list(collapse.values())
    assert rows[0] == bottleneck["16"]
    assert min(nb.value("kl_by_dimension")[list(collapse)[1]]) > 0.3


def test_model_answers_match_the_tables(nb):
    """What the written model answers say about the solution's own numbers.  Each range is what five
    seeds of the solution gave (benchmarks/notebooks.py), so the answers hold on any machine."""
    table = {int(d): row for d, row in nb.value("bottleneck").items()}
    elbo = {d: reconstruction + kl for d, (reconstruction, kl, _) in table.items()}
    assert elbo[1] > elbo[2] > elbo[4], "A.4 (a): the bound improves up to d = 4"
    assert table[1][0] > table[2][0] > table[4][0] and table[1][1] < table[2][1] < table[4][1], (
        "A.4 (a): reconstruction falls and KL rises up to d = 4")
    assert abs(elbo[8] - elbo[4]) < 1.0 and abs(elbo[16] - elbo[8]) < 1.5, "A.4 (a, b): flat, within about a nat, after"
    assert table[16][2] < 12, "A.4 (b): most of 16 dimensions stay inactive"
    (plain, free) = nb.value("collapse").values()
    assert free[2] > plain[2] and free[0] < plain[0] and free[1] > plain[1], (
        "A.5: free bits uses more dimensions, with a lower reconstruction term and a higher KL")
    assert free[0] + free[1] > plain[0] + plain[1], "A.5: and a worse test -ELBO"
    scores = nb.value("scores")
    accuracy = {name: value[0] for name, value in scores.items()}
    nmi = {name: value[1] for name, value in scores.items()}
    gain = accuracy["GM-VAE"] - accuracy["k-means on pixels"]
    start_gain = accuracy["GM-VAE before joint training"] - accuracy["k-means on pixels"]
    assert 0.10 <= gain <= 0.16, "C.4 (a): 0.10 to 0.16 above k-means on the pixels"
    assert 0.90 <= accuracy["GM-VAE"] <= 0.94 and 0.77 <= accuracy["k-means on pixels"] <= 0.80, (
        "C.4 (a): 0.90 to 0.94 against about 0.79")
    assert 0.09 <= nmi["GM-VAE"] - nmi["k-means on pixels"] <= 0.15, "C.4 (a): NMI 0.09 to 0.15 above"
    assert 0.88 <= accuracy["GM-VAE before joint training"] <= 0.91, "C.4 (a): 0.88 to 0.91 at the start"
    assert start_gain / gain >= 0.6, "C.4 (a): the start brings most of the gain"
    assert 0.0 <= gain - start_gain <= 0.05, "C.4 (a): joint training adds up to 0.05 of accuracy"
    assert accuracy["k-means on pre-trained codes"] <= accuracy["k-means on pixels"] + 0.02, "C.4 (a): no better"
    assert 0.74 <= accuracy["Gaussian mixture on pre-trained codes"] <= 0.83, "C.4 (a): 0.74 to 0.83"
    assert 0.93 <= nb.value("partition_scores")[0] <= 0.95, "C.4 (a): 93 to 95% of training images"
    confusion = np.asarray(nb.value("confusion"))
    assert len(set(confusion.argmax(axis=1))) >= 9, "C.4 (b): nine or ten different majority digits"


def test_references_reach_the_kernel_only_after_the_checks_they_would_answer(grader):
    """A training check binds reference answers in the kernel (docs/trained-models.md). Checks run in
    cell order, so each answer it sends must be defined, and checked, in an earlier cell."""
    from vicourse.authoring.variant_grader import defined_names
    from vicourse.course import read_notebook, source_notebook
    from vicourse.grading.graded_outputs import is_test_cell

    cells = read_notebook(source_notebook(ROOT, NAME)).cells
    ids = [c.metadata.get("nbgrader", {}).get("grade_id") for c in cells]
    for check, (_, graded_cell, references, _) in grader.TRAINING.items():
        position = ids.index(check)
        assert ids.index(graded_cell) < position
        for name in references:
            defining = next(i for i, c in enumerate(cells) if c.metadata.get("nbgrader", {}).get("solution")
                            and c.cell_type == "code" and name in defined_names(c.source))
            its_test = next(i for i in range(defining + 1, len(cells)) if is_test_cell(cells[i]))
            assert its_test < position, f"{check} sends the reference {name} before {ids[its_test]} checks it"
            assert defining != ids.index(graded_cell), f"{check} grades {graded_cell}; it cannot bind its own {name}"
