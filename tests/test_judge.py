"""The LLM judge metrics: rubric, answer reading, the hf engine on a tiny Llama, cache, log, grid and score."""

from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path

import pytest
import yaml
from conftest import run_cli, write_jsonl

from reportbench.cases import select_cases
from reportbench.cli import main
from reportbench.metrics import DEFAULT_OPTIONS, METRICS, MetricOptions, MetricOptionsError, ScoringInput, judge, score_samples
from reportbench.metrics.judge import JUDGE_METRICS, EngineAnswer, load_rubric, parse_model_args, read_answer

ANSWER_CASES = json.loads((Path(__file__).parent / "judge_cases" / "answers.json").read_text())
CASES = select_cases("pharma", "test")[:3]


def _samples(cases=CASES):
    return [ScoringInput.from_case(c, c["event_description"], c["report_name"]) for c in cases]


@pytest.fixture
def judge_options(tiny_llama, tmp_path):
    judge._judged.cache_clear()
    judge.take_journal()
    return MetricOptions.parse({"judge_model": str(tiny_llama), "judge_cache": str(tmp_path / "judge.sqlite")})


def test_rubric_is_one_versioned_file_and_names_the_metrics():
    rubric = load_rubric()
    assert rubric.sha256 == hashlib.sha256(judge.RUBRIC_FILE.read_bytes()).hexdigest()
    assert [m.name for m in JUDGE_METRICS] == [f"judge_{n}" for n in (*rubric.names, "overall")]
    assert all(METRICS[m.name] is m and not m.is_on(DEFAULT_OPTIONS) and m.is_on(MetricOptions(judge_model="x")) for m in JUDGE_METRICS)
    schema = rubric.answer_schema()
    assert schema["required"] == list(rubric.names) and not schema["additionalProperties"]
    user = rubric.messages(_samples()[0])[1]["content"]
    assert CASES[0]["when"] in user and CASES[0]["event_description"] in user and CASES[0]["report_name"] in user
    assert CASES[0]["event_description"] not in rubric.messages(_samples()[0])[0]["content"]
    described = METRICS["judge_overall"].describe(MetricOptions(judge_model="x"))["settings"]
    assert described["rubric_sha256"] == rubric.sha256 and described["judge_model"] == "x"


def test_a_broken_rubric_names_file_and_field(tmp_path):
    data = yaml.safe_load(judge.RUBRIC_FILE.read_text())
    del data["system"]
    (tmp_path / "r.yaml").write_text(yaml.safe_dump(data))
    with pytest.raises(judge.RubricError, match=r"r.yaml: field 'system': missing"):
        load_rubric(tmp_path / "r.yaml")


@pytest.mark.parametrize("case", ANSWER_CASES, ids=[c["note"] for c in ANSWER_CASES])
def test_reading_answers(case):
    probabilities = case.get("probabilities")
    answer = EngineAnswer(case["answer"], None if probabilities is None else tuple({int(k): v for k, v in p.items()} for p in probabilities))
    judgement = read_answer(answer, load_rubric())
    if "missing" in case:
        assert judgement.scores is None and case["missing"] in judgement.reason
    else:
        assert judgement.weighted == case["weighted"]
        assert judgement.scores == pytest.approx({k: float(v) for k, v in case["expected"].items()})


def test_model_args_and_options_are_checked():
    assert parse_model_args("dtype=bfloat16,max_model_len=4096, enforce_eager=true") == {
        "dtype": "bfloat16", "max_model_len": 4096, "enforce_eager": True}
    assert parse_model_args('{"tensor_parallel_size": 2}') == {"tensor_parallel_size": 2}
    with pytest.raises(judge.MetricUnavailable, match="key=value"):
        parse_model_args("dtype")
    with pytest.raises(MetricOptionsError, match="judge_backend must be one of hf, vllm"):
        MetricOptions.parse({"judge_backend": "openai"})
    with pytest.raises(MetricOptionsError, match="judge_max_tokens must be >= 8"):
        MetricOptions.parse({"judge_max_tokens": "2"})


def test_the_judge_is_off_by_default_and_quiet(capsys):
    names = [m.name for m in JUDGE_METRICS]
    scores = score_samples(_samples()[:1], names, DEFAULT_OPTIONS)
    assert scores.values == {} and scores.not_switched_on == set(names)
    assert all("judge_model" in why for why in scores.unavailable.values())
    assert "judge" not in capsys.readouterr().err


def test_tiny_llama_judges_logs_and_caches(judge_options):
    names = [m.name for m in JUDGE_METRICS]
    scores = score_samples(_samples(), names, judge_options)
    assert set(scores.values) == set(names) and not scores.unavailable
    for name in names:
        assert all(1.0 <= v <= 5.0 for v in scores.values[name])
    rubric = load_rubric()
    overall = [sum(scores.values[f"judge_{n}"][i] for n in rubric.names) / 4 for i in range(3)]
    assert scores.values["judge_overall"] == pytest.approx(overall)
    lines = judge.take_journal()
    assert len(lines) == 3 and not any(line["cached"] for line in lines)  # one pass shared by the five metrics
    line = lines[0]
    assert line["rubric_sha256"] == rubric.sha256 and line["judge_model"] == judge_options.judge_model
    assert line["messages"][1]["content"] == rubric.messages(_samples()[0])[1]["content"]
    assert json.loads(line["answer"]).keys() == set(rubric.names)  # constrained: exactly the object
    assert line["weighted"] and len(line["level_probabilities"]) == 4
    # the mass of the level tokens where a score was written (other allowed tokens, e.g. a lone space, hold the rest)
    assert 0.5 < sum(line["level_probabilities"][0].values()) <= 1.0 + 1e-6

    judge._judged.cache_clear()  # a new process: the on-disk cache answers
    again = score_samples(_samples(), ["judge_overall"], judge_options)
    assert again.values["judge_overall"] == pytest.approx(scores.values["judge_overall"])
    assert all(line["cached"] for line in judge.take_journal())

    judge._judged.cache_clear()  # another rubric hash, another key: a new call
    other = MetricOptions.parse({**json.loads(judge_options.to_json()), "judge_max_tokens": 40})
    score_samples(_samples()[:1], ["judge_overall"], other)
    assert [line["cached"] for line in judge.take_journal()] == [False]


def test_an_unreadable_answer_is_missing_with_its_reason(judge_options, tmp_path):
    short = MetricOptions.parse({**json.loads(judge_options.to_json()), "judge_max_tokens": 8})
    scores = score_samples(_samples()[:2], ["judge_faithfulness"], short)
    assert all(math.isnan(v) for v in scores.values["judge_faithfulness"])
    assert all(line["scores"] is None and "no score for" in line["missing_reason"] for line in judge.take_journal())
    # reportbench score writes null, leaves it out of n, and keeps the reason in the judge log
    rows = write_jsonl(tmp_path / "rows.jsonl", [{"prediction": c["event_description"], "reference": c["event_description"],
                                                   **{k: c[k] for k in judge.KEY_FIELDS}} for c in CASES[:2]])
    judge._judged.cache_clear()
    out = tmp_path / "scored.jsonl"
    assert main(["score", "--input", str(rows), "--output", str(out), "--metrics", "judge_faithfulness,words",
                 "--judge-model", short.judge_model, "--judge-max-tokens", "8", "--judge-cache", short.judge_cache]) == 0
    assert [json.loads(r)["judge_faithfulness"] for r in out.read_text().splitlines()] == [None, None]
    summary = json.loads(out.with_suffix(".summary.json").read_text())
    assert {m["metric"]: m["n"] for m in summary["metrics"]} == {"judge_faithfulness": 0, "words": 2}
    log = [json.loads(r) for r in out.with_suffix(".judge.jsonl").read_text().splitlines()]
    assert [line["id"] for line in log] == ["1", "2"] and all(line["missing_reason"] for line in log)


@pytest.mark.slow
def test_a_grid_cell_with_the_judge_then_score_makes_no_new_calls(tiny_llama, tmp_path):
    cache = tmp_path / "judge.sqlite"
    config = {"models": [{"name": "tiny", "backend": "hf", "path": str(tiny_llama), "batch_size": 2}],
              "tasks": ["reportbench_pharma_d"], "limit": 2, "decoding": {"max_gen_toks": [24]}, "seeds": [0],
              "metric_options": {"judge_model": str(tiny_llama), "judge_cache": str(cache)}}
    (tmp_path / "grid.yaml").write_text(yaml.safe_dump(config))
    run = run_cli(["reportbench", "grid", str(tmp_path / "grid.yaml"), "--output", str(tmp_path / "runs")], tmp_path)
    assert run.returncode == 0, run.stderr[-3000:]
    (cell,) = [p.parent for p in (tmp_path / "runs").rglob("cell.json")]
    samples = [json.loads(r) for r in (cell / "samples.jsonl").read_text().splitlines()]
    assert all(1 <= s["judge_overall"] <= 5 for s in samples)
    log = [json.loads(r) for r in (cell / "judge.jsonl").read_text().splitlines()]
    assert sorted(line["id"] for line in log) == sorted(s["doc"]["id"] for s in samples)
    assert {line["task"] for line in log} == {"reportbench_pharma_d"}
    record = json.loads((cell / "cell.json").read_text())
    assert record["efficiency"]["judge"] | {"seconds": 0} == {"samples": 2, "calls": 2, "cache_hits": 0, "missing": 0, "seconds": 0}

    rescored = run_cli(["reportbench", "score", "--input", str(cell / "samples.jsonl"), "--output", str(tmp_path / "again.jsonl"),
                        "--judge-model", str(tiny_llama), "--judge-cache", str(cache)], tmp_path)
    assert rescored.returncode == 0, rescored.stderr[-3000:]
    assert "2 judged, 0 judge calls, 2 cache hits, 0 missing" in rescored.stdout
    again = [json.loads(r) for r in (tmp_path / "again.jsonl").read_text().splitlines()]
    assert [r["judge_overall"] for r in again] == pytest.approx([s["judge_overall"] for s in samples])

    page = run_cli(["reportbench", "leaderboard", str(tmp_path / "runs"), "--out", str(tmp_path / "page")], tmp_path)
    assert page.returncode == 0, page.stderr[-3000:]
    text = (tmp_path / "page" / "README.md").read_text()
    assert f"rubric v1 {load_rubric().sha256[:12]}" in text and "judge_overall" in text


def test_the_audit_judges_the_judge(judge_options, tmp_path):
    assert main(["metrics", "audit", "--out", str(tmp_path / "audit"), "--limit", "1", "--no-handwritten",
                 "--metrics", "judge_faithfulness,judge_overall,rouge1", "--judge-model", judge_options.judge_model,
                 "--judge-cache", judge_options.judge_cache]) == 0
    rates = (tmp_path / "audit" / "rates.csv").read_text()
    assert "judge_faithfulness" in rates and "judge_overall" in rates
    assert "judge_faithfulness" in (tmp_path / "audit" / "audit.md").read_text()


@pytest.mark.slow
def test_smollm2_judges_two_samples():
    judge._judged.cache_clear()
    judge.take_journal()
    options = MetricOptions.parse({"judge_model": "smollm2-135m", "judge_cache": "off"})
    scores = score_samples(_samples()[:2], ["judge_overall"], options)
    lines = judge.take_journal()
    assert len(lines) == 2 and all(not line["cached"] for line in lines)
    for value, line in zip(scores.values["judge_overall"], lines):
        assert line["scores"] is not None and 1 <= value <= 5, line["answer"]
        assert line["weighted"]


@pytest.mark.slow
def test_reportbench_lm_eval_writes_the_judge_log_beside_the_samples(tiny_llama, tmp_path):
    from reportbench.records import LmEvalOutput

    metadata = json.dumps({"judge_model": str(tiny_llama), "judge_cache": str(tmp_path / "judge.sqlite")})
    run = run_cli(["reportbench", "lm-eval", "--tasks", "reportbench_traffic_c", "--model", "hf", "--model_args",
                   f"pretrained={tiny_llama}", "--limit", "2", "--gen_kwargs", "max_gen_toks=16", "--metadata", metadata,
                   "--output_path", str(tmp_path / "out"), "--log_samples"], tmp_path)
    assert run.returncode == 0, run.stderr[-3000:]
    (output,) = LmEvalOutput.find(tmp_path / "out")
    log = [json.loads(r) for r in output.judge_log_file().read_text().splitlines()]
    assert len(log) == 2 and {line["task"] for line in log} == {"reportbench_traffic_c"}
    assert "2 judged, 2 judge calls, 0 cache hits" in run.stdout
    results = json.loads(output.results.read_text())["results"]["reportbench_traffic_c"]
    assert 1 <= results["judge_overall,parsed"] <= 5
