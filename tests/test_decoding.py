"""`Decoding`: one value for decoding settings, whatever spelling they arrive in."""

import math

import pytest

from reportbench.backends import BACKENDS, implicit_sampling
from reportbench.decoding import Decoding, DecodingError, implies_sampling, request_seed
from reportbench.labels import config_label, decoding_label


def test_settings_are_completed_and_typed():
    assert Decoding.from_settings({"temperature": 0.8}).gen_kwargs() == {
        "temperature": 0.8, "top_p": 1.0, "top_k": 0, "max_gen_toks": 300, "repetition_penalty": 1.0, "do_sample": True,
    }
    assert Decoding.from_settings({"temperature": "1", "top_k": "50"}).gen_kwargs()["top_k"] == 50


@pytest.mark.parametrize("settings", [
    {}, {"temperature": 0.0, "top_p": 0.6, "top_k": 50}, {"temperature": 0.7, "do_sample": False}, {"temperature": 0},
])
def test_every_spelling_of_greedy_is_one_value(settings):
    decoding = Decoding.from_settings(settings)
    assert decoding == Decoding(0.0, None, None, 300, 1.0) and decoding.greedy
    assert decoding.gen_kwargs() | {"max_gen_toks": 0} == {
        "temperature": 0.0, "top_p": 1.0, "top_k": 0, "max_gen_toks": 0, "repetition_penalty": 1.0, "do_sample": False}


@pytest.mark.parametrize("settings, message", [
    ({"temprature": 0.5}, "unknown decoding key(s) temprature"),
    ({"top_p": "high"}, "top_p: expected a number, got 'high'"),
    # out of range: refused, never hashed into a cell (a negative or NaN temperature used to become greedy)
    ({"temperature": -1.0}, "temperature: must be a finite number >= 0"),
    ({"temperature": float("nan")}, "temperature: must be a finite number >= 0"),
    ({"temperature": float("inf")}, "temperature: must be a finite number >= 0"),
    ({"temperature": 1.0, "top_p": 1.5}, "top_p: must be a number with 0 < top_p <= 1, got 1.5"),
    ({"temperature": 1.0, "top_p": -0.5}, "top_p: must be a number with 0 < top_p <= 1"),
    ({"temperature": 1.0, "top_p": 0}, "top_p: must be a number with 0 < top_p <= 1"),
    ({"temperature": 1.0, "top_k": -3}, "top_k: must be a whole number >= 0"),
    ({"temperature": 1.0, "top_k": 2.5}, "top_k: expected a whole number, got 2.5"),
    ({"max_gen_toks": 0}, "max_gen_toks: must be a whole number >= 1"),
    ({"max_gen_toks": -1}, "max_gen_toks: must be a whole number >= 1"),
    ({"max_gen_toks": True}, "max_gen_toks: expected a number, got True"),
    ({"repetition_penalty": -2}, "repetition_penalty: must be a finite number > 0"),
    ({"repetition_penalty": 0}, "repetition_penalty: must be a finite number > 0"),
    ({"temperature": None}, "temperature: expected a number, got None"),
    ({"structured_output": "yaml"}, "structured_output must be one of none, json"),
    ({"temperature": 0.0, "do_sample": True}, "do_sample: true needs temperature > 0"),
    ({"temperature": 0.5, "do_sample": "yes"}, "do_sample: must be true or false"),
])
def test_bad_settings_are_refused(settings, message):
    with pytest.raises(DecodingError, match=message.replace("(", r"\(").replace(")", r"\)")):
        Decoding.from_settings(settings)


def test_a_greedy_value_cannot_carry_sampling_knobs():
    with pytest.raises(DecodingError, match="greedy decoding has no top_p"):
        Decoding(0.0, top_p=0.9)


def test_recorded_gen_kwargs_follow_the_backend():
    """lm-eval's HF model decodes greedily when do_sample is missing; its vLLM model samples."""
    recorded = {"temperature": 0.7, "top_p": 0.9, "max_gen_toks": 300}
    hf = Decoding.from_gen_kwargs(recorded, implicit_sampling("hf"))
    vllm = Decoding.from_gen_kwargs(recorded, implicit_sampling("vllm"))
    assert hf == Decoding(0.0, None, None, 300, None)
    assert vllm == Decoding(0.7, 0.9, None, 300, None)
    assert Decoding.from_gen_kwargs(recorded | {"do_sample": True}, implicit_sampling("hf")) == vllm
    assert implicit_sampling("local-completions") is True  # engines outside the registry sample
    assert {name: backend.implicit_sampling for name, backend in BACKENDS.items()} == {"hf": False, "vllm": True, "gguf": False}


def test_columns_round_trip_through_a_table_row():
    sampled = Decoding.from_settings({"temperature": 1.0, "top_p": 0.6, "top_k": 50, "repetition_penalty": 1.1})
    columns = sampled.columns()
    assert columns == {"temperature": 1.0, "top_p": 0.6, "top_k": 50.0, "max_gen_toks": 300.0, "repetition_penalty": 1.1, "structured_output": "none"}
    assert Decoding.from_columns(columns) == sampled
    greedy = Decoding.from_settings({}).columns()
    assert greedy["top_p"] is None and Decoding.from_columns(greedy | {"top_p": math.nan}).greedy


def test_labels():
    assert Decoding.from_settings({}).label() == "greedy · 300 tok"
    sampled = Decoding.from_settings({"temperature": 1.0, "top_p": 0.6, "top_k": 50, "repetition_penalty": 1.1})
    assert sampled.label() == "T=1 top_p=0.6 top_k=50 · 300 tok · rep 1.1"
    row = {"prompt": "D", "chat_template": False, **sampled.columns()}
    assert decoding_label(row) == "T=1 top_p=0.6 top_k=50 · 300 tok · rep 1.1 · no chat template"
    assert config_label(row | {"chat_template": True}) == "D · T=1 top_p=0.6 top_k=50 · 300 tok · rep 1.1"


@pytest.mark.parametrize("gen_kwargs, expected", [
    ({"temperature": 0.7}, True), ({"temperature": "0.7"}, True), ({"temperature": 0}, False),
    ({"temperature": "warm"}, False), ({}, False),
])
def test_a_temperature_implies_sampling(gen_kwargs, expected):
    assert implies_sampling(gen_kwargs) is expected


def test_structured_output_is_a_decoding_setting():
    json_greedy = Decoding.from_settings({"structured_output": "json"})
    assert json_greedy.gen_kwargs()["structured_output"] == "json" and json_greedy.label() == "greedy · 300 tok · json"
    assert "structured_output" not in Decoding.from_settings({"structured_output": "none"}).gen_kwargs()  # ids of before
    assert json_greedy.columns()["structured_output"] == "json"
    assert Decoding.from_columns(json_greedy.columns()) == json_greedy
    assert Decoding.from_columns({k: v for k, v in json_greedy.columns().items() if k != "structured_output"}).structured_output == "none"
    assert Decoding.from_gen_kwargs({"structured_output": "json", "temperature": 0}, False) == json_greedy.__class__.of(structured_output="json")
    with pytest.raises(DecodingError, match="structured_output must be one of none, json, got 'xml'"):
        Decoding.from_settings({"structured_output": "xml"})


def test_request_seeds_depend_on_cell_seed_case_and_repeat_only():
    seeds = {request_seed(base, case, repeat) for base in (0, 1) for case in ("traffic-001", "traffic-002") for repeat in (0, 1)}
    assert len(seeds) == 8 and all(0 <= s < 2**31 for s in seeds)
    assert request_seed(0, "traffic-001", 0) == request_seed(0, "traffic-001") == 1260409820  # stable across versions
