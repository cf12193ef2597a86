"""A consensus of labelings: clusters matched one to one, then a vote per row; no true labels used."""

from __future__ import annotations

import numpy as np
import pytest

from gpun2d.consensus import align, consensus, medoid
from gpun2d.errors import DataError
from gpun2d.metrics import cluster_acc


def relabel(labels: np.ndarray, seed: int) -> np.ndarray:
    """The same partition under other cluster numbers."""
    return np.random.default_rng(seed).permutation(labels.max() + 1)[labels]


def test_the_same_partition_under_other_names_is_its_own_consensus():
    truth = np.random.default_rng(0).integers(0, 5, 200)
    labels, agreement, rounds = consensus([relabel(truth, s) for s in range(4)], 5)
    assert cluster_acc(truth, labels) == 1.0 and np.all(agreement == 1.0) and rounds == 1


def test_each_row_takes_the_majority_cluster():
    truth = np.repeat(np.arange(4), 50)
    noisy = truth.copy()
    noisy[:30] = (noisy[:30] + 1) % 4  # one labeling disagrees on 30 rows
    labels, agreement, _ = consensus([relabel(truth, 1), relabel(noisy, 2), relabel(truth, 3)], 4)
    assert cluster_acc(truth, labels) == 1.0
    np.testing.assert_allclose(agreement[:30], 2 / 3)
    np.testing.assert_allclose(agreement[30:], 1.0)


def test_align_renames_one_to_one():
    reference = np.array([0, 0, 1, 1, 2, 2])
    assert align(np.array([5, 5, 7, 7, 9, 9]), reference).tolist() == reference.tolist()
    # a fourth cluster has no partner in the reference: its rows cast no vote
    assert align(np.array([1, 1, 2, 2, 3, 4]), reference).tolist() == [0, 0, 1, 1, 2, -1]


def test_the_medoid_agrees_best_with_the_others():
    truth = np.repeat(np.arange(3), 20)
    odd = np.random.default_rng(1).integers(0, 3, 60)
    assert medoid([odd, relabel(truth, 1), relabel(truth, 2), truth]) != 0


def test_bad_input_is_refused():
    with pytest.raises(DataError, match="at least one"):
        consensus([], 3)
    with pytest.raises(DataError, match="same rows"):
        consensus([np.zeros(5, int), np.zeros(6, int)], 2)
