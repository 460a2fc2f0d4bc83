"""examples/finetune_lora.py: trains on dev cases only, masks the prompt, writes an adapter and merged weights that agree."""

import importlib.util
import json
from pathlib import Path

import pytest
import torch

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "finetune_lora.py"


def load_example():
    spec = importlib.util.spec_from_file_location("finetune_lora", EXAMPLE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_training_pairs_use_dev_cases_all_prompts_and_json_answers(tiny_llama):
    from transformers import AutoTokenizer

    from reportbench.cases import select_cases

    tokenizer = AutoTokenizer.from_pretrained(tiny_llama)
    pairs = load_example().training_pairs(tokenizer, "dev")
    assert len(pairs) == len(select_cases("pharma", "dev")) + len(select_cases("traffic", "dev"))
    ids, prompt_length = pairs[0]
    answer = tokenizer.decode(ids[prompt_length:-1])
    case = select_cases("pharma", "dev")[0]
    assert json.loads(answer) == {"title": case["report_name"], "report": case["event_description"]}
    assert ids[-1] == tokenizer.eos_token_id
    prompts = [tokenizer.decode(ids[:n]) for ids, n in pairs]
    held_out = [c["what"] for d in ("pharma", "traffic") for c in select_cases(d, "test")]
    assert not any(what in prompt for prompt in prompts for what in held_out)  # no test case is trained on
    assert all(case["what"] in "".join(prompts) for case in select_cases("traffic", "dev")[:5])
    assert sum("Guidelines:" not in p for p in prompts) == pytest.approx(len(pairs) / 4, abs=1)  # prompt A in turn with B-D


@pytest.mark.slow
def test_adapter_and_merged_weights_agree(tiny_llama, tmp_path):
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    example = load_example()
    out = tmp_path / "lora"
    assert example.main(["--model", str(tiny_llama), "--out", str(out), "--limit", "4", "--merge", "--lr", "1e-2"]) == 0
    record = json.loads((out / "training.json").read_text())
    assert record["cases"] == 4 and record["split"] == "dev" and record["last_loss"] == record["last_loss"]
    inputs = torch.tensor([[5, 6, 7, 8, 9]])
    base = AutoModelForCausalLM.from_pretrained(tiny_llama)
    with torch.no_grad():
        base_logits = base(inputs).logits
        adapted = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(tiny_llama), out / "adapter")(inputs).logits
        merged = AutoModelForCausalLM.from_pretrained(out / "merged")(inputs).logits
    assert not torch.allclose(base_logits, adapted, atol=1e-4)  # training changed the model
    assert torch.allclose(adapted, merged, atol=1e-4)
    assert example.main(["--model", str(tiny_llama), "--out", str(out)]) == 0  # already trained: kept, not redone
