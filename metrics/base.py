"""The declared-metric object shared by lm-eval tasks and offline rescoring."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from reportbench.metrics.schema import KEY_FIELDS, REFERENCE_FIELD, TITLE_FIELD

if TYPE_CHECKING:
    from reportbench.metrics.options import MetricOptions

# What a metric may need beyond a report and its reference.
FIELDS = "fields"  # the case's seven key fields
TITLES = "titles"  # a generated title and the reference title
GENERATION = "generation"  # the raw generation, not just the report parsed out of it
MODEL = "model"  # a model (loaded per the metric options); unavailable when it cannot load
NEEDS = {
    FIELDS: "the seven key fields",
    TITLES: "a generated title and report_name",
    GENERATION: "raw generations (a 'generation' column or lm-eval samples)",
    MODEL: "a metric model",
}
ARROWS = {True: "↑", False: "↓", None: ""}
# What a similarity metric gives when either text it compares is empty (or only whitespace), for every
# similarity metric alike: nothing was said, so nothing is similar (an embedding of "" would still give a
# spurious cosine, and empty vs empty would otherwise be 1.0 for one metric and 0.0 for another).
EMPTY_SIMILARITY = 0.0


@dataclass(frozen=True)
class ScoringInput:
    """One generated report next to its reference case."""

    prediction: str
    reference: str
    json_valid: bool = False
    predicted_title: str = ""
    reference_title: str = ""
    fields: Mapping[str, str] = field(default_factory=dict)  # the case's key fields, for fact metrics
    truncated: bool = False  # a JSON answer cut off before it closed (e.g. by the token limit)

    @classmethod
    def from_case(cls, case: Mapping[str, str], report: str, title: str = "", json_valid: bool = False,
                  truncated: bool = False) -> ScoringInput:
        """A generated title and report against a case (reference report, reference title, key fields)."""
        return cls(
            prediction=report,
            reference=case[REFERENCE_FIELD],
            json_valid=json_valid,
            truncated=truncated,
            predicted_title=title,
            reference_title=case.get(TITLE_FIELD, ""),
            fields={name: case.get(name, "") for name in KEY_FIELDS},
        )


def is_missing(value) -> bool:
    """None or NaN: a value that is not there (e.g. a judge answer that could not be read)."""
    return value is None or (isinstance(value, float) and math.isnan(value))


class MetricUnavailable(RuntimeError):
    """A metric cannot be computed here (e.g. its model is missing); the message says how to fix it."""


@dataclass(frozen=True)
class Metric:
    name: str
    description: str
    # None: neither direction is better (e.g. a ratio whose ideal is 1.0).
    higher_is_better: bool | None
    # Exactly one of sample_fn (one pair at a time) and batch_fn (all pairs in one call, with the options).
    sample_fn: Callable[[ScoringInput], float] | None = None
    batch_fn: Callable[[Sequence[ScoringInput], MetricOptions], Sequence[float]] | None = None
    aggregation: str = "mean"
    # What the metric reads besides report and reference: a subset of NEEDS.
    needs: frozenset[str] = frozenset()
    # Shown in the short per-task summary table of `reportbench lm-eval`.
    summary: bool = False
    # Default ranking metric of leaderboards and comparisons: the lowest rank present in every sample wins.
    primary_rank: int | None = None
    # A check of the output's form (JSON, paragraphs, length), not of what it says; the
    # metric-validity audit, which damages content, leaves it out.
    form: bool = False
    # An optional metric (the LLM judge): on only when this says its options switch it on; otherwise
    # it is not computed and not warned about. None: always on.
    switched_on_by: Callable[[MetricOptions], bool] | None = None
    off_hint: str = ""  # how to switch it on
    # Exact library settings, so anyone can recompute the metric without reportbench. A callable
    # receives the metric options, since the models they name change the settings.
    settings: dict | Callable[[MetricOptions], dict] = field(default_factory=dict)
    # A similarity of two texts (the ScoringInput attributes named by ``compares``): EMPTY_SIMILARITY
    # when either is empty, without asking the library.
    similarity: bool = False
    compares: tuple[str, str] = ("prediction", "reference")
    # The metric's range; library values outside it by float rounding (a cosine of 1.0000002) are clipped.
    bounds: tuple[float, float] | None = None

    def __post_init__(self):
        if (self.sample_fn is None) == (self.batch_fn is None):
            raise ValueError(f"metric {self.name!r} needs exactly one of sample_fn and batch_fn")
        unknown = set(self.needs) - set(NEEDS)
        if unknown:
            raise ValueError(f"metric {self.name!r}: unknown needs {sorted(unknown)}; known: {', '.join(NEEDS)}")

    def is_on(self, options: MetricOptions) -> bool:
        return self.switched_on_by is None or bool(self.switched_on_by(options))

    @property
    def batched(self) -> bool:
        return self.batch_fn is not None

    @property
    def arrow(self) -> str:
        """↑, ↓ or '' (no better direction)."""
        return ARROWS[self.higher_is_better]

    def score(self, sample: ScoringInput, options: MetricOptions | None = None) -> float:
        return self.score_batch([sample], options)[0]

    def score_batch(self, samples: Sequence[ScoringInput], options: MetricOptions | None = None) -> list[float]:
        from reportbench.metrics.options import DEFAULT_OPTIONS

        if not samples:
            return []
        if not self.similarity:
            return self._clipped(self._compute(samples, options or DEFAULT_OPTIONS))
        left, right = self.compares
        scored = [i for i, s in enumerate(samples) if getattr(s, left).strip() and getattr(s, right).strip()]
        values = [EMPTY_SIMILARITY] * len(samples)
        if scored:
            for i, value in zip(scored, self._compute([samples[i] for i in scored], options or DEFAULT_OPTIONS)):
                values[i] = value
        return self._clipped(values)

    def _compute(self, samples: Sequence[ScoringInput], options: MetricOptions) -> list[float]:
        if self.batch_fn is not None:
            return [float(v) for v in self.batch_fn(samples, options)]
        return [float(self.sample_fn(sample)) for sample in samples]

    def _clipped(self, values: list[float]) -> list[float]:
        if self.bounds is None:
            return values
        low, high = self.bounds
        return [v if math.isnan(v) else min(max(v, low), high) for v in values]

    def describe(self, options: MetricOptions | None = None) -> dict:
        from reportbench.metrics.options import DEFAULT_OPTIONS

        settings = self.settings(options or DEFAULT_OPTIONS) if callable(self.settings) else self.settings
        return {
            "name": self.name,
            "description": self.description,
            "higher_is_better": self.higher_is_better,
            "aggregation": self.aggregation,
            "batched": self.batched,
            "needs": sorted(self.needs),
            "settings": settings,
            **({"empty_text": f"{EMPTY_SIMILARITY} when {' or '.join(self.compares)} is empty"} if self.similarity else {}),
            **({"range": list(self.bounds)} if self.bounds else {}),
        }
