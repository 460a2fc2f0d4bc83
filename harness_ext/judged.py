"""Real model outputs judged by reading: the file format and the reading sheet.

A judged file (`tasks/data/judged_test.jsonl`, or a user's own) holds one row per model output:
``{"id", "output", "model"?, "cell"?, "report", "judgements": [{"grade", "errors", "missing",
"note"?}, ...]}``, one judgement per reader. `reportbench metrics audit` reads it and reports how
often each metric orders two outputs of one case as the readers did.

`reportbench metrics judging-sheet RUNS` draws outputs from finished runs (a grid folder, lm-eval
outputs or a leaderboard's data/ export) into such a file with empty judgements, and writes a
markdown reading sheet beside it: the key fields, the reference and the outputs of each case in
random order, with no model names and no metric scores, and the instructions below.
"""

from __future__ import annotations

import json
import random
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from reportbench.jsonl import numbered_objects
from reportbench.metrics.schema import KEY_FIELDS, REFERENCE_FIELD, TITLE_FIELD

ASPECTS = KEY_FIELDS  # what a judgement lists as missing
ERROR_TYPES = {
    "wrong_fact": "a date, time, number/quantity/unit, ID, person name, role or place stated differently from the fields",
    "swap": "people or things that are in the fields, but an action or role given to the wrong one",
    "invented": "a statement of fact the fields do not support (a new number, person, cause, action, outcome)",
    "reversal": "the opposite of the fields (did / did not, opened / closed, released / quarantined, before / after)",
    "other_case": "the output is (wholly or partly) about a different incident; one entry is enough",
}
GRADES = {
    4: "every statement correct, all seven aspects present, reads as a report",
    3: "every statement correct; one or two aspects missing, or clumsy / repetitive / cut off, or a pasted field list",
    2: "exactly one factual error with the rest mostly complete; or no error but three or more aspects missing",
    1: "two or more factual errors, or one error and much missing",
    0: "not a report of this case: another incident, a title-like line, empty, or garbled",
}
INSTRUCTIONS = "\n".join([
    "Judge every output against the key fields (the reference is only a readable version of the same facts).",
    "For each output fill in one judgement per reader in the JSONL file: "
    '{"grade": 0-4, "errors": [{"type": T, "quote": "<exact words of the output>", "why": "<what the fields say>"}], '
    '"missing": [aspects], "note": "..."}.',
    "",
    "Error types (a repeated sentence repeating an error counts once):",
    *[f"- `{name}`: {text}" for name, text in ERROR_TYPES.items()],
    "",
    f"Missing: the aspects among {', '.join(ASPECTS)} that the output does not state at all (stated wrongly is an error).",
    "",
    "Grades:",
    *[f"- {grade}: {text}" for grade, text in GRADES.items()],
    "",
    "Format changes that keep a value (2025-05-19 / 19 May 2025, 7200 / 7,200) are not errors. Text copied from another "
    "incident never fills an aspect of this one. Judge by reading only: no metric scores, no model names.",
])


class JudgedInputError(ValueError):
    """Bad judged-output input; the message names file, line and field."""


@dataclass(frozen=True)
class JudgedOutput:
    case_id: str
    output: str  # unique within its file
    report: str
    grades: tuple[int, ...]  # one per reader
    errors: tuple[int, ...]  # factual errors each reader listed

    @property
    def grade(self) -> float:
        return float(np.mean(self.grades))

    @property
    def error_count(self) -> float:
        return float(np.mean(self.errors))


def _judgement(value, where: str) -> tuple[int, int]:
    """(grade, number of factual errors) of one reader's judgement of an output."""
    if not isinstance(value, dict):
        raise JudgedInputError(f"{where}: expected an object {{grade, errors, missing}}, got {value!r}")
    grade, errors, missing = value.get("grade"), value.get("errors"), value.get("missing")
    if isinstance(grade, bool) or grade not in GRADES:
        raise JudgedInputError(f"{where}.grade: expected an integer 0-4, got {grade!r}")
    if not isinstance(errors, list) or any(not isinstance(e, dict) or e.get("type") not in ERROR_TYPES for e in errors):
        raise JudgedInputError(f"{where}.errors: expected a list of {{\"type\": one of {', '.join(ERROR_TYPES)}, \"quote\", \"why\"}}")
    if not isinstance(missing, list) or not set(missing) <= set(ASPECTS):
        raise JudgedInputError(f"{where}.missing: expected a list drawn from {', '.join(ASPECTS)}, got {missing!r}")
    return grade, len(errors)


def read_judged(path: str | Path, case_ids: set[str] | frozenset[str], skip_ids: frozenset[str] = frozenset()) -> list[JudgedOutput]:
    """The judged outputs of ``path``; rows of ``skip_ids`` are skipped, any other id not in ``case_ids`` is an error."""
    out: list[JudgedOutput] = []
    seen: set[str] = set()
    for line, record in numbered_objects(path):
        where = f"{path}:{line}"
        if isinstance(record, str):
            raise JudgedInputError(f"{where}: {record}")
        case_id, output, report, judgements = (record.get(k) for k in ("id", "output", "report", "judgements"))
        if case_id in skip_ids:
            continue
        if not isinstance(case_id, str) or case_id not in case_ids:
            raise JudgedInputError(f"{where}: field 'id': {case_id!r} is not a case of the audited split")
        if not isinstance(output, str) or not output.strip() or output in seen:
            raise JudgedInputError(f"{where}: field 'output': missing, empty or repeated ({output!r})")
        seen.add(output)
        if not isinstance(report, str):
            raise JudgedInputError(f"{where}: field 'report': missing or not a string")
        if not isinstance(judgements, list) or not judgements:
            raise JudgedInputError(f"{where}: field 'judgements': expected a non-empty list, one judgement per reader "
                                   "(a reading sheet's rows stay empty until read)")
        grades, errors = zip(*(_judgement(j, f"{where}: field 'judgements[{i}]'") for i, j in enumerate(judgements)))
        out.append(JudgedOutput(case_id, output, report, tuple(grades), tuple(errors)))
    return out


# ---------------------------------------------------------------- the reading sheet

def draw_outputs(runs, cases_per_domain: int, per_case: int, seed: int) -> list[dict]:
    """Rows of a judging sheet drawn from ``runs`` (a `reportbench.runs.Runs`): ``cases_per_domain`` cases of
    each domain among those every model answered, and per case up to ``per_case`` outputs of different
    models with different reports (as parsed for scoring), all drawn with ``seed``."""
    from reportbench.parsing import parse_report

    joined = runs.joined()
    by_case: dict[str, list[tuple[str, str, str]]] = defaultdict(list)
    domain_of: dict[str, str] = {}
    for row in joined.itertuples():
        by_case[row.case_id].append((row.cell, row.model, parse_report(row.prediction or "").report.strip()))
        domain_of[row.case_id] = row.domain
    models = set(joined["model"])
    answered_by_all = sorted(c for c, outs in by_case.items() if {m for _, m, _ in outs} == models)
    rng = random.Random(seed)
    chosen: list[str] = []
    for domain in sorted(set(domain_of.values())):
        pool = [c for c in answered_by_all if domain_of[c] == domain]
        rng.shuffle(pool)
        chosen += sorted(pool[:cases_per_domain])
    rows = []
    for case_id in chosen:
        outputs = list(by_case[case_id])
        rng.shuffle(outputs)
        reports: set[str] = set()
        used_models: set[str] = set()
        for cell, model, report in outputs:
            if report in reports or model in used_models:
                continue
            reports.add(report)
            used_models.add(model)
            rows.append({"id": case_id, "output": f"{case_id}/{len(used_models)}", "model": model, "cell": cell,
                         "report": report, "judgements": []})
            if len(used_models) == per_case:
                break
    return rows


def reading_sheet(rows: Sequence[Mapping], cases: Mapping[str, Mapping[str, str]]) -> str:
    """The markdown a reader judges from: instructions, then each case's key fields, reference and outputs (no model names)."""
    lines = ["# Reading sheet: judge each output for factual errors", "", INSTRUCTIONS, ""]
    by_case: dict[str, list[Mapping]] = defaultdict(list)
    for row in rows:
        by_case[row["id"]].append(row)
    for case_id, outputs in by_case.items():
        case = cases[case_id]
        lines += [f"## Case {case_id}", "", "Key fields:", "",
                  *[f"- {name}: {case[name]}" for name in (TITLE_FIELD, *KEY_FIELDS)], "",
                  "Reference report:", "", case[REFERENCE_FIELD], ""]
        for row in outputs:
            lines += [f"### Output {row['output']}", "", "```text", row["report"] or "(empty)", "```", ""]
    return "\n".join(lines)


def write_sheet(rows: Sequence[Mapping], cases: Mapping[str, Mapping[str, str]], out: str | Path) -> tuple[Path, Path]:
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows), encoding="utf-8")
    sheet = out.with_suffix(".md")
    sheet.write_text(reading_sheet(rows, cases), encoding="utf-8")
    return out, sheet
