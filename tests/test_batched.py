"""Batched k-means and EM (gpun2d.batched_kmeans, gpun2d.batched_em) against scikit-learn, restart by restart."""

import numpy as np
import pytest
import torch
from sklearn.mixture import GaussianMixture as SKGaussianMixture

from gpun2d import batched_em as em_module
from gpun2d.batched_em import batched_em, hard_parameters, predict
from gpun2d.batched_kmeans import batched_kmeans
from gpun2d.errors import ConfigError
from gpun2d.metrics import ari
from gpun2d.mixture import GaussianMixture, kmeans_parameters

SEEDS = [0, 1, 2, 3, 4]


def initial(X: torch.Tensor, k: int, seeds=SEEDS):
    """Batched k-means, and the mixtures' initial parameters from its labels."""
    km = batched_kmeans(X, k, seeds)
    return km, hard_parameters(X, km.labels, k, 1e-6)


def sklearn_fit(X: np.ndarray, weights, means, precisions, **params) -> SKGaussianMixture:
    return SKGaussianMixture(weights.shape[0], covariance_type="full", weights_init=weights.numpy(),
                             means_init=means.numpy(), precisions_init=precisions.numpy(), **params).fit(X)


@pytest.fixture(scope="module")
def embedding(digits_umap):
    return torch.from_numpy(digits_umap[0])


@pytest.fixture
def blob_tensor(blobs):
    return torch.from_numpy(blobs[0]).double()


@pytest.mark.parametrize("tol", [1e-3, 1e-7])
@pytest.mark.parametrize("data", ["embedding", "blob_tensor"])
def test_every_restart_is_scikit_learns_fit_from_its_initial_parameters(data, tol, request):
    X = request.getfixturevalue(data)
    k = 10 if data == "embedding" else 3
    _, (weights, means, precisions) = initial(X, k)
    result = batched_em(X, weights, means, precisions, tol=tol)
    labels = predict(X, result.weights, result.means, result.precisions_cholesky)
    for r in range(len(SEEDS)):
        reference = sklearn_fit(X.numpy(), weights[r], means[r], precisions[r], tol=tol)
        assert result.lower_bound[r].item() == pytest.approx(reference.lower_bound_, rel=1e-6)
        assert result.n_iter[r].item() == reference.n_iter_
        assert result.converged[r].item() == reference.converged_
        np.testing.assert_array_equal(labels[r].numpy(), reference.predict(X.numpy()))
        np.testing.assert_allclose(result.means[r].numpy(), reference.means_, rtol=1e-6, atol=1e-8)
        np.testing.assert_allclose(result.covariances[r].numpy(), reference.covariances_, rtol=1e-5, atol=1e-8)
    bounds = result.lower_bound.tolist()
    assert result.best == bounds.index(max(bounds))


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_unconverged_restarts_stop_at_max_iter(embedding):
    _, (weights, means, precisions) = initial(embedding, 10, [0, 1])
    result = batched_em(embedding, weights, means, precisions, tol=0.0, max_iter=4)
    for r in range(2):
        reference = sklearn_fit(embedding.numpy(), weights[r], means[r], precisions[r], tol=0.0, max_iter=4)
        assert result.n_iter[r].item() == reference.n_iter_ == 4 and not result.converged[r].item()
        assert result.lower_bound[r].item() == pytest.approx(reference.lower_bound_, rel=1e-6)


def test_hard_parameters_are_kmeans_parameters_of_each_restart(embedding):
    km, (weights, means, precisions) = initial(embedding, 10)
    for r in range(len(SEEDS)):
        expected = kmeans_parameters(embedding, km.labels[r], 10, 1e-6)
        for ours, theirs in zip((weights[r], means[r], precisions[r]), expected, strict=True):
            torch.testing.assert_close(ours, theirs, rtol=1e-9, atol=1e-12)


def test_converged_restarts_are_frozen(embedding, monkeypatch):
    """A restart's result is the same whether the others in its batch run on after it converged or not."""
    _, (weights, means, precisions) = initial(embedding, 10)
    together = batched_em(embedding, weights, means, precisions, tol=1e-6)
    steps = []
    real = em_module.em_step

    def counting(X, w, *args):
        steps.append(w.shape[0])
        return real(X, w, *args)

    monkeypatch.setattr(em_module, "em_step", counting)
    batched_em(embedding, weights, means, precisions, tol=1e-6)
    assert steps[0] == len(SEEDS) and steps == sorted(steps, reverse=True)  # converged restarts drop out
    assert len(set(together.n_iter.tolist())) > 1  # otherwise nothing was frozen
    for r in range(len(SEEDS)):
        alone = batched_em(embedding, weights[r:r + 1], means[r:r + 1], precisions[r:r + 1], tol=1e-6)
        assert alone.n_iter[0] == together.n_iter[r]
        torch.testing.assert_close(alone.lower_bound[0], together.lower_bound[r], rtol=1e-12, atol=0)
        torch.testing.assert_close(alone.means[0], together.means[r], rtol=1e-10, atol=1e-12)


def test_chunked_and_unchunked_agree(embedding):
    km, (weights, means, precisions) = initial(embedding, 10)
    whole = batched_em(embedding, weights, means, precisions, tol=1e-6)
    chunked = batched_em(embedding, weights, means, precisions, tol=1e-6, memory_bytes=200_000)
    assert em_module.em_rows(len(embedding), 5, 10, 10, 200_000) < len(embedding) / 4
    assert torch.equal(whole.n_iter, chunked.n_iter) and torch.equal(whole.converged, chunked.converged)
    torch.testing.assert_close(whole.lower_bound, chunked.lower_bound, rtol=1e-12, atol=0)
    torch.testing.assert_close(whole.covariances, chunked.covariances, rtol=1e-9, atol=1e-12)
    small = batched_kmeans(embedding, 10, SEEDS, memory_bytes=50_000)
    assert torch.equal(small.labels, km.labels)
    torch.testing.assert_close(small.centers, km.centers)


@pytest.mark.parametrize("data", ["embedding", "blob_tensor"])
def test_kmeans_labels_are_the_nearest_final_centres_and_inertia_never_rises(data, request):
    X = request.getfixturevalue(data)
    k = 10 if data == "embedding" else 3
    km = batched_kmeans(X, k, SEEDS)
    for r in range(len(SEEDS)):
        nearest = torch.cdist(X, km.centers[r]).argmin(1)
        assert torch.equal(km.labels[r], nearest)
        torch.testing.assert_close(km.inertia[r], ((X - km.centers[r][nearest]) ** 2).sum())
    history = torch.stack(km.inertia_history)  # (iterations + 1, R)
    assert (history[1:] <= history[:-1] * (1 + 1e-12)).all()
    assert (km.n_iter >= 1).all()


def test_kmeans_recovers_well_separated_blobs(blob_tensor, blobs):
    km = batched_kmeans(blob_tensor, 3, list(range(10)))
    for r in range(10):
        assert ari(blobs[1], km.labels[r]) == 1.0


def test_kmeans_is_deterministic_per_seed_and_restarts_are_independent(embedding):
    a = batched_kmeans(embedding, 10, [7, 8, 9])
    b = batched_kmeans(embedding, 10, [7, 8, 9])
    assert torch.equal(a.labels, b.labels) and torch.equal(a.centers, b.centers)
    alone = batched_kmeans(embedding, 10, [8])
    assert torch.equal(alone.labels[0], a.labels[1])


def test_empty_clusters_are_reseeded():
    """Four distinct points, four clusters: every centre ends on its own point."""
    X = torch.tensor([[0.0, 0.0], [0.0, 0.0], [0.0, 0.0], [5.0, 0.0], [0.0, 5.0], [5.0, 5.0]], dtype=torch.float64)
    km = batched_kmeans(X, 4, [0, 1, 2])
    assert (km.inertia == 0).all()
    for r in range(3):
        assert len(set(km.labels[r].tolist())) == 4


# ------------------------------------------------------------ the estimator's batched path
@pytest.fixture(scope="module")
def batched_model(embedding):
    return GaussianMixture(10, n_init=4, random_state=3, batched=True).fit(embedding)


def test_batched_mixture_records_every_restart(batched_model, embedding):
    model = batched_model
    bounds = [r["lower_bound"] for r in model.restarts_]
    assert [r["seed"] for r in model.restarts_] == [3, 4, 5, 6]
    assert model.best_restart_ == bounds.index(max(bounds)) and model.lower_bound_ == max(bounds)
    assert [r["best"] for r in model.restarts_] == [i == model.best_restart_ for i in range(4)]
    assert model.n_iter_ == model.restarts_[model.best_restart_]["n_iter"]
    assert model.means_.shape == (10, 10) and model.precisions_cholesky_.shape == (10, 10, 10)
    assert model.score(embedding) == pytest.approx(model.lower_bound_, rel=1e-3)


def test_batched_mixture_restart_is_scikit_learn_from_batched_kmeans(batched_model, embedding):
    """The winner is scikit-learn's fit from the batched k-means labels of its seed."""
    seed = batched_model.restarts_[batched_model.best_restart_]["seed"]
    km = batched_kmeans(embedding, 10, [seed])
    weights, means, precisions = hard_parameters(embedding, km.labels, 10, 1e-6)
    reference = sklearn_fit(embedding.numpy(), weights[0], means[0], precisions[0])
    assert batched_model.lower_bound_ == pytest.approx(reference.lower_bound_, rel=1e-6)
    np.testing.assert_array_equal(batched_model.predict(embedding.numpy()), reference.predict(embedding.numpy()))


def test_batched_mixture_is_deterministic_and_keeps_the_caller_type(blobs):
    X, y = blobs
    a = GaussianMixture(3, n_init=3, random_state=0, batched=True).fit(X)
    b = GaussianMixture(3, n_init=3, random_state=0, batched=True).fit(X)
    assert a.record() == b.record()
    labels = a.predict(X)
    assert isinstance(labels, np.ndarray) and ari(y, labels) == 1.0
    assert isinstance(a.predict_proba(torch.from_numpy(X)), torch.Tensor)
    assert isinstance(a.fit_predict(X), np.ndarray)


def test_batched_must_be_a_boolean_or_none(blobs):
    with pytest.raises(ConfigError, match="batched must be None, True or False, got batched='yes'"):
        GaussianMixture(3, batched="yes").fit(blobs[0])


@pytest.mark.gpu
def test_batched_on_cuda_matches_the_cpu(embedding):
    cpu = GaussianMixture(10, n_init=3, random_state=0, batched=True).fit(embedding)
    gpu = GaussianMixture(10, n_init=3, random_state=0).fit(embedding.cuda())
    assert gpu.means_.is_cuda
    for on_cpu, on_gpu in zip(cpu.restarts_, gpu.restarts_, strict=True):
        assert on_gpu["lower_bound"] == pytest.approx(on_cpu["lower_bound"], rel=1e-6)
    assert ari(cpu.predict(embedding), gpu.predict(embedding.cuda()).cpu()) >= 0.99
