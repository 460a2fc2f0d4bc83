"""`reportbench-vllm`: lm-eval's VLLM with the answer schema as vLLM structured outputs (see constrained.py).

A module of its own because it imports vllm, which only the vLLM venv has.
"""

from __future__ import annotations

from lm_eval.models.vllm_causallms import VLLM

from reportbench.answer import json_schema
from reportbench.constrained import pop_mode


class ConstrainedVLLM(VLLM):
    @staticmethod
    def modify_gen_kwargs(gen_kwargs: dict, eos=None, default_max_gen_toks: int = 256):
        gen_kwargs = dict(gen_kwargs)
        mode = pop_mode(gen_kwargs)
        kwargs, until, max_gen_toks = VLLM.modify_gen_kwargs(gen_kwargs, eos=eos, default_max_gen_toks=default_max_gen_toks)
        if mode == "json":
            from vllm.sampling_params import StructuredOutputsParams

            kwargs["structured_outputs"] = StructuredOutputsParams(json=json_schema(max_gen_toks), disable_any_whitespace=True)
            until = []  # the grammar ends the answer; a stop string inside the report must not cut it
        return kwargs, until, max_gen_toks
