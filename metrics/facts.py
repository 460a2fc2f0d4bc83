"""Key facts of a case: the dates, times, reference IDs, quantities, numbers and person
names written in its seven fields, and which of them a report leaves out.

Used by `reportbench data check-facts` on reference reports and, later, as the
fact-recall metric on generated reports.  Matching is verbatim after Unicode and
whitespace normalisation, so "14 March 2025" is not found as "2025-03-14".
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache

from reportbench.metrics.base import FIELDS, Metric
from reportbench.metrics.schema import KEY_FIELDS

_MONTHS = (
    r"(?:January|February|March|April|May|June|July|August|September|October|November|December"
    r"|Jan|Feb|Mar|Apr|Jun|Jul|Aug|Sep|Sept|Oct|Nov|Dec)\.?"
)
_UNITS = (
    r"°C|°F|%RH|%|‰|ppm|ppb|kg|mg/100 ?ml|mg/l|mg/L|mg/kg|mg|µg|ug|g/L|g|ml|mL|µL|L|l|bar|mbar|psi|kPa|Pa"
    r"|km/h|mph|kph|km|cm|mm|µm|m|minutes|minute|mins|min|hours|hour|hrs|h|seconds|second|s|days|day|weeks|week"
    r"|months|month|years|year|CFU(?:/m³|/m3|/plate)?|rpm|kN|N|kWh|kW|V|A|metres|meters|metre|meter|tonnes|tons|t"
)
# Units and how they are written out ("km/h" -> "kilometres per hour"): a report may use either.
UNIT_WORDS = {
    "kg": "kilograms", "g": "grams", "mg": "milligrams", "µg": "micrograms", "t": "tonnes",
    "ml": "millilitres", "l": "litres", "km": "kilometres", "m": "metres", "cm": "centimetres", "mm": "millimetres",
    "h": "hours", "hr": "hours", "hrs": "hours", "min": "minutes", "mins": "minutes", "s": "seconds", "sec": "seconds",
    "km/h": "kilometres per hour", "kph": "kilometres per hour", "mph": "miles per hour", "%": "per cent",
    "°C": "degrees Celsius", "°F": "degrees Fahrenheit", "rpm": "revolutions per minute",
}
# One alternation, longest forms first, so a date is never also read as an ID or two numbers.
_FACT_PATTERN = re.compile(
    rf"""
    (?P<date>
        \b\d{{4}}-\d{{2}}-\d{{2}}\b
      | \b\d{{1,2}}(?:st|nd|rd|th)?\s+{_MONTHS},?\s+\d{{4}}\b
      | \b{_MONTHS}\s+\d{{1,2}}(?:st|nd|rd|th)?,?\s+\d{{4}}\b
      | \b\d{{1,2}}[./]\d{{1,2}}[./]\d{{4}}\b
    )
  | (?P<time>\b(?:[01]?\d|2[0-3]):[0-5]\d(?::[0-5]\d)?(?:\s?[ap]\.?m\.?)?(?!\w|:\d))
  | (?P<id>
        \b(?=[\w./-]*\d)(?=[\w.]*[-/])[A-Za-z0-9]+(?:[-/.][A-Za-z0-9]+)+\b
      | \b(?=\w*\d)(?=\w*[A-Z])[A-Z0-9]{{2,}}\b
    )
  | (?P<quantity>(?<![\w.,])\d+(?:[.,]\d+)*\s?(?:{_UNITS})(?![\w]))
  | (?P<number>(?<![\w.,])\d+(?:[.,]\d+)*(?![\w]))
    """,
    re.VERBOSE,
)
# Small counts written as words ("three repeat media fills"); index = value.
NUMBER_WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven", "twelve")
_TITLES = r"(?:Dr\.?|Prof\.?|Mr\.?|Mrs\.?|Ms\.?|PC|DC|Sgt\.?|Sergeant|Officer|Inspector|Constable|Det\.?|Agente|Cpl\.?|Lt\.?|Capt\.?)"
NAME_WORD = r"[A-ZÀ-ÖØ-Þ][\w'’.-]*"
NAME_PARTICLE = r"(?:de|da|do|dos|das|del|della|di|du|la|le|van|von|der|den|ter|bin|binti|al|el|y|e)"
_PERSON = re.compile(rf"^(?:{_TITLES}\s+)*(?P<name>{NAME_WORD}(?:\s+(?:{NAME_PARTICLE}\s+)*{NAME_WORD})+)$")


@dataclass(frozen=True)
class Fact:
    kind: str  # date | time | id | quantity | number | name
    text: str  # as written in the field
    field: str


def normalise(text: str) -> str:
    text = unicodedata.normalize("NFKC", text)
    text = re.sub(r"[\u2010-\u2015\u2212]", "-", text)  # dash variants
    text = text.replace("’", "'")
    return re.sub(r"\s+", " ", text).strip().casefold()


def person_names(who: str) -> list[str]:
    """Names in a 'who' field such as "Dr. Ana Silva (QA officer) - opened the deviation; ..."."""
    names = []
    for part in re.split(r"[;\n]", who):
        head = re.split(r"\s*(?:\(|,|:|\s[-–—]\s)", part.strip(), maxsplit=1)[0].strip()
        match = _PERSON.match(head)
        if match:
            names.append(match.group("name"))
    return names


@lru_cache(maxsize=4096)
def fact_spans(text: str) -> tuple[tuple[str, int, int], ...]:
    """(kind, start, end) of every date, time, ID, quantity and number written in a text.

    Cached: damaging and marking texts scan the same reference many times."""
    return tuple((m.lastgroup, m.start(), m.end()) for m in _FACT_PATTERN.finditer(text or ""))


def facts_in_text(text: str, field: str = "") -> list[Fact]:
    """Dates, times, IDs, quantities and numbers written in one text."""
    return [Fact(m.lastgroup, m.group().strip(), field) for m in _FACT_PATTERN.finditer(text or "")]


def extract_facts(case: dict) -> list[Fact]:
    facts: dict[tuple[str, str], Fact] = {}
    for field in KEY_FIELDS:
        text = case.get(field) or ""
        for fact in facts_in_text(text, field):
            facts.setdefault((fact.kind, normalise(fact.text)), fact)
        if field == "who":
            for name in person_names(text):
                facts.setdefault(("name", normalise(name)), Fact("name", name, field))
    return list(facts.values())


def _found(fact: Fact, report_norm: str) -> bool:
    needle = normalise(fact.text)
    if fact.kind == "quantity":  # "8.4 °C" and "8.4°C" are the same quantity
        number, unit = re.match(r"([\d.,]+)\s?(.*)", needle).groups()
        pattern = rf"(?<![\w.,]){re.escape(number)}\s?{re.escape(unit)}(?!\w)"
        return re.search(pattern, report_norm) is not None
    if fact.kind in ("number", "id", "time"):  # whole tokens: "12" is not found inside "2012"
        return re.search(rf"(?<![\w.,]){re.escape(needle)}(?![\w]|[.,]\d)", report_norm) is not None
    return needle in report_norm


def missing_facts(case: dict, report: str) -> list[Fact]:
    report_norm = normalise(report or "")
    return [fact for fact in extract_facts(case) if not _found(fact, report_norm)]


def fact_recall(case: dict, report: str) -> float:
    facts = extract_facts(case)
    if not facts:
        return 1.0
    return 1.0 - len(missing_facts(case, report)) / len(facts)


def invented_facts(case: dict, report: str) -> list[Fact]:
    """Numbers, dates, times and IDs of the report that appear in none of the key fields."""
    fields_norm = normalise(" \n ".join(case.get(field) or "" for field in KEY_FIELDS))
    seen, invented = set(), []
    for fact in facts_in_text(report, "report"):
        key = (fact.kind, normalise(fact.text))
        if key not in seen and not _found(fact, fields_norm):
            invented.append(fact)
        seen.add(key)
    return invented


FACT_RECALL = Metric(
    name="fact_recall",
    description="share of the key facts of the fields (dates, times, IDs, quantities, numbers, names) found in the report",
    sample_fn=lambda s: fact_recall(s.fields, s.prediction),
    higher_is_better=True,
    needs=frozenset({FIELDS}),
    summary=True,
    # the default ranking metric: of the metrics that catch a changed fact in a near-copy of the
    # reference, the one that best orders real outputs as readers do (metrics/validity.json; tested)
    primary_rank=1,
    settings={"extractor": "reportbench.metrics.facts.extract_facts", "matching": "verbatim after NFKC, dash and space normalisation, case-insensitive"},
)
HALLUCINATED_FACTS = Metric(
    name="hallucinated_facts",
    description="count of distinct numbers, dates, times and IDs in the report that appear in none of the key fields",
    sample_fn=lambda s: len(invented_facts(s.fields, s.prediction)),
    higher_is_better=False,
    needs=frozenset({FIELDS}),
    settings={"extractor": "reportbench.metrics.facts.facts_in_text", "matching": "as fact_recall, against all seven fields"},
)
FACT_METRICS = [FACT_RECALL, HALLUCINATED_FACTS]
