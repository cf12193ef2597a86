"""``gpun2d ablate``: the paper's Table I, every row measured, memory-hungry rows skipped with a reason."""

from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner

from gpun2d import N2D, datasets
from gpun2d.benchmarking import ablation
from gpun2d.cli import cli
from gpun2d.cli.ablate import METHOD_KEYS
from gpun2d.errors import ConfigError
from gpun2d.metrics import evaluate

TINY = ["-d", "digits", "--max-samples", "300", "--epochs", "2", "--cluster-n-init", "1", "--device", "cpu"]


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    out = tmp_path_factory.mktemp("ablate") / "digits"
    result = CliRunner().invoke(cli, ["ablate", *TINY, "--quiet", "--out", str(out)])
    assert result.exit_code == 0, result.output
    return out


def test_every_row_of_table_one_is_measured(report):
    data = json.loads((report / "ablation.json").read_text())
    assert [row["key"] for row in data["methods"]] == list(ablation.METHOD_KEYS)
    for row in data["methods"]:
        assert row["status"] == "ran"
        assert all(0 <= row["scores"][k] <= 1 for k in ("acc", "nmi")) and -1 <= row["scores"]["ari"] <= 1
        assert row["seconds"]["total"] == pytest.approx(sum(v for k, v in row["seconds"].items() if k != "total"))
    shared = {row["seconds"]["autoencoder"] for row in data["methods"] if row["key"] in ("ae-gmm", "n2d")}
    assert len(shared) == 1 and shared.pop() > 0  # one autoencoder, trained once
    assert data["paper"]["n2d"] is None  # digits is not one of the paper's datasets
    table = (report / "ablation.md").read_text()
    assert all(f"| {m.label} |" in table for m in ablation.METHODS)


def test_the_n2d_row_is_n2d_itself(report):
    """The N2D (UMAP) row equals N2D's own fit with the same settings (same stages, same seed)."""
    data = json.loads((report / "ablation.json").read_text())
    X, y = datasets.load("digits")
    keep = np.sort(np.random.default_rng(0).choice(len(X), 300, replace=False))
    labels = N2D(10, epochs=2, cluster_n_init=1, random_state=0, device="cpu").fit_predict(X[keep])
    row = next(r for r in data["methods"] if r["key"] == "n2d")
    assert row["scores"] == pytest.approx(evaluate(y[keep], labels), abs=1e-12)


def test_a_row_that_would_not_fit_in_memory_is_skipped(monkeypatch):
    monkeypatch.setattr(ablation, "free_bytes", lambda: 2 * 10**6)  # enough for 300 x 64, not for Isomap
    settings = ablation.AblationSettings("digits", epochs=0, methods=("gmm", "isomap-gmm"), max_samples=300,
                                         cluster_n_init=1, device="cpu")
    rows = {row["key"]: row for row in ablation.run_ablation(settings)["methods"]}
    assert rows["gmm"]["status"] == "ran"
    assert rows["isomap-gmm"]["status"] == "skipped" and "needs about" in rows["isomap-gmm"]["reason"]
    assert "skipped: needs about" in ablation.render_markdown(ablation.run_ablation(settings))


def test_isomap_memory_grows_with_the_square_of_the_rows():
    isomap = next(m for m in ablation.METHODS if m.key == "isomap-gmm")
    assert ablation.estimate_bytes(isomap, 70_000, 784, 10) > 64 * 2**30  # the paper's Isomap ran out of 64 GB
    assert ablation.estimate_bytes(isomap, 2_000, 784, 10) < 2**30


def test_settings_are_checked_before_any_work(tmp_path):
    assert METHOD_KEYS == ablation.METHOD_KEYS  # the CLI's copy, kept for a torch-free --help
    with pytest.raises(ConfigError, match="methods must name"):
        ablation.AblationSettings("digits", methods=("pca",)).validate()
    result = CliRunner().invoke(cli, ["ablate", "-d", "digits", "--max-samples", "15", "--out", str(tmp_path / "x")])
    assert result.exit_code == 1 and "too few" in result.output and not (tmp_path / "x").exists()
    result = CliRunner().invoke(cli, ["ablate", "-d", "nope", "--out", str(tmp_path / "y")])
    assert result.exit_code == 1 and "nope" in result.output and not (tmp_path / "y").exists()


def test_too_few_rows_for_tsne_fail_before_training(tmp_path):
    out = tmp_path / "x"
    result = CliRunner().invoke(cli, ["ablate", "-d", "digits", "--max-samples", "30", "-m", "n2d-tsne", "-m", "n2d",
                                      "--epochs", "1", "--cluster-n-init", "1", "--device", "cpu", "-q",
                                      "--out", str(out)])
    assert result.exit_code == 1 and (result.exception is None or isinstance(result.exception, SystemExit))
    (line,) = [line for line in result.output.splitlines() if line.startswith("Error:")]
    assert f"needs at least {int(ablation.TSNE_PERPLEXITY) + 1} rows" in line
    assert "larger --max-samples" in line and "leave out n2d-tsne" in line and "--methods KEY" in line
    assert not out.exists()
    ablation.AblationSettings("digits", methods=("gmm", "n2d"), max_samples=21).validate()  # no t-SNE row: enough
    ablation.AblationSettings("digits", methods=("tsne-gmm",), max_samples=31).validate()


def test_a_seed_without_room_for_the_restarts_fails_before_training():
    settings = ablation.AblationSettings("digits", random_state=2**32 - 1, cluster_n_init=2)
    with pytest.raises(ConfigError, match="cluster_n_init=2"):
        settings.validate()
