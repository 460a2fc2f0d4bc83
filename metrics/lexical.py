"""Surface-overlap metrics: ROUGE (rouge-score) and sentence BLEU (sacrebleu)."""

from __future__ import annotations

from functools import lru_cache

import sacrebleu
from rouge_score import rouge_scorer

from reportbench.metrics.base import TITLES, Metric

ROUGE_TYPES = ("rouge1", "rouge2", "rougeL", "rougeLsum")
ROUGE_SETTINGS = {
    "library": "rouge-score",
    "rouge_types": list(ROUGE_TYPES),
    "use_stemmer": True,
    "tokenizer": "rouge_score default (lowercase, [^a-z0-9]+ split)",
    "value": "fmeasure",
    "arguments": "RougeScorer.score(target=reference, prediction=prediction)",
}
BLEU_SETTINGS = {
    "library": "sacrebleu",
    "function": "sacrebleu.sentence_bleu(prediction, [reference])",
    "defaults": "tokenize=13a, smooth_method=exp, effective_order=True, lowercase=False",
    "scale": "score / 100",
}

UNIT_RANGE = (0.0, 1.0)
_ROUGE = rouge_scorer.RougeScorer(list(ROUGE_TYPES), use_stemmer=True)


@lru_cache(maxsize=4096)
def rouge_fmeasures(prediction: str, reference: str) -> dict[str, float]:
    """All ROUGE F-measures in one call; cached because four metrics share it."""
    scores = _ROUGE.score(reference, prediction)
    return {name: scores[name].fmeasure for name in ROUGE_TYPES}


def sentence_bleu(prediction: str, reference: str) -> float:
    return sacrebleu.sentence_bleu(prediction, [reference]).score / 100.0


def _rouge_metric(rouge_type: str) -> Metric:
    return Metric(
        name=rouge_type,
        description=f"{rouge_type} F-measure of the report against the reference report",
        sample_fn=lambda s: rouge_fmeasures(s.prediction, s.reference)[rouge_type],
        higher_is_better=True,
        summary=rouge_type == "rougeL",
        similarity=True,
        bounds=UNIT_RANGE,
        settings=ROUGE_SETTINGS,
    )


ROUGE_METRICS = [_rouge_metric(name) for name in ROUGE_TYPES]

TITLE_ROUGE_L = Metric(
    name="title_rougeL",
    description="rougeL F-measure of the generated title against the reference title (report_name)",
    sample_fn=lambda s: rouge_fmeasures(s.predicted_title, s.reference_title)["rougeL"],
    higher_is_better=True,
    needs=frozenset({TITLES}),
    settings=ROUGE_SETTINGS,
    similarity=True,
    compares=("predicted_title", "reference_title"),
    bounds=UNIT_RANGE,
)

BLEU = Metric(
    name="bleu",
    description="sentence BLEU of the report against the reference report, on a 0-1 scale",
    sample_fn=lambda s: sentence_bleu(s.prediction, s.reference),
    higher_is_better=True,
    similarity=True,
    bounds=UNIT_RANGE,  # sacrebleu's 100.00000000000004 / 100 is 1
    settings=BLEU_SETTINGS,
)

LEXICAL_METRICS = [*ROUGE_METRICS, BLEU]
