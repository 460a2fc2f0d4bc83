"""Finished runs as two tidy tables: one row per generated sample, one row per cell.

Three sources are read, so every later step (leaderboard, compare) sees one shape:
- grid cell folders: `<model>/<task>/<cell-id>/{cell.json, samples.jsonl}` (`reportbench grid`);
- lm-eval output folders: `results_<time>.json` beside `samples_<task>_<time>.jsonl`
  (`reportbench lm-eval ... --log_samples`);
- the `data/` export a leaderboard writes (`cells.csv` + `samples.csv`), so a published page
  can be rebuilt without the raw runs.
"""

from __future__ import annotations

from dataclasses import dataclass
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
    "cell", "model", "task", "domain", "prompt", *DECODING_COLUMNS, "chat_template", "seed", "split", "limit",
    "n", "wall_seconds", "generated_tokens", "parameters", "finished_at", "reportbench_version",
    "lm_eval_version", "data_sha256", "hardware", "judge", "source",
)
NUMERIC_CELL_COLUMNS = (*NUMERIC_DECODING_COLUMNS, "limit", "wall_seconds", "generated_tokens", "parameters")
SAMPLE_COLUMNS = ("cell", "case_id", "target_hash")
EXPORT_CELLS = "cells.csv"
EXPORT_SAMPLES = "samples.csv"
__all__ = ["Runs", "RunsError", "load_runs", "load_all", "export_runs", "export_folder", "parse_conditions", "CONFIG_COLUMNS"]


@dataclass
class Runs:
    cells: pd.DataFrame  # CELL_COLUMNS, one row per cell
    samples: pd.DataFrame  # SAMPLE_COLUMNS + metric columns, one row per sample

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
        for key, wanted in conditions.items():
            if key not in cells.columns:
                raise RunsError(f"cannot select on {key!r}; known: {', '.join(c for c in CELL_COLUMNS if c != 'source')}")
            cells = cells[cells[key].map(lambda v, key=key: format_setting(key, v)) == format_setting(key, _parse_value(wanted))]
        return Runs(cells.reset_index(drop=True), self.samples[self.samples["cell"].isin(cells["cell"])].reset_index(drop=True))


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
        for metric in TASK_METRICS:
            value = sample.get(metric)
            if value is not None and not isinstance(value, (int, float)):
                raise RunsError(f"{path}:{number}: field '{metric}': not a number ({value!r})")
            row[metric] = None if value is None else float(value)
        out.append(row)
    return out


def _hardware(environment: dict) -> str:
    hardware = environment.get("hardware") or {}
    device = hardware.get("cuda") or f"CPU x{hardware.get('cpu_count', '?')}"
    return f"{device}, {hardware.get('platform', '?')}"


def _model_label(model: dict) -> str:
    return model.get("name") or Path(str(model.get("path", "model"))).name


def _grid_cell(cell_json: Path, root: Path) -> tuple[dict, list[dict]]:
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
        "limit": config.get("limit"), "wall_seconds": efficiency["wall_seconds"],
        "generated_tokens": efficiency["generated_tokens"], "parameters": efficiency.get("parameters"),
        "finished_at": record.finished_at,
        "reportbench_version": config.get("reportbench"),
        "lm_eval_version": environment.get("packages", {}).get("lm_eval"),
        "data_sha256": config.get("data_sha256"), "hardware": _hardware(environment),
        "judge": judge_label(cell_json.parent / JUDGE_LOG_FILE),
        "source": str(cell_json.parent.relative_to(root)) if cell_json.parent != root else ".",
    }
    samples_path = cell_json.parent / SAMPLES_FILE
    if not samples_path.is_file():
        raise RunsError(f"{samples_path}: missing; a finished cell holds {CELL_FILE} and {SAMPLES_FILE}")
    rows = _sample_rows(samples_path, cell["cell"], read_samples(samples_path))
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
            "split": (task_config.get("metadata") or {}).get("split", "test"), "limit": config.get("limit"),
            "wall_seconds": task_seconds,
            "generated_tokens": None, "parameters": config.get("model_num_parameters"),
            "finished_at": datetime.fromtimestamp(finished, timezone.utc).isoformat(timespec="seconds") if finished else None,
            "reportbench_version": None, "lm_eval_version": results.get("lm_eval_version"),
            "data_sha256": None, "hardware": None, "judge": judge_label(output.judge_log_file()),
            "source": str(samples_path.relative_to(root)),
        }, rows))
    return out


def _read_export(folder: Path) -> Runs:
    cells = pd.read_csv(folder / EXPORT_CELLS, keep_default_na=False, na_values=[""])
    samples = pd.read_csv(folder / EXPORT_SAMPLES, keep_default_na=False, na_values=[""])
    if "structured_output" not in cells.columns:  # exported before the setting existed: all free decoding
        cells["structured_output"] = DECODING_DEFAULTS["structured_output"]
    if "judge" not in cells.columns:  # exported before the LLM judge existed: no judge
        cells["judge"] = None
    cells["judge"] = cells["judge"].astype(object).where(cells["judge"].notna(), None)  # an empty cell is no judge
    missing = [c for c in CELL_COLUMNS if c not in cells.columns]
    if missing:
        raise RunsError(f"{folder / EXPORT_CELLS}: column(s) {', '.join(missing)} missing")
    cells["chat_template"] = cells["chat_template"].map(lambda v: v in (True, "True", "true", 1))
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
    for cell_json in sorted(root.rglob(CELL_FILE)):
        if any(part.startswith(".") for part in cell_json.relative_to(root).parts):
            continue  # a cell still being written (staging folder of a running or killed grid)
        found.append(_grid_cell(cell_json, root))
    for output in LmEvalOutput.find(root):
        found.extend(_lm_eval_cells(output, root))
    if not found:
        raise RunsError(f"{root}: no finished runs (no {CELL_FILE}, results_*.json or {EXPORT_CELLS} below it)")
    return _assemble(found)


def load_all(paths: list[str | Path]) -> Runs:
    """The runs of several places as one (e.g. a page's data/ plus new grid cells); a cell may appear once."""
    loaded = [load_runs(path) for path in paths]
    return loaded[0] if len(loaded) == 1 else _combine(loaded)


def _combine(parts: list[Runs]) -> Runs:
    cells = pd.concat([part.cells for part in parts], ignore_index=True)
    _refuse_duplicates(cells)
    metrics = [m for m in TASK_METRICS if any(m in part.samples.columns for part in parts)]
    samples = pd.concat([part.samples for part in parts], ignore_index=True).reindex(columns=[*SAMPLE_COLUMNS, *metrics])
    cells = cells.sort_values(["model", "task", "cell"], kind="stable").reset_index(drop=True)
    return Runs(cells, samples.sort_values(["cell", "case_id"], kind="stable").reset_index(drop=True))


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


def _assemble(found: list[tuple[dict, list[dict]]]) -> Runs:
    cells = pd.DataFrame([dict(cell, n=len(rows)) for cell, rows in found], columns=list(CELL_COLUMNS))
    for column in NUMERIC_CELL_COLUMNS:  # None -> NaN, as after a CSV round trip
        cells[column] = pd.to_numeric(cells[column])
    _refuse_duplicates(cells)
    samples = pd.DataFrame([row for _, rows in found for row in rows], columns=[*SAMPLE_COLUMNS, *TASK_METRICS])
    samples = samples.dropna(axis=1, how="all")  # metrics no cell computed (e.g. no cross-encoder offline)
    cells = cells.sort_values(["model", "task", "cell"], kind="stable").reset_index(drop=True)
    return Runs(cells, samples.sort_values(["cell", "case_id"], kind="stable").reset_index(drop=True))


def export_runs(runs: Runs, folder: Path) -> None:
    """The tables a page is built from, as CSV: rebuilding from them gives the same page."""
    folder.mkdir(parents=True, exist_ok=True)
    runs.cells.to_csv(folder / EXPORT_CELLS, index=False, lineterminator="\n")
    runs.samples.to_csv(folder / EXPORT_SAMPLES, index=False, lineterminator="\n")
