"""Metric options: which models the model-based metrics use, and how they run.

One frozen value, passed explicitly to every scorer; nothing is held in module state. Every
door parses it with `MetricOptions.parse`: command-line flags (`--cross-encoder`, derived from
the field names), a grid's `metric_options`, lm_eval's `--metadata` (where lm-eval also merges
`--model_args`, hence the `metric_` prefix of the device and batch size), and the JSON the task
loader hands to the scoring filter.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from reportbench.metrics.encoders import DEFAULT_ENCODER
from reportbench.metrics.fact_cross_encoder import ALIAS as FACT_CROSS_ENCODER
from reportbench.metrics.fact_cross_encoder import is_fact_model
from reportbench.metrics.judge import BACKENDS as JUDGE_BACKENDS

CROSS_ENCODER_MODES = {
    "fact": "sigmoid(logit(reference, prediction)) from reportbench's fact-aware cross-encoder (all-MiniLM-L6-v2 "
    "fine-tuned on dev-split cases: faithful reports high, one wrong, missing, invented or reversed fact low); in [0, 1]",
    "sts": "sigmoid(logit(reference, prediction)) from a cross-encoder trained for semantic similarity; in [0, 1]",
    "seed": "logit(reference, prediction) / logit(reference, reference) from a passage-ranking cross-encoder, "
    "as the seed study computed it; unbounded",
}
CROSS_ENCODER_DEFAULTS = {"fact": FACT_CROSS_ENCODER, "sts": "cross-encoder/stsb-roberta-base", "seed": "cross-encoder/ms-marco-MiniLM-L6-v2"}
# Names users reach for that mean an option under another name.
_ALIASES = {"device": "metric_device", "batch_size": "metric_batch_size"}


class MetricOptionsError(ValueError):
    """An unknown option or a bad value; the message names where it came from."""


def _option(default, help: str):
    return field(default=default, metadata={"help": help})


@dataclass(frozen=True)
class MetricOptions:
    bi_encoder: str = _option(DEFAULT_ENCODER, f"sentence-transformers model of the bi-encoder metrics (default {DEFAULT_ENCODER})")
    bertscore_model: str = _option(DEFAULT_ENCODER, f"BERTScore model (default {DEFAULT_ENCODER})")
    # all-MiniLM-L6-v2 has 6 layers; the last one is what its sentence embeddings are trained on.
    bertscore_num_layers: int = _option(6, "layer used by BERTScore (default 6)")
    bertscore_baseline: str | None = _option(None, "rescale baseline CSV (default: the shipped one of the default model)")
    cross_encoder: str | None = _option(None, "cross-encoder model (default per mode)")
    cross_encoder_mode: str | None = _option(
        None, f"cross-encoder mode: {', '.join(CROSS_ENCODER_MODES)} (default: fact; sts when a cross_encoder model is given)")
    judge_model: str | None = _option(None, "LLM judge: an embedded alias (smollm2-135m), a local folder or a hub id; "
                                      "switches the judge_* metrics on (default: off)")
    judge_backend: str = _option("hf", "LLM judge backend: hf (default) or vllm")
    judge_model_args: str | None = _option(None, "LLM judge load arguments, JSON or key=value,... (e.g. dtype=bfloat16 or "
                                           "tensor_parallel_size=2,gpu_memory_utilization=0.5)")
    judge_max_tokens: int = _option(48, "LLM judge answer budget in tokens (default 48)")
    judge_cache: str | None = _option(None, "LLM judge answer cache (sqlite file; default <cache>/judge-cache.sqlite; off: none)")
    metric_device: str = _option("cpu", "device of the metric models: cpu (default), cuda, ...")
    metric_batch_size: int = _option(32, "batch size of the metric models (default 32)")

    def __post_init__(self):
        # No mode: fact for the embedded model (or a folder trained like it); sts for any other model the
        # user names, as before the fact mode existed.
        if self.cross_encoder_mode is None:
            fact = not self.cross_encoder or is_fact_model(self.cross_encoder)
            object.__setattr__(self, "cross_encoder_mode", "fact" if fact else "sts")

    @classmethod
    def parse(cls, values: Mapping[str, Any] | None, source: str = "metric options") -> MetricOptions:
        """Options from any door; ``source`` names the door in errors (e.g. 'grid.yaml: metric_options')."""
        values = dict(values or {})
        unknown = sorted(set(values) - set(OPTION_NAMES))
        if unknown:
            hints = [f" ({name} is called {_ALIASES[name]})" for name in unknown if name in _ALIASES]
            raise MetricOptionsError(
                f"{source}: unknown metric option(s) {', '.join(unknown)}{''.join(hints)}; known: {', '.join(OPTION_NAMES)}"
            )
        for name, kind in _FIELD_TYPES.items():  # --metadata JSON and YAML may carry numbers as strings
            if name in values and values[name] is not None:
                try:
                    values[name] = kind(values[name]) if kind is int else str(values[name])
                except (TypeError, ValueError):
                    raise MetricOptionsError(f"{source}: {name}: expected {kind.__name__}, got {values[name]!r}") from None
        options = cls(**values)
        if options.cross_encoder_mode not in CROSS_ENCODER_MODES:
            raise MetricOptionsError(f"{source}: cross_encoder_mode must be one of {', '.join(CROSS_ENCODER_MODES)}, got {options.cross_encoder_mode!r}")
        if options.judge_backend not in JUDGE_BACKENDS:
            raise MetricOptionsError(f"{source}: judge_backend must be one of {', '.join(JUDGE_BACKENDS)}, got {options.judge_backend!r}")
        if options.judge_max_tokens < 8:
            raise MetricOptionsError(f"{source}: judge_max_tokens must be >= 8 (the answer is a JSON object), got {options.judge_max_tokens}")
        if options.bertscore_num_layers < 0 or options.metric_batch_size < 1:
            raise MetricOptionsError(f"{source}: bertscore_num_layers must be >= 0 and metric_batch_size >= 1")
        return options

    @classmethod
    def from_run_metadata(cls, metadata: Mapping[str, Any], source: str = "--metadata") -> MetricOptions:
        """lm-eval's metadata holds --model_args and task keys too: only option names are read."""
        return cls.parse({k: v for k, v in metadata.items() if k in OPTION_NAMES}, source)

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str | None) -> MetricOptions:
        return cls.parse(json.loads(text) if text else {}, "recorded metric options")

    @property
    def cross_encoder_model(self) -> str:
        return self.cross_encoder or CROSS_ENCODER_DEFAULTS[self.cross_encoder_mode]


OPTION_NAMES = tuple(f.name for f in dataclasses.fields(MetricOptions))
OPTION_HELP = {f.name: f.metadata["help"] for f in dataclasses.fields(MetricOptions)}
_FIELD_TYPES = {f.name: (int if f.type == "int" else str) for f in dataclasses.fields(MetricOptions)}
DEFAULT_OPTIONS = MetricOptions()
