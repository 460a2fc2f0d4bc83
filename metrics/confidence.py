"""n, mean, std and a 95% bootstrap confidence interval for one metric's per-sample values.

lm-eval reports stderr "N/A" for custom aggregations, so reportbench computes its own.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from reportbench.metrics.base import is_missing

BOOTSTRAP_RESAMPLES = 2000
BOOTSTRAP_SEED = 1234
CONFIDENCE = 0.95


def summarize(values: Sequence[float], resamples: int = BOOTSTRAP_RESAMPLES, seed: int = BOOTSTRAP_SEED) -> dict:
    """Percentile bootstrap of the mean (scipy.stats.bootstrap), seeded so reruns agree."""
    from scipy.stats import bootstrap

    # None and NaN are missing values (e.g. a judge answer that could not be read), left out
    data = np.asarray([v for v in values if not is_missing(v)], dtype=float)
    n = int(data.size)
    if n == 0:
        return {"n": 0, "mean": None, "std": None, "ci_low": None, "ci_high": None}
    mean = float(data.mean())
    std = float(data.std(ddof=1)) if n > 1 else 0.0
    if n == 1 or np.all(data == data[0]):
        low = high = mean  # no spread to resample
    else:
        result = bootstrap(
            (data,), np.mean, n_resamples=resamples, confidence_level=CONFIDENCE,
            method="percentile", random_state=np.random.default_rng(seed),
        )
        low, high = float(result.confidence_interval.low), float(result.confidence_interval.high)
    if not all(math.isfinite(x) for x in (mean, std, low, high)):
        raise ValueError("non-finite metric values cannot be summarized")
    return {"n": n, "mean": mean, "std": std, "ci_low": low, "ci_high": high}


SUMMARY_SETTINGS = {
    "library": "scipy.stats.bootstrap",
    "statistic": "mean",
    "method": "percentile",
    "confidence_level": CONFIDENCE,
    "n_resamples": BOOTSTRAP_RESAMPLES,
    "random_state": f"numpy.random.default_rng({BOOTSTRAP_SEED})",
    "std": "sample standard deviation (ddof=1)",
}


def paired_difference(a: Sequence[float], b: Sequence[float], higher_is_better: bool = True,
                      resamples: int = 10_000, seed: int = BOOTSTRAP_SEED, tie_margin: float = 0.0) -> dict:
    """B minus A over the same cases: mean difference, paired bootstrap CI, Wilcoxon signed-rank p, wins/ties/losses.

    The bootstrap resamples cases, keeping each case's two scores together (scipy.stats.bootstrap,
    paired=True); an unpaired test would ignore that both runs saw the same case. Wins count the
    cases where B is better in the metric's direction by more than tie_margin.
    """
    from scipy.stats import bootstrap, wilcoxon

    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if a.shape != b.shape or a.ndim != 1:
        raise ValueError("paired values need two sequences of the same length")
    if not (np.isfinite(a).all() and np.isfinite(b).all()):
        raise ValueError("non-finite metric values cannot be compared")
    n = int(a.size)
    diff = b - a
    better = diff if higher_is_better else -diff
    result = {
        "n": n, "mean_a": float(a.mean()) if n else None, "mean_b": float(b.mean()) if n else None,
        "mean_diff": float(diff.mean()) if n else None,
        "wins": int((better > tie_margin).sum()), "ties": int((np.abs(diff) <= tie_margin).sum()),
        "losses": int((better < -tie_margin).sum()),
    }
    if n < 2 or np.all(diff == diff[0]):
        low = high = result["mean_diff"]  # nothing to resample
    else:
        ci = bootstrap((a, b), lambda x, y, axis=-1: np.mean(y - x, axis=axis), paired=True, vectorized=True,
                       n_resamples=resamples, confidence_level=CONFIDENCE, method="percentile",
                       random_state=np.random.default_rng(seed)).confidence_interval
        low, high = float(ci.low), float(ci.high)
    if n == 0 or np.all(diff == 0):
        statistic, p_value = None, 1.0  # identical scores: no evidence of a difference
    else:
        test = wilcoxon(b, a, zero_method="wilcox", alternative="two-sided")
        statistic, p_value = float(test.statistic), float(test.pvalue)
    return result | {"ci_low": low, "ci_high": high, "wilcoxon_statistic": statistic, "wilcoxon_p": p_value}


PAIRED_SETTINGS = {
    "difference": "B - A per case",
    "ci": f"scipy.stats.bootstrap(paired=True, method='percentile', confidence_level={CONFIDENCE}), seeded",
    "p_value": "scipy.stats.wilcoxon(B, A, zero_method='wilcox', two-sided): zero differences are dropped",
}


def holm(p_values: Sequence[float]) -> list[float]:
    """Holm-adjusted p-values (family-wise error), for tables that show several tests at once."""
    from statsmodels.stats.multitest import multipletests

    if len(p_values) == 0:
        return []
    return [float(p) for p in multipletests(np.asarray(p_values, dtype=float), method="holm")[1]]
