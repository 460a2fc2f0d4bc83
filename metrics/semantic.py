"""Model-based metrics: bi-encoder cosine, BERTScore and cross-encoder similarity.

Every metric scores all pairs it is given in one batched call, with the `MetricOptions` it is
handed. Each model is loaded once per process for a given (model, device), and reference-side
embeddings are cached by (model, text), so the same references scored again (other tasks, other
grid cells) cost nothing. No function here reads options from anywhere but its arguments.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from functools import cache, lru_cache
from pathlib import Path

import numpy as np

from reportbench.metrics.base import MODEL, TITLES, Metric, MetricUnavailable, ScoringInput
from reportbench.metrics.encoders import DEFAULT_ENCODER, resolve_model
from reportbench.metrics.fact_cross_encoder import Mixture, free_text_expert, mark_pair, marked_input, mixture_of, weights_folder
from reportbench.metrics.options import CROSS_ENCODER_MODES, MetricOptions

BASELINE_DIR = Path(__file__).resolve().parent / "baselines"


def bertscore_baseline_path(options: MetricOptions) -> Path | None:
    if options.bertscore_baseline:
        return Path(options.bertscore_baseline)
    if options.bertscore_model == DEFAULT_ENCODER:
        return BASELINE_DIR / f"bertscore_{DEFAULT_ENCODER}.csv"
    return None


# ---------------------------------------------------------------- model loading (once per process)

_load_failures: dict[tuple, str] = {}


def _load_once(kind: str, loader, *key):
    """Calls loader(*key) once; a failure is remembered so later tasks fail fast with the same reason."""
    if (kind, *key) in _load_failures:
        raise MetricUnavailable(_load_failures[(kind, *key)])
    try:
        return loader(*key)
    except MetricUnavailable:
        raise
    except Exception as err:  # any load failure makes the metric unavailable, never the run
        detail = str(err).splitlines()[0][:200].rstrip(". ") if str(err) else ""
        reason = f"cannot load {kind} model '{key[0]}': {type(err).__name__}: {detail}"
        _load_failures[(kind, *key)] = reason
        raise MetricUnavailable(reason) from err


@cache
def _sentence_transformer(path: str, device: str):
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(path, device=device)


@cache
def _bert_scorer(path: str, num_layers: int, device: str):
    from bert_score import BERTScorer

    scorer = BERTScorer(model_type=path, num_layers=num_layers, device=device)
    tokenizer = scorer._tokenizer
    # bert-score 0.3.13 encodes an empty sentence with build_inputs_with_special_tokens([]),
    # which transformers 5 tokenizers no longer have; this restores the same special-token ids.
    if not hasattr(type(tokenizer), "build_inputs_with_special_tokens"):
        tokenizer.build_inputs_with_special_tokens = lambda ids: tokenizer("", add_special_tokens=True)["input_ids"]
    return scorer


@cache
def _cross_encoder(path: str, device: str):
    import os

    from sentence_transformers import CrossEncoder

    if Path(path).is_dir() or os.environ.get("HF_HUB_OFFLINE") in ("1", "true", "True"):
        return CrossEncoder(path, device=device)
    try:  # a hub id already in the local cache loads without touching the network
        return CrossEncoder(path, device=device, local_files_only=True)
    except OSError:
        return CrossEncoder(path, device=device)


def sentence_encoder(name: str, device: str = "cpu"):
    path = resolve_model(name)
    return path, _load_once("bi-encoder", _sentence_transformer, path, device)


def bert_scorer(options: MetricOptions):
    path = resolve_model(options.bertscore_model)
    return _load_once("BERTScore", _bert_scorer, path, options.bertscore_num_layers, options.metric_device)


def cross_encoder(options: MetricOptions):
    try:
        return _load_once("cross-encoder", _cross_encoder, resolve_model(options.cross_encoder_model), options.metric_device)
    except MetricUnavailable as err:
        raise MetricUnavailable(
            f"{err}. Supply a local cross-encoder folder with --cross-encoder PATH (reportbench score) "
            f"or --metadata '{{\"cross_encoder\": \"PATH\"}}' (lm_eval)"
        ) from None


# ---------------------------------------------------------------- bi-encoder

_reference_embeddings: dict[tuple[str, str], np.ndarray] = {}


def _embed(name: str, texts: Sequence[str], cache: bool, device: str = "cpu", batch_size: int = 32) -> np.ndarray:
    """Unit-normalised embeddings; with cache=True, texts seen before are not encoded again."""
    path, model = sentence_encoder(name, device)
    if not cache:
        return model.encode(list(texts), batch_size=batch_size, normalize_embeddings=True)
    missing = list(dict.fromkeys(t for t in texts if (path, t) not in _reference_embeddings))
    if missing:
        vectors = model.encode(missing, batch_size=batch_size, normalize_embeddings=True)
        _reference_embeddings.update({(path, t): v for t, v in zip(missing, vectors)})
    return np.stack([_reference_embeddings[(path, t)] for t in texts])


def cosine_pairs(name: str, predictions: Sequence[str], references: Sequence[str], device: str = "cpu", batch_size: int = 32) -> np.ndarray:
    predicted = _embed(name, predictions, cache=False, device=device, batch_size=batch_size)
    reference = _embed(name, references, cache=True, device=device, batch_size=batch_size)
    return np.einsum("ij,ij->i", predicted, reference)


def _bi_encoder_cosine(samples: Sequence[ScoringInput], options: MetricOptions) -> np.ndarray:
    if shares_encoder(options):
        predicted = np.stack([e.sentence for e in shared_pass(tuple(s.prediction for s in samples), options)])
        reference = np.stack([e.sentence for e in shared_pass(tuple(s.reference for s in samples), options, keep=True)])
        return np.einsum("ij,ij->i", predicted, reference)
    return cosine_pairs(options.bi_encoder, [s.prediction for s in samples], [s.reference for s in samples],
                        options.metric_device, options.metric_batch_size)


def _title_bi_encoder(samples: Sequence[ScoringInput], options: MetricOptions) -> np.ndarray:
    # No title is no similarity: the Metric's empty-text rule gives those 0 without encoding "".
    return cosine_pairs(options.bi_encoder, [s.predicted_title for s in samples], [s.reference_title for s in samples],
                        options.metric_device, options.metric_batch_size)


def _bi_encoder_settings(options: MetricOptions) -> dict:
    return {
        "library": "sentence-transformers",
        "model": _safe_resolve(options.bi_encoder),
        "call": "SentenceTransformer(model).encode(texts, normalize_embeddings=True); cosine = dot product",
        "max_seq_length": "the model's own (256 for all-MiniLM-L6-v2); longer texts are truncated",
        "reference_embeddings": "cached per process by (model, text)",
    }


# ---------------------------------------------------------------- one encoder pass for the bi-encoder and BERTScore
#
# By default both use all-MiniLM-L6-v2, BERTScore at layer 6 (the last) and the bi-encoder as the
# sentence-transformers pipeline Transformer -> mean Pooling -> Normalize. Then one forward pass per
# text gives both: bert-score's own `get_bert_embedding` yields the token embeddings, the pipeline's
# own Pooling module turns them into the sentence embedding, and bert-score's own `greedy_cos_idf`
# matches them. Texts longer than the pipeline's max_seq_length (256 tokens, which it truncates,
# while bert-score keeps 512) get their sentence embedding from the pipeline itself.


@dataclass(frozen=True)
class Encoded:
    tokens: object  # torch (n_tokens, dim): bert-score's layer
    idf: object  # torch (n_tokens,): bert-score's weights without idf (0 for [CLS] and [SEP], else 1)
    sentence: np.ndarray  # the bi-encoder's unit sentence embedding


_kept: dict[tuple[str, int, str, str], Encoded] = {}  # references, by (model, layer, device, text)


def shares_encoder(options: MetricOptions) -> bool:
    """Whether the bi-encoder and BERTScore can share one pass per text (see above)."""
    try:
        path = resolve_model(options.bi_encoder)
        if path != resolve_model(options.bertscore_model):
            return False
    except MetricUnavailable:
        return False
    return _mean_pooling_of_layer(path, options.bertscore_num_layers, options.metric_device)


@cache
def _mean_pooling_of_layer(path: str, layer: int, device: str) -> bool:
    try:
        _, model = sentence_encoder(path, device)
    except MetricUnavailable:
        return False
    modules = [type(m).__name__ for m in model]
    if modules[:2] != ["Transformer", "Pooling"] or modules[2:] not in ([], ["Normalize"]):
        return False
    transformer, pooling = model[0], model[1]
    return (pooling.get_config_dict().get("pooling_mode") == "mean"
            and transformer.auto_model.config.num_hidden_layers == layer)


@lru_cache(maxsize=2)
def _prediction_pass(texts: tuple[str, ...], options: MetricOptions) -> tuple[Encoded, ...]:
    """One scoring call's predictions, shared by the metrics that read them and then dropped."""
    return _encode_shared(texts, options)


def shared_pass(texts: tuple[str, ...], options: MetricOptions, keep: bool = False) -> list[Encoded]:
    """The shared encoding of every text; ``keep``: reference side, cached for the process."""
    if not keep:
        return list(_prediction_pass(texts, options))
    key = (resolve_model(options.bertscore_model), options.bertscore_num_layers, options.metric_device)
    new = tuple(dict.fromkeys(t for t in texts if (*key, t) not in _kept))
    if new:
        _kept.update({(*key, t): e for t, e in zip(new, _encode_shared(new, options))})
    return [_kept[(*key, t)] for t in texts]


def _encode_shared(texts: Sequence[str], options: MetricOptions) -> tuple[Encoded, ...]:
    from collections import defaultdict

    import torch
    from bert_score.utils import get_bert_embedding

    scorer = bert_scorer(options)
    _, pipeline = sentence_encoder(options.bi_encoder, options.metric_device)
    tokenizer = scorer._tokenizer
    idf_dict = defaultdict(lambda: 1.0, {tokenizer.sep_token_id: 0.0, tokenizer.cls_token_id: 0.0})  # as BERTScorer.score, idf=False
    unique = sorted(dict.fromkeys(texts), key=lambda t: len(t.split(" ")), reverse=True)  # bert-score's order: little padding
    encoded: dict[str, Encoded] = {}
    too_long = []
    for start in range(0, len(unique), options.metric_batch_size):
        batch = unique[start:start + options.metric_batch_size]
        embeddings, mask, idf = get_bert_embedding(batch, scorer._model, tokenizer, idf_dict, device=options.metric_device)
        with torch.no_grad():
            pooled = pipeline[1]({"token_embeddings": embeddings, "attention_mask": mask})["sentence_embedding"]
        sentences = torch.nn.functional.normalize(pooled, p=2, dim=1).cpu().numpy()
        for i, text in enumerate(batch):
            length = int(mask[i].sum())
            encoded[text] = Encoded(embeddings[i, :length].cpu(), idf[i, :length].cpu(), sentences[i])
            if length > pipeline.max_seq_length:
                too_long.append(text)
    if too_long:
        vectors = pipeline.encode(too_long, batch_size=options.metric_batch_size, normalize_embeddings=True)
        encoded.update({t: replace(encoded[t], sentence=v) for t, v in zip(too_long, vectors)})
    return tuple(encoded[t] for t in texts)


def _bertscore_of(predictions: Sequence[Encoded], references: Sequence[Encoded], batch_size: int) -> np.ndarray:
    """(3, n) raw P, R, F by bert-score's greedy_cos_idf, batched and padded as bert_cos_score_idf does."""
    import torch
    from bert_score.utils import greedy_cos_idf
    from torch.nn.utils.rnn import pad_sequence

    def padded(side: Sequence[Encoded]):
        lengths = torch.tensor([e.tokens.shape[0] for e in side])
        mask = torch.arange(int(lengths.max())).expand(len(side), -1) < lengths.unsqueeze(1)
        return (pad_sequence([e.tokens for e in side], batch_first=True, padding_value=2.0), mask,
                pad_sequence([e.idf for e in side], batch_first=True))

    out = []
    with torch.no_grad():
        for start in range(0, len(predictions), batch_size):
            end = start + batch_size
            precision, recall, f1 = greedy_cos_idf(*padded(references[start:end]), *padded(predictions[start:end]))
            out.append(torch.stack([precision, recall, f1]))
    return torch.cat(out, dim=1).numpy()


# ---------------------------------------------------------------- BERTScore

@lru_cache(maxsize=8)
def _bertscore_prf(predictions: tuple[str, ...], references: tuple[str, ...], options: MetricOptions) -> np.ndarray:
    """(3, n) array of raw P, R, F; cached (by texts and the whole option set) so the three metrics share one pass."""
    if shares_encoder(options):
        return _bertscore_of(shared_pass(predictions, options), shared_pass(references, options, keep=True), options.metric_batch_size)
    scorer = bert_scorer(options)
    precision, recall, f1 = scorer.score(list(predictions), list(references), batch_size=options.metric_batch_size)
    return np.stack([precision.numpy(), recall.numpy(), f1.numpy()])


def _bertscore(samples: Sequence[ScoringInput], options: MetricOptions) -> np.ndarray:
    return _bertscore_prf(tuple(s.prediction for s in samples), tuple(s.reference for s in samples), options)


def bertscore_baseline(options: MetricOptions) -> np.ndarray:
    """The baseline row (P, R, F) for the configured layer, read as bert-score reads it."""
    import pandas as pd

    path = bertscore_baseline_path(options)
    if path is None or not path.is_file():
        raise MetricUnavailable(
            f"no BERTScore baseline for model '{options.bertscore_model}'; build one with "
            "`reportbench metrics build-bertscore-baseline` and pass it as bertscore_baseline"
        )
    return pd.read_csv(path).iloc[options.bertscore_num_layers].to_numpy()[1:].astype(np.float32)


def _bertscore_f1_rescaled(samples: Sequence[ScoringInput], options: MetricOptions) -> np.ndarray:
    baseline_f1 = bertscore_baseline(options)[2]
    return (_bertscore(samples, options)[2] - baseline_f1) / (1 - baseline_f1)


def _bertscore_settings(options: MetricOptions) -> dict:
    return {
        "library": "bert-score",
        "model_type": _safe_resolve(options.bertscore_model),
        "num_layers": options.bertscore_num_layers,
        "idf": False,
        "call": "BERTScorer(model_type, num_layers).score(predictions, references)",
        "rescaled_baseline": str(bertscore_baseline_path(options)),
        "rescaled": "(F - baseline_F) / (1 - baseline_F), as BERTScorer(rescale_with_baseline=True, baseline_path=...)",
    }


# ---------------------------------------------------------------- cross-encoder

_self_logits: dict[tuple[str, str], float] = {}


def _cross_encoder_scores(samples: Sequence[ScoringInput], options: MetricOptions) -> np.ndarray:
    import torch

    model = cross_encoder(options)
    batch = options.metric_batch_size
    pairs = [(s.reference, s.prediction) for s in samples]
    path = resolve_model(options.cross_encoder_model)
    input_format = marked_input(path)
    if input_format is not None:
        pairs = [mark_pair(reference, prediction, input_format) for reference, prediction in pairs]
    if options.cross_encoder_mode == "fact":  # sigmoid in float64, so near-1 scores do not collapse into ties
        def probability(m, chosen: np.ndarray, shift: float = 0.0) -> np.ndarray:
            out = np.zeros(len(pairs))
            if chosen.any():
                logits = m.predict([pairs[i] for i in np.flatnonzero(chosen)], batch_size=batch,
                                   activation_fn=torch.nn.Identity(), show_progress_bar=False)
                out[chosen] = 1.0 / (1.0 + np.exp(-(np.asarray(logits, dtype=np.float64) - shift)))
            return out

        mixed = mixture_of(path)
        if mixed is None:
            return probability(model, np.ones(len(pairs), dtype=bool))
        expert_path, mixture = mixed
        expert = _load_once("cross-encoder", _cross_encoder, str(expert_path), options.metric_device)
        weight = np.array([mixture.near_copy_weight(s.reference, s.prediction) for s in samples])
        # each model scores only the reports it has a weight for (most have one model's weight only)
        return weight * probability(model, weight > 0) + (1.0 - weight) * probability(expert, weight < 1, mixture.free_text_shift)
    if options.cross_encoder_mode == "sts":
        return model.predict(pairs, batch_size=batch, activation_fn=torch.nn.Sigmoid(), show_progress_bar=False)
    logits = model.predict(pairs, batch_size=batch, activation_fn=torch.nn.Identity(), show_progress_bar=False)
    key = options.cross_encoder_model
    new = list(dict.fromkeys(s.reference for s in samples if (key, s.reference) not in _self_logits))
    if new:
        own = model.predict([(r, r) for r in new], batch_size=batch, activation_fn=torch.nn.Identity(), show_progress_bar=False)
        _self_logits.update({(key, r): float(v) for r, v in zip(new, own)})
    return np.asarray(logits) / np.asarray([_self_logits[(key, s.reference)] for s in samples])


def _cross_encoder_settings(options: MetricOptions) -> dict:
    return {
        "library": "sentence-transformers",
        "model": options.cross_encoder_model,
        "mode": options.cross_encoder_mode,
        "definition": CROSS_ENCODER_MODES[options.cross_encoder_mode],
        "input": "(reference, prediction), or for a fact-marked model (the embedded one) "
        "reportbench.metrics.fact_cross_encoder.mark_pair(reference, prediction, input_format)",
        "call": "CrossEncoder(model).predict([(reference, prediction)], activation_fn="
        + {"sts": "torch.nn.Sigmoid())", "fact": "torch.nn.Identity()), then 1 / (1 + exp(-logit)) in float64"}.get(
            options.cross_encoder_mode, "torch.nn.Identity())"),
        **(_fact_settings(folder) if (folder := weights_folder(options.cross_encoder_model)) else {}),
    }


def _fact_settings(folder: Path) -> dict:
    """A trained folder's record, and its free-text expert's with how the two are mixed."""
    out = {"training": _fact_training_summary(folder)}
    expert = free_text_expert(folder)
    if expert is not None:
        summary = _fact_training_summary(expert)
        mixture = Mixture.recorded(summary)
        summary.pop("mixture", None)
        out["free_text_expert"] = {"mixture": asdict(mixture), "definition": " ".join(Mixture.__doc__.split(".")[0].split()) + ".",
                                   "training": summary}
    return out


def _fact_training_summary(folder: Path) -> dict:
    from reportbench.metrics.fact_cross_encoder import training_info

    try:
        info = training_info(folder)
    except MetricUnavailable as err:
        return {"unavailable": str(err)}
    return {key: info[key] for key in ("base", "input", "trained_parameters", "held_out_classes", "data", "settings", "weights_sha256",
                                       "on_top_of", "mixture") if key in info}


def _safe_resolve(name: str) -> str:
    try:
        return resolve_model(name)
    except MetricUnavailable as err:
        return f"{name} (unavailable: {err})"


COSINE_RANGE = (-1.0, 1.0)
CROSS_ENCODER = Metric(
    name="cross_encoder",
    description="cross-encoder similarity of reference and report (see mode)",
    higher_is_better=True,
    batch_fn=_cross_encoder_scores,
    needs=frozenset({MODEL}),
    similarity=True,
    summary=True,
    settings=_cross_encoder_settings,
)
BI_ENCODER_COSINE = Metric(
    name="bi_encoder_cosine",
    description="cosine similarity of report and reference sentence embeddings",
    higher_is_better=True,
    batch_fn=_bi_encoder_cosine,
    needs=frozenset({MODEL}),
    similarity=True,
    bounds=COSINE_RANGE,
    summary=True,
    primary_rank=2,
    settings=_bi_encoder_settings,
)
BERTSCORE_METRICS = [
    Metric(
        name=f"bertscore_{part}",
        description=f"BERTScore {part} of the report against the reference",
        higher_is_better=True,
        batch_fn=lambda samples, options, row=row: _bertscore(samples, options)[row],
        needs=frozenset({MODEL}),
        similarity=True,
        bounds=COSINE_RANGE,  # greedy matching of token cosines
        summary=part == "f1",
        settings=_bertscore_settings,
    )
    for row, part in enumerate(("precision", "recall", "f1"))
]
BERTSCORE_F1_RESCALED = Metric(
    name="bertscore_f1_rescaled",
    description="BERTScore F1 rescaled with reportbench's own baseline (0 = as similar as two unrelated reports)",
    higher_is_better=True,
    batch_fn=_bertscore_f1_rescaled,
    needs=frozenset({MODEL}),
    similarity=True,
    bounds=(-math.inf, 1.0),
    settings=_bertscore_settings,
)
TITLE_BI_ENCODER = Metric(
    name="title_bi_encoder",
    description="cosine similarity of the generated title and the reference title (0 when no title was given)",
    higher_is_better=True,
    batch_fn=_title_bi_encoder,
    needs=frozenset({MODEL, TITLES}),
    similarity=True,
    compares=("predicted_title", "reference_title"),
    bounds=COSINE_RANGE,
    settings=_bi_encoder_settings,
)
SEMANTIC_METRICS = [CROSS_ENCODER, BI_ENCODER_COSINE, *BERTSCORE_METRICS, BERTSCORE_F1_RESCALED]
