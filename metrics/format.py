"""Length and output-format metrics."""

from __future__ import annotations

import dataclasses
import math
import re

from reportbench.metrics.base import GENERATION, Metric, ScoringInput

# Chatter a model puts before the report itself ("Sure! Here is the report:").
PREAMBLE = re.compile(
    r"^\W*(?:sure|certainly|of course|okay|ok|absolutely|great|here(?:'s| is| are)|below is|the following|"
    r"as requested|i have|i've|i will|i'll|i can|let me|this is (?:a|the) (?:report|json)|report:|title:|json:)\b",
    re.IGNORECASE,
)
LIST_ITEM = re.compile(r"^\s*(?:[-*•]|\d+[.)])\s+", re.MULTILINE)


def word_count(text: str) -> int:
    return len(text.split())


def length_ratio(sample: ScoringInput) -> float:
    """Undefined (NaN, a missing value) for an empty reference: case files refuse one, so only a
    caller's own pairs can have it, and no ratio to nothing would mean anything."""
    words = word_count(sample.reference)
    return word_count(sample.prediction) / words if words else math.nan


def is_single_paragraph(text: str) -> bool:
    """Non-empty prose without blank-line breaks or list items."""
    text = text.strip()
    return bool(text) and not re.search(r"\n\s*\n", text) and not LIST_ITEM.search(text)


def has_preamble(text: str) -> bool:
    return bool(PREAMBLE.match(text.strip()))


LENGTH_RATIO = Metric(
    name="length_ratio",
    description="words in the report / words in the reference report (1.0 = same length)",
    sample_fn=length_ratio,
    higher_is_better=None,
    settings={"words": "str.split() on whitespace"},
)
WORDS = Metric(
    name="words",
    description="words in the report",
    sample_fn=lambda s: word_count(s.prediction),
    higher_is_better=None,
    settings={"words": "str.split() on whitespace"},
)
JSON_VALID = Metric(
    name="json_valid",
    description='1 if the generation held a JSON object with a "report" field, else 0',
    sample_fn=lambda s: 1.0 if s.json_valid else 0.0,
    higher_is_better=True,
    needs=frozenset({GENERATION}),
    summary=True,
    settings={"parser": "reportbench.parsing.parse_report"},
)
TRUNCATED = Metric(
    name="truncated",
    description="1 if the generation is a JSON answer cut off before it closed (its report text is still scored; json_valid is 0), else 0",
    sample_fn=lambda s: 1.0 if s.truncated else 0.0,
    higher_is_better=False,
    needs=frozenset({GENERATION}),
    settings={"parser": "reportbench.parsing.parse_report: truncated = the text opens a JSON object that runs out before it closes"},
)
SINGLE_PARAGRAPH = Metric(
    name="single_paragraph",
    description="1 if the report is one non-empty paragraph (no blank lines, no list items), else 0",
    sample_fn=lambda s: 1.0 if is_single_paragraph(s.prediction) else 0.0,
    higher_is_better=True,
    settings={"blank_line": r"\n\s*\n", "list_item": LIST_ITEM.pattern},
)
PREAMBLE_METRIC = Metric(
    name="preamble",
    description='1 if the report opens with chatter such as "Here is the report", else 0',
    sample_fn=lambda s: 1.0 if has_preamble(s.prediction) else 0.0,
    higher_is_better=False,
    settings={"pattern": PREAMBLE.pattern, "flags": "IGNORECASE"},
)
FORMAT_METRICS = [
    dataclasses.replace(metric, form=True)
    for metric in (JSON_VALID, TRUNCATED, SINGLE_PARAGRAPH, PREAMBLE_METRIC, WORDS, LENGTH_RATIO)
]
