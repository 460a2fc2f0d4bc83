"""`reportbench data ...`: validating case files and checking reference reports for key facts."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from reportbench.cases import CaseFileError, assign_splits, read_numbered_cases


def _read_or_report(path: str, domain: str | None):
    try:
        return read_numbered_cases(path, domain)
    except CaseFileError as err:
        for problem in err.problems:
            print(problem)
        print(f"{path}: {len(err.problems)} problem(s); file rejected", file=sys.stderr)
        return None


def validate(path: str, domain: str | None = None) -> int:
    cases = _read_or_report(path, domain)
    if cases is None:
        return 1
    print(f"{path}: {len(cases)} cases, no problems")
    return 0


def check_facts(path: str, domain: str | None = None) -> int:
    from reportbench.metrics.facts import extract_facts, missing_facts

    cases = _read_or_report(path, domain)
    if cases is None:
        return 1
    checked = missed = 0
    for line, case in cases:
        checked += len(extract_facts(case))
        for fact in missing_facts(case, case["event_description"]):
            missed += 1
            print(f"{path}:{line}: field '{fact.field}': {fact.kind} '{fact.text}' is missing from the reference report")
    print(f"{path}: {len(cases)} cases, {checked} key facts, {missed} missing from the reference reports", file=sys.stderr)
    return 1 if missed else 0


def resplit(path: str, dev_size: int) -> int:
    """Rewrites the split column of a JSONL file with the deterministic dev/test assignment."""
    file = Path(path)
    if file.suffix.lower() != ".jsonl":
        print(f"{path}: split rewriting supports JSONL files only", file=sys.stderr)
        return 2
    cases = _read_or_report(path, None)
    if cases is None:
        return 1
    if dev_size >= len(cases):
        print(f"{path}: dev size {dev_size} leaves no test cases ({len(cases)} in the file)", file=sys.stderr)
        return 2
    splits = assign_splits([case["id"] for _, case in cases], dev_size)
    lines = file.read_text(encoding="utf-8").splitlines()
    for line, case in cases:
        record = json.loads(lines[line - 1])
        record["split"] = splits[case["id"]]
        lines[line - 1] = json.dumps(record, ensure_ascii=False)
    file.write_text("\n".join(lines) + "\n", encoding="utf-8")
    print(f"{path}: {dev_size} dev, {len(cases) - dev_size} test")
    return 0
