"""LoRA fine-tuning of a causal LM on reportbench's dev cases: a checkpoint to compare with its base.

The test split is never seen. Each dev case is trained once per epoch, under one of the prompts
A-D in turn, with the reference title and report as the JSON answer; the loss covers the answer
tokens only. A model with a chat template is trained on its chat form (as `apply_chat_template:
true` does in lm-eval); a base model without one (gemma3-270m) on the plain prompt, which ends
with "Answer:", as lm-eval prompts it with `apply_chat_template: false`.

--cases N trains on N dev cases, half from each domain: the first N/2 of each domain in a fixed
seeded order (--subset-seed), so the subsets of a learning curve are nested (20 in 40 in 80 in
160). Writes OUT/adapter (PEFT), OUT/training.json (settings, the case ids, losses) and, with
--merge, OUT/merged (weights merged, for backends such as vLLM on CPU that take a plain checkpoint).

    .venv/bin/python examples/finetune_lora.py --model smollm2-135m --out runs/finetune/smollm2-135m-lora --merge
    .venv/bin/python examples/finetune_lora.py --model smollm2-135m --cases 40 --out runs/finetune/smollm2-135m-lora-40 --merge
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from pathlib import Path

import torch
from tqdm import tqdm

from reportbench.answer import example_answer
from reportbench.cases import DOMAINS, select_cases, split_rank
from reportbench.metrics.models import EMBEDDED_MODELS, model_path
from reportbench.prompts import METHODS, build_prompt

LORA_TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]


def subset(split: str, cases: int | None, seed: int) -> list[tuple[str, dict]]:
    """(domain, case) to train on: all of ``split``, or ``cases`` of them, half per domain, nested across sizes."""
    per_domain = {domain: select_cases(domain, split) for domain in DOMAINS}
    if cases is None:
        return [(domain, case) for domain in DOMAINS for case in per_domain[domain]]
    available = min(len(rows) for rows in per_domain.values()) * len(DOMAINS)
    if cases % len(DOMAINS) or not 0 < cases <= available:
        raise SystemExit(f"--cases: expected an even number from 2 to {available}, got {cases}")
    chosen = []
    for domain in DOMAINS:
        ordered = sorted(per_domain[domain], key=lambda case: split_rank(f"{seed}:{case['id']}"))
        keep = {case["id"] for case in ordered[: cases // len(DOMAINS)]}
        chosen += [(domain, case) for case in per_domain[domain] if case["id"] in keep]  # file order, as without --cases
    return chosen


def training_pairs(tokenizer, chosen: list[tuple[str, dict]]) -> list[tuple[list[int], int]]:
    """(token ids, length of the prompt part) per case; prompts A-D take turns within each domain."""
    pairs = []
    turn = dict.fromkeys(DOMAINS, 0)
    for domain, case in chosen:
        method = METHODS[turn[domain] % len(METHODS)]
        turn[domain] += 1
        text = build_prompt(case, method, domain)
        if tokenizer.chat_template:
            prompt = tokenizer.apply_chat_template([{"role": "user", "content": text}], tokenize=False, add_generation_prompt=True)
            prompt_ids = tokenizer(prompt, add_special_tokens=False)["input_ids"]
        else:  # a base model: the plain prompt with the tokenizer's own BOS, as lm-eval encodes it
            prompt_ids = tokenizer(text, add_special_tokens=True)["input_ids"]
        answer = (" " if not tokenizer.chat_template else "") + example_answer(case["report_name"], case["event_description"])
        answer_ids = tokenizer(answer, add_special_tokens=False)["input_ids"] + [tokenizer.eos_token_id]
        pairs.append((prompt_ids + answer_ids, len(prompt_ids)))
    return pairs


def train(args) -> Path:
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM, AutoTokenizer

    random.seed(args.seed)
    torch.manual_seed(args.seed)
    source = str(model_path(args.model)) if args.model in EMBEDDED_MODELS else args.model
    tokenizer = AutoTokenizer.from_pretrained(source)
    model = AutoModelForCausalLM.from_pretrained(source, torch_dtype=torch.float32)
    lora = LoraConfig(r=args.rank, lora_alpha=2 * args.rank, lora_dropout=0.05, target_modules=LORA_TARGETS, task_type="CAUSAL_LM")
    model = get_peft_model(model, lora)
    chosen = subset(args.split, args.cases, args.subset_seed)
    pairs = training_pairs(tokenizer, chosen)
    if args.limit:
        pairs = pairs[: args.limit]
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=args.lr)
    steps = args.epochs * len(pairs)
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: max(0.0, 1 - step / max(steps // args.accumulate, 1)))
    model.train()
    losses = []
    progress = tqdm(total=steps, desc="lora fine-tuning", unit="case")
    for epoch in range(args.epochs):
        order = list(range(len(pairs)))
        random.shuffle(order)
        for position, index in enumerate(order, 1):
            ids, prompt_length = pairs[index]
            input_ids = torch.tensor([ids])
            labels = input_ids.clone()
            labels[0, :prompt_length] = -100  # learn the answer, not the prompt
            loss = model(input_ids=input_ids, labels=labels).loss
            (loss / args.accumulate).backward()
            if position % args.accumulate == 0 or position == len(order):
                optimizer.step()
                schedule.step()
                optimizer.zero_grad()
            losses.append(float(loss.detach()))
            progress.update()
            progress.set_postfix(epoch=epoch + 1, loss=f"{sum(losses[-20:]) / len(losses[-20:]):.3f}")
    progress.close()
    out = Path(args.out)
    window = max(1, min(20, len(losses) // 4))
    model.save_pretrained(out / "adapter")
    tokenizer.save_pretrained(out / "adapter")
    record = {"base": args.model if args.model in EMBEDDED_MODELS else source, "split": args.split, "cases": len(pairs),
              "subset_seed": args.subset_seed if args.cases else None,
              "case_ids": [case["id"] for _, case in chosen][: len(pairs)], "epochs": args.epochs, "lr": args.lr,
              "rank": args.rank, "accumulate": args.accumulate, "seed": args.seed,
              # mean loss over the first and the last quarter of the steps (at most 20 each)
              "first_loss": sum(losses[:window]) / window, "last_loss": sum(losses[-window:]) / window}
    if args.merge:
        merged = model.merge_and_unload()
        merged.save_pretrained(out / "merged")
        tokenizer.save_pretrained(out / "merged")
    (out / "training.json").write_text(json.dumps(record, indent=2) + "\n")
    print(json.dumps(record, indent=2))
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="smollm2-135m", help="embedded alias, local folder or hub id")
    parser.add_argument("--out", required=True, help="folder for adapter/, merged/ and training.json")
    parser.add_argument("--split", default="dev", choices=["dev"], help="training cases (never the test split)")
    parser.add_argument("--cases", type=int, help="train on N dev cases, N/2 per domain (nested across sizes); default all")
    parser.add_argument("--subset-seed", type=int, default=0, help="the order --cases takes its cases in")
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--lr", type=float, default=3e-4)
    parser.add_argument("--rank", type=int, default=8)
    parser.add_argument("--accumulate", type=int, default=2, help="cases per optimiser step")
    parser.add_argument("--limit", type=int, help="train on the first N pairs only (smoke tests)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--merge", action="store_true", help="also write the merged weights to OUT/merged")
    args = parser.parse_args(argv)
    if (Path(args.out) / "training.json").is_file():
        print(f"{args.out}: already trained (training.json exists); delete the folder to train again")
        return 0
    train(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
