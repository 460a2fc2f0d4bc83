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
    example = load_example()
    pairs = example.training_pairs(tokenizer, example.subset("dev", None, 0))
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


def test_learning_curve_subsets_are_nested_and_balanced():
    example = load_example()
    sizes = {n: [case["id"] for _, case in example.subset("dev", n, 0)] for n in (20, 40, 80, 160)}
    for small, large in ((20, 40), (40, 80), (80, 160)):
        assert set(sizes[small]) < set(sizes[large])
    assert sum(i.startswith("pharma") for i in sizes[20]) == 10 and len(sizes[160]) == 160
    assert sizes[20] != [case["id"] for _, case in example.subset("dev", 20, 1)]  # the seed picks the subset
    for bad in (0, 7, 10_000):
        with pytest.raises(SystemExit, match="--cases: expected an even number"):
            example.subset("dev", bad, 0)


def test_a_base_model_trains_on_the_plain_prompt(tiny_llama):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_llama)
    tokenizer.chat_template = None  # as the Gemma-3 base model's tokenizer
    example = load_example()
    ids, prompt_length = example.training_pairs(tokenizer, example.subset("dev", 2, 0))[0]
    prompt = tokenizer.decode(ids[:prompt_length], skip_special_tokens=True)
    assert prompt.rstrip().endswith("Answer:") and "<|im_start|>" not in tokenizer.decode(ids[:prompt_length])
    assert tokenizer.decode(ids[prompt_length:-1]).lstrip().startswith('{"title":')


@pytest.mark.slow
def test_adapter_and_merged_weights_agree(tiny_llama, tmp_path):
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    example = load_example()
    out = tmp_path / "lora"
    assert example.main(["--model", str(tiny_llama), "--out", str(out), "--limit", "4", "--merge", "--lr", "1e-2"]) == 0
    record = json.loads((out / "training.json").read_text())
    assert record["cases"] == 4 and record["split"] == "dev" and record["last_loss"] == record["last_loss"]
    assert len(record["case_ids"]) == 4 and record["case_ids"][0].startswith("pharma-")
    inputs = torch.tensor([[5, 6, 7, 8, 9]])
    base = AutoModelForCausalLM.from_pretrained(tiny_llama)
    with torch.no_grad():
        base_logits = base(inputs).logits
        adapted = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(tiny_llama), out / "adapter")(inputs).logits
        merged = AutoModelForCausalLM.from_pretrained(out / "merged")(inputs).logits
    assert not torch.allclose(base_logits, adapted, atol=1e-4)  # training changed the model
    assert torch.allclose(adapted, merged, atol=1e-4)
    assert example.main(["--model", str(tiny_llama), "--out", str(out)]) == 0  # already trained: kept, not redone
