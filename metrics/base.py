"""The declared-metric object shared by lm-eval tasks and offline rescoring."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable


@dataclass(frozen=True)
class ScoringInput:
    """One generated report next to its reference case."""

    prediction: str
    reference: str
    json_valid: bool = False
    predicted_title: str = ""
    reference_title: str = ""


@dataclass(frozen=True)
class Metric:
    name: str
    description: str
    sample_fn: Callable[[ScoringInput], float]
    # None: neither direction is better (e.g. a ratio whose ideal is 1.0).
    higher_is_better: bool | None
    aggregation: str = "mean"
    batched: bool = False
    # Exact library settings, so anyone can recompute the metric without reportbench.
    settings: dict = field(default_factory=dict)

    def score(self, sample: ScoringInput) -> float:
        return float(self.sample_fn(sample))
