"""Glue between lm-eval task YAMLs and reportbench (referenced with ``!function utils.*``).

Data flows one way: load_cases -> prompt_* -> (model) -> parse_generations -> score_generations
-> process_results.  Scoring runs as a filter because lm-eval hands a filter every response of a
task at once: model-based metrics then score all pairs in one batched pass.
"""

from __future__ import annotations

import json
from dataclasses import asdict

import datasets

from reportbench.cases import CaseFileError, select_cases
from reportbench.metrics import ScoringInput, score_samples
from reportbench.metrics.semantic import OPTION_NAMES, configure
from reportbench.parsing import ParsedReport, parse_report
from reportbench.prompts import build_prompt

EVAL_SPLIT = "eval"  # holds whichever cases `--metadata` selected (default: the test split)
# lm-eval merges --model_args into the metadata, so generic names (device, batch_size) would
# collide with the LM's own; the metric models take them under a metric_ prefix.
METADATA_OPTIONS = {name: name for name in OPTION_NAMES - {"device", "batch_size"}} | {
    "metric_device": "device",
    "metric_batch_size": "batch_size",
}


def load_cases(domain: str, split: str | None = None, data_file: str | None = None, **run_metadata):
    """``custom_dataset`` hook. lm-eval passes --metadata and --model_args here, hence **run_metadata.

    Metric model options (e.g. ``cross_encoder``) given in --metadata are applied here, because
    this is the one hook that sees --metadata before any response is scored.
    """
    try:
        configure(**{METADATA_OPTIONS[k]: v for k, v in run_metadata.items() if k in METADATA_OPTIONS})
        cases = select_cases(domain, split=split, data_file=data_file)
    except (CaseFileError, ValueError) as err:
        # lm-eval would print a long traceback; a user only needs the file, line and field.
        raise SystemExit(f"reportbench: {err}") from None
    if not cases:
        raise SystemExit(f"reportbench: no {domain} cases selected (split={split!r}, data_file={data_file!r})")
    # The domain picks the prompt wording; a task loads one domain, whatever the file says.
    cases = [{**case, "domain": domain} for case in cases]
    # Dataset.from_list keeps every value a plain string (no pyarrow date guessing).
    return datasets.DatasetDict({EVAL_SPLIT: datasets.Dataset.from_list(cases)})


def prompt_a(doc: dict) -> str:
    return build_prompt(doc, "A", doc["domain"])


def prompt_b(doc: dict) -> str:
    return build_prompt(doc, "B", doc["domain"])


def prompt_c(doc: dict) -> str:
    return build_prompt(doc, "C", doc["domain"])


def prompt_d(doc: dict) -> str:
    return build_prompt(doc, "D", doc["domain"])


def parse_generations(resps, docs):
    """lm-eval ``custom`` filter: raw generations -> parsed reports (JSON strings, shown in samples)."""
    return [[parse_report(text).to_json() for text in doc_resps] for doc_resps in resps]


def score_generations(resps, docs):
    """lm-eval ``custom`` filter after take_first: one parsed report per doc -> parse plus all metric values."""
    parsed = [ParsedReport.from_json(text) for text in resps]
    samples = [ScoringInput.from_case(doc, p.report, p.title, p.json_valid) for doc, p in zip(docs, parsed)]
    scores = score_samples(samples)
    return [json.dumps({**asdict(p), "scores": scores.row(i)}, ensure_ascii=False) for i, p in enumerate(parsed)]


def process_results(doc: dict, results: list[str]) -> dict[str, float]:
    # Unavailable metrics (e.g. no cross-encoder model) are absent rather than given a made-up value.
    return json.loads(results[0])["scores"]
