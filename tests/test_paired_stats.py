"""The paired statistics of `reportbench compare`, checked against scipy and against hand-computed values."""

import numpy as np
import pytest
from scipy import stats

from reportbench.metrics.confidence import paired_difference


def correlated_pairs(n=40, seed=0):
    rng = np.random.default_rng(seed)
    case_difficulty = rng.uniform(0.2, 0.9, n)  # shared by both runs: what pairing removes
    a = case_difficulty + rng.normal(0, 0.02, n)
    b = case_difficulty + 0.03 + rng.normal(0, 0.02, n)
    return a, b


def test_ci_is_scipys_paired_bootstrap_of_the_mean_difference():
    a, b = correlated_pairs()
    result = paired_difference(a, b, resamples=5000, seed=7)
    expected = stats.bootstrap((a, b), lambda x, y, axis: np.mean(y - x, axis=axis), paired=True, vectorized=True,
                               n_resamples=5000, method="percentile", random_state=np.random.default_rng(7)).confidence_interval
    assert result["ci_low"] == pytest.approx(expected.low, abs=1e-12)
    assert result["ci_high"] == pytest.approx(expected.high, abs=1e-12)
    assert result["mean_diff"] == pytest.approx(np.mean(b - a))


def test_ci_agrees_with_a_plain_resampling_of_cases():
    a, b = correlated_pairs()
    rng = np.random.default_rng(0)
    index = rng.integers(0, len(a), size=(20000, len(a)))
    means = (b[index] - a[index]).mean(axis=1)
    result = paired_difference(a, b)
    assert result["ci_low"] == pytest.approx(np.percentile(means, 2.5), abs=0.002)
    assert result["ci_high"] == pytest.approx(np.percentile(means, 97.5), abs=0.002)


def test_pairing_narrows_the_interval_compared_with_an_unpaired_bootstrap():
    a, b = correlated_pairs()
    paired = paired_difference(a, b)
    unpaired = stats.bootstrap((a, b), lambda x, y, axis: np.mean(y, axis=axis) - np.mean(x, axis=axis), paired=False,
                               vectorized=True, method="percentile", random_state=np.random.default_rng(0)).confidence_interval
    assert paired["ci_low"] > 0  # the paired test sees the +0.03 shift
    assert unpaired.low < 0 < unpaired.high  # between-case spread hides it from an unpaired test
    assert paired["ci_high"] - paired["ci_low"] < (unpaired.high - unpaired.low) / 5


def test_wilcoxon_p_value_is_scipys():
    a, b = correlated_pairs()
    result = paired_difference(a, b)
    expected = stats.wilcoxon(b, a)
    assert result["wilcoxon_p"] == pytest.approx(expected.pvalue, rel=1e-12)
    assert result["wilcoxon_statistic"] == pytest.approx(expected.statistic)


def test_hand_computed_exact_wilcoxon():
    # Five positive differences: the exact two-sided p is 2 * (1/2)^5 = 0.0625.
    result = paired_difference([1, 2, 3, 4, 5], [2, 4, 6, 8, 10])
    assert result["wilcoxon_p"] == pytest.approx(0.0625)
    assert (result["wins"], result["ties"], result["losses"]) == (5, 0, 0)
    assert result["mean_a"] == 3 and result["mean_b"] == 6 and result["mean_diff"] == 3


def test_wins_follow_the_metric_direction_and_tie_margin():
    a = [0.50, 0.50, 0.50, 0.50]
    b = [0.60, 0.40, 0.50, 0.505]
    higher = paired_difference(a, b, higher_is_better=True)
    lower = paired_difference(a, b, higher_is_better=False)
    assert (higher["wins"], higher["ties"], higher["losses"]) == (2, 1, 1)
    assert (lower["wins"], lower["ties"], lower["losses"]) == (1, 1, 2)
    margin = paired_difference(a, b, tie_margin=0.01)
    assert (margin["wins"], margin["ties"], margin["losses"]) == (1, 2, 1)


def test_identical_runs_have_no_difference():
    result = paired_difference([0.2, 0.4, 0.6], [0.2, 0.4, 0.6])
    assert result["mean_diff"] == 0 and result["ci_low"] == result["ci_high"] == 0
    assert result["wilcoxon_p"] == 1.0 and result["ties"] == 3


def test_bad_input_is_refused():
    with pytest.raises(ValueError, match="same length"):
        paired_difference([1, 2], [1, 2, 3])
    with pytest.raises(ValueError, match="non-finite"):
        paired_difference([1, float("nan")], [1, 2])
