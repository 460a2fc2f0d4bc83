"""n, mean, std and a 95% bootstrap confidence interval for one metric's per-sample values.

lm-eval reports stderr "N/A" for custom aggregations, so reportbench computes its own.
"""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np

BOOTSTRAP_RESAMPLES = 2000
BOOTSTRAP_SEED = 1234
CONFIDENCE = 0.95


def summarize(values: Sequence[float], resamples: int = BOOTSTRAP_RESAMPLES, seed: int = BOOTSTRAP_SEED) -> dict:
    """Percentile bootstrap of the mean (scipy.stats.bootstrap), seeded so reruns agree."""
    from scipy.stats import bootstrap

    data = np.asarray([v for v in values if v is not None], dtype=float)
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
