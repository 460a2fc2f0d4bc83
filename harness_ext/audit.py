"""`reportbench metrics audit`: which metric notices a wrong fact.

Meta-evaluation by controlled damage. For every case the audit collects clean candidates (the
reference, faithful rewrites of it, optionally faithful outputs of real runs), makes damaged
copies of them with `reportbench.damage` (or reads hand-written ones), scores every candidate
with every content metric, and counts how often a metric scores the clean candidate better
than its damaged counterpart:

- easy setting: a faithful candidate against the same candidate with one damage;
- hard setting: a faithful rewrite against a near-verbatim copy of the reference with one damage
  (a metric that rewards surface closeness to the reference prefers the copy);
- controls: the reference must score at least as well as every rewrite and above every damaged
  copy, and each meaning-preserving edit of the reference (date/number formats, sentence order)
  above every damaged copy, so that no metric passes by punishing near-copies;
- real outputs judged by reading (`reportbench.judged`): how often the metric orders two model
  outputs of one case as their readers' grades do, and the one with fewer factual errors first.

Detection rate = share of (clean, damaged) pairs where the metric prefers the clean one, ties
counted half; 95% CI by a percentile bootstrap over cases (the pairs of one case are not
independent).
"""

from __future__ import annotations

import json
import random
import sys
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from itertools import combinations, permutations
from pathlib import Path

import numpy as np
import pandas as pd

from reportbench.cases import DOMAINS, select_cases
from reportbench.damage import CONTROL_CLASSES, DAMAGE_CLASSES, ONE_FACT_CLASSES, CaseContext, control, damage
from reportbench.jsonl import numbered_objects
from reportbench.judged import JudgedInputError, read_judged
from reportbench.metrics import METRICS, score_samples
from reportbench.metrics.base import GENERATION, MODEL, TITLES, ScoringInput
from reportbench.metrics.facts import fact_recall, invented_facts
from reportbench.metrics.options import MetricOptions
from reportbench.paths import packaged_data_dir

REWRITES_FILE = "rewrites.jsonl"
HANDWRITTEN_FILE = "damaged_test.jsonl"  # hand-written damage of the test split, audited by default
JUDGED_FILE = "judged_test.jsonl"  # real model outputs of the test split judged by reading, audited by default
SETTINGS = ("easy", "hard")
CONTROL_CHECKS = {
    "reference_ge_rewrites": "the reference scores at least as well as every faithful rewrite",
    "reference_gt_damaged": "the reference scores above every damaged copy of itself",
    **{f"{name}_gt_damaged": f"{description}: scores above every damaged copy of the reference"
       for name, description in CONTROL_CLASSES.items()},
}
TIE_TOLERANCE = 1e-9
# Audited besides the default options unless --also says otherwise: the cross-encoder's other modes.
DEFAULT_VARIANTS = ("cross_encoder_mode=sts", "cross_encoder_mode=seed")


class AuditInputError(ValueError):
    """Bad audit input; the message names file, line and field."""


# ---------------------------------------------------------------- candidates

@dataclass(frozen=True)
class Candidate:
    case_id: str
    key: str  # unique within the case
    role: str  # reference | faithful | damaged | control
    kind: str  # damage or control class; for faithful candidates where they came from
    text: str
    base: str = ""  # damaged/control: the key of the clean candidate it was made from
    source: str = "generated"  # generated, or the file the candidate was read from
    change: str = ""
    grade: float = float("nan")  # judged real outputs only: the readers' mean grade, 0-4
    errors: float = float("nan")  # judged real outputs only: factual errors the readers found (mean)
    readers: tuple = ()  # judged real outputs only: each reader's grade


def auditable_metrics(options: MetricOptions | None = None) -> list[str]:
    """Metrics that judge a report's content against its reference or key fields, with a better
    direction; optional ones (the LLM judge) when ``options`` switch them on."""
    return [m.name for m in METRICS.values()
            if m.higher_is_better is not None and not m.form and not (m.needs & {TITLES, GENERATION})
            and (options is None or m.is_on(options))]


def read_rewrites(path: str | Path) -> dict[str, list[str]]:
    """case id -> faithful rewrites of its reference, from a JSONL file of {"id", "rewrite"} rows."""
    rewrites: dict[str, list[str]] = defaultdict(list)
    for line, record in numbered_objects(path):
        if isinstance(record, str):
            raise AuditInputError(f"{path}:{line}: {record}")
        for key in ("id", "rewrite"):
            if not isinstance(record.get(key), str) or not record[key].strip():
                raise AuditInputError(f"{path}:{line}: field '{key}': missing or not a non-empty string")
        rewrites[record["id"]].append(record["rewrite"])
    return dict(rewrites)


def packaged_rewrites() -> dict[str, list[str]]:
    return read_rewrites(packaged_data_dir() / REWRITES_FILE)


def read_candidate_file(path: str | Path, cases: Mapping[str, Mapping[str, str]], skip_ids: frozenset[str] = frozenset()) -> list[Candidate]:
    """Hand-written candidates: {"id", "kind": faithful|damaged, "text", "base": reference|rewrite, "damage", "subtype"?, "change"?}.

    A damaged row with base "rewrite" is paired with the faithful row of the same id (the
    optional "group" field tells several faithful rows of one id apart). Rows of ``skip_ids`` (cases
    left out by a limit) are skipped; any other id that is not an audited case is an error.
    """
    source = Path(path).name
    out: list[Candidate] = []
    counters: dict[str, int] = defaultdict(int)
    for line, record in numbered_objects(path):
        where = f"{path}:{line}"
        if isinstance(record, str):
            raise AuditInputError(f"{where}: {record}")
        case_id, kind, text = record.get("id"), record.get("kind"), record.get("text")
        if case_id in skip_ids:
            continue
        if not isinstance(case_id, str) or case_id not in cases:
            raise AuditInputError(f"{where}: field 'id': {case_id!r} is not a case of the audited split")
        if kind not in ("faithful", "damaged"):
            raise AuditInputError(f"{where}: field 'kind': expected 'faithful' or 'damaged', got {kind!r}")
        if not isinstance(text, str) or not text.strip():
            raise AuditInputError(f"{where}: field 'text': missing or empty")
        group = str(record.get("group", "0"))
        faithful_key = f"{source}:faithful:{group}"
        counters[case_id] += 1
        if kind == "faithful":
            out.append(Candidate(case_id, faithful_key, "faithful", source, text, source=source))
            continue
        base, damage_class = record.get("base"), record.get("damage")
        if base not in ("reference", "rewrite"):
            raise AuditInputError(f"{where}: field 'base': expected 'reference' or 'rewrite', got {base!r}")
        if not isinstance(damage_class, str) or not damage_class.strip():
            raise AuditInputError(f"{where}: field 'damage': missing (the damage class, e.g. 'negation')")
        subtype = record.get("subtype")
        change = str(record.get("change", ""))
        out.append(Candidate(case_id, f"{source}:damaged:{counters[case_id]}", "damaged", damage_class.strip(), text,
                             base="reference" if base == "reference" else faithful_key, source=source,
                             change=f"{subtype}: {change}" if subtype else change))
    keys = {(c.case_id, c.key) for c in out if c.role == "faithful"}
    for c in out:
        if c.role == "damaged" and c.base != "reference" and (c.case_id, c.base) not in keys:
            raise AuditInputError(f"{path}: case {c.case_id}: a damaged row has base 'rewrite' but the file has no faithful row "
                                  f"for it (group {c.base.rsplit(':', 1)[-1]})")
    return out


def read_judged_file(path: str | Path, cases: Mapping[str, Mapping[str, str]], skip_ids: frozenset[str] = frozenset()) -> list[Candidate]:
    """Real model outputs judged by reading (`reportbench.judged`) as candidates: grade and error count are
    the readers' means. Rows of ``skip_ids`` are skipped; any other id that is not an audited case is an error."""
    source = Path(path).name
    try:
        judged = read_judged(path, frozenset(cases), skip_ids)
    except JudgedInputError as err:
        raise AuditInputError(str(err)) from None
    return [Candidate(j.case_id, f"{source}:{j.output}", "judged", f"grade {j.grade:g}", j.report, source=source,
                      grade=j.grade, errors=j.error_count, readers=j.grades) for j in judged]


def faithful_run_outputs(paths: Sequence[str | Path], cases: Mapping[str, Mapping[str, str]]) -> dict[str, list[str]]:
    """Reports from saved samples that keep every key fact and invent none (by the fact checks)."""
    from reportbench.scoring import read_rows

    found: dict[str, list[str]] = defaultdict(list)
    files: list[Path] = []
    for path in map(Path, paths):
        if path.is_file():
            files.append(path)
        elif path.is_dir():
            files.extend(sorted(p for p in path.rglob("*.jsonl") if p.name == "samples.jsonl" or p.name.startswith("samples_")))
        else:
            raise AuditInputError(f"{path}: no such file or folder (--runs)")
    for file in files:
        for row in read_rows(file):
            case = cases.get(row.row_id)
            report = row.sample.prediction.strip()
            if case is None or row.sample.reference != case["event_description"] or not report:
                continue
            if fact_recall(case, report) == 1.0 and not invented_facts(case, report) and report not in found[row.row_id]:
                found[row.row_id].append(report)
    return dict(found)


def build_candidates(
    cases: Sequence[Mapping[str, str]],
    rewrites: Mapping[str, Sequence[str]],
    variants: int = 2,
    seed: int = 0,
    run_outputs: Mapping[str, Sequence[str]] | None = None,
    classes: Sequence[str] = tuple(DAMAGE_CLASSES),
    invented_pool: str = "audit",
) -> list[Candidate]:
    """Reference, faithful candidates, controls and damaged copies for every case, deterministic in ``seed``."""
    out: list[Candidate] = []
    for case in cases:
        case_id = case["id"]
        rng = random.Random(f"{seed}:{case_id}")
        context = CaseContext(case, cases)
        reference = case["event_description"]
        out.append(Candidate(case_id, "reference", "reference", "reference", reference))
        clean = [("reference", reference)]
        for i, text in enumerate(rewrites.get(case_id, ())):
            out.append(Candidate(case_id, f"rewrite:{i}", "faithful", "rewrite", text))
            clean.append((f"rewrite:{i}", text))
        for i, text in enumerate((run_outputs or {}).get(case_id, ())):
            out.append(Candidate(case_id, f"run:{i}", "faithful", "run output", text))
            clean.append((f"run:{i}", text))
        for name in CONTROL_CLASSES:
            edit = control(reference, name, rng)
            if edit is not None:
                out.append(Candidate(case_id, f"control:{name}", "control", name, edit.text, base="reference", change=edit.change))
        for base_key, base_text in clean:
            for kind in classes:
                seen = {base_text}
                for v in range(variants if kind != "other_case" else 1):
                    edit = damage(base_text, kind, context, rng, invented_pool)
                    if edit is None or edit.text in seen:
                        continue
                    seen.add(edit.text)
                    out.append(Candidate(case_id, f"damaged:{kind}:{base_key}:{v}", "damaged", kind, edit.text,
                                         base=base_key, change=edit.change))
    return out


# ---------------------------------------------------------------- scoring

@dataclass(frozen=True)
class MetricColumn:
    """One audited column: a metric under one set of metric options."""

    label: str
    metric: str
    options: MetricOptions


def metric_columns(options: MetricOptions, variants: Mapping[str, MetricOptions] | None = None,
                   names: Sequence[str] | None = None) -> list[MetricColumn]:
    """Every metric under ``options``; under each variant, again every model metric whose settings the variant changes."""
    names = list(names or auditable_metrics(options))
    columns = [MetricColumn(name, name, options) for name in names]
    for label, variant in (variants or {}).items():
        columns += [MetricColumn(f"{name} [{label}]", name, variant) for name in names
                    if MODEL in METRICS[name].needs and _settings(name, variant) != _settings(name, options)]
    return columns


def _settings(name: str, options: MetricOptions) -> str:
    try:
        return json.dumps(METRICS[name].describe(options)["settings"], sort_keys=True, default=str)
    except Exception as err:  # a model that cannot be resolved still has distinct settings
        return f"unresolvable: {err}"


def score_candidates(candidates: Sequence[Candidate], cases: Mapping[str, Mapping[str, str]],
                     columns: Sequence[MetricColumn]) -> tuple[pd.DataFrame, dict[str, str]]:
    """One row per candidate, one column per metric column; and the columns that could not be computed."""
    inputs = [ScoringInput.from_case(cases[c.case_id], c.text, json_valid=True) for c in candidates]
    table = pd.DataFrame([asdict(c) for c in candidates])
    unavailable: dict[str, str] = {}
    by_options: dict[MetricOptions, list[MetricColumn]] = defaultdict(list)
    for column in columns:
        by_options[column.options].append(column)
    for options, group in by_options.items():
        scores = score_samples(inputs, [c.metric for c in group], options)
        for column in group:
            if column.metric in scores.values:
                table[column.label] = scores.values[column.metric]
            else:
                unavailable[column.label] = scores.unavailable.get(column.metric, "not computed")
    return table, unavailable


# ---------------------------------------------------------------- detection rates

def _preference(clean: np.ndarray, damaged: np.ndarray, higher_is_better: bool) -> np.ndarray:
    diff = (clean - damaged) if higher_is_better else (damaged - clean)
    return np.where(np.abs(diff) <= TIE_TOLERANCE, 0.5, (diff > 0).astype(float))


def pairs(table: pd.DataFrame) -> pd.DataFrame:
    """(clean key, damaged key, setting, class, source) for every audited pair."""
    rows = []
    for case_id, group in table.groupby("case_id", sort=False):
        faithful = group[group["role"] == "faithful"]
        damaged = group[group["role"] == "damaged"]
        for d in damaged.itertuples():
            if d.base == "reference":  # hard: every faithful candidate of the case against the damaged copy
                rows += [(case_id, f.key, d.key, "hard", d.kind, d.source) for f in faithful.itertuples()]
            elif d.base in set(faithful["key"]):  # easy: the candidate against itself with one damage
                rows.append((case_id, d.base, d.key, "easy", d.kind, d.source))
    return pd.DataFrame(rows, columns=["case_id", "clean", "damaged", "setting", "class", "source"])


def bootstrap_ci(per_case: np.ndarray, seed: int = 0, resamples: int = 2000) -> tuple[float, float]:
    """Percentile bootstrap over cases of the mean; a constant sample has a zero-width interval."""
    from scipy.stats import bootstrap

    if len(per_case) < 2 or np.allclose(per_case, per_case[0]):
        value = float(per_case[0]) if len(per_case) else float("nan")
        return value, value
    result = bootstrap((per_case,), np.mean, n_resamples=resamples, method="percentile", random_state=seed)
    return float(result.confidence_interval.low), float(result.confidence_interval.high)


def _rate_row(per_case: pd.Series, n_pairs: int, seed: int) -> dict:
    low, high = bootstrap_ci(per_case.to_numpy(), seed)
    return {"rate": float(per_case.mean()), "ci_low": low, "ci_high": high, "n_pairs": n_pairs, "n_cases": len(per_case)}


def _pair_preferences(table: pd.DataFrame, pair_table: pd.DataFrame, column: MetricColumn) -> pd.DataFrame:
    """``pair_table`` with a "detected" column: 1 where the metric scores the pair's "clean" candidate
    better than its "damaged" one, 0.5 on a tie; a pair with a missing value (e.g. a judge answer that
    could not be read) is left out, not counted as a tie."""
    values = table.set_index(["case_id", "key"])[column.label]
    clean = values.loc[list(zip(pair_table["case_id"], pair_table["clean"]))].to_numpy(dtype=float)
    damaged = values.loc[list(zip(pair_table["case_id"], pair_table["damaged"]))].to_numpy(dtype=float)
    detected = _preference(clean, damaged, METRICS[column.metric].higher_is_better)
    return pair_table.assign(detected=detected)[np.isfinite(clean) & np.isfinite(damaged)]


def _scored_columns(table: pd.DataFrame, pair_table: pd.DataFrame, columns: Sequence[MetricColumn]):
    """Each column the table holds, with its preferences over ``pair_table``."""
    for column in columns:
        if column.label in table and not pair_table.empty:
            yield column, _pair_preferences(table, pair_table, column)


def detection_rates(table: pd.DataFrame, columns: Sequence[MetricColumn], seed: int = 0) -> pd.DataFrame:
    """Detection rate per metric column, setting, class and source, with bootstrap CIs; plus the
    one-fact mean (the date/time/number/ID/name/place classes pooled per case)."""
    rows = []
    for column, scored in _scored_columns(table, pairs(table), columns):
        for (setting, source, kind), group in scored.groupby(["setting", "source", "class"], sort=False):
            per_case = group.groupby("case_id")["detected"].mean()
            rows.append({"metric": column.label, "setting": setting, "source": source, "class": kind,
                         **_rate_row(per_case, len(group), seed)})
        for (setting, source), group in scored.groupby(["setting", "source"], sort=False):
            one_fact = group[group["class"].isin(ONE_FACT_CLASSES)]
            if len(one_fact):
                per_case = one_fact.groupby("case_id")["detected"].mean()
                rows.append({"metric": column.label, "setting": setting, "source": source, "class": "one_fact_mean",
                             **_rate_row(per_case, len(one_fact), seed)})
    return pd.DataFrame(rows)


# ---------------------------------------------------------------- real outputs judged by reading

JUDGED_CRITERIA = {
    "grade": "of two outputs of one case with different grades, the metric scores the better-graded one higher",
    "fewer_errors": "of two reports of one case (both graded 1 or more) with different numbers of factual errors, "
                    "the metric scores the one with fewer errors higher",
}


def judged_pairs(table: pd.DataFrame) -> pd.DataFrame:
    """(case, better key, worse key, criterion, source) for every pair of judged outputs of one case that the judgement orders."""
    rows = []
    judged = table[table["role"] == "judged"]
    for (case_id, source), group in judged.groupby(["case_id", "source"], sort=False):
        for a, b in combinations(group.itertuples(), 2):
            if a.grade != b.grade:
                better, worse = (a, b) if a.grade > b.grade else (b, a)
                rows.append((case_id, better.key, worse.key, "grade", source))
            if min(a.grade, b.grade) >= 1 and a.errors != b.errors:
                better, worse = (a, b) if a.errors < b.errors else (b, a)
                rows.append((case_id, better.key, worse.key, "fewer_errors", source))
    return pd.DataFrame(rows, columns=["case_id", "clean", "damaged", "criterion", "source"])


def reader_agreement(table: pd.DataFrame) -> dict[str, dict]:
    """Per judged file whose outputs have two or more readers: how often one reader orders two outputs of a
    case as another reader's grades do (pairs the other reader's grades order; ties half), over all ordered
    pairs of readers: the ceiling a metric's agreement is to be read against."""
    out = {}
    judged = table[table["role"] == "judged"]
    for source, group in judged.groupby("source", sort=False):
        readers = min(len(r) for r in group["readers"])
        if readers < 2:
            continue
        agree = []
        for _, case in group.groupby("case_id", sort=False):
            for a, b in combinations(case["readers"], 2):
                agree += [0.5 if a[y] == b[y] else float((a[y] > b[y]) == (a[x] > b[x]))
                          for x, y in permutations(range(readers), 2) if a[x] != b[x]]
        out[source] = {"readers": readers, "rate": float(np.mean(agree)) if agree else float("nan"), "n_pairs": len(agree)}
    return out


def judged_agreement(table: pd.DataFrame, columns: Sequence[MetricColumn], seed: int = 0) -> pd.DataFrame:
    """Per metric column and judged file: the share of judged pairs the metric orders as the readers
    did (ties half, bootstrap CI over cases), and the Spearman correlation of the metric with the mean grade."""
    from scipy.stats import spearmanr

    judged = table[table["role"] == "judged"]
    scored_by_label = {column.label: scored for column, scored in _scored_columns(table, judged_pairs(table), columns)}
    rows = []
    for column in columns:
        if column.label not in table:
            continue
        scored = scored_by_label.get(column.label)
        sign = 1.0 if METRICS[column.metric].higher_is_better else -1.0
        for source, outputs in judged.groupby("source", sort=False):
            values = sign * outputs[column.label].to_numpy(dtype=float)
            finite = np.isfinite(values)
            rho = float(spearmanr(outputs["grade"].to_numpy()[finite], values[finite])[0]) if finite.sum() > 2 else float("nan")
            for criterion in JUDGED_CRITERIA:
                group = scored[(scored["source"] == source) & (scored["criterion"] == criterion)] if scored is not None else ()
                if len(group):
                    per_case = group.groupby("case_id")["detected"].mean()
                    rate = _rate_row(per_case, len(group), seed)
                else:  # nothing to order (e.g. one output per case): the correlation across outputs is still reported
                    rate = {"rate": float("nan"), "ci_low": float("nan"), "ci_high": float("nan"), "n_pairs": 0, "n_cases": 0}
                rows.append({"metric": column.label, "source": source, "criterion": criterion, **rate, "spearman_with_grade": rho})
    return pd.DataFrame(rows)


def control_rates(table: pd.DataFrame, columns: Sequence[MetricColumn]) -> pd.DataFrame:
    """Share of cases where each control holds, per metric column."""
    rows = []
    for column in columns:
        if column.label not in table:
            continue
        sign = 1.0 if METRICS[column.metric].higher_is_better else -1.0
        held: dict[str, list[bool]] = defaultdict(list)
        for _, group in table[table["role"] != "judged"].groupby("case_id", sort=False):
            score = dict(zip(group["key"], sign * group[column.label].to_numpy(dtype=float)))
            if not np.all(np.isfinite(list(score.values()))):  # a missing value: the case cannot be checked
                continue
            reference = score["reference"]
            rewrites = [score[k] for k in group.loc[group["role"] == "faithful", "key"]]
            damaged = [score[k] for k in group.loc[(group["role"] == "damaged") & (group["base"] == "reference"), "key"]]
            if rewrites:
                held["reference_ge_rewrites"].append(all(reference >= r - TIE_TOLERANCE for r in rewrites))
            if damaged:
                held["reference_gt_damaged"].append(all(reference > d + TIE_TOLERANCE for d in damaged))
                for c in group[group["role"] == "control"].itertuples():
                    held[f"{c.kind}_gt_damaged"].append(all(score[c.key] > d + TIE_TOLERANCE for d in damaged))
        for check in CONTROL_CHECKS:
            if held[check]:
                rows.append({"metric": column.label, "control": check, "rate": float(np.mean(held[check])), "n_cases": len(held[check])})
    return pd.DataFrame(rows)


# ---------------------------------------------------------------- the command

@dataclass
class AuditResult:
    rates: pd.DataFrame
    controls: pd.DataFrame
    candidates: pd.DataFrame
    unavailable: dict[str, str]
    meta: dict = field(default_factory=dict)
    judged: pd.DataFrame = field(default_factory=pd.DataFrame)  # agreement with real outputs judged by reading


def skipped_by_limit(split: str, data_file: str | None, cases: Sequence[Mapping[str, str]]) -> frozenset[str]:
    """Ids of the split that a limit left out."""
    return frozenset(c["id"] for c in load_audit_cases(split, data_file)) - {c["id"] for c in cases}


def load_audit_cases(split: str, data_file: str | None, limit: int | None = None, domains: Iterable[str] = DOMAINS) -> list[dict]:
    """The cases of a split (packaged or a user's file); ``limit``: the first N of each domain (or of the file)."""
    cases = []
    for domain in domains:
        try:
            chosen = select_cases(domain, split, data_file)
        except ValueError as err:
            raise AuditInputError(str(err)) from None
        cases += chosen[:limit] if limit else chosen
        if data_file:  # a user's file holds both domains' rows once; select_cases returned them all
            break
    if not cases:
        raise AuditInputError(f"no cases in split {split!r}" + (f" of {data_file}" if data_file else ""))
    missing_ids = [i for i, c in enumerate(cases, 1) if not c.get("id")]
    if missing_ids:
        raise AuditInputError(f"{data_file}: row {missing_ids[0]}: field 'id': the audit needs case ids")
    return cases


def run_audit(
    cases: Sequence[Mapping[str, str]],
    rewrites: Mapping[str, Sequence[str]],
    options: MetricOptions,
    variants: Mapping[str, MetricOptions] | None = None,
    candidate_files: Sequence[str] = (),
    run_paths: Sequence[str] = (),
    damage_variants: int = 2,
    seed: int = 0,
    metrics: Sequence[str] | None = None,
    skip_ids: frozenset[str] = frozenset(),
    judged_files: Sequence[str] = (),
) -> AuditResult:
    """The audit of ``cases``; ``skip_ids``: cases of the split left out by a limit (their hand-written
    and judged rows are skipped); ``judged_files``: real outputs judged by reading (`read_judged_file`)."""
    by_id = {c["id"]: c for c in cases}
    run_outputs = faithful_run_outputs(run_paths, by_id) if run_paths else {}
    candidates = build_candidates(cases, rewrites, damage_variants, seed, run_outputs)
    for path in candidate_files:
        candidates += read_candidate_file(path, by_id, skip_ids)
    for path in judged_files:
        candidates += read_judged_file(path, by_id, skip_ids)
    columns = metric_columns(options, variants, metrics)
    table, unavailable = score_candidates(candidates, by_id, columns)
    meta = {
        "cases": len(cases),
        "rewrites": sum(len(rewrites.get(c["id"], ())) for c in cases),
        "run_outputs": sum(len(v) for v in run_outputs.values()),
        "candidates": len(candidates),
        "damage_variants": damage_variants,
        "seed": seed,
        "candidate_files": [Path(p).name for p in candidate_files],
        "judged_outputs": sum(c.role == "judged" for c in candidates),
        "judged_files": [Path(p).name for p in judged_files],
        "reader_agreement": reader_agreement(table),
        "options": json.loads(options.to_json()),
        "variants": {label: json.loads(v.to_json()) for label, v in (variants or {}).items()},
    }
    return AuditResult(detection_rates(table, columns, seed), control_rates(table, columns), table, unavailable, meta,
                       judged_agreement(table, columns, seed))


def _cell(row) -> str:
    if not row["n_pairs"]:
        return "no pairs"
    return f"{row['rate']:.2f} [{row['ci_low']:.2f}, {row['ci_high']:.2f}]"


def rate_table(rates: pd.DataFrame, setting: str, source: str, held_out: Mapping[str, Sequence[str]] | None = None) -> pd.DataFrame:
    """Metrics down, damage classes across, "rate [CI]" cells; a class held out of a metric's training is marked †."""
    chosen = rates[(rates["setting"] == setting) & (rates["source"] == source)]
    if chosen.empty:
        return pd.DataFrame()
    order = [c for c in [*DAMAGE_CLASSES, "one_fact_mean"] if c in set(chosen["class"])]
    order += sorted(set(chosen["class"]) - set(order))
    held = held_out or {}
    cells = chosen.apply(lambda row: _cell(row) + (" †" if row["class"] in held.get(row["metric"], ()) else ""), axis=1)
    wide = chosen.assign(cell=cells).pivot(index="metric", columns="class", values="cell")
    wide = wide.reindex(index=list(dict.fromkeys(chosen["metric"])), columns=order)
    return wide.fillna("n/a")


def held_out_classes(columns: Sequence[MetricColumn]) -> dict[str, list[str]]:
    """Damage classes each audited trained metric never saw in training (the fact cross-encoder's)."""
    from reportbench.metrics.fact_cross_encoder import TRAINING_FILE, training_info, weights_folder

    out = {}
    for column in columns:
        folder = weights_folder(column.options.cross_encoder_model) if column.metric == "cross_encoder" else None
        if folder is not None and (folder / TRAINING_FILE).is_file():
            out[column.label] = list(training_info(folder).get("held_out_classes", []))
    return out


def markdown(result: AuditResult, held_out: Mapping[str, Sequence[str]] | None = None) -> str:
    """The audit as markdown: one detection table per setting and source, then the controls."""
    meta = result.meta
    lines = [
        "# Metric validity audit",
        "",
        f"{meta['cases']} cases, {meta['rewrites']} faithful rewrites, {meta['run_outputs']} faithful run outputs, "
        f"{meta['candidates']} candidates scored (up to {meta['damage_variants']} damaged copies per class and clean candidate, seed {meta['seed']}).",
        "",
        "Detection rate: the share of (clean, damaged) pairs where the metric scores the clean candidate better "
        "(ties count half); 0.5 is chance. [95% CI]: percentile bootstrap over cases.",
        "*easy*: a faithful candidate against itself with one damage. *hard*: a faithful rewrite against a "
        "near-verbatim copy of the reference with one damage.",
        "",
    ]
    notes = held_out or {}
    for source in dict.fromkeys(result.rates["source"]) if not result.rates.empty else []:
        for setting in SETTINGS:
            table = rate_table(result.rates, setting, source, notes)
            if table.empty:
                continue
            lines += [f"## {setting} setting — {source} damage", "", table.to_markdown(), ""]
    if notes:
        lines += ["† held out of the metric's training: " + "; ".join(f"`{metric}`: {', '.join(classes)}" for metric, classes in notes.items()), ""]
    lines += ["## Damage classes", "", *[f"- `{k}`: {v}" for k, v in DAMAGE_CLASSES.items()], ""]
    if not result.controls.empty:
        wide = result.controls.pivot(index="metric", columns="control", values="rate")
        wide = wide.reindex(index=list(dict.fromkeys(result.controls["metric"])), columns=[c for c in CONTROL_CHECKS if c in wide.columns])
        lines += ["## Controls (share of cases where the control holds)", "", wide.round(3).to_markdown(), "",
                  *[f"- `{k}`: {v}" for k, v in CONTROL_CHECKS.items()], ""]
    lines += judged_markdown(result)
    if result.unavailable:
        lines += ["## Not audited", "", *[f"- `{k}`: {v}" for k, v in result.unavailable.items()], ""]
    return "\n".join(lines)


def judged_table(judged: pd.DataFrame, source: str) -> pd.DataFrame:
    """Metrics down; agreement with the readers per criterion ("rate [CI]") and the Spearman correlation with the grade across."""
    chosen = judged[judged["source"] == source]
    wide = chosen.assign(cell=chosen.apply(_cell, axis=1)).pivot(index="metric", columns="criterion", values="cell")
    wide = wide.reindex(index=list(dict.fromkeys(chosen["metric"])), columns=[c for c in JUDGED_CRITERIA if c in set(chosen["criterion"])])
    rho = chosen.groupby("metric", sort=False)["spearman_with_grade"].first()
    return wide.assign(spearman_with_grade=rho.round(2).reindex(wide.index)).fillna("n/a")


def _readers_sentence(readers: dict | None) -> str:
    if not readers:
        return ""
    return (f" Each output was judged by {readers['readers']} readers independently; the grade is their mean. One reader "
            f"orders a pair as another reader's grades do in {readers['rate']:.2f} of {readers['n_pairs']} reader-pairs "
            f"(ties half): the ceiling for a metric.")


def judged_markdown(result: AuditResult) -> list[str]:
    if result.judged.empty:
        return []
    lines = []
    for source in dict.fromkeys(result.judged["source"]):
        judged = result.candidates[(result.candidates["role"] == "judged") & (result.candidates["source"] == source)]
        counts = result.judged[result.judged["source"] == source].groupby("criterion")["n_pairs"].max()
        lines += [f"## Real model outputs judged by reading — {source}", "",
                  f"{len(judged)} outputs of {judged['case_id'].nunique()} cases, each read against its case's key fields and "
                  f"graded 0–4 with its factual errors listed. Agreement: the share of pairs of outputs of one case that the "
                  f"metric orders as the readers did (ties count half; " + ", ".join(f"{n} `{c}` pairs" for c, n in counts.items())
                  + "); 0.5 is chance. [95% CI]: percentile bootstrap over cases."
                  + (" With one output per case there is nothing to order: only the correlation with the grade, across "
                     "outputs, is reported." if not counts.any() else "")
                  + _readers_sentence(result.meta.get("reader_agreement", {}).get(source)), "",
                  judged_table(result.judged, source).to_markdown(), "",
                  *[f"- `{k}`: {v}" for k, v in JUDGED_CRITERIA.items()], ""]
    return lines


def figure(result: AuditResult, path: Path, source: str = "generated") -> Path | None:
    from reportbench.figures import pyplot, save

    rates = result.rates[result.rates["source"] == source]
    if rates.empty:
        return None
    plt = pyplot()
    classes = [c for c in [*DAMAGE_CLASSES, "one_fact_mean"] if c in set(rates["class"])]
    metrics = list(dict.fromkeys(rates["metric"]))
    fig, axes = plt.subplots(1, 2, figsize=(3 + 0.6 * len(classes) * 2, 2.2 + 0.4 * len(metrics)), sharey=True,
                             layout="constrained")
    for ax, setting in zip(axes, SETTINGS):
        grid = rates[rates["setting"] == setting].pivot(index="metric", columns="class", values="rate").reindex(index=metrics, columns=classes)
        image = ax.imshow(grid.to_numpy(dtype=float), cmap="RdYlGn", vmin=0, vmax=1, aspect="auto")
        ax.set_xticks(range(len(classes)), classes, rotation=60, ha="right")
        ax.set_yticks(range(len(metrics)), metrics)
        for (i, j), value in np.ndenumerate(grid.to_numpy(dtype=float)):
            if not np.isnan(value):
                ax.text(j, i, f"{value:.2f}", ha="center", va="center", fontsize=7)
        ax.set_title(f"{setting} setting: detection rate ({source} damage)")
    fig.colorbar(image, ax=axes, shrink=0.8)
    return save(fig, path)


def write(result: AuditResult, out: str | Path, held_out: Mapping[str, Sequence[str]] | None = None) -> list[Path]:
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    written = [out / "audit.md", out / "rates.csv", out / "controls.csv", out / "candidates.jsonl", out / "audit.json"]
    if not result.judged.empty:
        result.judged.to_csv(out / "judged.csv", index=False, float_format="%.6g")
        written.append(out / "judged.csv")
    (out / "audit.md").write_text(markdown(result, held_out), encoding="utf-8")
    result.rates.to_csv(out / "rates.csv", index=False, float_format="%.6g")
    result.controls.to_csv(out / "controls.csv", index=False, float_format="%.6g")
    result.candidates.to_json(out / "candidates.jsonl", orient="records", lines=True, force_ascii=False)
    summary = {"meta": result.meta, "rates": result.rates.to_dict(orient="records"),
               "controls": result.controls.to_dict(orient="records"), "judged": result.judged.to_dict(orient="records"),
               "unavailable": result.unavailable,
               "held_out": {k: list(v) for k, v in (held_out or {}).items()}}
    (out / "audit.json").write_text(json.dumps(summary, indent=1, default=float) + "\n", encoding="utf-8")
    for source in dict.fromkeys(result.rates["source"]) if not result.rates.empty else []:
        name = "audit.png" if source == "generated" else f"audit_{Path(source).stem}.png"
        if figure(result, out / name, source):
            written.append(out / name)
    return written


def print_summary(result: AuditResult, stream=sys.stdout) -> None:
    hard = result.rates[(result.rates["setting"] == "hard") & (result.rates["source"] == "generated")] if not result.rates.empty else result.rates
    if not hard.empty:
        wide = hard.pivot(index="metric", columns="class", values="rate")
        wide = wide.reindex(index=list(dict.fromkeys(hard["metric"])), columns=[c for c in [*DAMAGE_CLASSES, "one_fact_mean"] if c in wide.columns])
        print("hard setting, detection rate (generated damage):", file=stream)
        print(wide.round(2).to_string(), file=stream)
    for source in dict.fromkeys(result.judged["source"]) if not result.judged.empty else []:
        chosen = result.judged[result.judged["source"] == source]
        wide = chosen.pivot(index="metric", columns="criterion", values="rate").reindex(index=list(dict.fromkeys(chosen["metric"])))
        print(f"real outputs judged by reading ({source}), agreement with the readers:", file=stream)
        print(wide.round(2).to_string(), file=stream)


# ---------------------------------------------------------------- the published summary

HEADLINE_CLASSES = ("one_fact_mean", "omission", "invented", "negation")


def validity_file() -> Path:
    from reportbench import metrics

    return Path(metrics.__file__).resolve().parent / "validity.json"


def validity_summary(result: AuditResult, held_out: Mapping[str, Sequence[str]]) -> dict:
    """Per metric (default options): detection rates by setting, source and class, and the weakest control."""
    summary: dict = {"split": "test", "cases": result.meta["cases"], "judged_outputs": result.meta.get("judged_outputs", 0),
                     "options": result.meta["options"], "metrics": {}}
    for metric, group in result.rates.groupby("metric", sort=False):
        if metric not in METRICS:  # a --also variant: not what a page's default metric is
            continue
        entry: dict = {"held_out": list(held_out.get(metric, []))}
        for row in group.to_dict("records"):
            entry.setdefault(row["source"], {}).setdefault(row["setting"], {})[row["class"]] = round(row["rate"], 3)
        controls = result.controls[result.controls["metric"] == metric]
        entry["controls_min"] = round(float(controls["rate"].min()), 3) if not controls.empty else None
        judged = result.judged[result.judged["metric"] == metric] if not result.judged.empty else result.judged
        for row in judged.to_dict("records"):
            published = entry.setdefault("judged", {}).setdefault(row["source"], {})
            if row["n_pairs"]:
                published[row["criterion"]] = round(row["rate"], 3)
            published["spearman_with_grade"] = round(row["spearman_with_grade"], 3)
        summary["metrics"][metric] = entry
    return summary


def validity_sentence(metric: str, path: Path | None = None) -> str | None:
    """One sentence on how often ``metric`` catches a wrong fact, from the published audit; None if not audited."""
    path = path or validity_file()
    if not path.is_file():
        return None
    entry = json.loads(path.read_text(encoding="utf-8"))["metrics"].get(metric)
    if not entry or "generated" not in entry:
        return None
    hard, easy = entry["generated"].get("hard", {}), entry["generated"].get("easy", {})
    names = {"one_fact_mean": "one-fact changes", "omission": "omissions", "invented": "invented facts", "negation": "negations"}

    def rates(values: dict) -> str:
        return ", ".join(f"{names[c]} {values[c]:.2f}" for c in HEADLINE_CLASSES if c in values)

    held = [f"{c} {hard[c]:.2f}" for c in entry.get("held_out", []) if c in hard]
    judged = entry.get("judged", {}).get(JUDGED_FILE, {})
    real = (f"; on the published real model outputs judged by reading, it orders two outputs of one case as the "
            f"readers' grades do in {judged['grade']:.2f} of pairs (fewer factual errors first: {judged['fewer_errors']:.2f})"
            if {"grade", "fewer_errors"} <= set(judged) else "")
    return (f"Validity of `{metric}` with the default metric models (`reportbench metrics audit` on the test split, "
            f"published in reportbench's metrics/README.md): it prefers a faithful "
            f"rewrite to a copy of the reference with one error in {rates(hard)} of cases (easy setting, a report against "
            f"itself with one error: {rates(easy)})"
            + (f"; on damage classes held out of its training: {', '.join(held)}" if held else "") + real
            + (f"; the weakest of its controls holds in {entry['controls_min']:.2f} of cases." if entry.get("controls_min") is not None else "."))
