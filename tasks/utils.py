"""Glue between lm-eval task YAMLs and reportbench (referenced with ``!function utils.*``).

Data flows one way: load_cases -> prompt -> (model) -> parse_generations -> score_generations
-> process_results.  Scoring runs as a filter because lm-eval hands a filter every response of a
task at once: model-based metrics then score all pairs in one batched pass.

lm-eval hands --metadata only to the dataset hook, and a filter sees only responses and docs, so
the metric options parsed from --metadata travel to the scorer inside each doc (`metric_options`,
as JSON). The samples output therefore records the options every sample was scored with.
"""

from __future__ import annotations

import json
from dataclasses import asdict

import datasets

from reportbench.cases import CaseFileError, select_cases
from reportbench.metrics import DEFAULT_OPTIONS, MetricOptions, MetricOptionsError, ScoringInput, judge, present, score_samples
from reportbench.parsing import ParsedReport, parse_report
from reportbench.prompts import build_prompt
from reportbench.tasks.names import task_name

EVAL_SPLIT = "eval"  # holds whichever cases `--metadata` selected (default: the test split)
OPTIONS_FIELD = "metric_options"


def load_cases(domain: str, method: str, split: str | None = None, data_file: str | None = None, **run_metadata):
    """``custom_dataset`` hook. lm-eval passes dataset_kwargs, --metadata and --model_args here.

    lm-eval merges --model_args into the metadata, so the metric options that would collide with
    the LM's own (device, batch size) are named metric_device and metric_batch_size.
    """
    try:
        options = MetricOptions.from_run_metadata(run_metadata)
        cases = select_cases(domain, split=split, data_file=data_file)
    except (CaseFileError, MetricOptionsError, ValueError) as err:
        # lm-eval would print a long traceback; a user only needs the file, line and field.
        raise SystemExit(f"reportbench: {err}") from None
    if not cases:
        raise SystemExit(f"reportbench: no {domain} cases selected (split={split!r}, data_file={data_file!r})")
    # The domain picks the prompt wording and the method the prompt; a task loads one domain, whatever the file says.
    extra = {"domain": domain, "method": method, OPTIONS_FIELD: options.to_json()}
    cases = [{**case, **extra} for case in cases]
    # Dataset.from_list keeps every value a plain string (no pyarrow date guessing).
    return datasets.DatasetDict({EVAL_SPLIT: datasets.Dataset.from_list(cases)})


def prompt(doc: dict) -> str:
    return build_prompt(doc, doc["method"], doc["domain"])


def parse_generations(resps, docs):
    """lm-eval ``custom`` filter: raw generations -> parsed reports (JSON strings, shown in samples)."""
    return [[parse_report(text).to_json() for text in doc_resps] for doc_resps in resps]


def score_generations(resps, docs):
    """lm-eval ``custom`` filter after take_first: one parsed report per doc -> parse plus all metric values."""
    parsed = [ParsedReport.from_json(text) for text in resps]
    samples = [ScoringInput.from_case(doc, p.report, p.title, p.json_valid, p.truncated) for doc, p in zip(docs, parsed)]
    options = MetricOptions.from_json(docs[0].get(OPTIONS_FIELD)) if docs else DEFAULT_OPTIONS
    mark = judge.journal_mark()
    scores = score_samples(samples, options=options)
    if docs:  # the judge log names each line's task and case
        judge.tag_journal(mark, [doc["id"] for doc in docs], task=task_name(docs[0]["domain"], docs[0]["method"]))
    return [json.dumps({**asdict(p), "scores": present(scores.row(i))}, ensure_ascii=False) for i, p in enumerate(parsed)]


def process_results(doc: dict, results: list[str]) -> dict[str, float]:
    # Unavailable metrics (e.g. no cross-encoder model) and missing values (a judge answer that could
    # not be read) are absent rather than given a made-up value: lm-eval averages what is there.
    return json.loads(results[0])["scores"]
