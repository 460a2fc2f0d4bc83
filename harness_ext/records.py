"""What finished runs leave on disk, written and read in one place.

- A grid cell folder `<model>/<task>/<cell-id>/`: `cell.json` (a `CellRecord`), `samples.jsonl` and
  `results.json` (lm-eval's own formats), and `judge.jsonl` when an LLM judge scored it.
- An lm-eval output folder: `results_<stamp>.json` beside `samples_<task>_<stamp>.jsonl` per task
  and `judge_<stamp>.jsonl` when an LLM judge scored it (`LmEvalOutput`).
- `reportbench score --output OUT.jsonl`: `OUT.summary.json` and, with a judge, `OUT.judge.jsonl`.
"""

from __future__ import annotations

import json
from dataclasses import MISSING, asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

CELL_FILE = "cell.json"
SAMPLES_FILE = "samples.jsonl"
RESULTS_FILE = "results.json"
JUDGE_LOG_FILE = "judge.jsonl"  # one line per judged sample: prompt, raw answer, scores, cache hit
# Keys of a cell record's sections that a reader needs; the top-level keys are CellRecord's fields.
REQUIRED_IN = {
    "config": ("model", "task", "gen_kwargs", "seed", "split", "apply_chat_template"),
    "efficiency": ("wall_seconds", "generated_tokens"),
}


class RunsError(ValueError):
    """A run file that cannot be read as it is; the message names the file and field."""


def read_samples(path: Path) -> list[dict]:
    """Every row of a samples JSONL file; the first bad line stops the read, naming file and line."""
    from reportbench.jsonl import numbered_objects

    rows = []
    for number, record in numbered_objects(path):
        if isinstance(record, str):
            raise RunsError(f"{path}:{number}: {record}")
        rows.append(record)
    return rows


def read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise RunsError(f"{path}:{err.lineno}: invalid JSON ({err.msg})") from None


def write_judge_log(path: Path, lines: list[dict]) -> Path:
    with Path(path).open("w", encoding="utf-8") as handle:
        for line in lines:
            handle.write(json.dumps(line, ensure_ascii=False) + "\n")
    return Path(path)


def judge_label(log: Path) -> str | None:
    """'judge model (backend), rubric vN sha256[:12]' from a judge log's first line; None without a log."""
    if not Path(log).is_file():
        return None
    with Path(log).open(encoding="utf-8") as handle:
        first = handle.readline()
    try:
        line = json.loads(first)
        return f"{line['judge_model']} ({line['judge_backend']}), rubric v{line['rubric_version']} {line['rubric_sha256'][:12]}"
    except (json.JSONDecodeError, KeyError, TypeError):
        raise RunsError(f"{log}:1: not a judge log line (judge_model, judge_backend, rubric_version, rubric_sha256)") from None


def score_judge_log(output: Path) -> Path:
    """`reportbench score --output OUT.jsonl` writes its judge log to OUT.judge.jsonl."""
    return Path(output).with_suffix(".judge.jsonl")


@dataclass(kw_only=True)
class CellRecord:
    """`cell.json`: a grid cell's full configuration (its outcome key), environment and efficiency.

    The fields are the file's keys, in the file's order; those without a default must be present to read it.
    """

    cell_id: str
    finished_at: str | None = None
    config: dict  # everything that changes the outcome: model, task, gen_kwargs, seed, split, limit, ...
    batch_size: Any = None
    environment: dict = field(default_factory=dict)
    efficiency: dict  # wall_seconds, samples, generated_tokens, tokens_per_second, peak_rss_mb, parameters, ...
    rescored: list = field(default_factory=list)  # `reportbench rescore`: when, which metrics, with which settings

    def text(self) -> str:
        return json.dumps(asdict(self), indent=2, default=str)

    def write(self, folder: Path) -> Path:
        path = folder / CELL_FILE
        path.write_text(self.text())
        return path

    @classmethod
    def read(cls, path: Path) -> CellRecord:
        record = read_json(path)
        if not isinstance(record, dict):
            raise RunsError(f"{path}: expected a JSON object (not a reportbench grid cell?)")
        required = {"": [f.name for f in fields(cls) if f.default is MISSING and f.default_factory is MISSING], **REQUIRED_IN}
        for section, keys in required.items():
            holder = record.get(section) if section else record
            for key in keys:
                if not isinstance(holder, dict) or key not in holder:
                    name = f"{section}.{key}" if section else key
                    raise RunsError(f"{path}: field {name!r}: missing (not a reportbench grid cell?)")
        return cls(**{f.name: record[f.name] for f in fields(cls) if f.name in record})


@dataclass(frozen=True)
class LmEvalOutput:
    """One `lm_eval --output_path ... --log_samples` run: its results file and samples files."""

    results: Path

    PREFIX = "results_"

    @property
    def stamp(self) -> str:
        return self.results.stem[len(self.PREFIX):]

    def samples_file(self, task: str) -> Path:
        return self.results.parent / f"samples_{task}_{self.stamp}.jsonl"

    def samples_files(self, tasks) -> dict[str, Path]:
        """The samples file of every task that has one (groups have none)."""
        files = {task: self.samples_file(task) for task in tasks}
        return {task: path for task, path in files.items() if path.is_file()}

    def summary_file(self) -> Path:
        return self.results.with_name(f"reportbench_summary_{self.stamp}.json")

    def judge_log_file(self) -> Path:
        return self.results.with_name(f"judge_{self.stamp}.jsonl")

    def files(self) -> list[Path]:
        """Every file this run wrote beside its results: samples of each task, reportbench's summary, the judge log."""
        folder = self.results.parent
        own = [self.results, self.summary_file(), self.judge_log_file()]
        return own + sorted(folder.glob(f"samples_*_{self.stamp}.jsonl"))

    @classmethod
    def is_results_file(cls, path: Path) -> bool:
        return path.name.startswith(cls.PREFIX) and path.suffix == ".json"

    @staticmethod
    def is_samples_file(path: Path) -> bool:
        return path.name.startswith("samples_") and path.suffix == ".jsonl"

    @classmethod
    def find(cls, folder: Path) -> list[LmEvalOutput]:
        return [cls(path) for path in sorted(Path(folder).rglob(f"{cls.PREFIX}*.json"))]

    @classmethod
    def of_samples_file(cls, path: Path) -> tuple[LmEvalOutput, str]:
        """The run a `samples_<task>_<stamp>.jsonl` belongs to, and its task."""
        task, _, stamp = path.stem[len("samples_"):].rpartition("_")
        if not cls.is_samples_file(path) or not task:
            raise RunsError(f"{path}: not an lm-eval samples file (samples_<task>_<time>.jsonl)")
        return cls(path.parent / f"{cls.PREFIX}{stamp}.json"), task
