"""Finished runs as two tidy tables: one row per generated sample, one row per cell.

Three sources are read, so every later step (leaderboard, compare) sees one shape:
- grid cell folders: `<model>/<task>/<cell-id>/{cell.json, samples.jsonl}` (`reportbench grid`);
- lm-eval output folders: `results_<time>.json` beside `samples_<task>_<time>.jsonl`
  (`reportbench lm-eval ... --log_samples`);
- the `data/` export a leaderboard writes (`cells.csv` + `samples.csv`), so a published page
  can be rebuilt without the raw runs.
"""

from __future__ import annotations

import contextlib
import json
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import pandas as pd

from reportbench.backends import implicit_sampling
from reportbench.decoding import COLUMNS as DECODING_COLUMNS
from reportbench.decoding import DEFAULTS as DECODING_DEFAULTS
from reportbench.decoding import NUMERIC_COLUMNS as NUMERIC_DECODING_COLUMNS
from reportbench.decoding import Decoding, DecodingError
from reportbench.digests import text_digest
from reportbench.labels import format_setting
from reportbench.metrics import TASK_METRICS
from reportbench.records import (
    CELL_FILE,
    JUDGE_LOG_FILE,
    RESULTS_FILE,
    SAMPLES_FILE,
    CellRecord,
    LmEvalOutput,
    RunsError,
    judge_label,
    read_json,
    read_samples,
)
from reportbench.tasks.names import parse_task_name

# The settings that make a configuration; a cell is one configuration x domain x seed.
CONFIG_COLUMNS = ("prompt", *DECODING_COLUMNS, "chat_template")
CELL_COLUMNS = (
    "cell", "model", "task", "domain", "prompt", *DECODING_COLUMNS, "chat_template", "seed", "split", "limit", "tags",
    "n", "wall_seconds", "generated_tokens", "parameters", "finished_at", "reportbench_version",
    "lm_eval_version", "data_sha256", "hardware", "judge", "source",
)
NUMERIC_CELL_COLUMNS = (*NUMERIC_DECODING_COLUMNS, "limit", "wall_seconds", "generated_tokens", "parameters")
SAMPLE_COLUMNS = ("cell", "case_id", "target_hash")
PREDICTION = "prediction"  # the raw generation (last column of samples.csv; the page's worst cases quote it)
EXPORT_CELLS = "cells.csv"
EXPORT_SAMPLES = "samples.csv"
__all__ = ["Damaged", "Runs", "RunsError", "load_runs", "load_all", "export_runs", "export_folder", "parse_conditions", "CONFIG_COLUMNS"]


@dataclass(frozen=True)
class Damaged:
    """A cell folder or file under a runs folder that is not a whole, readable run: named, never skipped silently."""

    path: str  # relative to the folder that was read
    problem: str
    known: dict = field(default_factory=dict)  # the settings still readable (model, task, ... from its path or cell.json)

    def line(self) -> str:
        return f"{self.path}: {self.problem}"


@dataclass
class Runs:
    cells: pd.DataFrame  # CELL_COLUMNS, one row per cell
    samples: pd.DataFrame  # SAMPLE_COLUMNS + metric columns, one row per sample
    damaged: list[Damaged] = field(default_factory=list)  # incomplete cells and stray files found while reading

    @property
    def metrics(self) -> list[str]:
        return [m for m in TASK_METRICS if m in self.samples.columns and self.samples[m].notna().any()]

    @property
    def complete_metrics(self) -> list[str]:
        """The metrics every sample has."""
        return [m for m in self.metrics if self.samples[m].notna().all()]

    def joined(self) -> pd.DataFrame:
        """Samples with their cell's settings, for grouping."""
        settings = self.cells[["cell", "model", "domain", "seed", *CONFIG_COLUMNS]]
        return self.samples.merge(settings, on="cell", how="left", validate="many_to_one")

    def select(self, conditions: dict[str, str]) -> Runs:
        """Keeps the cells whose settings match every KEY=VALUE (values compared as text, '—' for unset)."""
        cells = self.cells
        damaged = self.damaged
        for key, wanted in conditions.items():
            if key.startswith(TAG_PREFIX):  # a model tag, e.g. tags.training_cases=40
                column = cells["tags"].map(lambda v, key=key: tag_value(v, key[len(TAG_PREFIX):]))
            elif key in cells.columns:
                column = cells[key]
            else:
                raise RunsError(f"cannot select on {key!r}; known: {', '.join(c for c in CELL_COLUMNS if c != 'source')}, "
                                f"or {TAG_PREFIX}NAME for a model tag")
            want = format_setting(key, _parse_value(wanted))
            cells = cells[column.map(lambda v, key=key: format_setting(key, v)) == want]
            # a damaged cell stays named unless what is still known of it shows it is outside the selection
            damaged = [d for d in damaged if key not in d.known or format_setting(key, d.known[key]) == want]
        return Runs(cells.reset_index(drop=True), self.samples[self.samples["cell"].isin(cells["cell"])].reset_index(drop=True),
                    damaged)

    def require_whole(self, skip_damaged: bool) -> None:
        """Refuses runs with damaged cells or stray files unless told to leave them out (then they are listed)."""
        if self.damaged and not skip_damaged:
            raise RunsError(f"{len(self.damaged)} damaged cell folder(s) or stray file(s) among the runs:\n"
                            + "\n".join(f"  {d.line()}" for d in self.damaged)
                            + "\nRepair or remove them, leave them out with --select, or pass --skip-damaged "
                            "(they are then listed as skipped).")


def parse_conditions(items: list[str] | None, option: str) -> dict[str, str]:
    """['prompt=D', 'temperature=1.0'] -> {'prompt': 'D', 'temperature': '1.0'}, for Runs.select."""
    conditions = {}
    for item in items or []:
        if "=" not in item:
            raise RunsError(f"{option} {item!r}: expected KEY=VALUE, e.g. prompt=D or temperature=1.0")
        key, value = item.split("=", 1)
        conditions[key.strip()] = value.strip()
    return conditions


def _parse_value(text: str):
    try:
        return float(text)
    except ValueError:
        return text


def _domain_and_prompt(task: str) -> tuple[str, str]:
    try:
        return parse_task_name(task)
    except ValueError as err:
        raise RunsError(str(err)) from None


def _sample_rows(path: Path, cell: str, rows: list[dict]) -> list[dict]:
    out = []
    for number, sample in enumerate(rows, 1):
        doc = sample.get("doc")
        if not isinstance(doc, dict) or not doc.get("id"):
            raise RunsError(f"{path}:{number}: field 'doc.id': missing (not a reportbench samples file?)")
        row = {"cell": cell, "case_id": doc["id"], "target_hash": sample.get("target_hash") or text_digest(sample.get("target", ""))}
        row[PREDICTION] = _generation(sample) or ""  # "" also where the file holds none
        for metric in TASK_METRICS:
            value = sample.get(metric)
            if value is not None and not isinstance(value, (int, float)):
                raise RunsError(f"{path}:{number}: field '{metric}': not a number ({value!r})")
            row[metric] = None if value is None else float(value)
        out.append(row)
    return out


def _generation(sample: dict) -> str | None:
    """The raw generation of an lm-eval sample (``resps[0][0]``), None where the file does not hold one."""
    try:
        text = sample["resps"][0][0]
    except (KeyError, IndexError, TypeError):
        return None
    return text if isinstance(text, str) else None


def _hardware(environment: dict) -> str:
    hardware = environment.get("hardware") or {}
    device = hardware.get("cuda") or f"CPU x{hardware.get('cpu_count', '?')}"
    return f"{device}, {hardware.get('platform', '?')}"


TAG_PREFIX = "tags."


def tags_text(tags: dict | None) -> str | None:
    """A model's tags as one canonical JSON text (a cell-table column); None without tags."""
    return json.dumps(tags, sort_keys=True) if tags else None


def tag_value(text, name: str):
    """One tag of a cell-table ``tags`` value (None when absent)."""
    if not isinstance(text, str) or not text:
        return None
    return json.loads(text).get(name)


def _model_label(model: dict) -> str:
    return model.get("name") or Path(str(model.get("path", "model"))).name


def _grid_cell(cell_json: Path, root: Path) -> tuple[dict, list[dict]]:
    """A whole grid cell; RunsError naming the file and problem when any of its files is missing or unreadable."""
    require_cell_files(cell_json.parent)
    results = read_json(cell_json.parent / RESULTS_FILE)
    if not isinstance(results, dict) or "results" not in results:
        raise RunsError(f"{cell_json.parent / RESULTS_FILE}: field 'results': missing (not lm-eval's results of this cell)")
    record = CellRecord.read(cell_json)
    config, efficiency, environment = record.config, record.efficiency, record.environment or {}
    domain, prompt = _domain_and_prompt(config["task"])
    try:
        decoding = Decoding.from_settings(config["gen_kwargs"])
    except DecodingError as err:
        raise RunsError(f"{cell_json}: field 'config.gen_kwargs': {err}") from None
    cell = {
        "cell": record.cell_id, "model": _model_label(config["model"]), "task": config["task"],
        "domain": domain, "prompt": prompt, **decoding.columns(),
        "chat_template": bool(config["apply_chat_template"]), "seed": config["seed"], "split": config["split"],
        "limit": config.get("limit"), "tags": tags_text(config["model"].get("tags")),
        "wall_seconds": efficiency["wall_seconds"],
        "generated_tokens": efficiency["generated_tokens"], "parameters": efficiency.get("parameters"),
        "finished_at": record.finished_at,
        "reportbench_version": config.get("reportbench"),
        "lm_eval_version": environment.get("packages", {}).get("lm_eval"),
        "data_sha256": config.get("data_sha256"), "hardware": _hardware(environment),
        "judge": judge_label(cell_json.parent / JUDGE_LOG_FILE),
        "source": str(cell_json.parent.relative_to(root)) if cell_json.parent != root else ".",
    }
    samples_path = cell_json.parent / SAMPLES_FILE
    rows = _sample_rows(samples_path, cell["cell"], read_samples(samples_path))
    if not rows:
        raise RunsError(f"{samples_path}: no samples")
    return cell, rows


def _lm_eval_cells(output: LmEvalOutput, root: Path) -> list[tuple[dict, list[dict]]]:
    """One cell per task of a `lm_eval --log_samples` run; tasks that are groups have no samples file."""
    results = read_json(output.results)
    config = results.get("config") or {}
    model_args = config.get("model_args") or {}
    if isinstance(model_args, str):
        model_args = dict(kv.split("=", 1) for kv in model_args.split(",") if "=" in kv)
    model = Path(str(model_args.get("pretrained") or results.get("model_name") or "model")).name
    if model_args.get("peft"):
        model += f"+{Path(str(model_args['peft'])).name}"
    finished = results.get("date")
    samples_files = output.samples_files(sorted(results.get("configs") or {}))
    # lm-eval times the whole run, not each task: each task gets an equal share.
    task_seconds = float(results.get("total_evaluation_time_seconds") or 0) / len(samples_files) if samples_files else None
    sampling = implicit_sampling(config.get("model"))
    out = []
    for task, samples_path in samples_files.items():
        task_config = results["configs"][task]
        domain, prompt = _domain_and_prompt(task)
        cell_id = text_digest(f"{output.results.relative_to(root)}:{task}")[:16]
        rows = _sample_rows(samples_path, cell_id, read_samples(samples_path))
        out.append(({
            "cell": cell_id, "model": model, "task": task, "domain": domain, "prompt": prompt,
            **Decoding.from_gen_kwargs(task_config.get("generation_kwargs") or {}, sampling).columns(),
            "chat_template": bool(results.get("chat_template")), "seed": config.get("random_seed"),
            "split": (task_config.get("metadata") or {}).get("split", "test"), "limit": config.get("limit"), "tags": None,
            "wall_seconds": task_seconds,
            "generated_tokens": None, "parameters": config.get("model_num_parameters"),
            "finished_at": datetime.fromtimestamp(finished, timezone.utc).isoformat(timespec="seconds") if finished else None,
            "reportbench_version": None, "lm_eval_version": results.get("lm_eval_version"),
            "data_sha256": None, "hardware": None, "judge": judge_label(output.judge_log_file()),
            "source": str(samples_path.relative_to(root)),
        }, rows))
    return out


def read_export_table(path: Path) -> pd.DataFrame:
    """One table of a data export: an empty field is missing, any other text (even "NA") is kept as
    written, and a generation stays text even where it looks like a number."""
    return pd.read_csv(path, keep_default_na=False, na_values=[""], dtype={PREDICTION: str})


def _read_export(folder: Path) -> Runs:
    cells = read_export_table(folder / EXPORT_CELLS)
    samples = read_export_table(folder / EXPORT_SAMPLES)
    if "structured_output" not in cells.columns:  # exported before the setting existed: all free decoding
        cells["structured_output"] = DECODING_DEFAULTS["structured_output"]
    if "tags" not in cells.columns:  # exported before models had tags
        cells["tags"] = None
    cells["tags"] = cells["tags"].astype(object).where(cells["tags"].notna(), None)
    if "judge" not in cells.columns:  # exported before the LLM judge existed: no judge
        cells["judge"] = None
    cells["judge"] = cells["judge"].astype(object).where(cells["judge"].notna(), None)  # an empty cell is no judge
    missing = [c for c in CELL_COLUMNS if c not in cells.columns]
    if missing:
        raise RunsError(f"{folder / EXPORT_CELLS}: column(s) {', '.join(missing)} missing")
    cells["chat_template"] = cells["chat_template"].map(lambda v: v in (True, "True", "true", 1))
    if PREDICTION in samples.columns:
        samples[PREDICTION] = samples[PREDICTION].fillna("").astype(str)  # an empty generation was read as missing
    else:  # exported before pages quoted generations: not recorded
        samples[PREDICTION] = None
    return Runs(cells[list(CELL_COLUMNS)], samples)


def export_folder(path: str | Path) -> Path | None:
    """PATH itself when it holds a leaderboard's data export, or its data/ (a page folder); else None."""
    for folder in (Path(path), Path(path) / "data"):
        if (folder / EXPORT_CELLS).is_file() and (folder / EXPORT_SAMPLES).is_file():
            return folder
    return None


def load_runs(path: str | Path) -> Runs:
    """Every finished cell under PATH (a runs folder, one cell folder, an lm-eval output or a leaderboard data/ export)."""
    root = Path(path)
    if not root.exists():
        raise RunsError(f"{root}: no such file or folder")
    if root.is_file():  # a single lm-eval samples file or results file: read its folder, keep that run
        return _load_single_file(root)
    export = export_folder(root)
    if export:
        return _read_export(export)
    found: list[tuple[dict, list[dict]]] = []
    damaged: list[Damaged] = []
    claimed: set[Path] = set()  # every file that belongs to a run, whole or damaged
    for folder in cell_folders(root):
        claimed.update(p for p in folder.iterdir() if p.is_file())
        try:
            found.append(_grid_cell(folder / CELL_FILE, root))
        except RunsError as err:
            damaged.append(Damaged(_relative(folder, root), _problem(err, folder), _known_of_folder(folder, root)))
    for output in LmEvalOutput.find(root):
        if _hidden(output.results, root):
            continue
        claimed.update(output.files())
        try:
            found.extend(_lm_eval_cells(output, root))
        except RunsError as err:
            damaged.append(Damaged(_relative(output.results, root), _problem(err, output.results.parent)))
    for stray in sorted(p for suffix in ("*.json", "*.jsonl") for p in root.rglob(suffix)):
        if stray not in claimed and not _hidden(stray, root):
            damaged.append(Damaged(_relative(stray, root), f"not part of any run (no {CELL_FILE} beside it, not an lm-eval "
                                                           "results_/samples_ file)"))
    if not found and not damaged:
        raise RunsError(f"{root}: no finished runs (no {CELL_FILE}, results_*.json or {EXPORT_CELLS} below it)")
    return _assemble(found, damaged)


CELL_FOLDER_FILES = (CELL_FILE, RESULTS_FILE, SAMPLES_FILE)


def _hidden(path: Path, root: Path) -> bool:
    """Inside a hidden folder: a cell still being written (a grid's staging folder), a lock, a cache."""
    return any(part.startswith(".") for part in path.relative_to(root).parts)


def _relative(path: Path, root: Path) -> str:
    return str(path.relative_to(root)) if path != root else "."


def _problem(err: RunsError, folder: Path) -> str:
    """The error without the folder's own path, which the listing already gives."""
    text = str(err)
    for prefix in (f"{folder}/", str(folder)):
        text = text.replace(prefix, "")
    return text


def require_cell_files(folder: Path) -> None:
    """RunsError naming the first file a finished grid cell folder lacks."""
    for name in CELL_FOLDER_FILES:
        if not (folder / name).is_file():
            raise RunsError(f"{folder / name}: missing; a finished cell holds {', '.join(CELL_FOLDER_FILES)}")


def cell_folders(root: Path) -> list[Path]:
    """Folders holding any file of a grid cell (cell.json, results.json, samples.jsonl), staging folders left out."""
    folders = {p.parent for name in CELL_FOLDER_FILES for p in root.rglob(name)}
    return sorted(f for f in folders if not _hidden(f, root))


def _known_of_folder(folder: Path, root: Path) -> dict:
    """What is known of a damaged grid cell: its settings if its cell.json reads, else model and task from
    its place (<model>/<task>/<cell id>), so a --select that excludes it can still leave it out."""
    try:
        record = CellRecord.read(folder / CELL_FILE)
        config = record.config
        domain, prompt = _domain_and_prompt(config["task"])
        known = {"cell": record.cell_id, "model": _model_label(config["model"]), "task": config["task"], "domain": domain,
                 "prompt": prompt, "seed": config.get("seed")}
        with contextlib.suppress(DecodingError, KeyError, TypeError):
            known.update(Decoding.from_settings(config["gen_kwargs"]).columns())
        return known
    except (RunsError, KeyError, TypeError, AttributeError):
        pass
    parts = folder.relative_to(root).parts
    if len(parts) < 3:
        return {}
    known = {"model": parts[-3], "task": parts[-2], "cell": parts[-1]}
    with contextlib.suppress(ValueError):
        known["domain"], known["prompt"] = parse_task_name(parts[-2])
    return known


def load_all(paths: list[str | Path]) -> Runs:
    """The runs of several places as one (e.g. a page's data/ plus new grid cells); a cell may appear once."""
    loaded = [load_runs(path) for path in paths]
    return loaded[0] if len(loaded) == 1 else _combine(loaded)


def _combine(parts: list[Runs]) -> Runs:
    damaged = [d for part in parts for d in part.damaged]
    cells = pd.concat([part.cells for part in parts], ignore_index=True)
    _refuse_duplicates(cells)
    metrics = [m for m in TASK_METRICS if any(m in part.samples.columns for part in parts)]
    samples = pd.concat([part.samples for part in parts], ignore_index=True).reindex(columns=[*SAMPLE_COLUMNS, *metrics, PREDICTION])
    cells = cells.sort_values(["model", "task", "cell"], kind="stable").reset_index(drop=True)
    return Runs(cells, samples.sort_values(["cell", "case_id"], kind="stable").reset_index(drop=True), damaged)


def _refuse_duplicates(cells: pd.DataFrame) -> None:
    duplicated = cells[cells["cell"].duplicated(keep=False)]
    if not duplicated.empty:
        first = duplicated.iloc[0]["cell"]
        sources = ", ".join(duplicated[duplicated["cell"] == first]["source"])
        raise RunsError(f"cell {first} appears more than once ({sources}); keep one copy")


def _load_single_file(path: Path) -> Runs:
    if LmEvalOutput.is_results_file(path):
        found = _lm_eval_cells(LmEvalOutput(path), path.parent)
    elif LmEvalOutput.is_samples_file(path):
        output, _ = LmEvalOutput.of_samples_file(path)
        found = [c for c in _lm_eval_cells(output, path.parent) if c[0]["source"] == path.name]
    else:
        raise RunsError(f"{path}: expected a folder, a results_*.json or a samples_*.jsonl file")
    if not found:
        raise RunsError(f"{path}: no reportbench samples found for this run")
    return _assemble(found)


def _assemble(found: list[tuple[dict, list[dict]]], damaged: list[Damaged] | None = None) -> Runs:
    cells = pd.DataFrame([dict(cell, n=len(rows)) for cell, rows in found], columns=list(CELL_COLUMNS))
    for column in NUMERIC_CELL_COLUMNS:  # None -> NaN, as after a CSV round trip
        cells[column] = pd.to_numeric(cells[column])
    _refuse_duplicates(cells)
    samples = pd.DataFrame([row for _, rows in found for row in rows], columns=[*SAMPLE_COLUMNS, *TASK_METRICS, PREDICTION])
    # metrics no cell computed (e.g. no cross-encoder offline); the key columns stay even with no samples
    samples = samples.drop(columns=[m for m in TASK_METRICS if samples[m].isna().all()])
    cells = cells.sort_values(["model", "task", "cell"], kind="stable").reset_index(drop=True)
    return Runs(cells, samples.sort_values(["cell", "case_id"], kind="stable").reset_index(drop=True), list(damaged or []))


def export_runs(runs: Runs, folder: Path) -> None:
    """The tables a page is built from, as CSV: rebuilding from them gives the same page."""
    folder.mkdir(parents=True, exist_ok=True)
    runs.cells.to_csv(folder / EXPORT_CELLS, index=False, lineterminator="\n")
    runs.samples.to_csv(folder / EXPORT_SAMPLES, index=False, lineterminator="\n")
