"""A model you can keep: N2D.save / N2D.load, the run folder as a model, and ``gpun2d predict``."""

from __future__ import annotations

import json
import pickle

import numpy as np
import pandas as pd
import pytest
import torch
from click.testing import CliRunner
from sklearn.exceptions import NotFittedError

from gpun2d import N2D
from gpun2d.cli import cli
from gpun2d.errors import ConfigError, DataError

SMALL = dict(epochs=5, cluster_n_init=2, random_state=0, device="cpu")


@pytest.fixture(scope="module")
def split(digits):
    X, y = digits
    order = np.random.default_rng(0).permutation(len(X))
    return X[order[:1400]], y[order[:1400]], X[order[1400:]], y[order[1400:]]


@pytest.fixture(scope="module")
def fitted(split):
    torch.set_num_threads(2)
    return N2D(10, **SMALL).fit(split[0])


@pytest.fixture(scope="module")
def saved(fitted, tmp_path_factory):
    return fitted.save(tmp_path_factory.mktemp("models") / "digits")


def test_training_rows_predict_their_own_labels(fitted, split):
    np.testing.assert_array_equal(fitted.predict(split[0]), fitted.labels_)


def test_a_rows_cluster_does_not_depend_on_its_batch(fitted, split):
    new = split[2][:150]
    together = fitted.predict(new)
    one_by_one = np.concatenate([fitted.predict(new[i : i + 1]) for i in range(len(new))])
    np.testing.assert_array_equal(one_by_one, together)


def test_saved_model_predicts_exactly_as_the_fitted_one(fitted, saved, split):
    loaded = N2D.load(saved, device="cpu")
    new = split[2]
    np.testing.assert_array_equal(loaded.predict(new), fitted.predict(new))
    np.testing.assert_array_equal(loaded.labels_, fitted.labels_)
    np.testing.assert_allclose(loaded.predict_proba(new[:20]), fitted.predict_proba(new[:20]))
    assert loaded.get_params() == {**fitted.get_params(), "device": "cpu"}
    assert loaded.n_features_in_ == 64 and loaded.backends_["manifold"] == "umap-learn"


def test_manifest_records_what_the_model_is(saved):
    manifest = json.loads((saved / "model.json").read_text())
    assert manifest["format"] == "gpun2d-model/1" and manifest["n_features_in"] == 64
    assert set(manifest["files"]) == {"autoencoder.pt", "manifold.npz", "cluster.npz"}
    assert manifest["stages"]["cluster"]["name"] == "gmm" and manifest["params"]["n_clusters"] == 10
    assert manifest["fitted_on"] == {"device": "cpu", "n_samples": 1400}


def test_a_changed_file_is_refused(saved, tmp_path):
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(saved, copy)
    with open(copy / "cluster.npz", "ab") as handle:
        handle.write(b"\0")
    with pytest.raises(DataError, match="cluster.npz does not match its checksum"):
        N2D.load(copy)
    (copy / "manifold.npz").unlink()
    with pytest.raises(DataError, match="lacks manifold.npz"):
        N2D.load(copy)
    with pytest.raises(DataError, match="is not a gpun2d model folder: model.json is missing"):
        N2D.load(tmp_path)


def test_save_never_replaces_unless_asked(fitted, saved):
    before = (saved / "model.json").read_text()
    with pytest.raises(ConfigError, match="already holds a result"):
        fitted.save(saved)
    assert (saved / "model.json").read_text() == before
    fitted.save(saved, overwrite=True)


def test_unfitted_model_cannot_save_or_predict(tmp_path, split):
    with pytest.raises(NotFittedError):
        N2D(3).save(tmp_path / "m")
    with pytest.raises(NotFittedError):
        N2D(3).predict(split[2])


def test_pickling_keeps_a_working_model(fitted, split):
    again = pickle.loads(pickle.dumps(fitted))
    np.testing.assert_array_equal(again.predict(split[2][:30]), fitted.predict(split[2][:30]))


def test_kmeans_models_round_trip(split, tmp_path):
    model = N2D(10, cluster="kmeans", **SMALL).fit(split[0][:600])
    loaded = N2D.load(model.save(tmp_path / "km"))
    np.testing.assert_array_equal(loaded.predict(split[2]), model.predict(split[2]))
    assert not hasattr(loaded, "predict_proba")


def test_predict_command_round_trips_a_run(tmp_path, split, digits):
    X, y = digits
    run = CliRunner().invoke(cli, ["run", "--dataset", "digits", "--epochs", "3", "--cluster-n-init", "2",
                                   "--device", "cpu", "--quiet", "--out", str(tmp_path / "run")])
    assert run.exit_code == 0, run.output
    frame = pd.DataFrame(X, columns=[f"p{i}" for i in range(64)])
    frame.insert(0, "sku", [f"item-{i}" for i in range(len(X))])
    frame.to_csv(tmp_path / "rows.csv", index=False)
    result = CliRunner().invoke(cli, ["predict", "--model", str(tmp_path / "run"), "--input",
                                      str(tmp_path / "rows.csv"), "--id-column", "sku", "--device", "cpu",
                                      "--out", str(tmp_path / "pred")])
    assert result.exit_code == 0, result.output
    assert result.output.strip().splitlines()[-1] == f"results in {tmp_path / 'pred'}/"
    predicted = pd.read_csv(tmp_path / "pred" / "clusters.csv")
    fitted = pd.read_csv(tmp_path / "run" / "clusters.csv")
    assert list(predicted.columns) == ["sku", "cluster", "probability"]
    assert predicted["sku"].tolist()[:2] == ["item-0", "item-1"]
    np.testing.assert_array_equal(predicted["cluster"], fitted["cluster"])  # the training rows' own labels
    assert predicted["probability"].between(0, 1).all()
    summary = json.loads((tmp_path / "pred" / "predict.json").read_text())
    assert summary["n_samples"] == len(X) and summary["metrics"] is None


@pytest.mark.parametrize("case, message", [
    ("no_model", "is not a gpun2d model folder"),
    ("features", "has 5 features but the model was fitted on 64"),
])
def test_predict_command_errors(tmp_path, saved, case, message):
    np.save(tmp_path / "five.npy", np.zeros((10, 5), dtype=np.float32))
    model = tmp_path if case == "no_model" else saved
    result = CliRunner().invoke(cli, ["predict", "--model", str(model), "--input", str(tmp_path / "five.npy"),
                                      "--device", "cpu", "--out", str(tmp_path / "pred")])
    assert result.exit_code == 1 and result.output.startswith("Error:") and message in result.output
    assert not (tmp_path / "pred").exists()


def rewrite(folder, name, arrays=None, manifest_change=None):
    """Change a model file and fix its checksum, as a careful tamperer would."""
    from gpun2d.persistence import sha256

    if arrays is not None:
        np.savez(folder / name, **arrays)
    manifest = json.loads((folder / "model.json").read_text())
    if arrays is not None:
        manifest["files"][name] = sha256(folder / name)
    if manifest_change is not None:
        manifest_change(manifest)
    (folder / "model.json").write_text(json.dumps(manifest))


@pytest.mark.parametrize("case, words", [
    ("unlisted file", "reads cluster.npz without a checksum"),
    ("files not a mapping", "'files' must be a dict"),
    ("nan precisions", "not finite floating point"),
    ("wrong means shape", "does not match n_clusters"),
    ("too many clusters", "does not match n_clusters"),
    ("names of another width", "one name per feature"),
])
def test_a_consistent_checksum_does_not_make_a_consistent_model(saved, tmp_path, case, words):
    import shutil

    folder = tmp_path / "m"
    shutil.copytree(saved, folder)
    with np.load(folder / "cluster.npz") as data:
        arrays = dict(data)
    if case == "unlisted file":
        rewrite(folder, "cluster.npz", manifest_change=lambda m: m["files"].pop("cluster.npz"))
    elif case == "files not a mapping":
        rewrite(folder, "cluster.npz", manifest_change=lambda m: m.update(files=list(m["files"])))
    elif case == "nan precisions":
        arrays["precisions_cholesky_"][0, 0, 0] = np.nan
        rewrite(folder, "cluster.npz", arrays)
    elif case == "wrong means shape":
        arrays["means_"] = arrays["means_"][:, :3]
        rewrite(folder, "cluster.npz", arrays)
    elif case == "too many clusters":
        rewrite(folder, "cluster.npz", manifest_change=lambda m: m["params"].update(n_clusters=12))
    else:
        rewrite(folder, "cluster.npz", manifest_change=lambda m: m.update(feature_names_in=["a"]))
    with pytest.raises(DataError, match=words):
        N2D.load(folder)


def test_predict_matches_columns_by_name(tmp_path, digits):
    X, y = digits
    names = [f"p{i}" for i in range(64)]
    pd.DataFrame(X[:400], columns=names).assign(cls=y[:400]).to_csv(tmp_path / "train.csv", index=False)
    run = CliRunner().invoke(cli, ["run", "--input", str(tmp_path / "train.csv"), "--label-column", "cls",
                                   "--epochs", "2", "--cluster-n-init", "1", "--device", "cpu", "--quiet",
                                   "--out", str(tmp_path / "run")])
    assert run.exit_code == 0, run.output
    assert json.loads((tmp_path / "run" / "model.json").read_text())["feature_names_in"] == names
    frame = pd.DataFrame(X[:400], columns=names)
    frame[names[::-1]].to_csv(tmp_path / "reversed.csv", index=False)
    frame.rename(columns={"p3": "q3"}).to_csv(tmp_path / "renamed.csv", index=False)

    def predict(name):
        return CliRunner().invoke(cli, ["predict", "--model", str(tmp_path / "run"), "--input",
                                        str(tmp_path / f"{name}.csv"), "--device", "cpu", "--quiet",
                                        "--out", str(tmp_path / f"pred-{name}")])

    assert predict("reversed").exit_code == 0
    reordered = pd.read_csv(tmp_path / "pred-reversed" / "clusters.csv")["cluster"]
    np.testing.assert_array_equal(reordered, pd.read_csv(tmp_path / "run" / "clusters.csv")["cluster"])
    result = predict("renamed")
    assert result.exit_code == 1 and "missing p3; not in the model q3" in result.output


def test_a_manifest_with_invalid_params_is_refused_on_load(saved, tmp_path):
    import shutil

    folder = tmp_path / "m"
    shutil.copytree(saved, folder)
    rewrite(folder, "cluster.npz", manifest_change=lambda m: m["params"].update(umap_neighbors=-5))
    with pytest.raises(DataError, match=r"model\.json is not a valid gpun2d model manifest: .*'umap_neighbors'"):
        N2D.load(folder, device="cpu")
    np.save(tmp_path / "ok.npy", np.zeros((10, 64), dtype=np.float32))
    result = CliRunner().invoke(cli, ["predict", "-m", str(folder), "--input", str(tmp_path / "ok.npy"),
                                      "--device", "cpu", "-q", "--out", str(tmp_path / "pred")])
    assert result.exit_code == 1 and (result.exception is None or isinstance(result.exception, SystemExit))
    (line,) = result.output.strip().splitlines()
    assert line.startswith("Error:") and "model.json" in line and "umap_neighbors" in line and "-5" in line
    assert not (tmp_path / "pred").exists()
