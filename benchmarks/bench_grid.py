"""A 12-cell grid on the embedded SmolLM2 (limit 10) against 12 separate `lm_eval` CLI runs of
the same cells, and the cost of re-running a finished grid.  Writes its section of RESULTS.md.

Run: make bench-grid   (about 15-20 minutes on 2 CPU cores)
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml
from results_md import replace_section

os.environ.setdefault("HF_HUB_OFFLINE", "1")
BIN = Path(sys.executable).parent
TASK = "reportbench_traffic_d"
LIMIT = 10
BATCH = 8
DECODING = {"temperature": [0.7, 1.0, 1.3], "top_p": [0.6, 0.9], "top_k": [50], "max_gen_toks": [64], "do_sample": [True]}
SEEDS = [0, 1]


def timed(args: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(args, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def main() -> None:
    from reportbench.grid import expand_cells, load_config
    from reportbench.metrics.models import model_path

    model = str(model_path("smollm2-135m"))
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        config = {
            "models": [{"name": "smollm2-135m", "backend": "hf", "path": "smollm2-135m", "batch_size": BATCH}],
            "tasks": [TASK], "limit": LIMIT, "apply_chat_template": True, "decoding": DECODING, "seeds": SEEDS,
        }
        config_path = tmp / "grid.yaml"
        config_path.write_text(yaml.safe_dump(config))
        cells = expand_cells(load_config(config_path), config_path, [TASK])
        assert len(cells) == 12
        grid_seconds = timed([str(BIN / "reportbench"), "grid", str(config_path), "--output", str(tmp / "runs")])
        rerun_seconds = timed([str(BIN / "reportbench"), "grid", str(config_path), "--output", str(tmp / "runs")])
        cli_seconds = 0.0
        for cell in cells:
            gen = ",".join(f"{k}={v}" for k, v in cell.decoding.gen_kwargs().items())
            cli_seconds += timed([
                str(BIN / "lm_eval"), "--include_path", str(Path(__file__).resolve().parent.parent / "tasks"),
                "--tasks", TASK, "--model", "hf", "--model_args", f"pretrained={model}",
                "--batch_size", str(BATCH), "--limit", str(LIMIT), "--apply_chat_template", "--gen_kwargs", gen,
                "--seed", str(cell.seed), "--output_path", str(tmp / "cli"), "--log_samples",
            ])
    section = "\n".join([
        "## Grid runner (`benchmarks/bench_grid.py`)",
        "",
        f"12 cells on the embedded SmolLM2-135M: `{TASK}`, limit {LIMIT}, chat template, batch {BATCH}, sampled decoding "
        f"(temperature 0.7/1.0/1.3 x top_p 0.6/0.9, top_k 50, 64 new tokens) x seeds {SEEDS}; all metrics scored in both.",
        "",
        "| run | seconds |",
        "|---|---:|",
        f"| `reportbench grid` (one process, one model load) | {grid_seconds:.1f} |",
        f"| 12 separate `lm_eval` CLI runs of the same cells | {cli_seconds:.1f} |",
        f"| re-running the finished grid | {rerun_seconds:.1f} |",
        "",
        f"- grid vs 12 CLI runs: **{cli_seconds / grid_seconds:.2f}x** faster (target >= 2x)",
        f"- re-run of a finished grid: **{100 * rerun_seconds / grid_seconds:.1f}%** of the first run (target <= 5%)",
    ])
    print(replace_section("bench_grid", section))


if __name__ == "__main__":
    main()
