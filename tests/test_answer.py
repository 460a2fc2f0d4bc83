"""The answer schema: declared once, shown by the prompts, enforced by the constraint, met by the data."""

import json
import re

import pytest

from reportbench.answer import KEYS, example_answer, json_schema, length_limits, placeholder_answer
from reportbench.cases import DOMAINS, select_cases
from reportbench.prompts import WORKED_EXAMPLES, build_prompt


def string_pattern(schema, key):
    return re.compile(schema["properties"][key]["pattern"])


def test_schema_is_exactly_a_title_and_a_report():
    schema = json_schema(300)
    assert schema["required"] == list(KEYS) == list(schema["properties"]) and schema["additionalProperties"] is False
    assert length_limits(300) == {"title": 120, "report": 732}
    assert string_pattern(schema, "report").pattern.endswith("{1,732}$")
    assert string_pattern(json_schema(), "title").pattern.endswith("{1,}$")  # no budget, no limit
    small = length_limits(24)
    assert small["title"] >= 3 and small["report"] >= 3 and sum(small.values()) <= 3 * 24


def test_patterns_refuse_what_would_need_escaping():
    pattern = string_pattern(json_schema(300), "title")
    assert pattern.fullmatch("Pump P-101 stopped at 06:40 — Łódź, 8,4 °C")
    for bad in ("", 'a "quote"', "back\\slash", "line\nbreak", "x" * 121, "ambulance 🚑"):
        assert not pattern.fullmatch(bad), bad


def test_prompts_and_worked_examples_use_the_schema():
    assert placeholder_answer() == '{"title": "<short title>", "report": "<the report>"}'
    prompt = build_prompt(select_cases("traffic")[0], "D", "traffic")
    assert placeholder_answer() in prompt
    for example in WORKED_EXAMPLES.values():
        answer = example_answer(example["title"], example["report"])
        assert answer in build_prompt(select_cases("pharma")[0], "C", "pharma") + build_prompt(select_cases("traffic")[0], "D", "traffic")
        decoded = json.loads(answer)
        assert all(string_pattern(json_schema(300), key).fullmatch(decoded[key]) for key in KEYS)


@pytest.mark.parametrize("domain", DOMAINS)
def test_every_reference_fits_the_constraint(domain):
    """A faithful answer is always writable under the constraint at the default budget."""
    schema = json_schema(300)
    for case in select_cases(domain, "dev") + select_cases(domain, "test"):
        assert string_pattern(schema, "title").fullmatch(case["report_name"]), case["id"]
        assert string_pattern(schema, "report").fullmatch(case["event_description"]), case["id"]


def test_xgrammar_enforces_the_schema(tiny_llama):
    import xgrammar
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_llama)
    compiler = xgrammar.GrammarCompiler(xgrammar.TokenizerInfo.from_huggingface(tokenizer))
    grammar = compiler.compile_json_schema(json.dumps(json_schema(300)), any_whitespace=False)

    def accepts(text):
        return xgrammar.GrammarMatcher(grammar).accept_string(text)

    assert accepts(example_answer("Stop", "The pump stopped."))
    assert not accepts('{"title": "Stop", "report": "x", "extra": "y"}')
    assert not accepts('{"title": "", ')
    assert not accepts('{"title": "a\x1fb')  # xgrammar's plain JSON strings would take a raw control character
    assert not accepts('{"title": "' + "a" * 121)
