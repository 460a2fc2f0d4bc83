"""`reportbench score` and `reportbench metrics describe | correlate`, run as a user would."""

import json

import numpy as np
import pytest
import sacrebleu
from conftest import run_cli, write_jsonl
from rouge_score import rouge_scorer

from reportbench.cases import KEY_FIELDS, select_cases

CASES = select_cases("traffic")[:5]


def pair_rows(with_fields=True):
    rows = []
    for case, other in zip(CASES, CASES[1:] + CASES[:1]):
        row = {"id": case["id"], "prediction": other["event_description"], "reference": case["event_description"]}
        if with_fields:
            row |= {k: case[k] for k in KEY_FIELDS} | {"title": other["report_name"], "report_name": case["report_name"]}
        rows.append(row)
    return rows


def read_jsonl(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_score_matches_the_libraries_with_the_described_settings(tmp_path, tiny_cross_encoder):
    rows = pair_rows()
    source = write_jsonl(tmp_path / "pairs.jsonl", rows)
    out = tmp_path / "scores.jsonl"
    model_args = ["--cross-encoder", str(tiny_cross_encoder)]
    result = run_cli(["reportbench", "score", "--input", str(source), "--output", str(out), *model_args], tmp_path)
    assert result.returncode == 0, result.stderr
    scored = read_jsonl(out)
    assert [r["id"] for r in scored] == [r["id"] for r in rows] and [r["line"] for r in scored] == [1, 2, 3, 4, 5]

    described = run_cli(["reportbench", "metrics", "describe", *model_args], tmp_path)
    settings = {m["name"]: m["settings"] for m in json.loads(described.stdout)["metrics"]}
    rouge = settings["rouge1"]
    scorer = rouge_scorer.RougeScorer(rouge["rouge_types"], use_stemmer=rouge["use_stemmer"])
    for row, values in zip(rows, scored):
        for name, score in scorer.score(row["reference"], row["prediction"]).items():
            assert values[name] == pytest.approx(score.fmeasure, abs=1e-6)
        assert values["bleu"] == pytest.approx(sacrebleu.sentence_bleu(row["prediction"], [row["reference"]]).score / 100, abs=1e-6)

    import torch
    from bert_score import BERTScorer
    from sentence_transformers import CrossEncoder, SentenceTransformer

    bert = settings["bertscore_f1"]
    precision, recall, f1 = BERTScorer(model_type=bert["model_type"], num_layers=bert["num_layers"]).score(
        [r["prediction"] for r in rows], [r["reference"] for r in rows]
    )
    np.testing.assert_allclose([v["bertscore_f1"] for v in scored], f1.numpy(), atol=1e-5)
    encoder = SentenceTransformer(settings["bi_encoder_cosine"]["model"], device="cpu")
    cosine = np.einsum(
        "ij,ij->i",
        encoder.encode([r["prediction"] for r in rows], normalize_embeddings=True),
        encoder.encode([r["reference"] for r in rows], normalize_embeddings=True),
    )
    np.testing.assert_allclose([v["bi_encoder_cosine"] for v in scored], cosine, atol=1e-5)
    cross = CrossEncoder(settings["cross_encoder"]["model"], device="cpu")
    expected = cross.predict([(r["reference"], r["prediction"]) for r in rows], activation_fn=torch.nn.Sigmoid())
    np.testing.assert_allclose([v["cross_encoder"] for v in scored], expected, atol=1e-5)

    summary = json.loads(out.with_suffix(".summary.json").read_text())
    rouge1 = next(m for m in summary["metrics"] if m["metric"] == "rouge1")
    assert rouge1["n"] == 5 and rouge1["ci_low"] <= rouge1["mean"] <= rouge1["ci_high"]
    assert set(summary["skipped"]) == {"json_valid", "truncated"}  # no raw generations given
    assert "| rouge1 " in result.stdout and "95% CI" in result.stdout


def test_score_without_fields_or_cross_encoder_says_what_it_left_out(tmp_path):
    source = write_jsonl(tmp_path / "pairs.jsonl", pair_rows(with_fields=False))
    out = tmp_path / "scores.jsonl"
    result = run_cli(["reportbench", "score", "--input", str(source), "--output", str(out), "--cross-encoder", str(tmp_path / "none")], tmp_path)
    assert result.returncode == 0, result.stderr
    assert "fact_recall: not computed (needs the seven key fields; missing on 5 row(s), first at line 1)" in result.stdout
    assert "cross_encoder: not computed (unavailable: cannot load cross-encoder model" in result.stdout
    assert "cross_encoder" not in read_jsonl(out)[0] and "rouge1" in read_jsonl(out)[0]


def test_score_reads_lm_eval_samples_and_reparses_generations(tmp_path):
    case = CASES[0]
    generation = '```json\n{"title": "%s", "report": "%s"}\n```' % (case["report_name"], case["event_description"])
    samples = [{"doc_id": 0, "doc": dict(case, domain="traffic"), "target": case["event_description"],
                "resps": [[generation]], "filtered_resps": ["ignored"]}]
    source = write_jsonl(tmp_path / "samples_reportbench_traffic_d_2026.jsonl", samples)
    out = tmp_path / "scores.jsonl"
    metrics = "rouge1,json_valid,fact_recall,title_rougeL,hallucinated_facts,preamble"
    result = run_cli(["reportbench", "score", "--input", str(source), "--output", str(out), "--metrics", metrics], tmp_path)
    assert result.returncode == 0, result.stderr
    assert read_jsonl(out) == [{"line": 1, "id": case["id"], "rouge1": 1.0, "json_valid": 1.0, "fact_recall": 1.0,
                                "title_rougeL": 1.0, "hallucinated_facts": 0.0, "preamble": 0.0}]


@pytest.mark.parametrize(
    "content, message",
    [
        ('{"prediction": "a"}\n', "pairs.jsonl:1: field 'reference': missing"),
        ('{"prediction": "a", "reference": "b"}\nnot json\n', "pairs.jsonl:2: invalid JSON"),
        ('{"prediction": 3, "reference": "b"}\n', "pairs.jsonl:1: field 'prediction': expected a string, got int"),
        ('{"generation": ["x"], "reference": "b"}\n', "pairs.jsonl:1: field 'generation': expected a string, got list"),
        ('{"doc": {"id": "x"}, "resps": [[42]]}\n', "pairs.jsonl:1: field 'resps': expected [[generation]] with a string, got int"),
        ('{"doc": [1], "resps": [["x"]]}\n', "pairs.jsonl:1: field 'doc': expected an object, got list"),
        ('{"prediction": "a", "reference": "b", "reference": "c"}\n', "pairs.jsonl:1: duplicate key 'reference' in one JSON object"),
    ],
)
def test_score_rejects_bad_input_with_file_and_line(tmp_path, content, message):
    source = tmp_path / "pairs.jsonl"
    source.write_text(content)
    result = run_cli(["reportbench", "score", "--input", str(source), "--output", str(tmp_path / "o.jsonl")], tmp_path)
    assert result.returncode == 2 and message in result.stderr and "Traceback" not in result.stderr


def test_unknown_metric_name(tmp_path):
    source = write_jsonl(tmp_path / "pairs.jsonl", pair_rows())
    result = run_cli(["reportbench", "score", "--input", str(source), "--output", str(tmp_path / "o.jsonl"), "--metrics", "rouge9"], tmp_path)
    assert result.returncode == 2 and "unknown metric 'rouge9'" in result.stderr


def test_correlate_writes_markdown_and_figures(tmp_path):
    source = write_jsonl(tmp_path / "pairs.jsonl", pair_rows() * 2)
    out = tmp_path / "scores.jsonl"
    metrics = "rouge1,rouge2,rougeL,bleu,words,fact_recall,bi_encoder_cosine"
    assert run_cli(["reportbench", "score", "--input", str(source), "--output", str(out), "--metrics", metrics], tmp_path).returncode == 0
    result = run_cli(["reportbench", "metrics", "correlate", str(out), "--out", str(tmp_path / "corr")], tmp_path)
    assert result.returncode == 0, result.stderr
    markdown = (tmp_path / "corr" / "correlation.md").read_text()
    assert "| rouge1 " in markdown and "PC1" in markdown and "10 samples" in markdown
    for png in ("correlation.png", "pca_loadings.png"):
        assert (tmp_path / "corr" / png).stat().st_size > 10_000


def test_pca_loadings_agree_with_correlation():
    """Two perfectly correlated metrics load identically; an anti-correlated one loads opposite."""
    import pandas as pd

    from reportbench.correlation import pca_loadings

    x = np.linspace(0, 1, 20)
    table = pd.DataFrame({"a": x, "b": 2 * x + 1, "c": -x, "d": np.sin(7 * x)})
    loadings, explained = pca_loadings(table)
    assert loadings[0, 0] == pytest.approx(loadings[1, 0]) and loadings[2, 0] == pytest.approx(-loadings[0, 0])
    assert abs(loadings[0, 0]) == pytest.approx(1.0, abs=0.05) and explained[0] > 0.7


def test_describe_lists_every_metric(tmp_path):
    from reportbench.metrics import METRICS

    result = run_cli(["reportbench", "metrics", "describe"], tmp_path)
    described = json.loads(result.stdout)
    assert [m["name"] for m in described["metrics"]] == list(METRICS)
    assert described["aggregate"]["method"] == "percentile"
    assert described["model_options"]["bertscore_num_layers"] == 6
    assert described["structured_output_json"]["schema"]["required"] == ["title", "report"]
    assert "report 732 characters" in described["structured_output_json"]["length_limits"]
