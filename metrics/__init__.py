"""The metric registry, and batched scoring of many samples at once.

The registry is the one list of metrics: its order is the order of every table (lm-eval's
`metric_list`, samples columns, summaries, leaderboards). What each metric needs (key fields,
titles, the raw generation, a model), whether the short summary shows it and whether it may be
a default ranking metric are declared on the `Metric` itself; the task YAMLs, `reportbench
score`'s skip rules, summaries and leaderboards are derived from it.

This package is a leaf: it imports nothing from the harness (`reportbench.*` outside
`reportbench.metrics`).
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from dataclasses import dataclass, field

from reportbench.metrics.base import NEEDS, Metric, MetricUnavailable, ScoringInput, is_missing
from reportbench.metrics.facts import FACT_METRICS
from reportbench.metrics.format import FORMAT_METRICS
from reportbench.metrics.judge import JUDGE_METRICS
from reportbench.metrics.lexical import LEXICAL_METRICS, TITLE_ROUGE_L
from reportbench.metrics.options import DEFAULT_OPTIONS, MetricOptions, MetricOptionsError
from reportbench.metrics.semantic import SEMANTIC_METRICS, TITLE_BI_ENCODER

# Semantic, surface, facts, title, format and length, then the (optional) LLM judge.
REGISTRY: tuple[Metric, ...] = (*SEMANTIC_METRICS, *LEXICAL_METRICS, *FACT_METRICS, TITLE_ROUGE_L, TITLE_BI_ENCODER, *FORMAT_METRICS,
                                *JUDGE_METRICS)
METRICS: dict[str, Metric] = {m.name: m for m in REGISTRY}
if len(METRICS) != len(REGISTRY):
    raise RuntimeError("two metrics share a name")
# What every report task computes, in table order.
TASK_METRICS: tuple[str, ...] = tuple(METRICS)
# The short per-task summary table.
SUMMARY_METRICS: tuple[str, ...] = tuple(m.name for m in REGISTRY if m.summary)
# Default ranking metrics, most preferred first.
PRIMARY_PREFERENCE: tuple[str, ...] = tuple(m.name for m in sorted((m for m in REGISTRY if m.primary_rank), key=lambda m: m.primary_rank))


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
    # optional metrics the options did not switch on (also in unavailable, with how to switch them on)
    not_switched_on: set[str] = field(default_factory=set)

    def row(self, index: int) -> dict[str, float]:
        return {name: column[index] for name, column in self.values.items()}


_warned: set[str] = set()


def score_samples(samples: Sequence[ScoringInput], names: Sequence[str] = TASK_METRICS,
                  options: MetricOptions = DEFAULT_OPTIONS) -> Scores:
    """Scores all samples with each metric in one call; a missing model never fails the run."""
    scores = Scores()
    for name in names:
        metric = get_metric(name)
        if not metric.is_on(options):
            scores.unavailable[name] = f"off: {metric.off_hint}"
            scores.not_switched_on.add(name)
            continue
        try:
            scores.values[name] = metric.score_batch(samples, options)
        except MetricUnavailable as err:
            scores.unavailable[name] = str(err)
            if str(err) not in _warned:  # once per process, not once per task
                _warned.add(str(err))
                print(f"reportbench: metric '{name}' unavailable: {err}", file=sys.stderr)
    return scores


def present(row: dict[str, float]) -> dict[str, float]:
    """A row without its missing values (NaN: e.g. a judge answer that could not be read)."""
    return {name: value for name, value in row.items() if not is_missing(value)}


def score_sample(sample: ScoringInput, names: Sequence[str] = TASK_METRICS, options: MetricOptions = DEFAULT_OPTIONS) -> dict[str, float]:
    return score_samples([sample], names, options).row(0)


__all__ = [
    "Metric", "MetricUnavailable", "MetricOptions", "MetricOptionsError", "ScoringInput", "Scores", "METRICS", "NEEDS",
    "REGISTRY", "TASK_METRICS", "SUMMARY_METRICS", "PRIMARY_PREFERENCE", "DEFAULT_OPTIONS", "get_metric",
    "score_samples", "score_sample", "present",
]
