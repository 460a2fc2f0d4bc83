import numpy as np
import pytest
from scipy.stats import bootstrap

from reportbench.metrics.confidence import BOOTSTRAP_RESAMPLES, BOOTSTRAP_SEED, summarize


def test_summary_equals_scipy_bootstrap_and_numpy():
    values = [0.61, 0.72, 0.55, 0.93, 0.81, 0.47, 0.66, 0.7, 0.88, 0.59]
    expected = bootstrap(
        (np.array(values),), np.mean, n_resamples=BOOTSTRAP_RESAMPLES, confidence_level=0.95,
        method="percentile", random_state=np.random.default_rng(BOOTSTRAP_SEED),
    ).confidence_interval
    summary = summarize(values)
    assert summary["n"] == 10
    assert summary["mean"] == pytest.approx(np.mean(values), abs=1e-12)
    assert summary["std"] == pytest.approx(np.std(values, ddof=1), abs=1e-12)
    assert (summary["ci_low"], summary["ci_high"]) == pytest.approx((expected.low, expected.high), abs=1e-12)
    assert summary["ci_low"] < summary["mean"] < summary["ci_high"]
    assert summarize(values) == summary  # seeded: reruns agree


@pytest.mark.parametrize(
    "values, expected",
    [
        ([], {"n": 0, "mean": None, "std": None, "ci_low": None, "ci_high": None}),
        ([0.4], {"n": 1, "mean": 0.4, "std": 0.0, "ci_low": 0.4, "ci_high": 0.4}),
        ([1.0, 1.0, 1.0], {"n": 3, "mean": 1.0, "std": 0.0, "ci_low": 1.0, "ci_high": 1.0}),
    ],
)
def test_degenerate_samples(values, expected):
    assert summarize(values) == expected


def test_missing_values_are_left_out_and_infinite_ones_refused():
    # NaN and None are missing values (a judge answer that could not be read): n counts the rest
    assert summarize([0.1, float("nan"), 0.3, None])["n"] == 2
    assert summarize([float("nan")])["n"] == 0
    with pytest.raises(ValueError, match="non-finite"):
        summarize([0.1, float("inf"), 0.3])
