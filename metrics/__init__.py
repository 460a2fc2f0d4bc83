"""Declared metrics, looked up by name, and batched scoring of many samples at once."""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from typing import Sequence

from reportbench.metrics.base import Metric, MetricUnavailable, ScoringInput
from reportbench.metrics.facts import FACT_METRICS
from reportbench.metrics.format import FORMAT_METRICS
from reportbench.metrics.lexical import LEXICAL_METRICS
from reportbench.metrics.semantic import SEMANTIC_METRICS

METRICS: dict[str, Metric] = {m.name: m for m in [*LEXICAL_METRICS, *SEMANTIC_METRICS, *FACT_METRICS, *FORMAT_METRICS]}

# What every report task computes, in table order.
TASK_METRICS = (
    "cross_encoder",
    "bi_encoder_cosine",
    "bertscore_precision",
    "bertscore_recall",
    "bertscore_f1",
    "bertscore_f1_rescaled",
    "rouge1",
    "rouge2",
    "rougeL",
    "rougeLsum",
    "bleu",
    "fact_recall",
    "hallucinated_facts",
    "title_rougeL",
    "title_bi_encoder",
    "json_valid",
    "single_paragraph",
    "preamble",
    "words",
    "length_ratio",
)


def get_metric(name: str) -> Metric:
    try:
        return METRICS[name]
    except KeyError:
        raise KeyError(f"unknown metric {name!r}; available: {', '.join(METRICS)}") from None


@dataclass
class Scores:
    """Per-sample values by metric, plus the metrics that could not be computed and why."""

    values: dict[str, list[float]] = field(default_factory=dict)
    unavailable: dict[str, str] = field(default_factory=dict)

    def row(self, index: int) -> dict[str, float]:
        return {name: column[index] for name, column in self.values.items()}


_warned: set[str] = set()


def score_samples(samples: Sequence[ScoringInput], names: Sequence[str] = TASK_METRICS) -> Scores:
    """Scores all samples with each metric in one call; a missing model never fails the run."""
    scores = Scores()
    for name in names:
        metric = get_metric(name)
        try:
            scores.values[name] = metric.score_batch(samples)
        except MetricUnavailable as err:
            scores.unavailable[name] = str(err)
            if str(err) not in _warned:  # once per process, not once per task
                _warned.add(str(err))
                print(f"reportbench: metric '{name}' unavailable: {err}", file=sys.stderr)
    return scores


def score_sample(sample: ScoringInput, names: Sequence[str] = TASK_METRICS) -> dict[str, float]:
    return score_samples([sample], names).row(0)


__all__ = ["Metric", "MetricUnavailable", "ScoringInput", "Scores", "METRICS", "TASK_METRICS", "get_metric", "score_samples", "score_sample"]
