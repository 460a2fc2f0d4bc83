import csv
import datetime as dt
import json

import pytest
from conftest import SAMPLE_CASE, write_jsonl

from reportbench.cases import REQUIRED_COLUMNS, CaseFileError, read_cases, select_cases

GOOD_CASE = SAMPLE_CASE


def problem_lines(err: CaseFileError) -> list[str]:
    return [str(p) for p in err.problems]


@pytest.mark.parametrize("domain", ["pharma", "traffic"])
def test_packaged_cases_load_as_strings_with_fixed_splits(domain):
    dev, test = select_cases(domain, "dev"), select_cases(domain)
    assert len(dev) == 80 and len(test) >= 30
    assert {case["split"] for case in test} == {"test"}
    assert not {c["id"] for c in dev} & {c["id"] for c in test}
    for case in dev + test:
        assert all(isinstance(v, str) and v.strip() for v in case.values())
        assert set(REQUIRED_COLUMNS) <= set(case)


def test_user_jsonl_keeps_every_row_and_column(tmp_path):
    rows = [dict(GOOD_CASE, notes=f"n{i}") for i in range(3)]
    cases = select_cases("pharma", data_file=str(write_jsonl(tmp_path / "mine.jsonl", rows)))
    assert len(cases) == 3
    assert cases[0]["when"] == "2024-01-10 00:30"  # not a timestamp
    assert [c["notes"] for c in cases] == ["n0", "n1", "n2"]
    assert [c["id"] for c in cases] == ["mine-line1", "mine-line2", "mine-line3"]


def test_user_file_split_filter_needs_split_column(tmp_path):
    path = write_jsonl(tmp_path / "c.jsonl", [dict(GOOD_CASE, id="a", split="dev"), dict(GOOD_CASE, id="b", split="test")])
    assert [c["id"] for c in select_cases("traffic", "dev", str(path))] == ["a"]
    no_split = write_jsonl(tmp_path / "n.jsonl", [GOOD_CASE])
    with pytest.raises(ValueError, match="no 'split' column"):
        select_cases("traffic", "dev", str(no_split))


def test_user_csv_with_multiline_cell(tmp_path):
    path = tmp_path / "cases.csv"
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(GOOD_CASE))
        writer.writeheader()
        writer.writerow(dict(GOOD_CASE, what="two\nlines"))
        writer.writerow(dict(GOOD_CASE, why=""))
    with pytest.raises(CaseFileError) as err:
        read_cases(path)
    # The first record spans lines 2-3, so the bad second record starts on line 4.
    assert problem_lines(err.value) == [f"{path}:4: field 'why': is empty"]


def test_user_xlsx_dates_become_text(tmp_path):
    import openpyxl

    path = tmp_path / "cases.xlsx"
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(list(GOOD_CASE))
    sheet.append([dt.datetime(2024, 1, 10, 0, 30) if k == "when" else v for k, v in GOOD_CASE.items()])
    sheet.append([42 if k == "who" else v for k, v in GOOD_CASE.items()])
    book.save(path)
    cases = read_cases(path)
    assert [c["when"] for c in cases] == ["2024-01-10 00:30", "2024-01-10 00:30"]
    assert cases[1]["who"] == "42"
    assert cases[1]["id"] == "cases-line3"


def test_every_problem_is_named_by_file_line_and_field(tmp_path):
    path = tmp_path / "broken.jsonl"
    lines = [
        json.dumps(dict(GOOD_CASE, id="x1")),
        "{not json",
        json.dumps({k: v for k, v in GOOD_CASE.items() if k != "why"}),
        json.dumps(dict(GOOD_CASE, who="   ")),
        json.dumps(dict(GOOD_CASE, when=20240110)),
        json.dumps(dict(GOOD_CASE, how=None)),
        json.dumps(dict(GOOD_CASE, id="x1")),
        "",
        json.dumps(dict(GOOD_CASE, split="train")),
        json.dumps(["a", "list"]),
    ]
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(CaseFileError) as err:
        read_cases(path)
    assert problem_lines(err.value) == [
        f"{path}:2: invalid JSON: Expecting property name enclosed in double quotes (column 2)",
        f"{path}:10: expected a JSON object, got list",
        f"{path}:3: field 'why': missing",
        f"{path}:4: field 'who': is empty",
        f"{path}:5: field 'when': expected a string, got int 20240110",
        f"{path}:6: field 'how': is null",
        f"{path}:7: field 'id': duplicate id 'x1' (first seen on line 1)",
        f"{path}:9: field 'split': must be one of dev, test, got 'train'",
    ]
    assert "8 problems in case file" in str(err.value)


@pytest.mark.parametrize(
    "name, content, message",
    [
        ("cases.txt", "x", "unsupported file type '.txt'"),
        ("empty.jsonl", "\n\n", "no cases found"),
        ("short.csv", "report_name,what\nA,B,C\n", "expected 2 columns, found 3"),
    ],
)
def test_unusable_files(tmp_path, name, content, message):
    path = tmp_path / name
    path.write_text(content)
    with pytest.raises(CaseFileError, match=message):
        read_cases(path)


def test_missing_file_and_folder_given_as_file(tmp_path):
    with pytest.raises(CaseFileError, match="nope.jsonl:0: file not found"):
        read_cases("/nonexistent/nope.jsonl")
    (tmp_path / "cases.jsonl").mkdir()
    with pytest.raises(CaseFileError, match="cases.jsonl:0: is a folder, expected a file"):
        read_cases(tmp_path / "cases.jsonl")


@pytest.mark.parametrize("delimiter", [";", "\t", "|", ","])
def test_csv_delimiter_is_read_from_the_header(tmp_path, delimiter):
    """A spreadsheet saved in a ';' locale (or as TSV) reads like a ',' file; commas inside fields stay."""
    import csv

    path = tmp_path / "cases.csv"
    with path.open("w", newline="", encoding="utf-8-sig") as handle:  # with a byte-order mark, as Excel writes
        writer = csv.writer(handle, delimiter=delimiter)
        writer.writerow(list(GOOD_CASE))
        writer.writerow(list(dict(GOOD_CASE, what="Spill, 2 L; cleaned").values()))
    (case,) = read_cases(path)
    assert case["what"] == "Spill, 2 L; cleaned" and case["report_name"] == GOOD_CASE["report_name"]


def test_csv_column_mismatch_names_the_delimiter(tmp_path):
    path = tmp_path / "cases.csv"
    path.write_text(";".join(GOOD_CASE) + "\n" + "a;b\n")
    with pytest.raises(CaseFileError, match=rf"cases.csv:2: expected {len(GOOD_CASE)} columns, found 2 \(columns read as separated by ';'"):
        read_cases(path)


def test_duplicate_keys_and_huge_numbers_are_named(tmp_path):
    path = tmp_path / "cases.jsonl"
    good = json.dumps(GOOD_CASE)
    path.write_text(good[:-1] + ', "what": "again"}\n' + good[:-1] + ', "n": ' + "9" * 5000 + "}\n")
    with pytest.raises(CaseFileError) as err:
        read_cases(path)
    assert problem_lines(err.value)[0] == f"{path}:1: duplicate key 'what' in one JSON object (which value is meant?)"
    assert problem_lines(err.value)[1].startswith(f"{path}:2: invalid JSON: Exceeds the limit")


def test_lm_eval_loader_exits_cleanly_on_bad_file(tmp_path):
    from reportbench.tasks import utils

    path = write_jsonl(tmp_path / "bad.jsonl", [dict(GOOD_CASE, what="")])
    with pytest.raises(SystemExit) as exc:
        utils.load_cases(domain="pharma", method="A", data_file=str(path), pretrained="ignored", version=1.0)
    assert str(exc.value) == f"reportbench: 1 problem in case file:\n{path}:1: field 'what': is empty"


def test_lm_eval_loader_builds_eval_split():
    from reportbench.tasks import utils

    dataset = utils.load_cases(domain="traffic", method="B", split="dev", version=1.0)
    assert list(dataset) == [utils.EVAL_SPLIT]
    rows = list(dataset[utils.EVAL_SPLIT])
    assert len(rows) == 80 and {r["domain"] for r in rows} == {"traffic"}
    assert all(isinstance(v, str) for r in rows for v in r.values())


def test_lm_eval_metadata_reaches_the_scorer_without_model_arg_collisions():
    from reportbench.metrics import MetricOptions
    from reportbench.tasks import utils

    # lm-eval merges --model_args (device, batch_size for the LM) into the metadata.
    dataset = utils.load_cases(domain="pharma", method="A", device="cuda:0", batch_size="auto", cross_encoder="/models/ce",
                               cross_encoder_mode="seed", metric_batch_size="8", version=2.0)
    docs = list(dataset[utils.EVAL_SPLIT])
    chosen = MetricOptions.from_json(docs[0][utils.OPTIONS_FIELD])
    assert (chosen.cross_encoder, chosen.cross_encoder_mode, chosen.metric_batch_size, chosen.metric_device) == ("/models/ce", "seed", 8, "cpu")
    assert {d[utils.OPTIONS_FIELD] for d in docs} == {chosen.to_json()}
    with pytest.raises(SystemExit, match="cross_encoder_mode must be one of"):
        utils.load_cases(domain="pharma", method="A", cross_encoder_mode="fancy")
