"""The real `lm_eval` CLI on our tasks: a tiny random Llama for coverage, SmolLM2 for realism."""

import json

import pytest
from conftest import read_results, run_cli, write_jsonl

from reportbench.metrics import DEFAULT_OPTIONS, METRICS, TASK_METRICS
from reportbench.records import LmEvalOutput

pytestmark = pytest.mark.slow

TASKS = [f"reportbench_{d}_{m}" for d in ("pharma", "traffic") for m in "abcd"]
GROUPS = ["reportbench", "reportbench_pharma", "reportbench_traffic"]
FAST_GEN = ["--gen_kwargs", "max_gen_toks=24"]


def lm_eval_args(model_dir, tasks, output, *extra):
    return [
        "lm_eval",
        "--include_path", run_cli(["reportbench", "tasks-dir"], cwd=output.parent).stdout.strip(),
        "--tasks", tasks,
        "--model", "hf",
        "--model_args", f"pretrained={model_dir}",
        "--output_path", str(output),
        "--log_samples",
        *extra,
    ]


def assert_ok(result):
    assert result.returncode == 0, result.stderr[-4000:]


def test_all_eight_tasks_and_groups(tiny_llama, tmp_path):
    out = tmp_path / "out"
    result = run_cli(lm_eval_args(tiny_llama, "reportbench", out, "--limit", "2", "--batch_size", "4", *FAST_GEN), tmp_path)
    assert_ok(result)
    results, samples = read_results(out)
    assert set(results["results"]) == set(TASKS) | set(GROUPS)
    for name in TASKS + GROUPS:
        for metric in TASK_METRICS:  # every metric, the embedded fact cross-encoder included, works offline
            if not METRICS[metric].is_on(DEFAULT_OPTIONS):  # the LLM judge: off until a judge model is named
                assert f"{metric},parsed" not in results["results"][name], (name, metric)
                continue
            value = results["results"][name][f"{metric},parsed"]
            assert isinstance(value, float) and value == value, (name, metric)
        assert 0 <= results["results"][name]["cross_encoder,parsed"] <= 1
    assert "unavailable" not in result.stderr
    for task in TASKS:
        assert results["n-samples"][task]["effective"] == 2
        assert len(samples[task]) == 2
        for sample in samples[task]:
            kept = json.loads(sample["filtered_resps"][0])  # the parse and all scores are kept per sample
            assert sample["json_valid"] == float(kept["json_valid"])
            assert {k: sample[k] for k in kept["scores"]} == kept["scores"]
            assert sample["target"] == sample["doc"]["event_description"]
    # Prompts differ by method and carry the case's fields.
    contexts = {t: samples[t][0]["arguments"]["gen_args_0"]["arg_0"] for t in TASKS}
    assert len(set(contexts.values())) == len(TASKS)
    assert "Guidelines:" not in contexts["reportbench_pharma_a"] and "Guidelines:" in contexts["reportbench_pharma_b"]
    # Rescoring the saved samples offline reproduces lm_eval's per-sample values.
    samples_file = next(out.rglob("samples_reportbench_pharma_b_*.jsonl"))
    rescored_path = tmp_path / "rescored.jsonl"
    rescored = run_cli(["reportbench", "score", "--input", str(samples_file), "--output", str(rescored_path)], tmp_path)
    assert rescored.returncode == 0, rescored.stderr
    rows = [json.loads(line) for line in rescored_path.read_text().splitlines()]
    for row, sample in zip(rows, samples["reportbench_pharma_b"]):
        assert row.pop("line") and row.pop("id") == sample["doc"]["id"]
        assert row == pytest.approx({k: sample[k] for k in row}, abs=1e-6)
    # The markdown table lm_eval prints includes the group aggregates.
    assert "reportbench_traffic" in result.stdout and "json_valid" in result.stdout
    # An lm_eval output folder feeds the leaderboard and compare directly.
    board = run_cli(["reportbench", "leaderboard", str(out), "--out", str(tmp_path / "board")], tmp_path)
    assert board.returncode == 0, board.stderr[-3000:]
    assert "4 model configuration(s) (prompt × decoding), 8 cells" in (tmp_path / "board" / "README.md").read_text()
    compared = run_cli(["reportbench", "compare", str(out), str(out), "--select-a", "prompt=A", "--select-b", "prompt=D"], tmp_path)
    assert compared.returncode == 0, compared.stderr[-3000:]
    assert "| all | fact_recall ↑" in compared.stdout and "| 4 " in compared.stdout  # the default ranking metric


def test_chat_template_and_dev_split_via_reportbench_passthrough(tiny_llama, tmp_path):
    out = tmp_path / "out"
    args = lm_eval_args(tiny_llama, "reportbench_pharma_c", out, "--apply_chat_template", "--metadata", '{"split": "dev"}', "--batch_size", "16", *FAST_GEN)
    args = ["reportbench", "lm-eval", *args[3:]]  # drop `lm_eval --include_path X`: the passthrough adds it
    result = run_cli(args, tmp_path)
    assert_ok(result)
    results, samples = read_results(out)
    assert results["n-samples"]["reportbench_pharma_c"]["effective"] == 80  # the whole dev split, no limit
    assert {s["doc"]["split"] for s in samples["reportbench_pharma_c"]} == {"dev"}
    context = samples["reportbench_pharma_c"][0]["arguments"]["gen_args_0"]["arg_0"]
    assert context.startswith("<|im_start|>user\n") and context.endswith("Answer:<|im_end|>\n<|im_start|>assistant\n")
    results_file = next(out.rglob("results_*.json"))
    assert f"reportbench: results JSON written to {results_file}" in result.stdout
    # reportbench's own n / mean / std / bootstrap CI for every metric, beside the results.
    summary_file = LmEvalOutput(results_file).summary_file()
    summary = json.loads(summary_file.read_text())["tasks"]["reportbench_pharma_c"]
    values = [s["rougeL"] for s in samples["reportbench_pharma_c"]]
    assert summary["rougeL"]["n"] == 80 and summary["rougeL"]["mean"] == pytest.approx(sum(values) / 80)
    assert summary["rougeL"]["ci_low"] <= summary["rougeL"]["mean"] <= summary["rougeL"]["ci_high"]
    assert "| reportbench_pharma_c |" in result.stdout and "95% bootstrap CI" in result.stdout


def test_users_data_file_is_evaluated_in_full(tiny_llama, tiny_cross_encoder, tmp_path):
    from reportbench.cases import select_cases

    # Three unseen cases: shipped cases with new ids and titles, in a file of the user's.
    cases = [dict(case, id=f"user-{i}", report_name=f"User case {i}") for i, case in enumerate(select_cases("traffic")[:3])]
    data_file = write_jsonl(tmp_path / "my cases.jsonl", cases)
    out = tmp_path / "out"
    metadata = json.dumps({"data_file": str(data_file), "cross_encoder": str(tiny_cross_encoder)})
    result = run_cli(lm_eval_args(tiny_llama, "reportbench_traffic_d", out, "--metadata", metadata, *FAST_GEN), tmp_path)
    assert_ok(result)
    results, samples = read_results(out)
    assert results["n-samples"]["reportbench_traffic_d"]["effective"] == 3
    # A cross-encoder given through --metadata is used; sts mode gives values in [0, 1].
    assert 0 <= results["results"]["reportbench_traffic_d"]["cross_encoder,parsed"] <= 1
    assert all(0 <= s["cross_encoder"] <= 1 for s in samples["reportbench_traffic_d"])
    assert [s["doc"]["id"] for s in samples["reportbench_traffic_d"]] == ["user-0", "user-1", "user-2"]


def test_bad_data_file_is_reported_without_a_traceback(tiny_llama, tmp_path):
    data_file = tmp_path / "broken.jsonl"
    data_file.write_text('{"report_name": "x"}\nnot json\n')
    metadata = json.dumps({"data_file": str(data_file)})
    result = run_cli(lm_eval_args(tiny_llama, "reportbench_pharma_a", tmp_path / "out", "--metadata", metadata), tmp_path)
    assert result.returncode != 0
    assert f"{data_file}:1: field 'what': missing" in result.stderr
    assert f"{data_file}:2: invalid JSON" in result.stderr
    assert "Traceback" not in result.stderr


def test_embedded_smollm2_on_two_documents(tmp_path):
    model_dir = run_cli(["reportbench", "model-path", "smollm2-135m"], cwd=tmp_path)
    assert_ok(model_dir)
    out = tmp_path / "out"
    # 150 new tokens: a title and most of a report (the task's 300 made this test 20 s longer, same checks)
    args = lm_eval_args(model_dir.stdout.strip(), "reportbench_traffic_d", out, "--limit", "2", "--apply_chat_template", "--batch_size", "2",
                        "--gen_kwargs", "max_gen_toks=150")
    result = run_cli(args, tmp_path)
    assert_ok(result)
    results, samples = read_results(out)
    scores = results["results"]["reportbench_traffic_d"]
    assert results["n-samples"]["reportbench_traffic_d"]["effective"] == 2
    # A real instruction model writes text that overlaps the reference, unlike a random one.
    assert scores["rouge1,parsed"] > 0.2
    assert all(sample["resps"][0][0].strip() for sample in samples["reportbench_traffic_d"])
