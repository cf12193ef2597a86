"""A consensus of several labelings of the same rows (seeds of a study), with no true labels used.

Cluster numbers are arbitrary per labeling, so each labeling is first matched
to a reference labeling one-to-one (Hungarian matching of their contingency
table, :func:`gpun2d.metrics.matching`); the consensus is then each row's most
frequent matched cluster, and its agreement the share of labelings that give
it. The reference starts as the medoid labeling (the highest mean adjusted
Rand index to the others) and is replaced by the consensus until it stops
changing.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from sklearn.metrics import adjusted_rand_score

from .errors import DataError
from .metrics import matching

ROUNDS = 10
"""Most re-matchings to the latest consensus (it usually settles in two or three)."""


def align(labels: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """``labels`` renamed to the reference's clusters they overlap most, one to one; -1 where none is left."""
    table, rows, cols = matching(reference, labels)
    ref_values, own_values = np.unique(reference), np.unique(labels)
    renamed = np.full(labels.shape, -1, dtype=np.int64)
    for row, col in zip(rows, cols, strict=True):
        renamed[labels == own_values[col]] = ref_values[row]
    return renamed


def medoid(labelings: Sequence[np.ndarray]) -> int:
    """Index of the labeling that agrees best (mean ARI) with all the others."""
    count = len(labelings)
    scores = np.zeros((count, count))
    for i in range(count):
        for j in range(i + 1, count):
            scores[i, j] = scores[j, i] = adjusted_rand_score(labelings[i], labelings[j])
    return int(np.argmax(scores.sum(axis=1)))


def consensus(labelings: Sequence, n_clusters: int) -> tuple[np.ndarray, np.ndarray, int]:
    """One labeling from several: ``(labels, agreement per row, rounds)``.

    ``labels`` takes values in ``0..n_clusters-1``; ``agreement`` is the share
    of labelings that put the row in its consensus cluster (1 = all of them).
    """
    labelings = [np.asarray(labels, dtype=np.int64).ravel() for labels in labelings]
    if not labelings:
        raise DataError("a consensus needs at least one labeling")
    if len({labels.size for labels in labelings}) > 1:
        raise DataError("the labelings of a consensus must label the same rows")
    reference = labelings[medoid(labelings)] if len(labelings) > 2 else labelings[0]
    reference = np.unique(reference, return_inverse=True)[1]  # clusters numbered 0..k-1
    clusters = range(max(n_clusters, int(reference.max()) + 1))
    rounds = 0
    while True:
        rounds += 1
        aligned = np.stack([align(labels, reference) for labels in labelings])
        voted = np.stack([(aligned == cluster).sum(axis=0) for cluster in clusters]).argmax(axis=0)
        if np.array_equal(voted, reference) or rounds == ROUNDS:
            break
        reference = voted
    agreement = (aligned == voted).mean(axis=0)
    return voted, agreement, rounds
