"""`reportbench grid`: models x tasks x decoding settings, one model load per model, resumable.

A grid config (YAML) names models, tasks, a decoding grid (Cartesian product) plus optional
explicit cells, and run settings.  Every cell gets complete, explicit gen_kwargs with
``do_sample`` set, and fresh Task objects (lm-eval's gen_kwargs would otherwise leak between
reused tasks).  The requests of several cells go to the model in one generate call
(batching.py).  A cell's output folder is written under a temporary name and renamed when
complete, so a killed run leaves either a whole cell or none, and a re-run skips what is done.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import os
import platform
import re
import resource
import shutil
import subprocess
import sys
import time
from contextlib import AbstractContextManager
from copy import deepcopy
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from functools import partial
from pathlib import Path
from unittest import mock

import yaml

from reportbench import batching, run_control
from reportbench.backends import BACKENDS
from reportbench.batching import PendingCell
from reportbench.decoding import Decoding, DecodingError
from reportbench.digests import file_digest, packaged_data_digest
from reportbench.metrics import MetricOptions, MetricOptionsError
from reportbench.metrics.judge import journal_counts, take_journal
from reportbench.records import JUDGE_LOG_FILE, RESULTS_FILE, SAMPLES_FILE, CellRecord, write_judge_log
from reportbench.run_control import CellClaims, GridStopped, OutputFolderError, check_output_folder

MODEL_KEYS = {"name", "backend", "path", "model_args", "peft", "batch_size", "apply_chat_template", "tags"}
# Model keys that change neither the outcome nor a cell's id: speed only (batch_size), or recorded in
# the cell's own apply_chat_template; tags join the id only when given, so untagged cells keep theirs.
NOT_IN_CELL_ID = ("batch_size", "apply_chat_template")
TOP_KEYS = {"models", "tasks", "decoding", "cells", "seeds", "repeats", "apply_chat_template", "limit", "split", "data_file",
            "metric_options", "max_requests_per_call"}
ALL_ROWS = "all"  # the split of a data_file grid without a split key: every row of the file


class GridConfigError(ValueError):
    pass


class GridOutputError(GridConfigError):
    """The output folder cannot be created or written (checked before any model loads)."""


@dataclass(frozen=True)
class ModelSpec:
    name: str
    backend: str
    path: str
    model_args: dict = field(default_factory=dict)
    peft: str | None = None
    batch_size: str | int = "auto"
    apply_chat_template: bool | None = None  # None: the grid's top-level setting
    tags: dict = field(default_factory=dict)  # labels of the checkpoint, e.g. {training_cases: 40}; kept in cell.json


@dataclass(frozen=True)
class Cell:
    model: ModelSpec
    task: str
    decoding: Decoding
    seed: int
    split: str
    limit: int | None
    apply_chat_template: bool
    metric_options: dict
    data_file: str | None = None  # a user's case file (absolute path); None: the packaged cases

    def outcome_key(self) -> dict:
        """Everything that changes the outcome (not batch size, which only changes speed)."""
        from reportbench import __version__
        from reportbench.tasks.names import parse_task_name

        model = {k: v for k, v in asdict(self.model).items() if k not in NOT_IN_CELL_ID and not (k == "tags" and not v)}
        return {
            "model": model,
            "task": self.task,
            "gen_kwargs": self.decoding.gen_kwargs(),
            "seed": self.seed,
            "split": self.split,
            "limit": self.limit,
            "apply_chat_template": self.apply_chat_template,
            "metric_options": self.metric_options,
            # The data by content, not by path: a moved file keeps its cells, an edited one does not.
            "data_sha256": file_digest(Path(self.data_file)) if self.data_file else packaged_data_digest(parse_task_name(self.task)[0]),
            "reportbench": __version__,
        }

    def record_config(self) -> dict:
        """The outcome key plus where the data came from (kept out of the id), as cell.json records it."""
        return self.outcome_key() | ({"data_file": self.data_file} if self.data_file else {})

    @property
    def cell_id(self) -> str:
        canonical = json.dumps(self.outcome_key(), sort_keys=True, default=str)
        return hashlib.sha256(canonical.encode()).hexdigest()[:16]

    def folder(self, root: Path) -> Path:
        return root / self.model.name / self.task / self.cell_id


def _fail(path, key, message) -> GridConfigError:
    return GridConfigError(f"{path}: {key}: {message}")


def whole_number(value, minimum: int, path, key: str) -> int:
    """A whole-number run setting (limit, seeds, repeats, ...), checked: no booleans, fractions or values below ``minimum``."""
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise _fail(path, key, f"expected a whole number >= {minimum}, got {value!r}")
    return value


# A model name becomes a folder under --output: one plain path component, nothing that climbs out.
SAFE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+-]{0,99}")


def check_batch_size(value, path, key: str):
    if value == "auto" or (isinstance(value, str) and re.fullmatch(r"auto:[1-9]\d*", value)):
        return value
    return whole_number(value, 1, path, key)


def decoding_of(settings: dict, where: str, path) -> Decoding:
    try:
        return Decoding.from_settings(settings)
    except DecodingError as err:
        raise _fail(path, where, str(err)) from None


def load_config(path: str | Path) -> dict:
    path = Path(path)
    try:
        config = yaml.safe_load(path.read_text())
    except FileNotFoundError:
        raise GridConfigError(f"{path}: file not found") from None
    except yaml.YAMLError as err:
        raise GridConfigError(f"{path}: invalid YAML: {err}") from None
    if not isinstance(config, dict):
        raise GridConfigError(f"{path}: expected a mapping at the top level")
    unknown = set(config) - TOP_KEYS
    if unknown:
        raise _fail(path, ", ".join(sorted(unknown)), f"unknown key; known: {', '.join(sorted(TOP_KEYS))}")
    for required in ("models", "tasks"):
        if not config.get(required):
            raise _fail(path, required, "missing or empty")
    if not isinstance(config.get("metric_options") or {}, dict):
        raise _fail(path, "metric_options", "expected a mapping of option: value")
    try:
        MetricOptions.parse(config.get("metric_options"), f"{path}: metric_options")
    except MetricOptionsError as err:
        raise GridConfigError(str(err)) from None
    config["max_requests_per_call"] = whole_number(config.get("max_requests_per_call", batching.DEFAULT_MAX_REQUESTS),
                                                   1, path, "max_requests_per_call")
    if config.get("limit") is not None:
        config["limit"] = whole_number(config["limit"], 1, path, "limit")
    config["repeats"] = whole_number(config.get("repeats", 1), 1, path, "repeats")
    seeds = config.get("seeds", [0])
    seeds = seeds if isinstance(seeds, list) else [seeds]
    if not seeds:
        raise _fail(path, "seeds", "empty; give at least one seed (default [0])")
    config["seeds"] = [whole_number(seed, 0, path, f"seeds[{i}]") for i, seed in enumerate(seeds)]
    if not isinstance(config.get("apply_chat_template", True), bool):
        raise _fail(path, "apply_chat_template", f"expected true or false, got {config['apply_chat_template']!r}")
    data_file = config.get("data_file")
    if data_file is not None:
        if not isinstance(data_file, str) or not data_file.strip():
            raise _fail(path, "data_file", "expected the path of a case file (JSONL, CSV or XLSX)")
        resolved = Path(data_file).expanduser()
        if not resolved.is_file():
            raise _fail(path, "data_file", f"no such file: {data_file}" + (" (it is a folder)" if resolved.is_dir() else ""))
        config["data_file"] = str(resolved.resolve())  # relative to the working folder, as model paths are
    return config


def grid_split(config: dict) -> str:
    """The split a grid evaluates: its `split` key; without one, every row of its data_file or the packaged test split."""
    return config.get("split") or (ALL_ROWS if config.get("data_file") else "test")


def run_metadata(split: str, data_file: str | None, metric_options: dict) -> dict:
    """lm-eval metadata for the task loader (`tasks/utils.py:load_cases`): split, data_file and metric options."""
    return ({"split": split} if split != ALL_ROWS else {}) | ({"data_file": data_file} if data_file else {}) | metric_options


def check_data(cells: list[Cell], path) -> None:
    """Every cell's cases load and are not empty, before any model loads (the loader's own checks, named by key)."""
    from reportbench.cases import CaseFileError, select_cases
    from reportbench.tasks.names import parse_task_name

    for split, data_file, domain in sorted({(c.split, c.data_file or "", parse_task_name(c.task)[0]) for c in cells}):
        try:
            cases = select_cases(domain, None if split == ALL_ROWS else split, data_file or None)
        except (CaseFileError, ValueError) as err:
            raise _fail(path, "data_file" if data_file else "split", str(err)) from None
        if not cases:
            raise _fail(path, "split", f"no {domain} cases in split {split!r}" + (f" of {data_file}" if data_file else ""))


def parse_models(config: dict, path) -> list[ModelSpec]:
    models = []
    for i, entry in enumerate(config["models"]):
        where = f"models[{i}]"
        if not isinstance(entry, dict):
            raise _fail(path, where, "expected a mapping with name, backend and path")
        unknown = set(entry) - MODEL_KEYS
        if unknown:
            raise _fail(path, f"{where}.{sorted(unknown)[0]}", f"unknown key; known: {', '.join(sorted(MODEL_KEYS))}")
        for key in ("name", "path"):
            if not entry.get(key):
                raise _fail(path, f"{where}.{key}", "missing")
        backend = entry.get("backend", "hf")
        if backend not in BACKENDS:
            raise _fail(path, f"{where}.backend", f"must be one of {', '.join(BACKENDS)}, got {backend!r}")
        for key in ("path", "peft"):
            value = str(entry.get(key) or "")
            if value.startswith(("/", "./", "../", "~")) and not Path(value).expanduser().exists():
                raise _fail(path, f"{where}.{key}", f"no such file or folder: {value}")
        name = entry["name"]
        if not isinstance(name, str) or not SAFE_NAME.fullmatch(name):  # a first letter or digit: no "." or ".."
            raise _fail(path, f"{where}.name", f"{name!r} is not a safe folder name: use letters, digits and . _ + - "
                        "(first a letter or digit, at most 100 characters, no / or ..)")
        if not isinstance(entry.get("model_args") or {}, dict):
            raise _fail(path, f"{where}.model_args", "expected a mapping of argument: value")
        models.append(ModelSpec(
            name=name, backend=backend, path=str(entry["path"]),
            model_args=dict(entry.get("model_args") or {}), peft=entry.get("peft"),
            batch_size=check_batch_size(entry.get("batch_size", "auto"), path, f"{where}.batch_size"),
            apply_chat_template=_chat_template_of(entry, config, path, where), tags=_tags_of(entry, path, where),
        ))
    names = [m.name for m in models]
    if len(set(names)) != len(names):
        raise _fail(path, "models", "model names must be unique")
    return models


def _chat_template_of(entry: dict, config: dict, path, where: str) -> bool:
    """The model's own apply_chat_template, else the grid's; a base model without a template is refused one."""
    from reportbench.metrics.models import EMBEDDED_MODELS

    own = entry.get("apply_chat_template")
    if own is not None and not isinstance(own, bool):
        raise _fail(path, f"{where}.apply_chat_template", f"expected true or false, got {own!r}")
    value = config.get("apply_chat_template", True) if own is None else own
    embedded = EMBEDDED_MODELS.get(str(entry["path"]))
    if value and embedded and not embedded.chat_template:
        key = f"{where}.apply_chat_template" if own is not None else "apply_chat_template"
        raise _fail(path, key, f"{embedded.alias} is a base model without a chat template; "
                    f"set {where}.apply_chat_template: false")
    return value


# A tag becomes a column of the leaderboard's cell table: a short name and a plain value.
TAG_NAME = re.compile(r"[a-z][a-z0-9_]{0,39}")


def _tags_of(entry: dict, path, where: str) -> dict:
    tags = entry.get("tags") or {}
    if not isinstance(tags, dict):
        raise _fail(path, f"{where}.tags", "expected a mapping of name: value, e.g. {training_cases: 40}")
    for name, value in tags.items():
        if not isinstance(name, str) or not TAG_NAME.fullmatch(name):
            raise _fail(path, f"{where}.tags", f"{name!r} is not a tag name: lower-case letters, digits and _")
        if isinstance(value, bool) or not isinstance(value, (int, float, str)):
            raise _fail(path, f"{where}.tags.{name}", f"expected a number or a string, got {value!r}")
    return dict(sorted(tags.items()))


def expand_tasks(names: list[str], task_manager, path) -> list[str]:
    """Groups become their member tasks; unknown names are an error naming the key."""
    tasks = []
    for i, name in enumerate(names):
        if name not in task_manager.all_tasks:
            raise _fail(path, f"tasks[{i}]", f"unknown task or group {name!r}")
        if name in task_manager.all_groups:
            members = task_manager.task_index[name].cfg["task"]
            tasks += expand_tasks([m if isinstance(m, str) else m["task"] for m in members], task_manager, path)
        else:
            tasks.append(name)
    return list(dict.fromkeys(tasks))


def expand_cells(config: dict, path, task_names: list[str]) -> list[Cell]:
    models = parse_models(config, path)
    decoding = config.get("decoding") or {}
    if not isinstance(decoding, dict):
        raise _fail(path, "decoding", "expected a mapping of key: [values]")
    axes = {k: (v if isinstance(v, list) else [v]) for k, v in decoding.items()}
    combos = [dict(zip(axes, values)) for values in itertools.product(*axes.values())] if axes else [{}]
    settings = [decoding_of(c, "decoding", path) for c in combos]
    settings += [decoding_of(c, f"cells[{i}]", path) for i, c in enumerate(config.get("cells") or [])]
    seeds = config["seeds"]
    repeats = config["repeats"]
    if repeats > 1:  # repeats = distinct seeds after the given ones
        seeds = seeds + [max(seeds) + r for r in range(1, repeats)]
    split = grid_split(config)
    limit = config.get("limit")
    cells, seen = [], set()
    for model, task, decoding, seed in itertools.product(models, task_names, settings, seeds):
        cell = Cell(model, task, decoding, int(seed), split, limit, model.apply_chat_template,
                    dict(config.get("metric_options") or {}), config.get("data_file"))
        if cell.cell_id not in seen:  # e.g. greedy decoding under several temperatures
            seen.add(cell.cell_id)
            cells.append(cell)
    return cells


def shard(cells: list[Cell], spec: str | None) -> list[Cell]:
    """Cell i of n by a stable hash of the cell id, so every machine computes the same split."""
    if not spec:
        return cells
    try:
        index, count = (int(x) for x in spec.split("/"))
        assert 0 <= index < count
    except (ValueError, AssertionError):
        raise GridConfigError(f"--shard must be i/n with 0 <= i < n, got {spec!r}") from None
    return [c for c in cells if int(c.cell_id, 16) % count == index]


# ---------------------------------------------------------------- running


def environment() -> dict:
    import importlib.metadata as md

    def version(name):
        try:
            return md.version(name)
        except md.PackageNotFoundError:
            return None

    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True,
                                cwd=Path(__file__).resolve().parent, timeout=5).stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        commit = None
    import torch

    return {
        "packages": {p: version(p) for p in ("reportbench", "lm_eval", "transformers", "torch", "vllm", "sentence-transformers", "bert-score")},
        "git_commit": commit,
        "hardware": {
            "platform": platform.platform(),
            "cpu_count": os.cpu_count(),
            "torch_threads": torch.get_num_threads(),
            "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
        },
        "python": platform.python_version(),
    }


def _generated_tokens(lm, texts: list[str]) -> int:
    tokenizer = getattr(lm, "tokenizer", None)
    if tokenizer is None:
        return sum(len(t.split()) for t in texts)
    return sum(len(tokenizer(t, add_special_tokens=False)["input_ids"]) for t in texts)


def evaluate_cell(cell: Cell, lm, task_manager) -> dict:
    """lm-eval's evaluation of one cell: its task, gen_kwargs, limit and seeds."""
    from lm_eval import simple_evaluate

    return simple_evaluate(
        model=lm,
        tasks=[cell.task],
        task_manager=task_manager,
        gen_kwargs=cell.decoding.gen_kwargs(),
        limit=cell.limit,
        log_samples=True,
        apply_chat_template=cell.apply_chat_template,
        random_seed=cell.seed, numpy_random_seed=cell.seed, torch_random_seed=cell.seed, fewshot_random_seed=cell.seed,
        bootstrap_iters=0,
    )


def _seed_everything(seed: int) -> None:
    import random

    import numpy as np
    import torch

    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def batch_key(cell: Cell) -> str:
    """Cells with the same key may share a generate call: all of a model's cells on an engine with
    per-request sampling parameters; otherwise greedy cells with equal gen_kwargs (a sampled cell
    runs alone, so its torch seed alone decides its samples)."""
    if BACKENDS[cell.model.backend].per_request_sampling:
        return "one engine call"
    return json.dumps(cell.decoding.gen_kwargs(), sort_keys=True) if cell.decoding.greedy else cell.cell_id


def run_chunk(chunk: list[PendingCell], lm, task_manager, root: Path, env: dict, load_seconds: float, on_written=None) -> None:
    """One generate call for the chunk's cells, then each cell scored and written (atomically) in turn."""
    per_request = BACKENDS[chunk[0].cell.model.backend].per_request_sampling
    if not per_request:  # the engine's RNG, seeded as simple_evaluate seeds it (a sampled cell is a chunk of its own)
        _seed_everything(chunk[0].cell.seed)
    batching.generate(lm, chunk, seeds=per_request, count_tokens=lambda texts: _generated_tokens(lm, texts))
    for pending in chunk:
        take_journal()  # judge lines of anything before this cell are not this cell's
        start = time.perf_counter()
        results = batching.replay(lm, pending, lambda cell=pending.cell: evaluate_cell(cell, lm, task_manager))
        own_seconds = pending.collect_seconds + time.perf_counter() - start
        write_cell(pending, results, lm, root, env, load_seconds, own_seconds)
        if on_written:
            on_written(pending.cell)


def write_cell(pending: PendingCell, results: dict, lm, root: Path, env: dict, load_seconds: float, own_seconds: float) -> Path:
    """A cell's folder, written under a temporary name and renamed when complete."""
    cell = pending.cell
    final = cell.folder(root)
    staging = final.parent / f".{cell.cell_id}.tmp-{os.getpid()}"
    try:
        final.parent.mkdir(parents=True, exist_ok=True)
        for stale in final.parent.glob(f".{cell.cell_id}.tmp-*"):  # left by a killed run
            if not _pid_alive(int(stale.name.rsplit("-", 1)[1])):
                shutil.rmtree(stale, ignore_errors=True)
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir()
        _write_staging(staging, pending, results, lm, env, load_seconds, own_seconds)
        if final.exists():  # another process finished the same cell first
            shutil.rmtree(staging)
        else:
            os.rename(staging, final)
    except OSError as err:  # a full disk, a read-only or vanished folder: named, nothing half-written kept
        shutil.rmtree(staging, ignore_errors=True)
        raise GridOutputError(f"{final}: cannot write the cell: {err.strerror or err}") from None
    except BaseException:  # a signal (GridStopped, KeyboardInterrupt) mid-write: the cell is abandoned whole
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return final


def _write_staging(staging: Path, pending: PendingCell, results: dict, lm, env: dict, load_seconds: float, own_seconds: float) -> None:
    from lm_eval.utils import handle_non_serializable

    cell = pending.cell
    samples = results.pop("samples")[cell.task]
    (staging / RESULTS_FILE).write_text(json.dumps(results, indent=2, default=handle_non_serializable, ensure_ascii=False))
    with (staging / SAMPLES_FILE).open("w", encoding="utf-8") as handle:
        for sample in samples:
            handle.write(json.dumps(sample, default=handle_non_serializable, ensure_ascii=False) + "\n")
    judged = take_journal()
    if judged:
        write_judge_log(staging / JUDGE_LOG_FILE, judged)
    # Wall time: the cell's own lm-eval passes (requests, parsing, scoring) plus its share of the generate call.
    wall = own_seconds + pending.generation_seconds
    tokens = pending.generated_tokens
    CellRecord(
        cell_id=cell.cell_id,
        finished_at=datetime.now(timezone.utc).isoformat(timespec="seconds"),
        config=cell.record_config(),
        batch_size=cell.model.batch_size,
        environment=env,
        efficiency={
            "wall_seconds": wall,
            "generation_seconds": pending.generation_seconds,
            "shared_call": pending.call,
            "samples": len(samples),
            "generated_tokens": tokens,
            "tokens_per_second": tokens / wall if wall else None,
            "latency_per_sample_seconds": wall / len(samples) if samples else None,
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            "parameters": BACKENDS[cell.model.backend].count_parameters(lm),
            "model_load_seconds": load_seconds,
            **({"judge": journal_counts(judged)} if judged else {}),
        },
    ).write(staging)


def _pid_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def is_done(cell: Cell, root: Path) -> bool:
    from reportbench.records import CELL_FILE

    return (cell.folder(root) / CELL_FILE).is_file()


def only_models(config: dict, names: list[str] | None, path) -> dict:
    """The config with only the named models (--models): the others are neither checked nor run."""
    if not names:
        return config
    known = [entry.get("name") for entry in config["models"] if isinstance(entry, dict)]
    unknown = [name for name in names if name not in known]
    if unknown:
        raise GridConfigError(f"--models: {', '.join(unknown)} not in {path}; its models: {', '.join(map(str, known))}")
    return config | {"models": [entry for entry in config["models"] if isinstance(entry, dict) and entry.get("name") in names]}


def run_grid(config_path: str, output: str, shard_spec: str | None = None, limit: int | None = None, dry_run: bool = False,
             models: list[str] | None = None) -> int:
    from lm_eval.tasks import TaskManager

    from reportbench.paths import tasks_dir

    config = only_models(load_config(config_path), models, config_path)
    if limit is not None:
        config["limit"] = limit
    # The cases and metric options travel in the metadata: the task loader reads them and hands the options to the scorer.
    metadata = run_metadata(grid_split(config), config.get("data_file"), dict(config.get("metric_options") or {}))
    # Only reportbench's own tasks: skipping lm-eval's ~14.7k built-in configs saves ~15 s per run.
    task_manager = TaskManager(include_path=str(tasks_dir()), include_defaults=False, metadata=metadata)
    tasks = config["tasks"] if isinstance(config["tasks"], list) else [config["tasks"]]
    cells = shard(expand_cells(config, config_path, expand_tasks(tasks, task_manager, config_path)), shard_spec)
    check_data(cells, config_path)
    root = Path(output)
    pending = [c for c in cells if not is_done(c, root)]
    if dry_run:
        for c in cells:
            state = "done" if is_done(c, root) else "todo"
            print(f"{state}  {c.cell_id}  {c.model.name}  {c.task}  seed={c.seed}  {c.decoding.label()}")
        print(f"{len(cells)} cells, {len(cells) - len(pending)} done, {len(pending)} to run")
        return 0
    try:
        check_output_folder(root)  # before any model loads
    except OutputFolderError as err:
        raise GridOutputError(f"--output {err}") from None
    print(f"reportbench grid: {len(cells)} cells, {len(cells) - len(pending)} already done, {len(pending)} to run -> {root}")
    claims = CellClaims(lambda cell: claim_path(cell, root), lambda cell: is_done(cell, root))
    counts = {"written": 0, "skipped": 0}
    try:
        with run_control.stop_on_signals(), environment_read_once():
            _run_cells(config, config_path, pending, root, task_manager, claims, counts)
    except GridStopped as stop:
        run_control.ignore_stop_signals()  # a second Ctrl-C must not break the cleanup (claims: released in finally)
        ended = run_control.end_child_processes()
        done = sum(is_done(c, root) for c in cells)
        engines = f", {ended} engine process(es) ended" if ended else ""
        run_control.say(f"reportbench grid: stopped by {stop.name}: {done} of {len(cells)} cells done ({counts['written']} in this run)"
                        f"{engines}; the cell in progress was abandoned. Run the same command again to resume.")
        return stop.exit_status
    finally:
        claims.release_all()
    skipped = f", {counts['skipped']} left to another process that had claimed them" if counts["skipped"] else ""
    print(f"reportbench grid: {counts['written']} cell(s) computed in this run{skipped}")
    return 0


def environment_read_once() -> AbstractContextManager:
    """lm-eval's simple_evaluate describes the machine in every results.json (torch's collect_env: about
    ten subprocesses, 0.6 s per call on 2 cores); in one grid process the machine does not change, so
    while this is open it is read at the first cell and copied into every later one."""
    import lm_eval.evaluator

    original = lm_eval.evaluator.add_env_info
    read: dict = {}

    def add_env_info(storage: dict) -> None:
        if not read:
            original(read)
        storage.update(deepcopy(read))

    return mock.patch.object(lm_eval.evaluator, "add_env_info", add_env_info)


CLAIMS_FOLDER = ".claims"  # under --output: hidden, so the run tables never read it, and out of the cell folders


def claim_path(cell: Cell, root: Path) -> Path:
    """The lock file of a cell's claim (kept after release: deleting a flock file races with its next taker)."""
    return root / CLAIMS_FOLDER / f"{cell.cell_id}.lock"


def _run_cells(config: dict, config_path, pending: list[Cell], root: Path, task_manager, claims: CellClaims, counts: dict) -> None:
    from tqdm import tqdm

    env = environment()
    progress = tqdm(total=len(pending), desc="grid cells", unit="cell")
    model_index = {m["name"]: i for i, m in enumerate(config["models"])}

    def skip(cell: Cell) -> None:
        counts["skipped"] += 1
        progress.update()
        tqdm.write(f"reportbench grid: skipped cell {cell.cell_id} ({cell.model.name} {cell.task}): claimed or done by another process",
                   file=sys.stderr)

    def claim(cell: Cell) -> bool:
        if claims.take(cell.cell_id, cell):
            return True
        skip(cell)
        return False

    def written(cell: Cell) -> None:
        claims.release(cell.cell_id)
        counts["written"] += 1
        progress.update()

    for name in dict.fromkeys(c.model.name for c in pending):
        model_cells = []
        for cell in (c for c in pending if c.model.name == name):
            if is_done(cell, root):  # finished by another process since the listing
                skip(cell)
            else:
                model_cells.append(cell)
        if not model_cells:
            continue
        spec = model_cells[0].model
        start = time.perf_counter()
        try:
            lm = BACKENDS[spec.backend].build(spec)  # once per model, for all of its cells
        except Exception as err:  # a model that cannot load is a config problem, named as one
            detail = str(err).splitlines()[0][:300] if str(err) else type(err).__name__
            raise _fail(config_path, f"models[{model_index[name]}]", f"cannot load {spec.path!r} with backend {spec.backend}: {detail}") from err
        run_control.install_stop_handlers()  # an engine may have put its own in while loading
        load_seconds = time.perf_counter() - start
        progress.set_postfix_str(f"{name}: building requests")
        for chunk in batching.chunks(model_cells, partial(evaluate_cell, lm=lm, task_manager=task_manager), lm, batch_key,
                                     config["max_requests_per_call"], claim=claim):
            progress.set_postfix_str(f"{name}: {len(chunk)} cell(s), {sum(len(p.requests) for p in chunk)} requests")
            run_chunk(chunk, lm, task_manager, root, env, load_seconds, on_written=written)
        del lm
    progress.close()
