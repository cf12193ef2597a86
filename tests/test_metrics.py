import numpy as np
import pytest
import torch

from gpun2d.errors import DataError
from gpun2d.metrics import ari, cluster_acc, evaluate, nmi


def test_acc_is_invariant_to_cluster_names():
    assert cluster_acc([0, 0, 1, 1, 2, 2], [2, 2, 0, 0, 1, 1]) == 1.0


def test_acc_uses_one_to_one_matching():
    # classes 0,1,2 vs two clusters: best matching 0->0 (2 hits) and 2->1 (2 hits) = 4/6
    assert cluster_acc([0, 0, 1, 1, 2, 2], [0, 0, 0, 1, 1, 1]) == pytest.approx(4 / 6)


def test_acc_with_more_clusters_than_classes():
    # each class split in two: only one half per class can be matched -> 2/4
    assert cluster_acc([0, 0, 1, 1], [0, 1, 2, 3]) == pytest.approx(0.5)


def test_nmi_and_ari_hand_computed():
    # independent labelings: NMI 0, ARI -0.5 (hand computed from the contingency table)
    assert nmi([0, 0, 1, 1], [0, 1, 0, 1]) == pytest.approx(0.0, abs=1e-12)
    assert ari([0, 0, 1, 1], [0, 1, 0, 1]) == pytest.approx(-0.5)
    assert nmi([0, 0, 1, 1], [1, 1, 0, 0]) == pytest.approx(1.0)
    assert ari([0, 0, 1, 1], [1, 1, 0, 0]) == pytest.approx(1.0)


def test_evaluate_accepts_tensors_and_returns_all_keys():
    scores = evaluate(torch.tensor([0, 0, 1, 1]), np.array([1, 1, 0, 0]))
    assert scores == {"acc": 1.0, "nmi": pytest.approx(1.0), "ari": pytest.approx(1.0)}


def test_length_mismatch_is_a_data_error():
    with pytest.raises(DataError, match="4 entries but there are 3"):
        cluster_acc([0, 0, 1, 1], [0, 1, 0])


def test_scores_from_a_contingency_table_equal_scikit_learns():
    """evaluate_table (for data whose labels are counted by Dask) against evaluate on the labels themselves."""
    from sklearn.metrics.cluster import contingency_matrix

    from gpun2d.metrics import evaluate_table

    rng = np.random.default_rng(0)
    for trial in range(100):
        n = int(rng.integers(1, 400))
        y_true = rng.integers(0, rng.integers(1, 8), n)
        y_pred = y_true.copy() if trial % 4 == 0 else rng.integers(0, rng.integers(1, 8), n)
        expected = evaluate(y_true, y_pred)
        table = contingency_matrix(y_true, y_pred)
        padded = np.pad(table, ((0, 1), (0, 2)))  # classes or clusters with no rows change nothing
        for got in (evaluate_table(table), evaluate_table(padded)):
            assert got == pytest.approx(expected, abs=1e-12)
    with pytest.raises(DataError, match="no labelled rows"):
        evaluate_table(np.zeros((2, 2)))
