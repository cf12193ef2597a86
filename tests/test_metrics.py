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
