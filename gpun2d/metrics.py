"""Clustering accuracy (Hungarian matching), NMI and ARI."""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy.optimize import linear_sum_assignment
from scipy.stats import entropy
from sklearn.metrics import adjusted_rand_score, mutual_info_score, normalized_mutual_info_score
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


def evaluate_table(table: Any) -> dict[str, float]:
    """ACC, NMI and ARI from a contingency table (classes x clusters) instead of the labels.

    For data too large to hold its labels in one place: a Dask reduction counts
    the table. The values equal :func:`evaluate`'s on the same labels (tested
    against scikit-learn); NMI uses scikit-learn's mutual information.
    """
    table = np.asarray(table, dtype=np.int64)
    table = table[table.sum(axis=1) > 0][:, table.sum(axis=0) > 0]
    if table.sum() == 0:
        raise DataError("the contingency table is empty: there are no labelled rows to score")
    rows, cols = linear_sum_assignment(table, maximize=True)
    return {"acc": float(table[rows, cols].sum() / table.sum()), "nmi": _nmi_table(table), "ari": _ari_table(table)}


def _nmi_table(table: np.ndarray) -> float:
    if table.shape[0] == table.shape[1] == 1:
        return 1.0  # scikit-learn's convention: one class and one cluster agree perfectly
    mi = mutual_info_score(None, None, contingency=table)
    if mi == 0:
        return 0.0
    mean_entropy = (entropy(table.sum(axis=1)) + entropy(table.sum(axis=0))) / 2
    return float(mi / max(mean_entropy, np.finfo(np.float64).eps))


def _ari_table(table: np.ndarray) -> float:
    """The adjusted Rand index from pair counts, as scikit-learn's pair confusion matrix forms them."""
    n = int(table.sum())
    squares = int((table.astype(object) ** 2).sum())
    same_both = squares - n
    same_cluster = int((table.astype(object) @ table.sum(axis=0).astype(object)).sum()) - squares
    same_class = int((table.T.astype(object) @ table.sum(axis=1).astype(object)).sum()) - squares
    different_both = n * n - same_cluster - same_class - squares
    if same_cluster == 0 and same_class == 0:
        return 1.0
    return float(2 * (same_both * different_both - same_class * same_cluster)
                 / ((same_both + same_class) * (same_class + different_both)
                    + (same_both + same_cluster) * (same_cluster + different_both)))
