"""Constrained decoding of the answer schema (answer.py), as lm-eval model types.

lm-eval's `hf` and `vllm` models pass gen_kwargs straight to the engine, which knows no
`structured_output`. Two registered subclasses take it out of the gen_kwargs and hand the engine
the constraint instead; without it they behave exactly as their parents:

- `reportbench-hf` (lm-eval's HFLM): for `structured_output=json`, an xgrammar logits processor
  (`xgrammar.contrib.hf.LogitsProcessor`) compiled from the schema with string lengths derived from
  the batch's token budget; xgrammar was chosen by measurement against outlines and
  lm-format-enforcer (benchmarks/RESULTS.md).
- `reportbench-vllm` (lm-eval's VLLM): vLLM's own structured outputs, `SamplingParams(structured_outputs=
  StructuredOutputsParams(json=schema, disable_any_whitespace=True))`, per request, on the engine's
  `guidance` backend by default (constrained_vllm.py says why).

Under the constraint, stop strings are dropped: the grammar ends the answer (then only EOS is
allowed), and a stop string written inside the report text must not cut a valid object.
The grid always builds these types; `reportbench lm-eval` switches `--model hf|vllm` to them when
`--gen_kwargs` asks for `structured_output`. Plain `lm_eval` cannot reach them (it has no plugin
entry points), so use `reportbench lm-eval` for constrained runs.
"""

from __future__ import annotations

import json
from functools import lru_cache

from lm_eval.models.huggingface import HFLM

from reportbench.answer import json_schema
from reportbench.decoding import DEFAULTS, structured_output

# lm-eval model name -> the constrained type that can run it, and where that type lives
# (registered lazily: the vLLM one imports vllm, which only some venvs have).
CONSTRAINED_MODELS = {"hf": "reportbench-hf", "vllm": "reportbench-vllm"}
_TARGETS = {"reportbench-hf": "reportbench.constrained:ConstrainedHFLM", "reportbench-vllm": "reportbench.constrained_vllm:ConstrainedVLLM"}
SETTING = "structured_output"


def register_models() -> None:
    """Makes `reportbench-hf` and `reportbench-vllm` known to lm-eval's model registry (idempotent)."""
    from lm_eval.api.registry import model_registry

    for name, target in _TARGETS.items():
        if name not in model_registry:
            model_registry.register(name, target=target)


def pop_mode(gen_kwargs: dict) -> str:
    """Takes structured_output out of gen_kwargs (the engine does not know it) and returns it, checked."""
    return structured_output(gen_kwargs.pop(SETTING, DEFAULTS[SETTING]))


@lru_cache(maxsize=8)
def _xgrammar_compiler(tokenizer, vocab_size: int):
    import xgrammar

    info = xgrammar.TokenizerInfo.from_huggingface(tokenizer, vocab_size=vocab_size)
    return xgrammar.GrammarCompiler(info)


@lru_cache(maxsize=64)
def _compiled_answer_grammar(tokenizer, vocab_size: int, max_gen_toks: int):
    return _xgrammar_compiler(tokenizer, vocab_size).compile_json_schema(json.dumps(json_schema(max_gen_toks)), any_whitespace=False)


def hf_json_processor(tokenizer, vocab_size: int, max_gen_toks: int):
    """A fresh xgrammar logits processor for one generate() call (it keeps one matcher per batch row)."""
    import xgrammar.contrib.hf

    return xgrammar.contrib.hf.LogitsProcessor(_compiled_answer_grammar(tokenizer, vocab_size, max_gen_toks))


class ConstrainedHFLM(HFLM):
    def _model_generate(self, context, max_length: int, stop: list[str], **generation_kwargs):
        if pop_mode(generation_kwargs) == "json":
            from transformers import LogitsProcessorList

            budget = max_length - context.shape[1]
            vocab_size = self.model.get_output_embeddings().weight.shape[0]
            generation_kwargs["logits_processor"] = LogitsProcessorList([hf_json_processor(self.tokenizer, vocab_size, budget)])
            stop = []
        return super()._model_generate(context, max_length, stop, **generation_kwargs)
