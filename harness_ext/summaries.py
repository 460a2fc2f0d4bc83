"""n, mean, std and bootstrap 95% CI per task and metric, from lm-eval samples files.

lm-eval's own table shows a mean and a stderr (or "N/A"); reportbench writes its own
summary beside the results JSON so every aggregate carries a confidence interval.
"""

from __future__ import annotations

import json
from pathlib import Path

from reportbench.metrics import METRICS, TASK_METRICS
from reportbench.metrics.confidence import summarize

KEY_COLUMNS = ("cross_encoder", "bi_encoder_cosine", "bertscore_f1", "rougeL", "fact_recall", "json_valid")


def summarize_samples(path: str | Path) -> dict[str, dict]:
    rows = [json.loads(line) for line in Path(path).read_text(encoding="utf-8").splitlines() if line.strip()]
    present = [m for m in TASK_METRICS if rows and all(isinstance(r.get(m), (int, float)) for r in rows)]
    return {metric: summarize([r[metric] for r in rows]) for metric in present}


def summarize_run(results_path: str | Path) -> dict[str, dict[str, dict]]:
    """Summaries for every task of one lm_eval run (its samples files share the results' timestamp)."""
    results_path = Path(results_path)
    stamp = results_path.stem[len("results_"):]
    tasks = json.loads(results_path.read_text())["configs"]
    summaries = {}
    for task in tasks:
        samples = results_path.parent / f"samples_{task}_{stamp}.jsonl"
        if samples.is_file():
            summaries[task] = summarize_samples(samples)
    return summaries


def write_run_summary(results_path: str | Path) -> tuple[Path, str] | None:
    """Writes reportbench_summary_<stamp>.json beside the results and returns it with a markdown table."""
    from tabulate import tabulate

    results_path = Path(results_path)
    summaries = summarize_run(results_path)
    if not summaries:
        return None
    out = results_path.with_name(f"reportbench_summary_{results_path.stem[len('results_'):]}.json")
    out.write_text(json.dumps({"results": str(results_path), "tasks": summaries}, indent=2))
    columns = [c for c in KEY_COLUMNS if any(c in s for s in summaries.values())]

    def cell(summary):
        return "—" if summary is None else f"{summary['mean']:.3f} [{summary['ci_low']:.3f}, {summary['ci_high']:.3f}]"

    rows = [
        [task, max((s["n"] for s in metrics.values()), default=0), *(cell(metrics.get(c)) for c in columns)]
        for task, metrics in sorted(summaries.items())
    ]
    arrows = {True: " ↑", False: " ↓", None: ""}
    headers = ["task", "n", *(f"{c}{arrows[METRICS[c].higher_is_better]}" for c in columns)]
    return out, tabulate(rows, headers=headers, tablefmt="github")
