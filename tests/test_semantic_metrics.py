"""Model-based metrics against their libraries called directly, plus availability and caching."""

import math

import numpy as np
import pytest
import torch

from reportbench.cases import select_cases
from reportbench.metrics import DEFAULT_OPTIONS, TASK_METRICS, MetricOptions, MetricOptionsError, ScoringInput, score_samples, semantic
from reportbench.metrics.encoders import DEFAULT_ENCODER, resolve_model

CASES = select_cases("pharma")[:6] + select_cases("traffic")[:6]
PREDICTIONS = [c["event_description"] for c in CASES[1:] + CASES[:1]]  # other cases' reports: partial overlap
REFERENCES = [c["event_description"] for c in CASES]


def samples(predictions=PREDICTIONS, references=REFERENCES):
    return [ScoringInput(p, r) for p, r in zip(predictions, references)]


@pytest.fixture(scope="module")
def minilm_path():
    return resolve_model(DEFAULT_ENCODER)


def test_bi_encoder_cosine_equals_sentence_transformers(minilm_path):
    from sentence_transformers import SentenceTransformer, util

    model = SentenceTransformer(minilm_path, device="cpu")
    expected = util.cos_sim(model.encode(PREDICTIONS), model.encode(REFERENCES)).diagonal().numpy()
    got = score_samples(samples(), ["bi_encoder_cosine"]).values["bi_encoder_cosine"]
    np.testing.assert_allclose(got, expected, atol=1e-5)


def test_bertscore_equals_bert_score(minilm_path):
    from bert_score import BERTScorer

    names = ["bertscore_precision", "bertscore_recall", "bertscore_f1", "bertscore_f1_rescaled"]
    got = score_samples(samples(), names).values
    raw = BERTScorer(model_type=minilm_path, num_layers=6).score(PREDICTIONS, REFERENCES)
    rescaled = BERTScorer(
        model_type=minilm_path, num_layers=6, lang="en", rescale_with_baseline=True,
        baseline_path=str(semantic.bertscore_baseline_path(DEFAULT_OPTIONS)),
    ).score(PREDICTIONS, REFERENCES)
    for name, expected in zip(names, [*raw, rescaled[2]]):
        np.testing.assert_allclose(got[name], expected.numpy(), atol=1e-5, err_msg=name)


def test_bi_encoder_and_bertscore_share_one_pass_per_text(minilm_path, monkeypatch):
    """Default models: each text goes through the encoder once for both metrics; references once per process."""
    assert semantic.shares_encoder(DEFAULT_OPTIONS)
    scorer = semantic.bert_scorer(DEFAULT_OPTIONS)
    _, pipeline = semantic.sentence_encoder(DEFAULT_ENCODER)
    rows = []
    hook = scorer._model.register_forward_hook(lambda module, args, output: rows.append(args[0].shape[0]))
    monkeypatch.setattr(pipeline, "encode", lambda *a, **k: pytest.fail("the shared pass called the bi-encoder's own encode"))
    names = ["bi_encoder_cosine", "bertscore_precision", "bertscore_recall", "bertscore_f1"]
    references = [f"Shared-pass reference {i}: the pump on line {i} stopped at 06:4{i}." for i in range(4)]
    try:
        first = score_samples(samples([f"prediction {i}" for i in range(4)], references), names).values
        assert sum(rows) == 8  # 4 predictions + 4 references, one forward pass each
        score_samples(samples([f"another prediction {i}" for i in range(4)], references), names)
        assert sum(rows) == 12  # a second grid cell: its predictions only
    finally:
        hook.remove()
    assert all(np.isfinite(first[n]).all() for n in names)


def test_shared_pass_equals_the_libraries_beyond_the_bi_encoders_length(minilm_path):
    """A text over the bi-encoder's 256 tokens: the pipeline truncates it, bert-score keeps 512; both stay exact."""
    from bert_score import BERTScorer
    from sentence_transformers import SentenceTransformer

    long = " ".join(c["event_description"] for c in CASES[:3])
    predictions, references = [long, PREDICTIONS[0]], [REFERENCES[0], long]
    got = score_samples(samples(predictions, references), ["bi_encoder_cosine", "bertscore_f1"]).values
    model = SentenceTransformer(minilm_path, device="cpu")
    expected = np.einsum("ij,ij->i", model.encode(predictions, normalize_embeddings=True), model.encode(references, normalize_embeddings=True))
    np.testing.assert_allclose(got["bi_encoder_cosine"], expected, atol=1e-5)
    np.testing.assert_allclose(got["bertscore_f1"], BERTScorer(model_type=minilm_path, num_layers=6).score(predictions, references)[2].numpy(), atol=1e-5)


def test_bertscore_at_another_layer_is_bert_scores_own_pass(minilm_path):
    options = MetricOptions(bertscore_num_layers=4)
    assert not semantic.shares_encoder(options)
    from bert_score import BERTScorer

    got = score_samples(samples(), ["bertscore_f1"], options).values["bertscore_f1"]
    np.testing.assert_allclose(got, BERTScorer(model_type=minilm_path, num_layers=4).score(PREDICTIONS, REFERENCES)[2].numpy(), atol=1e-5)


def test_shipped_baseline_is_well_formed():
    import pandas as pd

    shipped = pd.read_csv(semantic.bertscore_baseline_path(DEFAULT_OPTIONS))
    assert list(shipped.columns) == ["LAYER", "P", "R", "F"] and list(shipped["LAYER"]) == list(range(7))
    assert ((shipped[["P", "R", "F"]] > 0) & (shipped[["P", "R", "F"]] < 1)).all().all()


@pytest.mark.slow
def test_shipped_baseline_is_reproduced_by_its_builder(tmp_path, minilm_path):
    """`reportbench metrics build-bertscore-baseline` rebuilds the committed file (seeded pairs)."""
    import pandas as pd

    from reportbench.metrics.baseline import build_bertscore_baseline
    from reportbench.metrics_commands import reference_reports

    rebuilt = pd.read_csv(build_bertscore_baseline(tmp_path / "b.csv", reference_reports(), minilm_path, 6))
    shipped = pd.read_csv(semantic.bertscore_baseline_path(DEFAULT_OPTIONS))
    np.testing.assert_allclose(rebuilt.to_numpy(), shipped.to_numpy(), atol=1e-6)


def test_cross_encoder_sts_and_seed_modes(tiny_cross_encoder):
    from sentence_transformers import CrossEncoder

    model = CrossEncoder(str(tiny_cross_encoder), device="cpu")
    pairs = list(zip(REFERENCES, PREDICTIONS))
    options = MetricOptions(cross_encoder=str(tiny_cross_encoder), cross_encoder_mode="sts")
    sts = score_samples(samples(), ["cross_encoder"], options).values["cross_encoder"]
    np.testing.assert_allclose(sts, model.predict(pairs, activation_fn=torch.nn.Sigmoid()), atol=1e-5)
    assert all(0 <= v <= 1 for v in sts)

    options = MetricOptions(cross_encoder=str(tiny_cross_encoder), cross_encoder_mode="seed")
    seed = score_samples(samples(), ["cross_encoder"], options).values["cross_encoder"]
    logits = model.predict(pairs, activation_fn=torch.nn.Identity())
    own = model.predict([(r, r) for r in REFERENCES], activation_fn=torch.nn.Identity())
    np.testing.assert_allclose(seed, logits / own, rtol=1e-5)
    identical = score_samples(samples(REFERENCES, REFERENCES), ["cross_encoder"], options).values["cross_encoder"]
    np.testing.assert_allclose(identical, 1.0, rtol=1e-5)


def test_missing_cross_encoder_is_reported_not_invented(tmp_path, capsys):
    options = MetricOptions(cross_encoder=str(tmp_path / "no-such-model"))
    scores = score_samples(samples(), ["cross_encoder", "rouge1"], options)
    assert "cross_encoder" not in scores.values and len(scores.values["rouge1"]) == len(REFERENCES)
    reason = scores.unavailable["cross_encoder"]
    assert f"cannot load cross-encoder model '{tmp_path / 'no-such-model'}'" in reason
    assert "--cross-encoder PATH" in reason and "\n" not in reason
    # Asking again fails fast with the same reason and warns only once per process.
    assert score_samples(samples(), ["cross_encoder"], options).unavailable["cross_encoder"] == reason
    assert capsys.readouterr().err.count("metric 'cross_encoder' unavailable") == 1


def test_reference_embeddings_are_computed_once(monkeypatch):
    path, model = semantic.sentence_encoder(DEFAULT_ENCODER)
    encoded = []
    original = model.encode
    monkeypatch.setattr(model, "encode", lambda texts, **kw: (encoded.append(len(texts)), original(texts, **kw))[1])
    fresh = [f"Reference number {i} about a pump." for i in range(5)]
    semantic.cosine_pairs(DEFAULT_ENCODER, ["a"] * 5, fresh)
    semantic.cosine_pairs(DEFAULT_ENCODER, ["b"] * 5, fresh)  # a second grid cell
    assert encoded == [5, 5, 5]  # predictions twice, references once


def test_options_are_parsed_by_one_function_from_every_door():
    with pytest.raises(MetricOptionsError, match="grid.yaml: metric_options: unknown metric option\\(s\\) cross_encoderr"):
        MetricOptions.parse({"cross_encoderr": "x"}, "grid.yaml: metric_options")
    with pytest.raises(MetricOptionsError, match="cross_encoder_mode must be one of fact, sts, seed"):
        MetricOptions.parse({"cross_encoder_mode": "fancy"})
    with pytest.raises(MetricOptionsError, match="metric_batch_size: expected int, got 'many'"):
        MetricOptions.parse({"metric_batch_size": "many"})
    # --metadata carries numbers as strings and holds lm-eval's other keys (model args, split, version).
    parsed = MetricOptions.from_run_metadata({"metric_batch_size": "8", "bertscore_num_layers": "5", "device": "cuda:0",
                                              "batch_size": "auto", "split": "dev", "version": 2.0})
    assert (parsed.metric_batch_size, parsed.bertscore_num_layers, parsed.metric_device) == (8, 5, "cpu")
    assert MetricOptions.from_json(parsed.to_json()) == parsed and hash(parsed) == hash(MetricOptions.from_json(parsed.to_json()))


def test_scoring_reads_no_hidden_state(tiny_cross_encoder):
    """Two option sets used one after the other each get their own models: nothing leaks between them."""
    sts = MetricOptions(cross_encoder=str(tiny_cross_encoder))
    seed = MetricOptions(cross_encoder=str(tiny_cross_encoder), cross_encoder_mode="seed")
    first = score_samples(samples(), ["cross_encoder"], sts).values["cross_encoder"]
    score_samples(samples(), ["cross_encoder"], seed)
    assert score_samples(samples(), ["cross_encoder"], sts).values["cross_encoder"] == first
    # a hub model that is not in the local cache is unavailable offline, whatever was loaded before
    hub = MetricOptions(cross_encoder_mode="sts")
    assert "cross_encoder" in score_samples(samples(), ["cross_encoder"], hub).unavailable


EDGE_PREDICTIONS = {
    "empty": "",
    "whitespace": "  \n\t ",
    "10k characters": "The pump stopped at 06:40 on line 3. " * 270,
    "non-JSON": '{"title": broken, report: ',
    "unicode": "Température 8,4 °C — 東京 🚑 Łódź",
    "identical": None,  # filled with the reference
}


@pytest.mark.parametrize("kind", list(EDGE_PREDICTIONS))
def test_edge_cases_give_finite_values(kind, tiny_cross_encoder):
    options = MetricOptions(cross_encoder=str(tiny_cross_encoder))
    case = CASES[0]
    long_reference = " ".join([case["event_description"]] * 12)  # far beyond 256/512 tokens
    prediction = case["event_description"] if EDGE_PREDICTIONS[kind] is None else EDGE_PREDICTIONS[kind]
    predictions = [prediction] * 2
    batch = [
        ScoringInput.from_case(case, predictions[0], title=predictions[0][:40], json_valid=False),
        ScoringInput.from_case(dict(case, event_description=long_reference), predictions[1], title="", json_valid=True),
    ]
    scores = score_samples(batch, TASK_METRICS, options)
    assert set(scores.unavailable) == scores.not_switched_on == {m for m in TASK_METRICS if m.startswith("judge_")}
    for name, values in scores.values.items():
        assert all(math.isfinite(v) for v in values), (kind, name, values)
    if kind == "identical":
        assert scores.values["rouge1"][0] == 1.0 and scores.values["bertscore_f1"][0] == pytest.approx(1.0, abs=1e-5)
        assert scores.values["bi_encoder_cosine"][0] == pytest.approx(1.0, abs=1e-5)
    if kind in ("empty", "whitespace"):
        assert scores.values["bertscore_f1"][0] == 0.0 and scores.values["words"][0] == 0
