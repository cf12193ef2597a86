"""Figures: valid PNGs of the expected size, Hungarian colours, atomic writes, a light import."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from gpun2d import plot
from gpun2d.errors import DataError

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@pytest.fixture
def clustered():
    """Ten classes in 2-D, and a clustering that is a permutation of them with some noise."""
    rng = np.random.default_rng(0)
    y = rng.integers(0, 10, 600)
    perm = rng.permutation(10)
    labels = perm[y]
    labels[:30] = rng.integers(0, 10, 30)
    points = rng.normal(size=(600, 2)) + 4 * y[:, None]
    return points, labels, y, perm


def read_png(path):
    """The image as an array, after checking the PNG signature."""
    import matplotlib.image

    assert path.read_bytes()[:8] == PNG_SIGNATURE
    return matplotlib.image.imread(path)


def no_leftovers(folder):
    return [p.name for p in folder.iterdir() if p.name.startswith(".gpun2d-")] == []


def test_plot_clusters_writes_a_png_of_the_requested_size(tmp_path, clustered):
    points, labels, y, _ = clustered
    out = plot.plot_clusters(points, labels, tmp_path / "embedding.png", y, title="blobs", figsize=(10, 4), dpi=50)
    assert out == tmp_path / "embedding.png"
    assert read_png(out).shape[:2] == (200, 500)
    assert no_leftovers(tmp_path)


def test_plot_clusters_without_labels_and_with_default_size(tmp_path, clustered):
    points, labels, _, _ = clustered
    out = plot.plot_clusters(points, labels, tmp_path / "sub" / "embedding.png")
    height, width = read_png(out).shape[:2]
    assert width > height > 0  # one panel plus its legend at the side


def test_plot_clusters_rejects_points_that_do_not_match_labels(tmp_path, clustered):
    points, labels, _, _ = clustered
    with pytest.raises(DataError, match="points must be"):
        plot.plot_clusters(points[:10], labels, tmp_path / "x.png")
    assert not (tmp_path / "x.png").exists()


def test_hungarian_recolouring_gives_each_cluster_its_class_colour(clustered):
    _, labels, y, perm = clustered
    by_cluster, by_class = plot.cluster_colours(labels, y), plot.class_colours(y)
    for c in range(10):
        assert by_cluster[int(perm[c])] == by_class[c]
    assert len(set(by_cluster.values())) == 10


def test_matching_orders_clusters_by_their_class(clustered):
    _, labels, y, perm = clustered
    match = plot.match_clusters(y, labels)
    assert match.order == perm.tolist()
    assert match.cluster_class == {int(perm[c]): c for c in range(10)}


def test_more_clusters_than_classes_get_extra_distinct_colours(tmp_path):
    rng = np.random.default_rng(1)
    y = rng.integers(0, 3, 300)
    labels = y.copy()
    labels[:47] = np.arange(3, 50)  # 50 clusters, 3 classes
    by_cluster, by_class = plot.cluster_colours(labels, y), plot.class_colours(y)
    assert [by_cluster[c] for c in range(3)] == [by_class[c] for c in range(3)]
    assert len(set(by_cluster.values())) == len(by_cluster) == 50  # none repeats a class's colour
    match = plot.match_clusters(y, labels)
    assert match.order[:3] == [0, 1, 2] and sorted(match.order[3:]) == list(range(3, 50))
    points = rng.normal(size=(300, 2))
    read_png(plot.plot_clusters(points, labels, tmp_path / "many.png", y))
    read_png(plot.plot_confusion(y, labels, tmp_path / "many-confusion.png"))


def test_palette_starts_with_tab10_and_stays_distinct_beyond_sixty():
    from matplotlib import colormaps, colors

    assert plot.palette(10) == [colors.to_rgba(c) for c in colormaps["tab10"].colors]
    assert len(set(plot.palette(90))) == 90


def test_string_classes_and_class_names(tmp_path):
    y = np.array(["cat", "dog", "eel"] * 20)
    labels = np.array([2, 0, 1] * 20)
    assert plot.cluster_colours(labels, y)[2] == plot.class_colours(y)["cat"]
    read_png(plot.plot_clusters(np.random.default_rng(0).normal(size=(60, 2)), labels, tmp_path / "s.png", y))
    read_png(plot.plot_confusion(labels, labels, tmp_path / "n.png", class_names=["zero", "one", "two"]))


def test_plot_loss_writes_a_png(tmp_path):
    history = [0.5 / (epoch + 1) ** 1.5 for epoch in range(40)]  # spans more than a decade: log axis
    out = plot.plot_loss(history, tmp_path / "loss.png", title="blobs", figsize=(6, 4), dpi=50)
    assert out == tmp_path / "loss.png"
    assert read_png(out).shape[:2] == (200, 300)
    read_png(plot.plot_loss([0.1], tmp_path / "one-epoch.png"))


def test_plot_loss_of_an_empty_history_writes_nothing(tmp_path):
    assert plot.plot_loss([], tmp_path / "loss.png") is None
    assert list(tmp_path.iterdir()) == []


def test_plot_confusion_writes_a_png(tmp_path, clustered):
    _, labels, y, _ = clustered
    out = plot.plot_confusion(y, labels, tmp_path / "confusion.png", title="blobs", figsize=(8, 6), dpi=50)
    assert out == tmp_path / "confusion.png"
    assert read_png(out).shape[:2] == (300, 400)
    assert no_leftovers(tmp_path)


def test_plot_confusion_rejects_mismatched_labels(tmp_path):
    with pytest.raises(DataError, match="one label per sample"):
        plot.plot_confusion(np.zeros(5, int), np.zeros(4, int), tmp_path / "c.png")
    assert list(tmp_path.iterdir()) == []


def test_importing_plot_does_not_import_matplotlib():
    code = "import sys, gpun2d.plot; print('matplotlib' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    assert done.stdout.strip() == "False"
