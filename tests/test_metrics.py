import json
import math
from pathlib import Path

import pytest
import sacrebleu
from rouge_score import rouge_scorer

from reportbench.cases import KEY_FIELDS, select_cases
from reportbench.metrics import DEFAULT_OPTIONS, METRICS, TASK_METRICS, ScoringInput, get_metric, score_sample

CASES = [
    pytest.param(case, id=f"{path.stem}:{i}:{case['metric']}")
    for path in sorted((Path(__file__).parent / "metric_cases").glob("*.json"))
    for i, case in enumerate(json.loads(path.read_text()))
]


@pytest.mark.parametrize("case", CASES)
def test_metric_case(case):
    sample = ScoringInput(
        case["prediction"],
        case["reference"],
        json_valid=case.get("json_valid", False),
        truncated=case.get("truncated", False),
        predicted_title=case.get("predicted_title", ""),
        reference_title=case.get("reference_title", ""),
        fields={name: case.get("fields", {}).get(name, "") for name in KEY_FIELDS},
    )
    value = get_metric(case["metric"]).score(sample)
    if case["expected"] is None:  # undefined: a missing value
        assert math.isnan(value)
    else:
        assert value == pytest.approx(case["expected"], abs=case["tolerance"])


def fixture_pairs():
    """Real references against other cases' references: realistic, partly overlapping text."""
    refs = [c["event_description"] for c in select_cases("pharma") + select_cases("traffic")]
    return list(zip(refs, refs[1:] + refs[:1])) + [(refs[0], refs[0]), ("", refs[1])]


@pytest.mark.parametrize("prediction, reference", fixture_pairs())
def test_metrics_equal_their_reference_libraries(prediction, reference):
    scorer = rouge_scorer.RougeScorer(["rouge1", "rouge2", "rougeL", "rougeLsum"], use_stemmer=True)
    expected = {name: score.fmeasure for name, score in scorer.score(reference, prediction).items()}
    expected["bleu"] = sacrebleu.sentence_bleu(prediction, [reference]).score / 100
    got = score_sample(ScoringInput(prediction, reference), names=list(expected))
    for name, value in expected.items():
        assert got[name] == pytest.approx(value, abs=1e-6), name


@pytest.mark.parametrize(
    "prediction",
    ["", "   \n ", "word " * 2000, '{"not": "a report"}', "Température 8,4 °C — 東京 🚑", "x" * 10000],
)
def test_no_nan_or_exception_on_edge_inputs(prediction):
    reference = select_cases("pharma")[0]["event_description"]
    lexical = ["rouge1", "rouge2", "rougeL", "rougeLsum", "bleu", "length_ratio", "words", "single_paragraph", "preamble"]
    for value in score_sample(ScoringInput(prediction, reference), names=lexical).values():
        assert math.isfinite(value)


def test_registry_declares_every_task_metric():
    for name in TASK_METRICS:
        metric = METRICS[name]
        assert metric.name == name and metric.aggregation == "mean" and metric.describe()["settings"]
    assert METRICS["length_ratio"].higher_is_better is None
    with pytest.raises(KeyError, match="unknown metric 'nope'"):
        get_metric("nope")


def test_metrics_declare_what_they_need():
    from reportbench.metrics import NEEDS, PRIMARY_PREFERENCE, SUMMARY_METRICS

    assert all(set(m.needs) <= set(NEEDS) for m in METRICS.values())
    judge = {n for n in METRICS if n.startswith("judge_")}
    assert {n for n, m in METRICS.items() if "fields" in m.needs} == {"fact_recall", "hallucinated_facts", *judge}
    assert {n for n, m in METRICS.items() if "titles" in m.needs} == {"title_rougeL", "title_bi_encoder"}
    assert {n for n, m in METRICS.items() if "generation" in m.needs} == {"json_valid", "truncated"}
    assert all("model" in METRICS[n].needs for n in ("cross_encoder", "bi_encoder_cosine", "bertscore_f1"))
    assert PRIMARY_PREFERENCE == ("fact_recall", "bi_encoder_cosine")
    assert SUMMARY_METRICS == ("cross_encoder", "bi_encoder_cosine", "bertscore_f1", "rougeL", "fact_recall", "json_valid")
    with pytest.raises(ValueError, match="unknown needs"):
        type(METRICS["words"])(name="x", description="", higher_is_better=True, sample_fn=len, needs=frozenset({"gpu"}))


def test_metrics_package_imports_nothing_from_the_harness():
    """metrics/ is a leaf: the harness imports it, never the other way round."""
    import ast

    for path in sorted((Path(__file__).resolve().parent.parent / "metrics").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""] if isinstance(node, ast.ImportFrom) else []
            for name in names:
                assert not name.startswith("reportbench.") or name.startswith("reportbench.metrics"), f"{path.name} imports {name}"


def test_similarity_metrics_share_one_empty_text_rule_and_stay_in_range():
    """Every similarity metric gives the same value for an empty text, and none leaves its range (a
    cosine of 1.0000002 from float rounding is clipped)."""
    from reportbench.metrics.base import EMPTY_SIMILARITY

    reference = select_cases("pharma")[0]["event_description"]
    similarity = [m for m in METRICS.values() if m.similarity and m.is_on(DEFAULT_OPTIONS)]
    assert {"cross_encoder", "bi_encoder_cosine", "bertscore_f1", "rougeL", "bleu", "title_bi_encoder"} <= {m.name for m in similarity}
    samples = [ScoringInput("", ""), ScoringInput("", reference), ScoringInput(reference, ""),
               ScoringInput(reference, reference, predicted_title="Pump stop", reference_title="Pump stop")]
    for metric in similarity:
        values = metric.score_batch(samples)
        if metric.compares == ("prediction", "reference"):
            assert values[:3] == [EMPTY_SIMILARITY] * 3, metric.name
        if metric.bounds:
            assert all(metric.bounds[0] <= v <= metric.bounds[1] for v in values), metric.name
        assert metric.describe()["empty_text"].startswith(f"{EMPTY_SIMILARITY} when ")
