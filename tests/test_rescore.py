"""`reportbench rescore`: finished grid cells scored again in place."""

import json
from pathlib import Path

from fixture_runs import write_cell

from reportbench.audit import packaged_rewrites
from reportbench.cases import read_cases
from reportbench.cli import main
from reportbench.metrics import DEFAULT_OPTIONS, ScoringInput, score_samples
from reportbench.paths import packaged_data_dir
from reportbench.records import CellRecord
from reportbench.runs import load_runs, read_export_table

CASES = [c for c in read_cases(packaged_data_dir() / "pharma.jsonl") if c["split"] == "test"][:2]


def _real_cell(root, texts):
    """A grid cell whose samples hold real cases and JSON generations of ``texts`` (stale metric values)."""
    folder = write_cell(root, {c["id"]: 0.5 for c in CASES}, metric="rouge1")
    rows = [json.loads(line) for line in (folder / "samples.jsonl").read_text().splitlines()]
    for row, case, text in zip(rows, CASES, texts):
        row["doc"] = case
        row["resps"] = [[json.dumps({"title": case["report_name"], "report": text})]]
        row["filtered_resps"] = row["resps"][0]
    (folder / "samples.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return folder


def test_rescore_writes_values_means_and_a_record_and_the_cell_still_reads(tmp_path, capsys):
    texts = [CASES[0]["event_description"], packaged_rewrites()[CASES[1]["id"]][0]]
    folder = _real_cell(tmp_path, texts)
    assert main(["rescore", str(tmp_path), "--metrics", "rouge1,cross_encoder"]) == 0
    rows = [json.loads(line) for line in (folder / "samples.jsonl").read_text().splitlines()]
    expected = score_samples([ScoringInput.from_case(c, t) for c, t in zip(CASES, texts)], ["cross_encoder"], DEFAULT_OPTIONS)
    assert [r["cross_encoder"] for r in rows] == expected.values["cross_encoder"]
    assert rows[0]["rouge1"] == 1.0 and rows[1]["rouge1"] < 1  # the reference itself, then a rewrite
    assert rows[0]["bleu"] == 0.1  # a metric not named keeps its value
    results = json.loads((folder / "results.json").read_text())["results"]["reportbench_pharma_a"]
    assert results["cross_encoder,parsed"] == (rows[0]["cross_encoder"] + rows[1]["cross_encoder"]) / 2
    record = CellRecord.read(folder / "cell.json")
    (entry,) = record.rescored
    assert entry["metrics"] == ["rouge1", "cross_encoder"] and len(entry["settings_sha256"]) == 64
    samples = load_runs(tmp_path).samples
    assert sorted(samples["cross_encoder"]) == sorted(r["cross_encoder"] for r in rows)
    assert "rescored in 1 cell(s)" in capsys.readouterr().err
    assert not list(folder.glob(".*"))  # no staging file left behind


def test_rescore_names_what_it_cannot_do(tmp_path, capsys):
    assert main(["rescore", str(tmp_path), "--metrics", "cross_encoder"]) == 2
    assert "no grid cell (cell.json) or data export (samples.csv) below it" in capsys.readouterr().err
    folder = write_cell(tmp_path, {"pharma-001": 0.5})  # synthetic docs: no key fields, no reference
    before = (folder / "samples.jsonl").read_text()
    assert main(["rescore", str(tmp_path), "--metrics", "cross_encoder"]) == 2
    err = capsys.readouterr().err
    assert "samples.jsonl:1: field" in err and "Traceback" not in err
    assert (folder / "samples.jsonl").read_text() == before
    damaged = write_cell(tmp_path, {"pharma-001": 0.5}, seed=1)  # a damaged cell is named, not skipped
    (damaged / "cell.json").unlink()
    assert main(["rescore", str(tmp_path), "--metrics", "rouge1"]) == 2
    assert "cell.json: missing; a finished cell holds" in capsys.readouterr().err
    assert (folder / "samples.jsonl").read_text() == before  # nothing rewritten before the damaged cell was found
    assert main(["rescore", str(tmp_path), "--metrics", "no_such_metric"]) == 2
    assert "no_such_metric" in capsys.readouterr().err


def _page_export(tmp_path, rows: int = 6):
    """The first ``rows`` samples of the published page's data export, copied."""
    source = Path(__file__).resolve().parent.parent / "leaderboards" / "two-families" / "data"
    folder = tmp_path / "data"
    folder.mkdir()
    (folder / "cells.csv").write_text((source / "cells.csv").read_text())
    samples = read_export_table(source / "samples.csv")
    samples.head(rows).to_csv(folder / "samples.csv", index=False, lineterminator="\n")
    return folder, samples.head(rows)


def test_rescore_of_a_page_export_recomputes_from_the_kept_generations(tmp_path, capsys):
    folder, original = _page_export(tmp_path)
    stale = original.assign(rouge1=0.5, fact_recall=0.5)
    stale.to_csv(folder / "samples.csv", index=False, lineterminator="\n")
    assert main(["rescore", str(tmp_path), "--metrics", "rouge1,fact_recall"]) == 0
    assert "rescored in 6 exported sample(s)" in capsys.readouterr().err
    again = read_export_table(folder / "samples.csv")
    # the page's own values come back (its generations parsed and scored as the grid scored them)
    assert again["rouge1"].tolist() == original["rouge1"].tolist()
    assert again["fact_recall"].tolist() == original["fact_recall"].tolist()
    assert again.drop(columns=["rouge1", "fact_recall"]).equals(original.drop(columns=["rouge1", "fact_recall"]))
    assert len(load_runs(folder).samples) == 6


def test_rescore_of_an_export_names_the_row_whose_case_it_cannot_match(tmp_path, capsys):
    folder, original = _page_export(tmp_path, rows=3)
    original.assign(target_hash=["x", *original["target_hash"][1:]]).to_csv(folder / "samples.csv", index=False, lineterminator="\n")
    before = (folder / "samples.csv").read_text()
    assert main(["rescore", str(folder), "--metrics", "rouge1"]) == 2
    err = capsys.readouterr().err
    assert "samples.csv: row 1: field 'target_hash'" in err and "Traceback" not in err
    assert (folder / "samples.csv").read_text() == before
    original.assign(case_id=["pharma-999", *original["case_id"][1:]]).to_csv(folder / "samples.csv", index=False, lineterminator="\n")
    assert main(["rescore", str(folder), "--metrics", "rouge1"]) == 2
    assert "samples.csv: row 1: field 'case_id': 'pharma-999' is not a packaged case" in capsys.readouterr().err
