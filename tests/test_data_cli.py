"""`reportbench data validate | check-facts | split`, run as a user would."""

import csv
import json

import pytest
from conftest import SAMPLE_CASE, run_cli, write_jsonl

from reportbench.cases import DOMAINS, REQUIRED_COLUMNS, assign_splits, read_cases
from reportbench.paths import packaged_data_dir

GOOD = dict(SAMPLE_CASE, id="pharma-901", split="dev")


@pytest.mark.parametrize("domain", DOMAINS)
def test_shipped_files_validate_and_hold_all_facts(domain, tmp_path):
    path = packaged_data_dir() / f"{domain}.jsonl"
    result = run_cli(["reportbench", "data", "validate", str(path), "--domain", domain], tmp_path)
    assert result.returncode == 0, result.stdout
    assert result.stdout.strip() == f"{path}: {len(read_cases(path))} cases, no problems"
    facts = run_cli(["reportbench", "data", "check-facts", str(path)], tmp_path)
    assert facts.returncode == 0 and facts.stdout == ""
    assert ", 0 missing from the reference reports" in facts.stderr


def test_validate_names_every_bad_line(tmp_path):
    path = tmp_path / "broken.jsonl"
    lines = [
        json.dumps(GOOD),
        json.dumps(dict(GOOD, id="pharma-902", event_description="  ")),
        "{oops",
        json.dumps(dict(GOOD, id="pharma-901")),
        json.dumps(dict(GOOD, id="P-7", why=None)),
        json.dumps({k: v for k, v in GOOD.items() if k not in ("split", "who")} | {"id": "pharma-905"}),
        json.dumps(dict(GOOD, id="pharma-906", when=["2024"])),
    ]
    path.write_text("\n".join(lines) + "\n")
    result = run_cli(["reportbench", "data", "validate", str(path), "--domain", "pharma"], tmp_path)
    assert result.returncode == 1
    assert result.stdout.splitlines() == [
        f"{path}:3: invalid JSON: Expecting property name enclosed in double quotes (column 2)",
        f"{path}:2: field 'event_description': is empty (no reference report to score against)",
        f"{path}:4: field 'id': duplicate id 'pharma-901' (first seen on line 1)",
        f"{path}:5: field 'why': is null",
        f"{path}:5: field 'id': expected 'pharma-NNN', got 'P-7'",
        f"{path}:6: field 'who': missing",
        f"{path}:6: field 'split': missing",
        f"{path}:7: field 'when': expected a string, got list ['2024']",
    ]
    assert "Traceback" not in result.stderr


def test_validate_csv_and_xlsx(tmp_path):
    import openpyxl

    csv_path = tmp_path / "cases.csv"
    with csv_path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(GOOD))
        writer.writeheader()
        writer.writerow(GOOD)
        writer.writerow(dict(GOOD, id="pharma-902", how=""))
    xlsx_path = tmp_path / "cases.xlsx"
    book = openpyxl.Workbook()
    book.active.append([c for c in GOOD if c != "why"])
    book.active.append([v for c, v in GOOD.items() if c != "why"])
    book.save(xlsx_path)
    result = run_cli(["reportbench", "data", "validate", str(csv_path)], tmp_path)
    assert (result.returncode, result.stdout.strip()) == (1, f"{csv_path}:3: field 'how': is empty")
    result = run_cli(["reportbench", "data", "validate", str(xlsx_path)], tmp_path)
    assert (result.returncode, result.stdout.strip()) == (1, f"{xlsx_path}:2: field 'why': missing")


def test_check_facts_lists_what_a_reference_leaves_out(tmp_path):
    report = GOOD["event_description"].replace("DEV-2024-0011", "a deviation").replace("00:30", "night")
    path = write_jsonl(tmp_path / "cases.jsonl", [GOOD, dict(GOOD, id="pharma-902", event_description=report)])
    result = run_cli(["reportbench", "data", "check-facts", str(path)], tmp_path)
    assert result.returncode == 1
    assert result.stdout.splitlines() == [
        f"{path}:2: field 'when': time '00:30' is missing from the reference report",
        f"{path}:2: field 'contingency_actions': id 'DEV-2024-0011' is missing from the reference report",
    ]


def test_split_rewrites_only_the_split_column(tmp_path):
    rows = [dict(GOOD, id=f"pharma-{i:03d}") for i in range(1, 11)]
    path = write_jsonl(tmp_path / "cases.jsonl", rows)
    result = run_cli(["reportbench", "data", "split", str(path), "--dev-size", "4"], tmp_path)
    assert result.returncode == 0, result.stderr
    after = [json.loads(line) for line in path.read_text().splitlines()]
    expected = assign_splits([r["id"] for r in rows], dev_size=4)
    assert [r["split"] for r in after] == [expected[r["id"]] for r in rows]
    assert [{k: v for k, v in r.items() if k != "split"} for r in after] == [
        {k: v for k, v in r.items() if k != "split"} for r in rows
    ]
    assert sorted(expected.values()).count("dev") == 4


def test_required_columns_are_documented_in_the_data_card():
    card = (packaged_data_dir() / "README.md").read_text()
    for column in REQUIRED_COLUMNS:
        assert f"`{column}`" in card
