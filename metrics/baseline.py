"""Building a BERTScore rescale baseline from reportbench's own reference reports.

bert-score ships baselines only for the models it knows (computed on random Common
Crawl sentence pairs).  For our encoder we take random pairs of reference reports
from *different* cases of both domains: two unrelated incident reports.  The
per-layer mean P, R and F over those pairs is what a rescaled score of 0 means.
"""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np

BASELINE_PAIRS = 2000
BASELINE_SEED = 0


def unrelated_reference_pairs(references: list[str], pairs: int = BASELINE_PAIRS, seed: int = BASELINE_SEED):
    rng = random.Random(seed)
    candidates, references_out = [], []
    while len(candidates) < pairs:
        i, j = rng.sample(range(len(references)), 2)
        candidates.append(references[i])
        references_out.append(references[j])
    return candidates, references_out


def build_bertscore_baseline(out: Path, references: list[str], model_path: str, num_layers: int, pairs: int = BASELINE_PAIRS) -> Path:
    """references: every reference report of the benchmark (the caller reads the case files)."""
    from bert_score import BERTScorer

    candidates, refs = unrelated_reference_pairs(references, pairs)
    scorer = BERTScorer(model_type=model_path, num_layers=num_layers, all_layers=True)
    precision, recall, f1 = scorer.score(candidates, refs, batch_size=64)  # each (layers + 1, pairs)
    rows = np.stack([precision.mean(dim=1).numpy(), recall.mean(dim=1).numpy(), f1.mean(dim=1).numpy()], axis=1)
    out.parent.mkdir(parents=True, exist_ok=True)
    lines = ["LAYER,P,R,F"] + [f"{layer},{p:.8f},{r:.8f},{f:.8f}" for layer, (p, r, f) in enumerate(rows)]
    out.write_text("\n".join(lines) + "\n")
    return out
