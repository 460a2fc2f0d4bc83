"""Which library constrains HF generation to the answer schema: xgrammar, outlines or lm-format-enforcer.

The embedded SmolLM2-135M-Instruct, prompt D with its chat template, greedy, 300 new tokens, one
prompt per generate() call, on test cases of both domains. The same JSON Schema (answer.py,
length-limited for the budget) goes to each library; free decoding runs in the same process as the
reference. Writes the `bench_constrained_hf` section of benchmarks/RESULTS.md.

    .venv/bin/pip install outlines lm-format-enforcer   # xgrammar is a dependency already
    .venv/bin/python benchmarks/bench_constrained_hf.py
"""

from __future__ import annotations

import json
import os
import platform
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import torch  # noqa: E402
from results_md import replace_section  # noqa: E402

from reportbench.answer import KEYS, json_schema  # noqa: E402
from reportbench.cases import select_cases  # noqa: E402
from reportbench.metrics.models import model_path  # noqa: E402
from reportbench.prompts import build_prompt  # noqa: E402

CASES_PER_DOMAIN = 3
MAX_NEW_TOKENS = 300


def xgrammar_kwargs(model, tokenizer, schema):
    from reportbench.constrained import hf_json_processor

    return lambda: {"logits_processor": [hf_json_processor(tokenizer, model.get_output_embeddings().weight.shape[0], MAX_NEW_TOKENS)]}


def outlines_kwargs(model, tokenizer, schema):
    import outlines
    from outlines.backends import get_json_schema_logits_processor

    wrapped = outlines.from_transformers(model, tokenizer)
    return lambda: {"logits_processor": [get_json_schema_logits_processor("outlines_core", wrapped, json.dumps(schema), whitespace_pattern="")]}


def lmfe_kwargs(model, tokenizer, schema):
    from lmformatenforcer import JsonSchemaParser
    from lmformatenforcer.integrations.transformers import build_transformers_prefix_allowed_tokens_fn

    return lambda: {"prefix_allowed_tokens_fn": build_transformers_prefix_allowed_tokens_fn(tokenizer, JsonSchemaParser(schema))}


LIBRARIES = {"xgrammar": ("xgrammar", xgrammar_kwargs), "outlines (outlines_core)": ("outlines", outlines_kwargs),
             "lm-format-enforcer": ("lmformatenforcer", lmfe_kwargs)}


def exact_answer(text: str) -> bool:
    try:
        answer = json.loads(text)
    except json.JSONDecodeError:
        return False
    return isinstance(answer, dict) and tuple(answer) == KEYS and all(isinstance(v, str) and v for v in answer.values())


def run(model, tokenizer, prompts, make_kwargs) -> dict:
    tokens, valid, start = 0, 0, time.perf_counter()
    for prompt in prompts:
        inputs = tokenizer.apply_chat_template([{"role": "user", "content": prompt}], add_generation_prompt=True, return_tensors="pt", return_dict=True)
        with torch.no_grad():
            out = model.generate(**inputs, max_new_tokens=MAX_NEW_TOKENS, do_sample=False, pad_token_id=tokenizer.eos_token_id, **make_kwargs())
        new = out[0, inputs["input_ids"].shape[1]:]
        tokens += int((new != tokenizer.eos_token_id).sum())
        valid += exact_answer(tokenizer.decode(new, skip_special_tokens=True))
    seconds = time.perf_counter() - start
    return {"seconds": seconds, "tokens": tokens, "tokens_per_second": tokens / seconds, "valid": valid, "n": len(prompts)}


def main() -> None:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    path = model_path("smollm2-135m")
    tokenizer = AutoTokenizer.from_pretrained(path)
    model = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32).eval()
    cases = [(c, d) for d in ("pharma", "traffic") for c in select_cases(d, "test")[:CASES_PER_DOMAIN]]
    prompts = [build_prompt(c, "D", d) for c, d in cases]
    schema = json_schema(MAX_NEW_TOKENS)
    run(model, tokenizer, prompts[:1], lambda: {})  # warm-up
    results = {"free decoding (no constraint)": run(model, tokenizer, prompts, lambda: {})}
    notes = {}
    for name, (module, factory) in LIBRARIES.items():
        try:
            __import__(module)
            start = time.perf_counter()
            make_kwargs = factory(model, tokenizer, schema)
            make_kwargs()  # build (compile) once before timing
            setup = time.perf_counter() - start
            results[name] = run(model, tokenizer, prompts, make_kwargs) | {"setup": setup}
        except Exception as err:  # a library that cannot take the schema is a result too
            notes[name] = f"{type(err).__name__}: {str(err).splitlines()[0][:160]}"
        print(name, results.get(name) or notes[name], flush=True)
    free = results["free decoding (no constraint)"]["tokens_per_second"]
    rows = [
        f"| {name} | {r.get('setup', 0):.2f} | {r['tokens']} | {r['seconds']:.1f} | {r['tokens_per_second']:.1f} | "
        f"{r['tokens_per_second'] / free:.2f} | {r['valid']}/{r['n']} |"
        for name, r in results.items()
    ] + [f"| {name} | — | — | — | — | — | failed: {why} |" for name, why in notes.items()]
    section = "\n".join([
        "## Constrained decoding on HF: which library (`benchmarks/bench_constrained_hf.py`)",
        "",
        f"SmolLM2-135M-Instruct (fp32, CPU), prompt D with chat template, greedy, {MAX_NEW_TOKENS} new tokens, one prompt per "
        f"`generate()` call, {len(prompts)} test cases ({CASES_PER_DOMAIN} per domain). Every library gets the same JSON Schema "
        "(`reportbench.answer.json_schema(300)`: exactly title and report, strings of 1–120 and 1–732 characters with no quote, "
        "backslash or control character). Valid = strict `json.loads` gives exactly `{title, report}`, both non-empty. "
        "Setup = building the processor the first time (grammar compilation).",
        "",
        "| decoding | setup s | generated tokens | seconds | tokens/s | vs free | valid |",
        "|---|---:|---:|---:|---:|---:|---:|",
        *rows,
        "",
        f"Machine: {platform.machine()}, {os.cpu_count()} CPU cores, torch {torch.__version__} ({torch.get_num_threads()} threads).",
    ])
    print(replace_section("bench_constrained_hf", section))


if __name__ == "__main__":
    sys.exit(main())
