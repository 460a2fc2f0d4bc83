"""`reportbench grid`: config checking, cell expansion, sharding, and real resumable runs."""

import hashlib
import json
import os
import re
import signal
import subprocess

import pytest
import yaml
from conftest import BIN, kill_grid_after, run_cli, stop_grid_after, write_jsonl

from reportbench.grid import GridConfigError, expand_cells, load_config, shard

TASKS = ["reportbench_pharma_c", "reportbench_traffic_d"]
# Ids of cells_of(write_config(decoding={temperature: [0, 1], top_p: [0.6], max_gen_toks: [12]})) at reportbench 0.1.0.
STABLE_IDS = ["2eee23395ba66ef0", "19a4bb9128c20402", "6dac12a3784f0309", "54b6b2572312bd78"]


def write_config(tmp_path, **overrides):
    config = {
        "models": [{"name": "tiny", "backend": "hf", "path": "test-org/tiny", "batch_size": 2}],
        "tasks": TASKS,
        "limit": 2,
        "decoding": {"temperature": [0.0, 0.7, 1.0], "top_p": [0.6, 0.9], "max_gen_toks": [12]},
        "seeds": [0],
    } | overrides
    path = tmp_path / "grid.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def cells_of(path):
    return expand_cells(load_config(path), path, TASKS)


def test_cartesian_product_with_greedy_cells_merged(tmp_path):
    cells = cells_of(write_config(tmp_path))
    # 3 temperatures x 2 top_p, but the two greedy (temperature 0) settings are one cell: 5 per task.
    assert len(cells) == 10
    greedy = [c for c in cells if c.decoding.greedy]
    assert len(greedy) == 2 and all(c.decoding.gen_kwargs()["temperature"] == 0.0 and c.decoding.gen_kwargs()["top_p"] == 1.0 for c in greedy)
    for cell in cells:
        assert set(cell.decoding.gen_kwargs()) == {"temperature", "top_p", "top_k", "max_gen_toks", "repetition_penalty", "do_sample"}
    assert len({c.cell_id for c in cells}) == 10


def test_explicit_cells_seeds_and_repeats(tmp_path):
    path = write_config(tmp_path, decoding={"temperature": [0.0]}, cells=[{"temperature": 1.0, "top_p": 0.6, "top_k": 50}],
                        seeds=[3], repeats=2)
    cells = cells_of(path)
    assert sorted({c.seed for c in cells}) == [3, 4]
    assert {c.decoding.temperature for c in cells} == {0.0, 1.0} and len(cells) == 2 * 2 * 2


def test_cell_id_depends_on_outcome_not_on_batch_size(tmp_path):
    base = cells_of(write_config(tmp_path))[0]
    other_batch = cells_of(write_config(tmp_path, models=[{"name": "tiny", "path": "test-org/tiny", "batch_size": 16}]))[0]
    other_limit = cells_of(write_config(tmp_path, limit=3))[0]
    assert base.cell_id == other_batch.cell_id != other_limit.cell_id


def test_shards_partition_the_cells(tmp_path):
    cells = cells_of(write_config(tmp_path))
    parts = [shard(cells, f"{i}/3") for i in range(3)]
    ids = [c.cell_id for part in parts for c in part]
    assert sorted(ids) == sorted(c.cell_id for c in cells) and len(set(ids)) == len(ids)
    with pytest.raises(GridConfigError, match="--shard must be i/n"):
        shard(cells, "3/3")


@pytest.mark.parametrize(
    "overrides, message",
    [
        ({"modles": []}, "grid.yaml: modles: unknown key"),
        ({"models": [{"name": "x", "path": "p", "backend": "onnx"}]}, "models[0].backend: must be one of hf, vllm, gguf"),
        ({"models": [{"name": "x"}]}, "models[0].path: missing"),
        ({"models": [{"name": "x", "path": "p", "dtype": "bf16"}]}, "models[0].dtype: unknown key"),
        ({"decoding": {"temprature": [0.5]}}, "decoding: unknown decoding key(s) temprature"),
        ({"decoding": {"temperature": [0.0], "do_sample": [True]}}, "do_sample: true needs temperature > 0"),
        ({"cells": [{"top_p": "high"}]}, "cells[0]: top_p: expected a number, got 'high'"),
        # out-of-range decoding values are refused with the key, never hashed into a cell
        ({"decoding": {"temperature": [1.0], "top_p": [1.5]}}, "decoding: top_p: must be a number with 0 < top_p <= 1, got 1.5"),
        ({"decoding": {"temperature": [1.0], "top_p": [-0.5]}}, "decoding: top_p: must be a number with 0 < top_p <= 1"),
        ({"decoding": {"max_gen_toks": [0]}}, "decoding: max_gen_toks: must be a whole number >= 1, got 0"),
        ({"decoding": {"max_gen_toks": [-1]}}, "decoding: max_gen_toks: must be a whole number >= 1, got -1"),
        ({"decoding": {"temperature": [1.0], "top_k": [-3]}}, "decoding: top_k: must be a whole number >= 0 (0: off), got -3"),
        ({"decoding": {"repetition_penalty": [-2]}}, "decoding: repetition_penalty: must be a finite number > 0 (1: off), got -2"),
        ({"decoding": {"temperature": [-1.0]}}, "decoding: temperature: must be a finite number >= 0 (0: greedy), got -1.0"),
        ({"decoding": {"temperature": [float("nan")]}}, "decoding: temperature: must be a finite number >= 0 (0: greedy), got nan"),
        ({"limit": -5}, "grid.yaml: limit: expected a whole number >= 1, got -5"),
        ({"limit": 0}, "grid.yaml: limit: expected a whole number >= 1, got 0"),
        ({"limit": 2.5}, "grid.yaml: limit: expected a whole number >= 1, got 2.5"),
        ({"repeats": 0}, "grid.yaml: repeats: expected a whole number >= 1, got 0"),
        ({"seeds": [0, "x"]}, "grid.yaml: seeds[1]: expected a whole number >= 0, got 'x'"),
        ({"seeds": []}, "grid.yaml: seeds: empty"),
        ({"apply_chat_template": "yes"}, "grid.yaml: apply_chat_template: expected true or false, got 'yes'"),
        # a model name is a folder under --output: nothing that climbs out or hides
        ({"models": [{"name": "../../../x", "path": "p"}]}, "models[0].name: '../../../x' is not a safe folder name"),
        ({"models": [{"name": "a/b", "path": "p"}]}, "models[0].name: 'a/b' is not a safe folder name"),
        ({"models": [{"name": "..", "path": "p"}]}, "models[0].name: '..' is not a safe folder name"),
        ({"models": [{"name": ".hidden", "path": "p"}]}, "models[0].name: '.hidden' is not a safe folder name"),
        ({"models": [{"name": 7, "path": "p"}]}, "models[0].name: 7 is not a safe folder name"),
        ({"models": [{"name": "x", "path": "p", "batch_size": 0}]}, "models[0].batch_size: expected a whole number >= 1, got 0"),
        ({"models": [{"name": "x", "path": "p", "batch_size": "big"}]}, "models[0].batch_size: expected a whole number >= 1, got 'big'"),
        ({"models": [{"name": "x", "path": "p", "model_args": "dtype=float32"}]}, "models[0].model_args: expected a mapping"),
        ({"max_requests_per_call": 0}, "max_requests_per_call: expected a whole number >= 1, got 0"),
        ({"max_requests_per_call": "all"}, "max_requests_per_call: expected a whole number >= 1"),
        ({"models": [{"name": "x", "path": "p", "apply_chat_template": "no"}]}, "models[0].apply_chat_template: expected true or false, got 'no'"),
        # a base model without a chat template, asked for one by the grid or by its own key
        ({"models": [{"name": "g", "path": "gemma3-270m"}]}, "grid.yaml: apply_chat_template: gemma3-270m is a base model without a chat template; set models[0].apply_chat_template: false"),
        ({"models": [{"name": "g", "path": "gemma3-270m", "apply_chat_template": True}]}, "models[0].apply_chat_template: gemma3-270m is a base model"),
        ({"models": [{"name": "x", "path": "p", "tags": [1]}]}, "models[0].tags: expected a mapping of name: value"),
        ({"models": [{"name": "x", "path": "p", "tags": {"Training Cases": 1}}]}, "models[0].tags: 'Training Cases' is not a tag name"),
        ({"models": [{"name": "x", "path": "p", "tags": {"cases": [20]}}]}, "models[0].tags.cases: expected a number or a string, got [20]"),
    ],
)
def test_bad_config_names_file_and_key(tmp_path, overrides, message):
    path = write_config(tmp_path, **overrides)
    with pytest.raises(GridConfigError) as err:
        cells_of(path)
    assert str(err.value).startswith(str(path)) and message in str(err.value)


def test_safe_names_and_batch_sizes_are_accepted(tmp_path):
    path = write_config(tmp_path, models=[{"name": "SmolLM2-135M_lora.v2+fp32", "path": "p", "batch_size": "auto:4"},
                                          {"name": "b", "path": "p", "batch_size": 8}])
    assert [c.model.name for c in cells_of(path)][::10] == ["SmolLM2-135M_lora.v2+fp32", "b"]


def test_chat_template_per_model_and_tags(tmp_path):
    path = write_config(tmp_path, models=[{"name": "chat", "path": "p"},
                                          {"name": "g", "path": "gemma3-270m", "apply_chat_template": False},
                                          {"name": "t", "path": "p", "tags": {"training_cases": 40, "family": "x"}}])
    cells = {c.model.name: c for c in cells_of(path)}
    assert cells["chat"].apply_chat_template is True and cells["g"].apply_chat_template is False
    assert cells["t"].outcome_key()["model"]["tags"] == {"family": "x", "training_cases": 40}
    # untagged models keep the ids they had before tags existed; a tag is part of the id
    assert "tags" not in cells["chat"].outcome_key()["model"] and "apply_chat_template" not in cells["chat"].outcome_key()["model"]
    untagged = cells_of(write_config(tmp_path, models=[{"name": "t", "path": "p"}]))[0]
    assert untagged.cell_id != cells["t"].cell_id


def test_models_flag_runs_a_subset_and_names_unknown_models(tmp_path):
    path = write_config(tmp_path, models=[{"name": "a", "path": "p"}, {"name": "b", "path": "./not-trained-yet"}])
    result = run_cli(["reportbench", "grid", str(path), "--output", str(tmp_path / "runs"), "--dry-run", "--models", "a"], tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]  # b's missing folder is not checked: b is not run
    assert result.stdout.splitlines()[-1] == "10 cells, 0 done, 10 to run" and "  b  " not in result.stdout
    unknown = run_cli(["reportbench", "grid", str(path), "--dry-run", "--models", "a,c"], tmp_path)
    assert unknown.returncode == 2 and "--models: c not in" in unknown.stderr and "its models: a, b" in unknown.stderr


def test_cell_ids_are_stable(tmp_path):
    """A refactor must not orphan finished cells: these ids were computed before the Decoding type existed."""
    from reportbench import __version__

    cells = cells_of(write_config(tmp_path, decoding={"temperature": [0.0, 1.0], "top_p": [0.6], "max_gen_toks": [12]}))
    if __version__ == "0.1.0":  # the version is part of the id
        assert [c.cell_id for c in cells] == STABLE_IDS


def test_structured_output_is_a_grid_axis(tmp_path):
    path = write_config(tmp_path, decoding={"temperature": [0.0, 0.0], "top_p": [0.6, 0.9], "structured_output": ["none", "json"]})
    cells = cells_of(path)
    # Per task: greedy merges over temperature x top_p, json and none stay apart.
    assert len(cells) == 4 and {c.decoding.structured_output for c in cells} == {"none", "json"}
    none = [c for c in cells if c.decoding.structured_output == "none"]
    assert {c.cell_id for c in none} == {c.cell_id for c in cells_of(write_config(tmp_path, decoding={"temperature": [0.0]}))}


def test_metric_options_are_checked_with_the_file_and_key(tmp_path):
    path = write_config(tmp_path, metric_options={"device": "cuda"})
    with pytest.raises(GridConfigError, match=r"grid.yaml: metric_options: unknown metric option\(s\) device \(device is called metric_device\)"):
        load_config(path)
    path = write_config(tmp_path, metric_options={"cross_encoder_mode": "fancy"})
    with pytest.raises(GridConfigError, match="cross_encoder_mode must be one of fact, sts, seed"):
        load_config(path)


def user_cases(tmp_path, name="my cases.jsonl", n=3, **extra):
    """Cases the packaged data does not have: shipped traffic cases under new ids and titles, in a file of the user's."""
    from reportbench.cases import select_cases

    rows = [dict(case, id=f"user-{i}", report_name=f"User case {i}") for i, case in enumerate(select_cases("traffic")[:n])]
    for row in rows:
        row.pop("split", None)
        row.update(extra)
    return write_jsonl(tmp_path / name, rows)


def test_data_file_is_part_of_the_cell_id_by_content(tmp_path):
    packaged = cells_of(write_config(tmp_path))
    data = user_cases(tmp_path)
    mine = cells_of(write_config(tmp_path, data_file=str(data)))
    assert {c.cell_id for c in mine}.isdisjoint(c.cell_id for c in packaged)
    assert all(c.split == "all" and c.data_file == str(data.resolve()) for c in mine)  # no split key: every row
    assert mine[0].record_config()["data_file"] == str(data.resolve()) and "data_file" not in mine[0].outcome_key()
    moved = tmp_path / "elsewhere" / "renamed.jsonl"
    moved.parent.mkdir()
    moved.write_bytes(data.read_bytes())
    assert [c.cell_id for c in cells_of(write_config(tmp_path, data_file=str(moved)))] == [c.cell_id for c in mine]
    edited = user_cases(tmp_path, "edited.jsonl", n=2)
    assert {c.cell_id for c in cells_of(write_config(tmp_path, data_file=str(edited)))}.isdisjoint(c.cell_id for c in mine)


@pytest.mark.parametrize("value, message", [
    ("nope.jsonl", "data_file: no such file: nope.jsonl"),
    (".", "data_file: no such file: . (it is a folder)"),
    (3, "data_file: expected the path of a case file"),
])
def test_bad_data_file_setting_names_the_key(tmp_path, monkeypatch, value, message):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(GridConfigError, match=re.escape(f"grid.yaml: {message}")):
        load_config(write_config(tmp_path, data_file=value))


def test_data_file_rows_are_checked_before_any_model_loads(tmp_path):
    """The loader's own validation (file, line, field) and the split check run at config time; no model is named that could load."""
    broken = tmp_path / "broken.jsonl"
    broken.write_text('{"report_name": "x"}\n')
    path = write_config(tmp_path, data_file=str(broken), models=[{"name": "x", "path": "no-such-org/no-such-model"}])
    result = run_cli(["reportbench", "grid", str(path), "--output", str(tmp_path / "runs")], tmp_path)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "grid.yaml: data_file: " in result.stderr and f"{broken}:1: field 'what': missing" in result.stderr
    path = write_config(tmp_path, data_file=str(user_cases(tmp_path)), split="dev", models=[{"name": "x", "path": "no-such-org/no-such-model"}])
    result = run_cli(["reportbench", "grid", str(path), "--output", str(tmp_path / "runs")], tmp_path)
    assert result.returncode == 2 and "data_file: " in result.stderr and "has no 'split' column" in result.stderr


@pytest.mark.parametrize("output, message", [
    ("file.txt/runs", "cannot create the output folder: Not a directory"),
    ("file.txt", "is a file, expected a folder"),
    ("/dev/full", "is a file, expected a folder"),
    ("/proc/reportbench-runs", "cannot create the output folder"),
])
def test_output_folder_is_checked_before_any_model_loads(tmp_path, output, message):
    """A model that could never load: the output problem must be reported first, in one line."""
    (tmp_path / "file.txt").write_text("not a folder")
    path = write_config(tmp_path, models=[{"name": "x", "path": "no-such-org/no-such-model"}], tasks=["reportbench_traffic_d"])
    result = run_cli(["reportbench", "grid", str(path), "--output", output], tmp_path)
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr[-2000:]
    assert f"reportbench grid: --output {output}: {message}" in result.stderr
    assert "cannot load" not in result.stderr


def test_grid_limit_flag_is_checked(tmp_path):
    result = run_cli(["reportbench", "grid", str(write_config(tmp_path)), "--limit", "-5"], tmp_path)
    assert result.returncode == 2 and "argument --limit: expected a whole number >= 1, got '-5'" in result.stderr


# ---------------------------------------------------------------- real runs on a tiny random Llama


def outputs(out):
    """Per-sample generations of every finished cell, by cell folder."""
    return {
        str(path.parent.relative_to(out)): [json.loads(line)["resps"] for line in path.read_text().splitlines()]
        for path in sorted(out.rglob("samples.jsonl"))
    }


@pytest.mark.slow
def test_grid_runs_resumes_and_survives_kill_9(tiny_llama, tmp_path):
    config = write_config(
        tmp_path,
        models=[{"name": "tiny", "backend": "hf", "path": str(tiny_llama), "batch_size": 2}],
        decoding={"temperature": [0.0, 1.0], "top_p": [0.9], "max_gen_toks": [12]},
        seeds=[0, 1],
    )
    # 2 tasks x (greedy per seed + sampled per seed) = 8 cells.
    clean = tmp_path / "clean"
    first = run_cli(["reportbench", "grid", str(config), "--output", str(clean)], tmp_path)
    assert first.returncode == 0, first.stderr[-3000:]
    assert "8 cells, 0 already done, 8 to run" in first.stdout
    cell_dirs = sorted(p.parent for p in clean.rglob("cell.json"))
    assert len(cell_dirs) == 8
    record = json.loads((cell_dirs[0] / "cell.json").read_text())
    assert set(record["efficiency"]) >= {"wall_seconds", "tokens_per_second", "latency_per_sample_seconds", "peak_rss_mb", "parameters"}
    assert record["config"]["gen_kwargs"]["do_sample"] in (True, False) and record["environment"]["packages"]["lm_eval"]
    results = json.loads((cell_dirs[0] / "results.json").read_text())
    assert set(results["results"]) == {record["config"]["task"]}

    # hf shares a generate call between greedy cells with equal gen_kwargs (both tasks, both seeds); a sampled cell runs alone.
    calls = {}
    for cell_dir in cell_dirs:
        cell_record = json.loads((cell_dir / "cell.json").read_text())
        efficiency = cell_record["efficiency"]
        calls[cell_dir.name] = (cell_record["config"]["gen_kwargs"]["do_sample"], efficiency["shared_call"]["cells"])
        assert efficiency["wall_seconds"] >= efficiency["generation_seconds"] > 0
    assert sorted(calls.values()) == [(False, 4)] * 4 + [(True, 1)] * 4

    again = run_cli(["reportbench", "grid", str(config), "--output", str(clean)], tmp_path)
    assert "8 cells, 8 already done, 0 to run" in again.stdout
    assert "Running generate_until" not in again.stderr  # nothing generated

    # One interrupted run after another on one folder: SIGKILL, then SIGTERM and SIGINT (Ctrl-C), each
    # stopping the resumed run a cell later. Each resume starts from what the stopped run finished; a
    # stop exits 143/130 with one line saying how to resume, no traceback, no staging folder, no child
    # process; the last resume equals the uninterrupted run.
    killed = tmp_path / "killed"
    finished = kill_grid_after(config, killed, cells=2)
    assert 2 <= finished < 6
    for sig, status, name in ((signal.SIGTERM, 143, "SIGTERM"), (signal.SIGINT, 130, "SIGINT")):
        before = finished
        finished, returncode, stderr, seconds, survivors = stop_grid_after(config, killed, cells=before + 1, sig=sig)
        assert returncode == status and seconds < 30 and survivors == [], (seconds, survivors, stderr[-3000:])
        assert before < finished < 8
        assert "Traceback" not in stderr and f"reportbench grid: stopped by {name}: {finished} of 8 cells done" in stderr
        assert "Run the same command again to resume." in stderr
        assert list(killed.rglob(".*.tmp-*")) == []  # a stopped run's (or the killed one's) half-written cell was removed
    resumed = run_cli(["reportbench", "grid", str(config), "--output", str(killed)], tmp_path)
    assert resumed.returncode == 0 and f"{finished} already done, {8 - finished} to run" in resumed.stdout
    assert list(killed.rglob(".*.tmp-*")) == []
    assert outputs(killed) == outputs(clean)

    # Two processes on one output folder, cell by cell (one cell per generate call): each cell is
    # computed once (a per-cell claim), and together they equal the run that shared generate calls.
    four = tmp_path / "four.yaml"
    four.write_text(yaml.safe_dump(yaml.safe_load(config.read_text()) | {"seeds": [0], "max_requests_per_call": 1}))
    shared = tmp_path / "shared"
    command = [str(BIN / "reportbench"), "grid", str(four), "--output", str(shared)]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    processes = [subprocess.Popen(command, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                 for _ in range(2)]
    logs = [p.communicate(timeout=900) for p in processes]
    assert [p.returncode for p in processes] == [0, 0], [err[-2000:] for _, err in logs]
    computed = [int(re.search(r"(\d+) cell\(s\) computed in this run", out).group(1)) for out, _ in logs]
    assert sum(computed) == 4, logs  # no cell computed twice
    skipped = sum(err.count("skipped cell ") for _, err in logs)
    already = [int(re.search(r"4 cells, (\d) already done", out).group(1)) for out, _ in logs]
    assert skipped + sum(already) == 4, logs  # every cell the other process had is named as skipped
    assert {json.loads(p.read_text())["efficiency"]["shared_call"]["cells"] for p in shared.rglob("cell.json")} == {1}
    assert outputs(shared) == {k: v for k, v in outputs(clean).items() if k in outputs(shared)} and len(outputs(shared)) == 4
    assert list(shared.rglob(".*.tmp-*")) == []
    # the claims live in one hidden folder, never among the cells
    assert len(list((shared / ".claims").glob("*.lock"))) == 4 and not list(shared.glob("*/*/*.lock"))


@pytest.mark.slow
def test_grid_on_a_users_data_file_evaluates_every_case(tiny_llama, tmp_path):
    data = user_cases(tmp_path, n=5)
    config = write_config(tmp_path, models=[{"name": "tiny", "backend": "hf", "path": str(tiny_llama), "batch_size": 5}],
                          tasks=["reportbench_traffic_d"], limit=None, data_file=str(data), decoding={"temperature": [0.0], "max_gen_toks": [8]})
    result = run_cli(["reportbench", "grid", str(config), "--output", str(tmp_path / "runs")], tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    (samples,) = (tmp_path / "runs").rglob("samples.jsonl")
    assert [json.loads(line)["doc"]["id"] for line in samples.read_text().splitlines()] == [f"user-{i}" for i in range(5)]
    record = json.loads((samples.parent / "cell.json").read_text())
    assert record["config"]["split"] == "all" and record["config"]["data_file"] == str(data.resolve())
    assert record["config"]["data_sha256"] == hashlib.sha256(data.read_bytes()).hexdigest()
    board = run_cli(["reportbench", "leaderboard", str(tmp_path / "runs"), "--out", str(tmp_path / "board")], tmp_path)
    assert board.returncode == 0, board.stderr[-3000:]
    page = (tmp_path / "board" / "README.md").read_text()
    assert f"- **Data, traffic:** split `all`, 5 cases evaluated; data file sha256 {record['config']['data_sha256'][:12]}" in page


@pytest.mark.slow
def test_gguf_backend_runs_the_embedded_gguf(tmp_path):
    """backend: gguf loads the packaged SmolLM2 GGUF through transformers' gguf_file."""
    config = write_config(
        tmp_path,
        models=[{"name": "smollm2-gguf", "backend": "gguf", "path": "smollm2-135m", "batch_size": 1}],
        tasks=["reportbench_traffic_d"], limit=1, decoding={"temperature": [0.0], "max_gen_toks": [8]},
    )
    result = run_cli(["reportbench", "grid", str(config), "--output", str(tmp_path / "runs")], tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    (cell,) = (tmp_path / "runs" / "smollm2-gguf" / "reportbench_traffic_d").iterdir()
    record = json.loads((cell / "cell.json").read_text())
    assert record["config"]["model"]["backend"] == "gguf" and record["efficiency"]["parameters"] > 100_000_000
    (sample,) = [json.loads(line) for line in (cell / "samples.jsonl").read_text().splitlines()]
    assert sample["resps"][0][0].strip()


@pytest.mark.slow
def test_peft_adapter_is_applied_and_changes_the_cell(tiny_llama, tmp_path):
    """A base model and the same model with a LoRA adapter are two cells with different outputs."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    torch.manual_seed(0)
    lora = LoraConfig(r=4, lora_alpha=64, target_modules=["q_proj", "v_proj"], init_lora_weights=False)
    adapter = tmp_path / "adapter"
    get_peft_model(AutoModelForCausalLM.from_pretrained(tiny_llama), lora).save_pretrained(adapter)
    config = write_config(
        tmp_path,
        models=[
            {"name": "base", "backend": "hf", "path": str(tiny_llama), "batch_size": 2},
            {"name": "tuned", "backend": "hf", "path": str(tiny_llama), "peft": str(adapter), "batch_size": 2},
        ],
        tasks=["reportbench_traffic_d"], decoding={"temperature": [0.0], "max_gen_toks": [12]},
    )
    result = run_cli(["reportbench", "grid", str(config), "--output", str(tmp_path / "runs")], tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    runs = outputs(tmp_path / "runs")
    (base,) = [v for k, v in runs.items() if k.startswith("base/")]
    (tuned,) = [v for k, v in runs.items() if k.startswith("tuned/")]
    assert base != tuned
    (cell_json,) = (tmp_path / "runs" / "tuned").rglob("cell.json")
    record = json.loads(cell_json.read_text())
    assert record["config"]["model"]["peft"] == str(adapter) and record["finished_at"].startswith("20")

    # What a user does next with the real grid output: compare the checkpoints and publish a page.
    compared = run_cli(["reportbench", "compare", str(tmp_path / "runs" / "base"), str(tmp_path / "runs" / "tuned"), "--all-metrics"], tmp_path)
    assert compared.returncode == 0, compared.stderr[-3000:]
    assert "# Paired comparison: B against A" in compared.stdout and "| all | rougeL ↑" in compared.stdout
    board = run_cli(["reportbench", "leaderboard", str(tmp_path / "runs"), "--out", str(tmp_path / "board")], tmp_path)
    assert board.returncode == 0, board.stderr[-3000:]
    page = (tmp_path / "board" / "README.md").read_text()
    assert "| 1      | " in page and "| base " in page and "| tuned " in page
    assert (tmp_path / "board" / "histograms_tuned.png").stat().st_size > 0


def test_missing_local_model_folder_is_named(tmp_path):
    path = write_config(tmp_path, models=[{"name": "x", "path": str(tmp_path / "nope")}])
    with pytest.raises(GridConfigError, match=r"models\[0\]\.path: no such file or folder"):
        cells_of(path)


def test_model_that_cannot_load_is_a_clean_error(tmp_path):
    """A hub id that is not available offline stops the grid with the file, the key and the reason."""
    path = write_config(tmp_path, models=[{"name": "x", "path": "no-such-org/no-such-model"}], tasks=["reportbench_pharma_a"])
    result = run_cli(["reportbench", "grid", str(path), "--output", str(tmp_path / "runs")], tmp_path)
    assert result.returncode == 2
    assert f"reportbench grid: {path}: models[0]: cannot load 'no-such-org/no-such-model' with backend hf" in result.stderr
    assert "Traceback" not in result.stderr


def test_dry_run_lists_every_cell_with_its_settings(tmp_path):
    path = write_config(tmp_path)
    result = run_cli(["reportbench", "grid", str(path), "--output", str(tmp_path / "runs"), "--dry-run"], tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    lines = result.stdout.splitlines()
    assert lines[-1] == "10 cells, 0 done, 10 to run"
    assert sum("greedy · 12 tok" in line for line in lines) == 2
    assert any("reportbench_traffic_d  seed=0  T=0.7 top_p=0.6 top_k=0 · 12 tok" in line for line in lines)
    assert not (tmp_path / "runs").exists()  # nothing written


def test_the_environment_is_read_once_per_grid_process_and_lm_eval_is_restored(monkeypatch):
    import lm_eval.evaluator

    from reportbench.grid import environment_read_once

    calls = []

    def fake_add_env_info(storage):
        calls.append(1)
        storage.update({"pretty_env_info": "torch 2", "lm_eval_version": "0.4"})

    monkeypatch.setattr(lm_eval.evaluator, "add_env_info", fake_add_env_info)
    first, second = {"results": 1}, {}
    with environment_read_once():
        lm_eval.evaluator.add_env_info(first)
        lm_eval.evaluator.add_env_info(second)
    assert first == {"results": 1, "pretty_env_info": "torch 2", "lm_eval_version": "0.4"}
    assert second == {"pretty_env_info": "torch 2", "lm_eval_version": "0.4"} and len(calls) == 1
    assert lm_eval.evaluator.add_env_info is fake_add_env_info
