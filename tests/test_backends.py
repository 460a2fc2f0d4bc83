"""The backend registry: each entry turns a grid model spec into lm-eval model arguments.

Loading real models on each backend is tested end to end in test_grid.py (hf, gguf, PEFT) and
test_vllm_backend.py (vllm, opt-in).
"""

import pytest

from reportbench.backends import BACKENDS
from reportbench.grid import ModelSpec


@pytest.mark.parametrize("name", list(BACKENDS))
def test_every_entry_is_complete(name):
    backend = BACKENDS[name]
    assert backend.name == name and backend.description
    assert callable(backend.build_args) and callable(backend.count_parameters)


def test_lm_eval_model_names_belong_to_one_backend():
    names = [n for backend in BACKENDS.values() for n in backend.lm_eval_models]
    assert len(names) == len(set(names))


def test_model_arguments_per_backend(tmp_path):
    gguf = tmp_path / "model.Q4.gguf"
    gguf.write_bytes(b"")
    spec = dict(name="m", path="/models/m", model_args={"dtype": "float32"}, peft="/adapters/a", batch_size=4)
    assert BACKENDS["hf"].build_args(ModelSpec(backend="hf", **spec)) == (
        "reportbench-hf", {"dtype": "float32", "pretrained": "/models/m", "peft": "/adapters/a"})
    assert BACKENDS["vllm"].build_args(ModelSpec(backend="vllm", **spec)) == (
        "reportbench-vllm", {"dtype": "float32", "pretrained": "/models/m", "lora_local_path": "/adapters/a"})
    lm_type, args = BACKENDS["gguf"].build_args(ModelSpec(backend="gguf", **(spec | {"path": str(gguf), "peft": None})))
    assert (lm_type, args["pretrained"], args["gguf_file"]) == ("reportbench-hf", str(tmp_path), gguf.name)


def test_parameters_are_counted_from_safetensors_headers(tiny_llama):
    """vLLM keeps its model in another process; the count comes from the weight files."""
    import torch
    from transformers import AutoModelForCausalLM

    class EngineStub:  # what lm-eval's VLLM object exposes: its engine arguments
        model_args = {"model": str(tiny_llama)}

    class TorchStub:
        model = AutoModelForCausalLM.from_pretrained(tiny_llama, dtype=torch.float32)

    expected = sum(p.numel() for p in TorchStub.model.parameters())
    assert BACKENDS["vllm"].count_parameters(EngineStub()) == expected
    assert BACKENDS["hf"].count_parameters(TorchStub()) == expected
