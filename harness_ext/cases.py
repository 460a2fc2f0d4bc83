"""Loading and validating incident cases (package data or a user's file).

Every problem is reported as ``FILE:LINE: field 'X': <problem>`` and all of a
file's problems are collected before failing, so a user fixes them in one pass.
Nothing is dropped: a row either loads with all its columns or is reported.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from reportbench.jsonl import numbered_objects
from reportbench.metrics.schema import KEY_FIELDS, REFERENCE_FIELD, TITLE_FIELD
from reportbench.paths import packaged_data_dir

REQUIRED_COLUMNS = (TITLE_FIELD, *KEY_FIELDS, REFERENCE_FIELD)
DOMAINS = ("pharma", "traffic")
SPLITS = ("dev", "test")
DEFAULT_SPLIT = "test"
DEV_SIZE = 80  # cases per domain in the dev split, as in the tuning grids of the seed study
SUPPORTED_SUFFIXES = (".jsonl", ".csv", ".xlsx")

@dataclass(frozen=True)
class CaseProblem:
    file: str
    line: int
    field: str | None
    message: str

    def __str__(self) -> str:
        where = f"field '{self.field}': " if self.field else ""
        return f"{self.file}:{self.line}: {where}{self.message}"


class CaseFileError(ValueError):
    """A case file has one or more problems; ``problems`` lists all of them."""

    def __init__(self, problems: list[CaseProblem]):
        self.problems = problems
        count = f"{len(problems)} problem{'s' if len(problems) != 1 else ''}"
        super().__init__(f"{count} in case file:\n" + "\n".join(map(str, problems)))


def _cell_to_text(value: Any) -> str:
    """Spreadsheet cells arrive typed; the benchmark keeps every field as text.

    Excel turns "2024-01-10 00:30" into a datetime, so we write it back in the
    same ISO form rather than a locale- or library-specific repr.
    """
    if value is None:
        return ""
    if isinstance(value, dt.datetime):
        if value.time() == dt.time(0):
            return value.strftime("%Y-%m-%d")
        return value.strftime("%Y-%m-%d %H:%M:%S" if value.second else "%Y-%m-%d %H:%M")
    if isinstance(value, dt.date):
        return value.strftime("%Y-%m-%d")
    if isinstance(value, dt.time):
        return value.strftime("%H:%M:%S" if value.second else "%H:%M")
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _read_jsonl(path: Path, problems: list[CaseProblem]) -> list[tuple[int, dict]]:
    rows = []
    for line_no, record in numbered_objects(path):
        if isinstance(record, str):
            problems.append(CaseProblem(str(path), line_no, None, record))
        else:
            rows.append((line_no, record))
    return rows


CSV_DELIMITERS = (",", ";", "\t", "|")


def csv_delimiter(header_line: str) -> str:
    """The delimiter of a case file's header: the one of CSV_DELIMITERS that splits it into the most
    known column names (a spreadsheet in a ';' locale writes ';'); ',' when none tells them apart."""
    known = set(REQUIRED_COLUMNS) | {"id", "split"}

    def named(delimiter: str) -> int:
        return sum(name.strip() in known for name in next(csv.reader([header_line], delimiter=delimiter), []))

    return max(CSV_DELIMITERS, key=lambda d: (named(d), d == ","))


def _read_csv(path: Path, problems: list[CaseProblem]) -> list[tuple[int, dict]]:
    rows = []
    with path.open(encoding="utf-8-sig", newline="") as handle:
        delimiter = csv_delimiter(handle.readline())
        handle.seek(0)  # (utf-8-sig skips a byte-order mark again after the seek)
        reader = csv.reader(handle, delimiter=delimiter)
        header = next(reader, None)
        if header is None:
            return rows
        header = [name.strip() for name in header]
        record_start = reader.line_num + 1
        for cells in reader:
            if any(cell.strip() for cell in cells):
                if len(cells) != len(header):
                    problems.append(CaseProblem(str(path), record_start, None,
                                                f"expected {len(header)} columns, found {len(cells)} "
                                                f"(columns read as separated by {delimiter!r}; the header decides)"))
                else:
                    rows.append((record_start, dict(zip(header, cells))))
            record_start = reader.line_num + 1
    return rows


def _read_xlsx(path: Path, problems: list[CaseProblem]) -> list[tuple[int, dict]]:
    import openpyxl

    workbook = openpyxl.load_workbook(path, read_only=True, data_only=True)
    sheet = workbook.worksheets[0]
    rows = []
    values = sheet.iter_rows(values_only=True)
    header = next(values, None)
    if header is None:
        return rows
    header = [_cell_to_text(name).strip() for name in header]
    for row_no, cells in enumerate(values, start=2):
        if all(cell is None or str(cell).strip() == "" for cell in cells):
            continue
        rows.append((row_no, {name: _cell_to_text(cell) for name, cell in zip(header, cells) if name}))
    workbook.close()
    return rows


_READERS = {".jsonl": _read_jsonl, ".csv": _read_csv, ".xlsx": _read_xlsx}


def validate_rows(
    path: Path, rows: list[tuple[int, dict]], problems: list[CaseProblem], domain: str | None = None
) -> list[tuple[int, dict]]:
    """Checks schema, types, empty fields and duplicate ids; returns clean (line, case) pairs.

    With ``domain``, the file is held to the benchmark's own rules: ids of the form
    ``<domain>-NNN`` and a split for every case.
    """
    clean = []
    seen_ids: dict[str, int] = {}
    for line_no, record in rows:
        row_ok = True
        required = REQUIRED_COLUMNS + (("id", "split") if domain else ())
        for column in required:
            if column not in record:
                problems.append(CaseProblem(str(path), line_no, column, "missing"))
                row_ok = False
        for column, value in record.items():
            if value is None:
                problems.append(CaseProblem(str(path), line_no, column, "is null"))
                row_ok = False
            elif not isinstance(value, str):
                problems.append(CaseProblem(str(path), line_no, column, f"expected a string, got {type(value).__name__} {value!r}"))
                row_ok = False
            elif column in required and not value.strip():
                detail = " (no reference report to score against)" if column == REFERENCE_FIELD else ""
                problems.append(CaseProblem(str(path), line_no, column, f"is empty{detail}"))
                row_ok = False
        has_id = isinstance(record.get("id"), str) and record["id"].strip()
        if domain and has_id and not re.fullmatch(rf"{domain}-\d{{3,}}", record["id"]):
            problems.append(CaseProblem(str(path), line_no, "id", f"expected '{domain}-NNN', got {record['id']!r}"))
            row_ok = False
        if "split" in record and isinstance(record["split"], str) and record["split"] not in SPLITS:
            problems.append(CaseProblem(str(path), line_no, "split", f"must be one of {', '.join(SPLITS)}, got {record['split']!r}"))
            row_ok = False
        case_id = record.get("id")
        if isinstance(case_id, str) and case_id:
            if case_id in seen_ids:
                problems.append(CaseProblem(str(path), line_no, "id", f"duplicate id {case_id!r} (first seen on line {seen_ids[case_id]})"))
                row_ok = False
            else:
                seen_ids[case_id] = line_no
        if row_ok:
            clean.append((line_no, {"id": f"{path.stem}-line{line_no}", **record}))
    return clean


def read_cases(path: str | Path, domain: str | None = None) -> list[dict]:
    """Reads and validates a JSONL, CSV or XLSX case file.

    Raises CaseFileError listing every problem found in the file.
    """
    return [case for _, case in read_numbered_cases(path, domain)]


def read_numbered_cases(path: str | Path, domain: str | None = None) -> list[tuple[int, dict]]:
    """As read_cases, with the line (CSV) or row (XLSX) number of each case."""
    path = Path(path).expanduser()
    if path.is_dir():
        raise CaseFileError([CaseProblem(str(path), 0, None, "is a folder, expected a file")])
    if not path.is_file():
        raise CaseFileError([CaseProblem(str(path), 0, None, "file not found")])
    reader = _READERS.get(path.suffix.lower())
    if reader is None:
        raise CaseFileError([CaseProblem(str(path), 0, None, f"unsupported file type {path.suffix!r}; use one of {', '.join(SUPPORTED_SUFFIXES)}")])
    problems: list[CaseProblem] = []
    try:
        rows = reader(path, problems)
    except (UnicodeDecodeError, csv.Error, OSError) as err:
        raise CaseFileError([CaseProblem(str(path), 0, None, f"cannot read file: {err}")]) from err
    except Exception as err:  # openpyxl raises assorted types for corrupt workbooks
        if path.suffix.lower() != ".xlsx":
            raise
        raise CaseFileError([CaseProblem(str(path), 0, None, f"cannot read workbook: {err}")]) from err
    cases = validate_rows(path, rows, problems, domain)
    if not rows and not problems:
        problems.append(CaseProblem(str(path), 1, None, "no cases found"))
    if problems:
        raise CaseFileError(problems)
    return cases


def select_cases(domain: str, split: str | None = None, data_file: str | None = None) -> list[dict]:
    """The cases a task evaluates.

    Packaged data: the rows of ``split`` (default ``test``).
    A user's ``data_file``: every row, or only ``split`` when the file has a split column.
    """
    if domain not in DOMAINS:
        raise ValueError(f"unknown domain {domain!r}; expected one of {', '.join(DOMAINS)}")
    if split is not None and split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; expected one of {', '.join(SPLITS)}")
    if data_file:
        cases = read_cases(data_file)
        if split is None:
            return cases
        if not all("split" in case for case in cases):
            raise ValueError(f"{data_file}: split {split!r} was requested but the file has no 'split' column in every row")
    else:
        cases = read_cases(packaged_data_dir() / f"{domain}.jsonl", domain)
    wanted = split or DEFAULT_SPLIT
    return [case for case in cases if case.get("split") == wanted]


def split_rank(case_id: str) -> str:
    """A stable pseudo-random order of ids, independent of file order and Python's hash seed."""
    return hashlib.sha256(f"reportbench-split:{case_id}".encode()).hexdigest()


def assign_splits(case_ids: list[str], dev_size: int = DEV_SIZE) -> dict[str, str]:
    """dev = the ``dev_size`` ids that rank first by split_rank; test = all others."""
    ranked = sorted(case_ids, key=split_rank)
    return {case_id: ("dev" if rank < dev_size else "test") for rank, case_id in enumerate(ranked)}
