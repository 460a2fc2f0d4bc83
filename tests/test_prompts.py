import json

import pytest

from reportbench.cases import KEY_FIELDS, select_cases
from reportbench.prompts import GUIDELINES, METHODS, WORKED_EXAMPLES, build_prompt

CASE = select_cases("pharma")[0]


@pytest.mark.parametrize("domain", ["pharma", "traffic"])
@pytest.mark.parametrize("method", METHODS)
def test_prompt_holds_every_key_field_and_asks_for_json(method, domain):
    prompt = build_prompt(CASE, method, domain)
    case_block = prompt.rsplit("Key information:\n", 1)[1]
    for field in KEY_FIELDS:
        assert CASE[field].strip() in case_block
    assert '{"title": "<short title>", "report": "<the report>"}' in prompt
    assert prompt.endswith("Answer:")
    assert CASE["event_description"] not in prompt  # the reference never leaks into the prompt


def test_methods_add_guidelines_then_one_worked_example():
    a, b, c, d = (build_prompt(CASE, m, "pharma") for m in METHODS)
    assert GUIDELINES not in a
    assert all(GUIDELINES in p for p in (b, c, d))
    assert b.startswith(a.rsplit("\n\nKey information:", 1)[0])
    assert WORKED_EXAMPLES["pharma"]["report"] in c and WORKED_EXAMPLES["traffic"]["report"] not in c
    assert WORKED_EXAMPLES["traffic"]["report"] in d and WORKED_EXAMPLES["pharma"]["report"] not in d
    assert "quality assurance specialist" in a and "police officer" in build_prompt(CASE, "A", "traffic")


@pytest.mark.parametrize("domain", ["pharma", "traffic"])
def test_worked_example_answer_is_valid_json(domain):
    prompt = build_prompt(CASE, "C" if domain == "pharma" else "D", "traffic")
    answer_line = next(line for line in prompt.splitlines() if line.startswith('Answer: {'))
    answer = json.loads(answer_line[len("Answer: "):])
    assert answer == {"title": WORKED_EXAMPLES[domain]["title"], "report": WORKED_EXAMPLES[domain]["report"]}


def test_worked_examples_are_not_evaluation_cases():
    cases = [c for d in ("pharma", "traffic") for s in ("dev", "test") for c in select_cases(d, s)]
    for example in WORKED_EXAMPLES.values():
        for case in cases:
            assert example["report"] != case["event_description"]
            assert example["title"] != case["report_name"]
            assert all(example["fields"][f] != case[f] for f in ("what", "who", "contingency_actions"))


def test_unknown_method_or_domain():
    with pytest.raises(ValueError, match="unknown prompt method 'E'"):
        build_prompt(CASE, "E", "pharma")
    with pytest.raises(ValueError, match="unknown domain 'aviation'"):
        build_prompt(CASE, "A", "aviation")
