"""Declared metrics, looked up by name."""

from __future__ import annotations

from reportbench.metrics.base import Metric, ScoringInput
from reportbench.metrics.format import JSON_VALID, LENGTH_RATIO
from reportbench.metrics.lexical import BLEU, ROUGE_METRICS

METRICS: dict[str, Metric] = {m.name: m for m in [*ROUGE_METRICS, BLEU, LENGTH_RATIO, JSON_VALID]}

# The per-sample metrics every report task computes.
TASK_METRICS = ("rouge1", "rouge2", "rougeL", "rougeLsum", "bleu", "length_ratio", "json_valid")


def get_metric(name: str) -> Metric:
    try:
        return METRICS[name]
    except KeyError:
        raise KeyError(f"unknown metric {name!r}; available: {', '.join(METRICS)}") from None


def score_sample(sample: ScoringInput, names=TASK_METRICS) -> dict[str, float]:
    return {name: get_metric(name).score(sample) for name in names}


__all__ = ["Metric", "ScoringInput", "METRICS", "TASK_METRICS", "get_metric", "score_sample"]
