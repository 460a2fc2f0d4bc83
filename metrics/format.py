"""Length and output-format metrics."""

from __future__ import annotations

from reportbench.metrics.base import Metric, ScoringInput


def word_count(text: str) -> int:
    return len(text.split())


def length_ratio(sample: ScoringInput) -> float:
    # References are validated non-empty; the guard keeps odd user data from dividing by zero.
    return word_count(sample.prediction) / max(word_count(sample.reference), 1)


LENGTH_RATIO = Metric(
    name="length_ratio",
    description="words in the report / words in the reference report (1.0 = same length)",
    sample_fn=length_ratio,
    higher_is_better=None,
    settings={"words": "str.split() on whitespace"},
)

JSON_VALID = Metric(
    name="json_valid",
    description='1 if the generation held a JSON object with a "report" field, else 0',
    sample_fn=lambda s: 1.0 if s.json_valid else 0.0,
    higher_is_better=True,
    settings={"parser": "reportbench.parsing.parse_report"},
)
