"""How much a fuller batch buys on this machine's vLLM: generated tokens/s against the number of
requests in one engine call, greedy and with the grid benchmark's sampling, measured in one run.

A grid's one engine call across cells can only beat cell-by-cell calls by what a larger batch
gains per token: the tokens and the prompts (prefix-cached) are the same in both. This measures that
ceiling directly: the embedded SmolLM2-135M-Instruct on `reportbench_traffic_d` prompts (test split,
chat template), every request 100 new tokens (EOS ignored, so every batch does equal work), the
prompts prefilled once before timing (as the grid's cells share them through vLLM's prefix cache).
Writes its section of RESULTS.md.

Run: make bench-vllm-batch   (in the vLLM venv; about 7 minutes on 2 CPU cores)
"""

from __future__ import annotations

import os
import platform
import sys
import time
from datetime import date
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from results_md import replace_section  # noqa: E402

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("VLLM_CPU_OMP_THREADS_BIND", "0-1")
from bench_grid import MODEL_ARGS, TASK  # noqa: E402  (the grid benchmark's engine and task)

NEW_TOKENS = 100
CELL = 36  # requests per cell in the grid benchmark
SIZES = (6, CELL, 144)  # 144: about what the grid benchmark's KV cache holds at once in its one call
SAMPLING = {"temperature": 1.0, "top_p": 0.9, "top_k": 50}  # the middle of the grid benchmark's settings


def prompts(count: int) -> list[str]:
    from transformers import AutoTokenizer

    from reportbench.cases import select_cases
    from reportbench.metrics.models import model_path
    from reportbench.prompts import build_prompt

    _, domain, method = TASK.split("_")
    tokenizer = AutoTokenizer.from_pretrained(model_path("smollm2-135m"))
    cases = select_cases(domain, "test")[:CELL]
    texts = [tokenizer.apply_chat_template([{"role": "user", "content": build_prompt(c, method.upper(), domain)}],
                                           tokenize=False, add_generation_prompt=True) for c in cases]
    return [texts[i % len(texts)] for i in range(count)]


def main() -> None:
    from vllm import LLM, SamplingParams

    from reportbench.metrics.models import model_path

    llm = LLM(model=str(model_path("smollm2-135m")), enable_chunked_prefill=False, seed=0, **MODEL_ARGS)
    every = prompts(max(SIZES))
    llm.generate(every[:CELL], SamplingParams(max_tokens=1), use_tqdm=False)  # prefill once: the prompts are cached

    def tokens_per_second(count: int, sampled: bool) -> float:
        params = [SamplingParams(max_tokens=NEW_TOKENS, ignore_eos=True, seed=i, **SAMPLING) if sampled
                  else SamplingParams(max_tokens=NEW_TOKENS, ignore_eos=True, temperature=0.0) for i in range(count)]
        start = time.perf_counter()
        outputs = llm.generate(every[:count], params, use_tqdm=False)
        seconds = time.perf_counter() - start
        return sum(len(o.outputs[0].token_ids) for o in outputs) / seconds

    rows = {(n, s): tokens_per_second(n, s) for s in (False, True) for n in SIZES}
    for key, value in rows.items():
        print(key, f"{value:.1f} tok/s", flush=True)
    lines = [
        "## vLLM throughput against batch size (`benchmarks/bench_vllm_batch.py`)",
        "",
        f"The embedded SmolLM2-135M-Instruct on vllm-cpu (engine settings of the grid benchmark), `{TASK}` prompts "
        f"(test split, chat template), {NEW_TOKENS} new tokens per request (EOS ignored), prompts prefix-cached "
        f"before timing; sampled: temperature {SAMPLING['temperature']}, top_p {SAMPLING['top_p']}, top_k "
        f"{SAMPLING['top_k']}, a seed per request. Measured in one run on {date.today().isoformat()}.",
        "",
        "| requests in the call | greedy tokens/s | sampled tokens/s | greedy vs " + f"{CELL} | sampled vs {CELL} |",
        "|---:|---:|---:|---:|---:|",
    ]
    for n in SIZES:
        lines.append(f"| {n} | {rows[n, False]:.1f} | {rows[n, True]:.1f} | {rows[n, False] / rows[CELL, False]:.2f}x | "
                     f"{rows[n, True] / rows[CELL, True]:.2f}x |")
    lines += [
        "",
        f"- A cell of the grid benchmark is {CELL} requests; its one call across 12 cells keeps about {max(SIZES)} "
        f"running at once and generates the same tokens from the same cached prompts. With requests of equal length "
        f"the {max(SIZES)} row is all that one call gains over cell by cell. Real requests end at different lengths, "
        f"so each {CELL}-request call ends in a nearly empty batch (the {min(SIZES)} row), which one call avoids: "
        "hence a little more in `bench_grid` (1.19x-1.31x at limit 36).",
        "",
        f"Machine: {platform.machine()}, {os.cpu_count()} CPU cores, Python {platform.python_version()}.",
    ]
    print(replace_section("bench_vllm_batch", "\n".join(lines)))


if __name__ == "__main__":
    main()
