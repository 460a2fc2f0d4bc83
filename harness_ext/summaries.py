"""n, mean, std and bootstrap 95% CI per task and metric, from lm-eval samples files.

lm-eval's own table shows a mean and a stderr (or "N/A"); reportbench writes its own
summary beside the results JSON so every aggregate carries a confidence interval.
"""

from __future__ import annotations

import json
from pathlib import Path

from reportbench.metrics import METRICS, SUMMARY_METRICS, TASK_METRICS
from reportbench.metrics.confidence import summarize
from reportbench.records import LmEvalOutput, read_json, read_samples


def summarize_samples(path: str | Path) -> dict[str, dict]:
    rows = read_samples(Path(path))
    # a metric counts when any sample has it: a missing value (a judge answer that could not be read) is left out, and n says so
    present = [m for m in TASK_METRICS if any(isinstance(r.get(m), (int, float)) for r in rows)]
    return {metric: summarize([r.get(metric) for r in rows]) for metric in present}


def summarize_run(results_path: str | Path) -> dict[str, dict[str, dict]]:
    """Summaries for every task of one lm_eval run (its samples files share the results' timestamp)."""
    output = LmEvalOutput(Path(results_path))
    tasks = read_json(output.results)["configs"]
    return {task: summarize_samples(samples) for task, samples in output.samples_files(tasks).items()}


def write_run_summary(results_path: str | Path) -> tuple[Path, str] | None:
    """Writes reportbench_summary_<stamp>.json beside the results and returns it with a markdown table."""
    from tabulate import tabulate

    results_path = Path(results_path)
    summaries = summarize_run(results_path)
    if not summaries:
        return None
    out = LmEvalOutput(results_path).summary_file()
    out.write_text(json.dumps({"results": str(results_path), "tasks": summaries}, indent=2))
    columns = [c for c in SUMMARY_METRICS if any(c in s for s in summaries.values())]

    def cell(summary):
        return "—" if summary is None else f"{summary['mean']:.3f} [{summary['ci_low']:.3f}, {summary['ci_high']:.3f}]"

    rows = [
        [task, max((s["n"] for s in metrics.values()), default=0), *(cell(metrics.get(c)) for c in columns)]
        for task, metrics in sorted(summaries.items())
    ]
    headers = ["task", "n", *(f"{c} {METRICS[c].arrow}".strip() for c in columns)]
    return out, tabulate(rows, headers=headers, tablefmt="github")
