"""Rescoring saved outputs: `reportbench score` and what it reads.

Two input formats, detected per row:
- an lm-eval ``samples_*.jsonl`` row of a reportbench task (``doc`` + ``resps``): the raw
  generation is parsed again and scored against the case in ``doc``;
- a plain row with ``prediction`` (the report text, scored as it is) and ``reference``,
  optionally ``generation`` (raw model output, parsed, instead of ``prediction``), ``title``,
  ``report_name`` and the seven key fields.
Metrics whose inputs a file lacks (key fields, titles, raw generations) are left out and named.

`reportbench rescore RUNS`: the same scoring of finished grid cells, written back in place (each
sample's value in ``samples.jsonl``, the task mean in ``results.json``, and a ``rescored`` entry in
``cell.json``), so a changed metric model reaches a leaderboard without generating again.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import sys
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from reportbench.jsonl import numbered_objects
from reportbench.metrics import (
    DEFAULT_OPTIONS,
    NEEDS,
    TASK_METRICS,
    MetricOptions,
    MetricOptionsError,
    ScoringInput,
    get_metric,
    judge,
    score_samples,
)
from reportbench.metrics.base import FIELDS, GENERATION, MODEL, TITLES, is_missing
from reportbench.metrics.confidence import summarize
from reportbench.metrics.judge import journal_summary
from reportbench.metrics.schema import KEY_FIELDS, REFERENCE_FIELD, TITLE_FIELD
from reportbench.parsing import parse_report
from reportbench.records import (
    CELL_FILE,
    RESULTS_FILE,
    SAMPLES_FILE,
    CellRecord,
    RunsError,
    read_json,
    read_samples,
    score_judge_log,
    write_judge_log,
)


class ScoreInputError(ValueError):
    pass


@dataclass
class Row:
    line: int
    row_id: str
    sample: ScoringInput
    has: frozenset[str]  # the metric needs (metrics.base.NEEDS) this row can satisfy


@dataclass
class ScoreRun:
    rows: list[Row]
    values: dict[str, list[float]] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)  # metric -> why it was not computed
    judged: list[dict] = field(default_factory=list)  # the judge log, one line per judged row


def _text(record: dict, key: str, path: Path, line: int, required: bool = True) -> str | None:
    value = record.get(key)
    if value is None:
        if required:
            raise ScoreInputError(f"{path}:{line}: field '{key}': missing")
        return None
    if not isinstance(value, str):
        raise ScoreInputError(f"{path}:{line}: field '{key}': expected a string, got {type(value).__name__}")
    return value


def _row(record: dict, path: Path, line: int) -> Row:
    if "doc" in record and "resps" in record:  # lm-eval samples file
        doc = record["doc"]
        if not isinstance(doc, dict):
            raise ScoreInputError(f"{path}:{line}: field 'doc': expected an object, got {type(doc).__name__}")
        try:
            generation = record["resps"][0][0]
        except (IndexError, TypeError, KeyError):
            raise ScoreInputError(f"{path}:{line}: field 'resps': expected [[generation]]") from None
        if not isinstance(generation, str):  # parse_report takes text only
            raise ScoreInputError(f"{path}:{line}: field 'resps': expected [[generation]] with a string, got {type(generation).__name__}")
        for key in (REFERENCE_FIELD, *KEY_FIELDS):
            _text(doc, key, path, line)
        parsed = parse_report(generation)
        sample = ScoringInput.from_case(doc, parsed.report, parsed.title, parsed.json_valid, parsed.truncated)
        has = {FIELDS, GENERATION, MODEL} | ({TITLES} if TITLE_FIELD in doc else set())
        return Row(line, str(doc.get("id", record.get("doc_id", line))), sample, frozenset(has))
    reference = _text(record, "reference", path, line)
    generation = _text(record, "generation", path, line, required=False)
    if generation is not None:
        parsed = parse_report(generation)
        report, title, json_valid, truncated = parsed.report, parsed.title, parsed.json_valid, parsed.truncated
    else:
        report = _text(record, "prediction", path, line)
        title, json_valid, truncated = _text(record, "title", path, line, required=False) or "", False, False
    has_fields = all(isinstance(record.get(k), str) for k in KEY_FIELDS)
    reference_title = _text(record, TITLE_FIELD, path, line, required=False)
    sample = ScoringInput(
        prediction=report,
        reference=reference,
        json_valid=json_valid,
        predicted_title=title,
        reference_title=reference_title or "",
        fields={k: record[k] for k in KEY_FIELDS} if has_fields else {},
        truncated=truncated,
    )
    has_titles = reference_title is not None and (generation is not None or "title" in record)
    has = {MODEL} | ({FIELDS} if has_fields else set()) | ({TITLES} if has_titles else set()) | ({GENERATION} if generation is not None else set())
    return Row(line, str(record.get("id", line)), sample, frozenset(has))


def read_rows(path: str | Path) -> list[Row]:
    path = Path(path)
    if not path.is_file():
        raise ScoreInputError(f"{path}:0: file not found")
    rows = []
    for line, record in numbered_objects(path):
        if isinstance(record, str):
            raise ScoreInputError(f"{path}:{line}: {record}")
        rows.append(_row(record, path, line))
    if not rows:
        raise ScoreInputError(f"{path}:1: no rows to score")
    return rows


def _applicable(name: str, rows: list[Row]) -> str | None:
    """Why a metric cannot be computed for these rows (a need they lack), or None."""
    for need in sorted(get_metric(name).needs):
        missing = [r.line for r in rows if need not in r.has]
        if missing:
            return f"needs {NEEDS[need]}; missing on {len(missing)} row(s), first at line {missing[0]}"
    return None


def score_file(path: str | Path, metric_names=TASK_METRICS, options: MetricOptions = DEFAULT_OPTIONS,
               explicit: frozenset[str] = frozenset()) -> ScoreRun:
    """Scores every row with ``metric_names``; ``explicit``: the names the user asked for (an optional
    metric that is off is reported only then)."""
    rows = read_rows(path)
    run = ScoreRun(rows)
    wanted = []
    for name in metric_names:
        get_metric(name)  # unknown names fail before any model loads
        reason = _applicable(name, rows)
        if reason:
            run.skipped[name] = reason
        else:
            wanted.append(name)
    mark = judge.journal_mark()
    scores = score_samples([r.sample for r in rows], wanted, options)
    judge.tag_journal(mark, [r.row_id for r in rows], input=str(path))
    run.judged = [line for line in judge.take_journal() if line.get("input") == str(path)]
    run.values = scores.values
    # optional metrics that are off (the LLM judge) are only reported when asked for by name
    run.skipped.update({name: why if name in scores.not_switched_on else f"unavailable: {why}"
                        for name, why in scores.unavailable.items()
                        if name not in scores.not_switched_on or name in explicit})
    return run


def write_scores(run: ScoreRun, output: str | Path) -> None:
    output = Path(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    with output.open("w", encoding="utf-8") as handle:
        for i, row in enumerate(run.rows):
            # a missing value (NaN) is written as null
            values = {name: None if is_missing(column[i]) else column[i] for name, column in run.values.items()}
            handle.write(json.dumps({"line": row.line, "id": row.row_id, **values}, ensure_ascii=False) + "\n")


def summary_table(run: ScoreRun) -> list[dict]:
    return [{"metric": name, **summarize(column)} for name, column in run.values.items()]


def main(args, options: MetricOptions = DEFAULT_OPTIONS) -> int:
    from tabulate import tabulate

    names = [n.strip() for n in args.metrics.split(",")] if args.metrics else list(TASK_METRICS)
    try:
        run = score_file(args.input, names, options, frozenset(names) if args.metrics else frozenset())
    except (ScoreInputError, MetricOptionsError, KeyError, ValueError) as err:
        print(f"reportbench score: {err.args[0] if err.args else err}", file=sys.stderr)
        return 2
    write_scores(run, args.output)
    if run.judged:
        log = write_judge_log(score_judge_log(args.output), run.judged)
        print(f"reportbench: judge log ({journal_summary(run.judged)}) -> {log}")
    table = summary_table(run)
    summary_path = Path(args.output).with_suffix(".summary.json")
    summary_path.write_text(json.dumps({"input": str(args.input), "metrics": table, "skipped": run.skipped}, indent=2))
    print(tabulate(
        [[r["metric"], r["n"], r["mean"], r["std"], "—" if r["n"] == 0 else f"[{r['ci_low']:.4f}, {r['ci_high']:.4f}]"]
         for r in table],
        headers=["metric", "n", "mean", "std", "95% CI (bootstrap)"], floatfmt=".4f", tablefmt="github",
    ))
    for name, reason in run.skipped.items():
        print(f"{name}: not computed ({reason})")
    print(f"reportbench: {len(run.rows)} rows scored -> {args.output} (summary: {summary_path})")
    return 0


# ---------------------------------------------------------------- rescoring grid cells in place

def _write_atomically(path: Path, text: str) -> None:
    staging = path.with_name(f".{path.name}.rescoring")
    staging.write_text(text, encoding="utf-8")
    os.replace(staging, path)


def _settings_digest(names: list[str], options: MetricOptions) -> str:
    settings = {name: get_metric(name).describe(options) for name in names}
    return hashlib.sha256(json.dumps(settings, sort_keys=True, default=str).encode("utf-8")).hexdigest()


def rescore_cell(folder: Path, names: list[str], options: MetricOptions) -> dict[str, float]:
    """Scores a finished grid cell's samples again with ``names`` and writes the values back; returns
    the new task means. Refuses (RunsError or ScoreInputError naming the file) a cell with a file
    missing or unreadable, or whose samples lack a need."""
    from reportbench.runs import require_cell_files

    samples_path, results_path, cell_path = folder / SAMPLES_FILE, folder / RESULTS_FILE, folder / CELL_FILE
    require_cell_files(folder)
    cell = CellRecord.read(cell_path)
    run = score_file(samples_path, names, options, frozenset(names))
    if run.skipped:
        name, why = next(iter(run.skipped.items()))
        raise ScoreInputError(f"{samples_path}: {name} cannot be rescored: {why}")
    samples, results = read_samples(samples_path), read_json(results_path)
    task = cell.config["task"]
    if task not in results.get("results", {}):
        raise ScoreInputError(f"{results_path}: field 'results.{task}': missing (the task of {cell_path})")
    means = {}
    for name in names:
        column = run.values[name]
        for sample, value in zip(samples, column):
            sample[name] = None if is_missing(value) else value
        present = [v for v in column if not is_missing(v)]
        means[name] = sum(present) / len(present) if present else math.nan
        results["results"][task][f"{name},parsed"] = means[name]
    _write_atomically(samples_path, "".join(json.dumps(s, ensure_ascii=False) + "\n" for s in samples))
    _write_atomically(results_path, json.dumps(results, indent=2, ensure_ascii=False))
    cell.rescored.append({
        "at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "metrics": names,
        "metric_options": {k: v for k, v in json.loads(options.to_json()).items() if v is not None},
        "settings_sha256": _settings_digest(names, options),
    })
    _write_atomically(cell_path, cell.text())
    return means


def rescore_export(folder: Path, names: list[str], options: MetricOptions) -> int:
    """Scores the samples of a leaderboard's data export (``samples.csv``: one row per sample with its
    raw generation) again with ``names`` against the packaged cases and writes the values back; the
    reference of each case must be the one the sample was scored against (``target_hash``). Returns
    the number of samples. A page rebuilt from the export (`reportbench leaderboard DIR/data`) then
    shows the new values."""
    from reportbench.cases import DOMAINS, select_cases
    from reportbench.digests import text_digest
    from reportbench.runs import EXPORT_SAMPLES, PREDICTION, read_export_table

    path = folder / EXPORT_SAMPLES
    samples = read_export_table(path)
    if PREDICTION not in samples.columns:
        raise ScoreInputError(f"{path}: column '{PREDICTION}' missing: exported before pages kept the generations, "
                              "so it cannot be rescored")
    cases = {c["id"]: c for domain in DOMAINS for c in select_cases(domain)}
    inputs = []
    for number, row in enumerate(samples.itertuples(index=False), start=1):  # a row may span lines (a generation)
        case = cases.get(row.case_id)
        if case is None:
            raise ScoreInputError(f"{path}: row {number}: field 'case_id': {row.case_id!r} is not a packaged case")
        if text_digest(case[REFERENCE_FIELD]) != row.target_hash:
            raise ScoreInputError(f"{path}: row {number}: field 'target_hash': the packaged case {row.case_id} has another "
                                  "reference than the one this sample was scored against")
        parsed = parse_report(row.prediction if isinstance(row.prediction, str) else "")
        inputs.append(ScoringInput.from_case(case, parsed.report, parsed.title, parsed.json_valid, parsed.truncated))
    scores = score_samples(inputs, names, options)
    for name in names:
        if name not in scores.values:
            raise ScoreInputError(f"{path}: {name} cannot be rescored: {scores.unavailable.get(name, 'not computed')}")
        samples[name] = [None if is_missing(v) else v for v in scores.values[name]]
    _write_atomically(path, samples.to_csv(index=False, lineterminator="\n"))
    return len(samples)


def rescore_main(args, options: MetricOptions = DEFAULT_OPTIONS) -> int:
    """`reportbench rescore RUNS... --metrics NAMES`."""
    from tqdm.auto import tqdm

    from reportbench.runs import EXPORT_SAMPLES, cell_folders, export_folder, require_cell_files

    names = [n.strip() for n in args.metrics.split(",") if n.strip()]
    try:
        for name in names:
            get_metric(name)
        folders, exports = [], []
        for root in args.runs:
            if not Path(root).is_dir():
                raise ScoreInputError(f"{root}: not a folder of grid cells")
            if (export := export_folder(root)) is not None:  # a leaderboard's data export
                exports.append(export)
                continue
            found = cell_folders(Path(root))
            if not found:
                raise ScoreInputError(f"{root}: no grid cell ({CELL_FILE}) or data export ({EXPORT_SAMPLES}) below it")
            for folder in found:  # a damaged cell is named before any cell is rewritten, never skipped
                require_cell_files(folder)
            folders += found
        for folder in tqdm(folders, desc="rescoring cells", file=sys.stderr, disable=len(folders) < 2):
            rescore_cell(folder, names, options)
        exported = sum(rescore_export(folder, names, options) for folder in exports)
    except (ScoreInputError, RunsError, MetricOptionsError, KeyError) as err:
        print(f"reportbench rescore: {err.args[0] if err.args else err}", file=sys.stderr)
        return 2
    done = [f"{len(folders)} cell(s)"] if folders or not exports else []
    done += [f"{exported} exported sample(s) in {', '.join(map(str, exports))}"] if exports else []
    print(f"reportbench rescore: {', '.join(names)} rescored in {' and '.join(done)}", file=sys.stderr)
    return 0
