"""Correlation of per-sample metrics: shared by `metrics correlate` and the leaderboard heatmap."""

from __future__ import annotations

import numpy as np


def varying_metrics(table):
    """The metric columns every sample has and that vary: a constant metric (e.g. json_valid all 1) has no correlation."""
    return table.loc[:, table.notna().all() & (table.nunique() > 1)]


def can_correlate(table) -> bool:
    return table.shape[1] >= 2 and len(table) >= 3


def pca_loadings(table) -> tuple[np.ndarray, np.ndarray]:
    """Loadings of the standardised metrics on the first two principal components, and explained variance."""
    standardised = (table - table.mean()) / table.std(ddof=0)
    _, singular, components = np.linalg.svd(standardised.to_numpy(), full_matrices=False)
    explained = singular**2 / np.sum(singular**2)
    loadings = components[:2].T * singular[:2] / np.sqrt(len(table))
    return loadings, explained[:2]
