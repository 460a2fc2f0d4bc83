"""Glue between lm-eval task YAMLs and reportbench (referenced with ``!function utils.*``).

Data flows one way: load_cases -> prompt_* -> (model) -> parse_generations filter -> process_results.
"""

from __future__ import annotations

import datasets

from reportbench.cases import CaseFileError, select_cases
from reportbench.metrics import ScoringInput, score_sample
from reportbench.parsing import ParsedReport, parse_report
from reportbench.prompts import build_prompt

EVAL_SPLIT = "eval"  # holds whichever cases `--metadata` selected (default: the test split)


def load_cases(domain: str, split: str | None = None, data_file: str | None = None, **_run_metadata):
    """``custom_dataset`` hook. lm-eval passes --metadata and --model_args here, hence **_run_metadata."""
    try:
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


def process_results(doc: dict, results: list[str]) -> dict[str, float]:
    parsed = ParsedReport.from_json(results[0])
    sample = ScoringInput(
        prediction=parsed.report,
        reference=doc["event_description"],
        json_valid=parsed.json_valid,
        predicted_title=parsed.title,
        reference_title=doc["report_name"],
    )
    return score_sample(sample)
