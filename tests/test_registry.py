"""The stage registry: every entry builds, follows its stage's protocol, and a new entry plugs in alone."""

from __future__ import annotations

import sys
import types

import numpy as np
import pytest
import torch

from gpun2d import N2D, registry, stages
from gpun2d.devices import Device, DeviceType
from gpun2d.errors import ConfigError

PROTOCOLS = {"autoencoder": stages.EmbeddingLearner, "manifold": stages.ManifoldLearner,
             "cluster": stages.Clusterer}


@pytest.mark.parametrize("part", registry.PARTS, ids=lambda p: f"{p.stage}-{p.name}-{p.device}")
def test_every_part_builds_and_follows_its_protocol(part):
    cls = part.load()
    assert callable(getattr(cls, "from_context", None)), part.target
    ctx = stages.StageContext(N2D(epochs=1).get_params(), 3, Device(DeviceType(part.device)), 0)
    built = part.build(ctx)
    for name in ("fit", "transform", "fit_transform", "predict", "record"):
        if hasattr(PROTOCOLS[part.stage], name):
            assert callable(getattr(built, name, None)), f"{part.target} lacks {name}"


def test_every_stage_has_both_devices():
    for stage in registry.STAGES:
        for name in registry.names(stage.key):
            assert {registry.lookup(stage.key, name, d).device for d in ("cpu", "cuda")} == {"cpu", "cuda"}


def test_lookup_names_the_parameter():
    with pytest.raises(ConfigError, match=r"cluster='spectral' is unknown; choose one of gmm, kmeans"):
        registry.lookup("cluster", "spectral", "cpu")
    assert registry.stage("ae").key == "autoencoder"
    assert registry.doing("manifold") == "learning the manifold" and registry.doing("load") == "load"
    assert registry.backends("cpu") == {"autoencoder": "torch (cpu)", "manifold": "umap-learn",
                                        "cluster": "scikit-learn GaussianMixture"}


def test_unknown_stage_name_fails_before_any_work(monkeypatch):
    import gpun2d.embedder

    monkeypatch.setattr(gpun2d.embedder, "train_autoencoder", lambda *a, **k: pytest.fail("trained"))
    with pytest.raises(ConfigError, match="manifold='tsne' is unknown"):
        N2D(3, manifold="tsne", device="cpu").fit(np.random.default_rng(0).normal(size=(40, 4)))


class NearestMean:
    """A toy clusterer: two clusters split at the first coordinate's median."""

    @classmethod
    def from_context(cls, ctx):
        return cls()

    def fit(self, X):
        self.threshold_ = X[:, 0].median()
        return self

    def predict(self, X):
        return (X[:, 0] > self.threshold_).long()

    def record(self):
        return {"method": "median", "n_init": 1, "best_restart": 0, "restarts": []}


def test_a_new_clusterer_is_one_class_and_one_entry(monkeypatch):
    module = types.ModuleType("toy_clusterers")
    module.NearestMean = NearestMean
    monkeypatch.setitem(sys.modules, "toy_clusterers", module)
    entry = registry.Part("cluster", "median", "cpu", "toy_clusterers:NearestMean", "toy", "median split")
    monkeypatch.setattr(registry, "PARTS", (*registry.PARTS, entry))
    X = np.random.default_rng(0).normal(size=(60, 5)).astype(np.float32)
    model = N2D(2, cluster="median", epochs=1, hidden=(8,), umap_neighbors=5, device="cpu", random_state=0).fit(X)
    assert set(np.unique(model.labels_)) == {0, 1}
    assert model.backends_["cluster"] == "toy"
    assert isinstance(model.predict(torch.from_numpy(X[:5])), torch.Tensor)
    assert not hasattr(model, "predict_proba")  # the toy has none, so N2D offers none
