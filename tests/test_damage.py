"""Controlled damage: each class edits one thing of the kind it names, and the controls keep the facts."""

from __future__ import annotations

import difflib
import random
from collections import Counter

import pytest

from reportbench.cases import read_cases
from reportbench.damage import CONTROL_CLASSES, DAMAGE_CLASSES, CaseContext, control, damage, sentences
from reportbench.metrics.facts import facts_in_text, normalise, person_names
from reportbench.paths import packaged_data_dir

CASES = read_cases(packaged_data_dir() / "pharma.jsonl") + read_cases(packaged_data_dir() / "traffic.jsonl")


def _changed_spans(a: str, b: str) -> list[tuple[str, str]]:
    words_a, words_b = a.split(), b.split()
    matcher = difflib.SequenceMatcher(a=words_a, b=words_b, autojunk=False)
    return [(" ".join(words_a[i1:i2]), " ".join(words_b[j1:j2])) for op, i1, i2, j1, j2 in matcher.get_opcodes() if op != "equal"]


def _edits(kind: str, seeds=range(3)):
    for index, case in enumerate(CASES):
        context = CaseContext(case, CASES)
        for seed in seeds:
            edit = damage(case["event_description"], kind, context, random.Random(f"{seed}:{index}"))
            if edit is not None:
                yield case, edit


@pytest.mark.parametrize("kind,fact_kinds", [("date", {"date"}), ("time", {"time"}), ("number", {"quantity", "number"}), ("id", {"id"})])
def test_a_fact_change_edits_exactly_one_fact_of_its_kind(kind, fact_kinds):
    count = 0
    for case, edit in _edits(kind):
        before = Counter((f.kind, normalise(f.text)) for f in facts_in_text(case["event_description"]))
        after = Counter((f.kind, normalise(f.text)) for f in facts_in_text(edit.text))
        removed = list((before - after).elements())
        assert removed and {k for k, _ in removed} <= fact_kinds, (case["id"], edit.change)
        assert len(_changed_spans(case["event_description"], edit.text)) == 1, (case["id"], edit.change)
        count += 1
    assert count >= 0.9 * 3 * len(CASES) if kind in ("date", "id") else count > len(CASES)


def test_name_change_brings_in_a_person_from_another_case_and_swap_keeps_the_people():
    for case, edit in _edits("name", seeds=[0]):
        old, new = edit.change.split(" -> ")
        assert old in person_names(case["who"]) and new not in person_names(case["who"]) and old not in edit.text
    for case, edit in _edits("swap", seeds=[0]):
        first, second = edit.change.split(" <-> ")
        swapped_back = edit.text.replace(first, "\x00").replace(second, first).replace("\x00", second)
        assert swapped_back == case["event_description"] != edit.text


def test_omission_only_deletes_and_invention_only_adds():
    for case, edit in _edits("omission", seeds=[0]):
        reference = case["event_description"]
        for old, new in _changed_spans(reference, edit.text):
            assert len(new.split()) <= 1 and len(old) > len(new), (case["id"], old, new)  # deletion (+ a moved full stop)
        assert len(edit.text) < len(reference)
    for case, edit in _edits("invented", seeds=[0]):
        added = edit.change.removeprefix("added: ")
        assert edit.text.replace(added, "").split() == case["event_description"].split()


def test_negation_changes_one_short_span_and_other_case_is_a_different_report():
    for case, edit in _edits("negation", seeds=[0]):
        spans = _changed_spans(case["event_description"], edit.text)
        assert len(spans) == 1 and len(spans[0][1].split()) <= 4, (case["id"], spans)
    for case, edit in _edits("other_case", seeds=[0]):
        assert edit.text != case["event_description"] and edit.change.split()[-1].split("-")[0] == case["id"].split("-")[0]


def test_every_reversal_is_a_literal_phrase_between_word_boundaries():
    """_negate scans a text for a reversal only when the text holds its phrase: exact only for such patterns."""
    import re

    from reportbench.damage import _REVERSAL_PATTERNS, _REVERSALS

    assert len(_REVERSAL_PATTERNS) == len(_REVERSALS)
    for phrase, pattern, _ in _REVERSAL_PATTERNS:
        assert re.fullmatch(r"[A-Za-z]+( [A-Za-z]+)*", phrase) and pattern.pattern == rf"\b{phrase}\b", pattern.pattern


def test_every_class_applies_to_most_cases_and_is_deterministic():
    for kind in DAMAGE_CLASSES:
        applicable = sum(1 for _ in _edits(kind, seeds=[0]))
        assert applicable >= 0.85 * len(CASES), (kind, applicable)
    case = CASES[0]
    context = CaseContext(case, CASES)
    first = [damage(case["event_description"], k, context, random.Random(7)) for k in DAMAGE_CLASSES]
    again = [damage(case["event_description"], k, context, random.Random(7)) for k in DAMAGE_CLASSES]
    assert first == again


def test_controls_keep_every_fact_and_sentence():
    for index, case in enumerate(CASES):
        reference = case["event_description"]
        order = control(reference, "sentence_order", random.Random(index))
        if order is not None:
            assert sorted(sentences(order.text)) == sorted(sentences(reference))
        dates = control(reference, "date_time_format", random.Random(index))
        if dates is not None:  # every non-date, non-time fact still verbatim
            kept = [f.text for f in facts_in_text(reference) if f.kind not in ("date", "time")]
            assert all(text in dates.text for text in kept), case["id"]
    with pytest.raises(ValueError, match="unknown control"):
        control("x", "shuffle", random.Random(0))
    assert set(CONTROL_CLASSES) == {"date_time_format", "number_format", "sentence_order"}


def test_date_and_time_formats():
    edit = control("On 2025-02-11 at 09:25 and on 3 March 2024 at 22:10.", "date_time_format", random.Random(0))
    assert edit.text == "On 11 February 2025 at 9:25 am and on 2024-03-03 at 10:10 pm."


def test_sentences_do_not_split_after_titles_and_references():
    text = "Dr. Ana Silva opened DEV-1. PC Jo Bell attended. Ref. WMP-20251014-0233."
    assert sentences(text) == ["Dr. Ana Silva opened DEV-1.", "PC Jo Bell attended.", "Ref. WMP-20251014-0233."]
