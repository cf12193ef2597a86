"""scikit-learn's own estimator checks on N2D, with tiny settings on the CPU: every one passes."""

from __future__ import annotations

import pytest
import torch
from sklearn.utils.estimator_checks import parametrize_with_checks

from gpun2d import N2D

TINY = N2D(3, epochs=2, batch_size=32, hidden=(16,), umap_neighbors=5, cluster_n_init=1, device="cpu",
           random_state=0)

# None expected: new points are placed from their own neighbours (gpun2d.placement), so even the
# subset- and order-invariance checks pass. A check that must fail goes here with its reason.
EXPECTED_FAILURES: dict[str, str] = {}


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.mark.slow
@parametrize_with_checks([TINY], expected_failed_checks=lambda est: EXPECTED_FAILURES)
def test_scikit_learn_checks(estimator, check):
    check(estimator)
