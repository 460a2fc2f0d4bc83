"""The vllm backend for real, on vllm-cpu in its own venv (`make test-vllm`); skipped elsewhere."""

import importlib.util
import json

import pytest
import yaml
from conftest import run_cli

pytestmark = [
    pytest.mark.vllm,
    pytest.mark.skipif(importlib.util.find_spec("vllm") is None, reason="vllm is not installed in this venv (make test-vllm)"),
]


def test_grid_on_vllm_cpu(tmp_path):
    config = {
        "models": [{
            "name": "smollm2-vllm", "backend": "vllm", "path": "smollm2-135m",
            # On CPU, gpu_memory_utilization is the share of RAM vLLM reserves; the default 0.92 exceeds a NUMA node here.
            "model_args": {"enforce_eager": True, "max_model_len": 4096, "dtype": "float32", "gpu_memory_utilization": 0.3},
        }],
        "tasks": ["reportbench_traffic_d"],
        "limit": 4,
        "apply_chat_template": True,
        "decoding": {"temperature": [0.0], "max_gen_toks": [300], "structured_output": ["none", "json"]},
    }
    path = tmp_path / "grid.yaml"
    path.write_text(yaml.safe_dump(config))
    result = run_cli(["reportbench", "grid", str(path), "--output", str(tmp_path / "runs")], tmp_path, timeout=1800)
    assert result.returncode == 0, result.stderr[-4000:]
    by_mode = {}
    for cell in (tmp_path / "runs" / "smollm2-vllm" / "reportbench_traffic_d").iterdir():
        record = json.loads((cell / "cell.json").read_text())
        samples = [json.loads(line) for line in (cell / "samples.jsonl").read_text().splitlines()]
        by_mode[record["config"]["gen_kwargs"].get("structured_output", "none")] = (record, samples)
    assert set(by_mode) == {"none", "json"}
    record, samples = by_mode["none"]
    assert len(samples) == 4 and all(s["resps"][0][0].strip() for s in samples)
    assert record["environment"]["packages"]["vllm"] and record["efficiency"]["tokens_per_second"] > 0
    assert record["efficiency"]["parameters"] > 100_000_000  # counted from the safetensors headers (the engine runs elsewhere)
    # vLLM's structured outputs: every answer is exactly {title, report}, strict JSON.
    json_record, json_samples = by_mode["json"]
    for sample in json_samples:
        assert list(json.loads(sample["resps"][0][0])) == ["title", "report"] and sample["json_valid"] == 1.0
        assert sample["resps"][0][0].startswith('{"title": "')  # the separators the prompt shows
    print(json.dumps({mode: r["efficiency"] for mode, (r, _) in by_mode.items()}, indent=2))


def test_vllm_judge_gives_weighted_scores(tmp_path):
    """The LLM judge on vLLM: structured outputs keep the answer to the rubric's object, and the top
    logprobs of the written score tokens give probability-weighted scores."""
    from reportbench.cases import select_cases
    from reportbench.metrics import MetricOptions, ScoringInput, judge, score_samples

    cases = select_cases("traffic", "test")[:2]
    samples = [ScoringInput.from_case(c, c["event_description"], c["report_name"]) for c in cases]
    options = MetricOptions.parse({
        "judge_model": "smollm2-135m", "judge_backend": "vllm", "judge_cache": str(tmp_path / "judge.sqlite"),
        "judge_model_args": json.dumps({"enforce_eager": True, "max_model_len": 4096, "dtype": "float32", "gpu_memory_utilization": 0.3}),
    })
    judge.take_journal()
    scores = score_samples(samples, ["judge_overall"], options)
    assert not scores.unavailable, scores.unavailable
    lines = judge.take_journal()
    for value, line in zip(scores.values["judge_overall"], lines):
        assert list(json.loads(line["answer"])) == list(judge.load_rubric().names)
        assert line["weighted"] and 1 <= value <= 5
