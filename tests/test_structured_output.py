"""structured_output=json for real: the tiny random Llama through `reportbench lm-eval` and `reportbench grid` (hf).

A random model writes noise, so any answer that parses is the constraint's doing. The vLLM path is in
test_vllm_backend.py (opt-in).
"""

import json

import pytest
import yaml
from conftest import read_results, run_cli

from reportbench.answer import KEYS
from reportbench.records import CellRecord

pytestmark = pytest.mark.slow


def lm_eval(tiny_llama, out, gen_kwargs, *extra):
    return ["reportbench", "lm-eval", "--tasks", "reportbench_pharma_b", "--model", "hf", "--model_args", f"pretrained={tiny_llama}",
            "--limit", "3", "--batch_size", "3", "--gen_kwargs", gen_kwargs, "--output_path", str(out), "--log_samples", *extra]


def assert_exact_answers(samples):
    for sample in samples:
        assert sample["resps"][0][0].startswith('{"title": "')  # the format the prompt shows
        answer = json.loads(sample["resps"][0][0])  # strict JSON, nothing around it
        assert tuple(answer) == KEYS and all(isinstance(v, str) and v for v in answer.values())
        assert sample["json_valid"] == 1.0 and sample["truncated"] == 0.0


@pytest.mark.parametrize("chat", [False, True], ids=["plain", "chat-template"])
def test_lm_eval_path_answers_exactly_title_and_report(tiny_llama, tmp_path, chat):
    out = tmp_path / "out"
    result = run_cli(lm_eval(tiny_llama, out, "structured_output=json,max_gen_toks=160", *(["--apply_chat_template"] if chat else [])), tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "structured_output=json runs with --model reportbench-hf" in result.stderr
    results, samples = read_results(out)
    assert results["config"]["model"] == "reportbench-hf"
    assert results["configs"]["reportbench_pharma_b"]["generation_kwargs"]["structured_output"] == "json"
    assert_exact_answers(samples["reportbench_pharma_b"])


def test_a_budget_too_small_to_close_is_truncated_not_valid(tiny_llama, tmp_path):
    out = tmp_path / "out"
    result = run_cli(lm_eval(tiny_llama, out, "structured_output=json,max_gen_toks=6"), tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    _, samples = read_results(out)
    for sample in samples["reportbench_pharma_b"]:
        assert sample["resps"][0][0].startswith("{")
        assert (sample["json_valid"], sample["truncated"]) == (0.0, 1.0)


def test_grid_runs_free_and_constrained_cells_side_by_side(tiny_llama, tmp_path):
    config = tmp_path / "grid.yaml"
    config.write_text(yaml.safe_dump({
        "models": [{"name": "tiny", "backend": "hf", "path": str(tiny_llama), "batch_size": 3}],
        "tasks": ["reportbench_traffic_d"], "limit": 3,
        "decoding": {"temperature": [0.0], "max_gen_toks": [160], "structured_output": ["none", "json"]},
    }))
    result = run_cli(["reportbench", "grid", str(config), "--output", str(tmp_path / "runs")], tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    cells = {}
    for cell_json in (tmp_path / "runs").rglob("cell.json"):
        record = CellRecord.read(cell_json)
        samples = [json.loads(line) for line in (cell_json.parent / "samples.jsonl").read_text().splitlines()]
        cells[record.config["gen_kwargs"].get("structured_output", "none")] = samples
    assert set(cells) == {"none", "json"}
    assert_exact_answers(cells["json"])
    assert not all(s["json_valid"] for s in cells["none"])  # the random model left alone writes no JSON
    board = run_cli(["reportbench", "leaderboard", str(tmp_path / "runs"), "--out", str(tmp_path / "board")], tmp_path)
    assert board.returncode == 0, board.stderr[-3000:]
    assert "greedy · 160 tok · json" in (tmp_path / "board" / "README.md").read_text()
