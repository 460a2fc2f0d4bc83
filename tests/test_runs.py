"""Reading finished runs: grid cells, lm-eval output folders and leaderboard exports into one shape."""

import json
import re

import pandas as pd
import pytest
from conftest import write_jsonl
from fixture_runs import cases, write_cell

from reportbench.labels import format_setting
from reportbench.runs import RunsError, export_runs, load_runs


def test_grid_cells_are_read_with_normalised_settings(tmp_path):
    write_cell(tmp_path, cases("pharma", [0.1, 0.2]), task="reportbench_pharma_c")
    write_cell(tmp_path, cases("traffic", [0.3]), task="reportbench_traffic_c", temperature=0.7, top_p=0.6)
    runs = load_runs(tmp_path)
    cells = runs.cells.set_index("domain")
    assert cells.loc["pharma", "prompt"] == "C" and cells.loc["pharma", "temperature"] == 0
    assert pd.isna(cells.loc["pharma", "top_p"]) and pd.isna(cells.loc["pharma", "top_k"])  # greedy ignores them
    assert cells.loc["traffic", "top_p"] == 0.6 and cells.loc["traffic", "top_k"] == 50
    assert list(cells["n"]) == [2, 1] and len(runs.samples) == 3
    assert "bi_encoder_cosine" in runs.metrics and "cross_encoder" not in runs.samples  # never computed: no column


def test_staging_folders_of_running_grids_are_skipped(tmp_path):
    folder = write_cell(tmp_path, cases("pharma", [0.1]))
    staging = folder.parent / f".{folder.name}.tmp-123"
    folder.rename(staging)
    write_cell(tmp_path, cases("pharma", [0.2]), seed=1)
    assert len(load_runs(tmp_path).cells) == 1


def test_export_round_trip_keeps_every_value(tmp_path):
    write_cell(tmp_path / "runs", cases("pharma", [0.123456789012345, 0.2]), temperature=1.0, top_p=0.6)
    write_cell(tmp_path / "runs", cases("traffic", [0.3]), task="reportbench_traffic_a", parameters=None)
    runs = load_runs(tmp_path / "runs")
    export_runs(runs, tmp_path / "data")
    again = load_runs(tmp_path / "data")
    pd.testing.assert_frame_equal(again.samples, runs.samples, check_dtype=False)
    pd.testing.assert_frame_equal(again.cells, runs.cells, check_dtype=False)
    export_runs(runs, tmp_path / "page" / "data")  # a page folder is read through its data/
    pd.testing.assert_frame_equal(load_runs(tmp_path / "page").cells, runs.cells, check_dtype=False)
    export_runs(again, tmp_path / "data2")
    assert (tmp_path / "data2" / "samples.csv").read_bytes() == (tmp_path / "data" / "samples.csv").read_bytes()


def test_lm_eval_output_folder_is_read(tmp_path):
    out = tmp_path / "out" / "model"
    out.mkdir(parents=True)
    stamp = "2026-11-21T10-00-00.0"
    (out / f"results_{stamp}.json").write_text(json.dumps({
        "config": {"model": "hf", "model_args": "pretrained=/models/tiny,peft=/adapters/lora", "random_seed": 0, "limit": 2.0,
                   "model_num_parameters": 1000},
        "configs": {"reportbench_traffic_b": {"generation_kwargs": {"temperature": 0.7, "top_p": 0.9, "max_gen_toks": 300}},
                    "reportbench_traffic": {}},
        "date": 1795000000.0, "lm_eval_version": "0.4.13", "chat_template": None, "total_evaluation_time_seconds": "12.5",
    }))
    write_jsonl(out / f"samples_reportbench_traffic_b_{stamp}.jsonl",
                [{"doc": {"id": "traffic-001"}, "target_hash": "h1", "bi_encoder_cosine": 0.5},
                 {"doc": {"id": "traffic-002"}, "target_hash": "h2", "bi_encoder_cosine": 0.7}])
    for path in (tmp_path / "out", out / f"results_{stamp}.json", out / f"samples_reportbench_traffic_b_{stamp}.jsonl"):
        (cell,) = load_runs(path).cells.to_dict("records")
        assert cell["model"] == "tiny+lora" and cell["prompt"] == "B" and cell["n"] == 2
        # lm-eval's HF model greedy-decodes a temperature without do_sample: recorded as greedy.
        assert cell["temperature"] == 0 and pd.isna(cell["top_p"]) and cell["chat_template"] is False
        assert cell["wall_seconds"] == 12.5 and cell["finished_at"].startswith("2026-11-18")


def test_setting_spellings():
    assert [format_setting("top_k", 50.0), format_setting("temperature", 1.0), format_setting("top_p", None)] == ["50", "1", "—"]


@pytest.mark.parametrize("damage, message", [
    (lambda f: (f / "samples.jsonl").write_text('{"doc": {"id": "x"}}\n{oops\n'), r"samples.jsonl:2: invalid JSON"),
    (lambda f: (f / "samples.jsonl").write_text('{"doc": {}}\n'), r"samples.jsonl:1: field 'doc.id': missing"),
    (lambda f: (f / "samples.jsonl").write_text('[1, 2]\n'), r"samples.jsonl:1: expected a JSON object, got list"),
    (lambda f: (f / "samples.jsonl").write_text('{"doc": {"id": "x"}, "rougeL": "high"}\n'), r"samples.jsonl:1: field 'rougeL': not a number"),
    (lambda f: (f / "samples.jsonl").unlink(), r"samples.jsonl: missing"),
    (lambda f: (f / "cell.json").write_text('{"cell_id": "x"}'), r"cell.json: field 'config': missing"),
    (lambda f: (f / "cell.json").write_text('{"cell_id": '), r"cell.json:1: invalid JSON"),
])
def test_damaged_runs_name_the_file_line_and_field(tmp_path, damage, message):
    damage(write_cell(tmp_path, cases("pharma", [0.1])))
    write_cell(tmp_path, cases("pharma", [0.2]), model="m2")  # a whole cell beside it
    runs = load_runs(tmp_path)
    assert list(runs.cells["model"]) == ["m2"]
    (damaged,) = runs.damaged
    assert damaged.path.startswith("m1/reportbench_pharma_a/") and re.search(message, damaged.problem), damaged
    assert damaged.known["model"] == "m1"
    with pytest.raises(RunsError, match=r"1 damaged cell folder\(s\) or stray file\(s\) among the runs:\n  m1/reportbench_pharma_a/\w+: "
                       + message + r"(.|\n)*--skip-damaged"):
        runs.require_whole(skip_damaged=False)
    runs.require_whole(skip_damaged=True)
    assert runs.select({"model": "m2"}).damaged == []  # outside the selection: it blocks nothing
    assert runs.select({"domain": "pharma"}).damaged == [damaged]


def test_incomplete_cell_folders_and_stray_files_are_named(tmp_path):
    whole = write_cell(tmp_path, cases("pharma", [0.1]))
    no_results = write_cell(tmp_path, cases("pharma", [0.2]), model="m2")
    (no_results / "results.json").unlink()
    bad_results = write_cell(tmp_path, cases("pharma", [0.3]), model="m3")
    (bad_results / "results.json").write_text("[]")
    (tmp_path / "notes.json").write_text("{}")
    (tmp_path / "m1" / "old.jsonl").write_text("{}\n")
    staging = tmp_path / "m1" / "reportbench_pharma_a" / ".abc.tmp-123"  # a grid's staging folder: not a run yet
    staging.mkdir()
    (staging / "cell.json").write_text("{")
    runs = load_runs(tmp_path)
    assert list(runs.cells["cell"]) == [whole.name]
    assert sorted((d.path, d.problem) for d in runs.damaged) == [
        ("m1/old.jsonl", "not part of any run (no cell.json beside it, not an lm-eval results_/samples_ file)"),
        (f"m2/reportbench_pharma_a/{no_results.name}", "results.json: missing; a finished cell holds cell.json, results.json, samples.jsonl"),
        (f"m3/reportbench_pharma_a/{bad_results.name}", "results.json: field 'results': missing (not lm-eval's results of this cell)"),
        ("notes.json", "not part of any run (no cell.json beside it, not an lm-eval results_/samples_ file)"),
    ]


def test_empty_folder_duplicates_and_bad_selection(tmp_path):
    with pytest.raises(RunsError, match="no finished runs"):
        load_runs(tmp_path)
    with pytest.raises(RunsError, match="no such file or folder"):
        load_runs(tmp_path / "nope")
    folder = write_cell(tmp_path / "a", cases("pharma", [0.1]))
    copy = tmp_path / "a" / "copy" / folder.name
    copy.mkdir(parents=True)
    for name in ("cell.json", "results.json", "samples.jsonl"):
        (copy / name).write_bytes((folder / name).read_bytes())
    with pytest.raises(RunsError, match="appears more than once"):
        load_runs(tmp_path / "a")
    runs = load_runs(folder)
    with pytest.raises(RunsError, match="cannot select on 'colour'"):
        runs.select({"colour": "red"})
    assert runs.select({"prompt": "A", "temperature": "0"}).cells.shape[0] == 1
    assert runs.select({"prompt": "B"}).cells.empty


def test_cell_record_round_trip_and_lm_eval_file_pairing(tmp_path):
    from reportbench.records import CellRecord, LmEvalOutput

    folder = write_cell(tmp_path, cases("pharma", [0.1]))
    record = CellRecord.read(folder / "cell.json")
    record.write(tmp_path)
    assert CellRecord.read(tmp_path / "cell.json") == record and record.config["task"] == "reportbench_pharma_a"

    output = LmEvalOutput(tmp_path / "m" / "results_2026-11-21T10-00-00.5.json")
    samples = output.samples_file("reportbench_traffic_b")
    assert samples.name == "samples_reportbench_traffic_b_2026-11-21T10-00-00.5.jsonl"
    assert LmEvalOutput.of_samples_file(samples) == (output, "reportbench_traffic_b")
    assert output.summary_file().name == "reportbench_summary_2026-11-21T10-00-00.5.json"
    with pytest.raises(RunsError, match="not an lm-eval samples file"):
        LmEvalOutput.of_samples_file(tmp_path / "notes.jsonl")
