"""Clustering accuracy (Hungarian matching), NMI and ARI."""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy.optimize import linear_sum_assignment
from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score
from sklearn.metrics.cluster import contingency_matrix

from .errors import DataError
from .handoff import to_numpy


def _labels(y_true: Any, y_pred: Any) -> tuple[np.ndarray, np.ndarray]:
    y_true, y_pred = to_numpy(y_true).ravel(), to_numpy(y_pred).ravel()
    if y_true.shape != y_pred.shape:
        raise DataError(f"labels have {y_true.size} entries but there are {y_pred.size} predictions")
    return y_true, y_pred


def matching(y_true: Any, y_pred: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The one-to-one matching of clusters to classes under which the most samples agree.

    Returns the contingency table (classes x clusters, each in ``np.unique``
    order) and the matched ``(class_rows, cluster_columns)`` (Hungarian
    algorithm, scipy's ``linear_sum_assignment``).
    """
    y_true, y_pred = _labels(y_true, y_pred)
    table = contingency_matrix(y_true, y_pred)
    rows, cols = linear_sum_assignment(table, maximize=True)
    return table, rows, cols


def cluster_acc(y_true: Any, y_pred: Any) -> float:
    """Accuracy under the best one-to-one matching of clusters to classes (:func:`matching`), as in N2D."""
    table, rows, cols = matching(y_true, y_pred)
    return float(table[rows, cols].sum() / table.sum())


def nmi(y_true: Any, y_pred: Any) -> float:
    """Normalised mutual information (arithmetic normalisation)."""
    return float(normalized_mutual_info_score(*_labels(y_true, y_pred)))


def ari(y_true: Any, y_pred: Any) -> float:
    """Adjusted Rand index."""
    return float(adjusted_rand_score(*_labels(y_true, y_pred)))


def evaluate(y_true: Any, y_pred: Any) -> dict[str, float]:
    """All three scores under the keys ``acc``, ``nmi``, ``ari``."""
    return {"acc": cluster_acc(y_true, y_pred), "nmi": nmi(y_true, y_pred), "ari": ari(y_true, y_pred)}
