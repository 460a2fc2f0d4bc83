"""Grid cell folders with chosen metric values, written through the grid's own cell and record types."""

from __future__ import annotations

import json
from pathlib import Path

from reportbench.decoding import Decoding
from reportbench.digests import text_digest
from reportbench.grid import Cell, ModelSpec
from reportbench.metrics import TASK_METRICS
from reportbench.records import RESULTS_FILE, SAMPLES_FILE, CellRecord

# Metric values every fixture sample carries besides the ones a test chooses; without the default
# ranking metric (fact_recall), so that pages and comparisons rank by the values a test chooses.
FILLER = {m: 0.5 for m in TASK_METRICS if m not in ("cross_encoder", "fact_recall")} | {"words": 100.0, "hallucinated_facts": 1.0}


def write_cell(root: Path, scores: dict[str, float | dict], *, model: str = "m1", task: str = "reportbench_pharma_a",
               temperature: float = 0.0, top_p: float = 0.9, top_k: int = 50, max_gen_toks: int = 300, seed: int = 0,
               metric: str = "bi_encoder_cosine", wall_seconds: float = 10.0, generated_tokens: int = 1000,
               parameters: int | None = 135_000_000, finished_at: str = "2026-11-20T10:00:00+00:00",
               reference: str = "ref", peft: str | None = None, tags: dict | None = None) -> Path:
    """scores: case id -> value of `metric` (or a dict of metric values for that case)."""
    decoding = Decoding.from_settings({"temperature": temperature, "top_p": top_p, "top_k": top_k, "max_gen_toks": max_gen_toks})
    cell = Cell(ModelSpec(name=model, backend="hf", path=f"/models/{model}", peft=peft, tags=tags or {}), task, decoding, seed, "test", None, True, {})
    folder = cell.folder(root)
    folder.mkdir(parents=True)
    CellRecord(
        cell_id=cell.cell_id, finished_at=finished_at, config=cell.outcome_key(), batch_size=2,
        environment={"packages": {"lm_eval": "0.4.13"}, "hardware": {"platform": "Linux", "cpu_count": 2, "cuda": None}},
        efficiency={"wall_seconds": wall_seconds, "samples": len(scores), "generated_tokens": generated_tokens,
                    "parameters": parameters, "model_load_seconds": 1.0},
    ).write(folder)
    (folder / RESULTS_FILE).write_text(json.dumps({"results": {task: {"alias": task}}}))
    with (folder / SAMPLES_FILE).open("w") as handle:
        for doc_id, (case_id, value) in enumerate(scores.items()):
            values = value if isinstance(value, dict) else {metric: value}
            target = f"{reference}-{case_id}"
            varying = {"rougeL": 0.2 + 0.05 * doc_id, "bleu": 0.1 + 0.02 * (doc_id % 2)}  # something to correlate
            sample = {"doc_id": doc_id, "doc": {"id": case_id}, "target": target, "resps": [[f"generation of {case_id} by {model}"]],
                      "target_hash": text_digest(target), **FILLER, **varying, **values}
            handle.write(json.dumps(sample) + "\n")
    return folder


def cases(domain: str, values: list[float]) -> dict[str, float]:
    return {f"{domain}-{i:03d}": v for i, v in enumerate(values, 1)}
