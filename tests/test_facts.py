import json
from pathlib import Path

import pytest

from reportbench.cases import KEY_FIELDS
from reportbench.metrics.facts import Fact, extract_facts, fact_recall, missing_facts

HERE = Path(__file__).parent / "fact_cases"
EXTRACTION = json.loads((HERE / "extraction.json").read_text())
MATCHING = json.loads((HERE / "matching.json").read_text())


def case_with(field: str, text: str) -> dict:
    return {name: (text if name == field else "") for name in KEY_FIELDS}


@pytest.mark.parametrize("example", EXTRACTION, ids=[e["text"][:40] for e in EXTRACTION])
def test_extract_facts(example):
    facts = extract_facts(case_with(example["field"], example["text"]))
    assert [[f.kind, f.text] for f in facts] == example["facts"]
    assert all(f.field == example["field"] for f in facts)


@pytest.mark.parametrize("example", MATCHING, ids=[f"{m['fact'][1]}|{m['report'][:25]}" for m in MATCHING])
def test_fact_matching_in_report(example):
    kind, text = example["fact"]
    field = {"date": "when", "time": "when", "name": "who"}.get(kind, "what")
    case = case_with(field, text if kind != "name" else f"{text} (operator)")
    (fact,) = extract_facts(case)
    assert fact == Fact(kind, text, field)
    assert (missing_facts(case, example["report"]) == []) is example["found"]


def test_fact_recall_counts_shared_facts():
    case = case_with("what", "DEV-2025-0001 at 8.4 °C for 45 minutes and TK-9")
    assert fact_recall(case, "DEV-2025-0001 reached 8.4 °C; TK-9") == pytest.approx(0.75)
    assert fact_recall(case, "") == 0.0
    assert fact_recall(case_with("what", "no facts here"), "anything") == 1.0
