"""The declared-metric object shared by lm-eval tasks and offline rescoring."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Mapping, Sequence


@dataclass(frozen=True)
class ScoringInput:
    """One generated report next to its reference case."""

    prediction: str
    reference: str
    json_valid: bool = False
    predicted_title: str = ""
    reference_title: str = ""
    fields: Mapping[str, str] = field(default_factory=dict)  # the case's key fields, for fact metrics

    @classmethod
    def from_case(cls, case: Mapping[str, str], report: str, title: str = "", json_valid: bool = False) -> "ScoringInput":
        """A generated title and report against a case (reference report, reference title, key fields)."""
        from reportbench.cases import KEY_FIELDS

        return cls(
            prediction=report,
            reference=case["event_description"],
            json_valid=json_valid,
            predicted_title=title,
            reference_title=case.get("report_name", ""),
            fields={name: case.get(name, "") for name in KEY_FIELDS},
        )


class MetricUnavailable(RuntimeError):
    """A metric cannot be computed here (e.g. its model is missing); the message says how to fix it."""


@dataclass(frozen=True)
class Metric:
    name: str
    description: str
    # None: neither direction is better (e.g. a ratio whose ideal is 1.0).
    higher_is_better: bool | None
    # Exactly one of sample_fn (one pair at a time) and batch_fn (all pairs in one call).
    sample_fn: Callable[[ScoringInput], float] | None = None
    batch_fn: Callable[[Sequence[ScoringInput]], Sequence[float]] | None = None
    aggregation: str = "mean"
    # Exact library settings, so anyone can recompute the metric without reportbench.
    # A callable is resolved when described, because it may depend on configured model paths.
    settings: dict | Callable[[], dict] = field(default_factory=dict)

    def __post_init__(self):
        if (self.sample_fn is None) == (self.batch_fn is None):
            raise ValueError(f"metric {self.name!r} needs exactly one of sample_fn and batch_fn")

    @property
    def batched(self) -> bool:
        return self.batch_fn is not None

    def score(self, sample: ScoringInput) -> float:
        return self.score_batch([sample])[0]

    def score_batch(self, samples: Sequence[ScoringInput]) -> list[float]:
        if self.batch_fn is not None:
            return [float(v) for v in self.batch_fn(samples)] if samples else []
        return [float(self.sample_fn(sample)) for sample in samples]

    def describe(self) -> dict:
        settings = self.settings() if callable(self.settings) else self.settings
        return {
            "name": self.name,
            "description": self.description,
            "higher_is_better": self.higher_is_better,
            "aggregation": self.aggregation,
            "batched": self.batched,
            "settings": settings,
        }
