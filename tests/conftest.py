import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

# Tests never reach a model or dataset hub.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

BIN = Path(sys.executable).parent

# `make test` runs two pytest-xdist workers on the two cores: each worker, and every process it starts,
# computes on one thread, so the workers do not fight over the cores.
if os.environ.get("PYTEST_XDIST_WORKER"):
    for variable in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[variable] = "1"

# Property tests: 1,000 examples per property (CI and `make test`); HYPOTHESIS_PROFILE=fast for a quick local run.
try:
    from hypothesis import HealthCheck, settings

    settings.register_profile("ci", max_examples=1000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    settings.register_profile("fast", max_examples=50, deadline=None)
    settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))
except ImportError:  # the vLLM venv runs only the vLLM tests
    pass
# A well-formed case as a user's file would hold it (no id or split).
SAMPLE_CASE = {
    "report_name": "Label roll swap on line 3",
    "what": "wrong label roll loaded on line 3",
    "when": "2024-01-10 00:30",
    "where": "Packaging line 3, Basel, Switzerland",
    "who": "Lea Meier (operator)",
    "how": "roll taken from the adjacent rack",
    "why": "racks not labelled",
    "contingency_actions": "line stopped, DEV-2024-0011 opened",
    "event_description": "On 2024-01-10 at 00:30 operator Lea Meier loaded the wrong label roll on Packaging line 3 "
    "in Basel, Switzerland, taking it from the adjacent rack because racks were not labelled; "
    "the line was stopped and DEV-2024-0011 opened.",
}
REPO = Path(__file__).resolve().parent.parent
TINY_CHAT_TEMPLATE = (
    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


def build_tiny_llama(folder: Path) -> Path:
    """A random 2-layer Llama with a byte-level BPE tokenizer trained on our own prompts."""
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    from reportbench.cases import select_cases
    from reportbench.prompts import METHODS, build_prompt

    corpus = [
        build_prompt(case, method, domain)
        for domain in ("pharma", "traffic")
        for case in select_cases(domain, "dev")
        for method in METHODS
    ]
    specials = ["<unk>", "<s>", "</s>", "<|im_start|>", "<|im_end|>"]
    tokenizer = Tokenizer(models.BPE(unk_token="<unk>"))
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=1500, special_tokens=specials, initial_alphabet=pre_tokenizers.ByteLevel.alphabet()
    )
    tokenizer.train_from_iterator(corpus, trainer)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tokenizer, bos_token="<s>", eos_token="</s>", unk_token="<unk>", pad_token="</s>"
    )
    fast.chat_template = TINY_CHAT_TEMPLATE
    fast.save_pretrained(folder)

    config = LlamaConfig(
        vocab_size=len(fast),
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=4096,
        bos_token_id=fast.bos_token_id,
        eos_token_id=fast.eos_token_id,
        pad_token_id=fast.pad_token_id,
    )
    torch.manual_seed(0)
    LlamaForCausalLM(config).save_pretrained(folder)
    return folder


def build_tiny_cross_encoder(folder: Path) -> Path:
    """A random 2-layer BERT with one output logit and a WordPiece vocabulary trained on our references."""
    import torch
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, trainers
    from transformers import BertConfig, BertForSequenceClassification, BertTokenizerFast

    from reportbench.cases import select_cases

    corpus = [c["event_description"] for d in ("pharma", "traffic") for c in select_cases(d, "dev")]
    wordpiece = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    wordpiece.normalizer = normalizers.BertNormalizer(lowercase=True)
    wordpiece.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    wordpiece.train_from_iterator(corpus, trainers.WordPieceTrainer(vocab_size=800, special_tokens=specials))
    folder.mkdir(parents=True, exist_ok=True)
    vocab = sorted(wordpiece.get_vocab().items(), key=lambda item: item[1])
    (folder / "vocab.txt").write_text("".join(token + "\n" for token, _ in vocab))
    tokenizer = BertTokenizerFast(vocab_file=str(folder / "vocab.txt"), model_max_length=128)
    tokenizer.save_pretrained(folder)
    config = BertConfig(
        vocab_size=len(vocab), hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
        intermediate_size=64, max_position_embeddings=128, num_labels=1,
    )
    torch.manual_seed(0)
    BertForSequenceClassification(config).save_pretrained(folder)
    return folder


@pytest.fixture(scope="session")
def tiny_cross_encoder(tmp_path_factory) -> Path:
    return build_tiny_cross_encoder(tmp_path_factory.mktemp("tiny-cross-encoder"))


@pytest.fixture(scope="session")
def tiny_llama(tmp_path_factory) -> Path:
    return build_tiny_llama(tmp_path_factory.mktemp("tiny-llama"))


def run_cli(args, cwd: Path, timeout: int = 900) -> subprocess.CompletedProcess:
    """Runs a console script of this venv (lm_eval, reportbench) as a user would."""
    return subprocess.run(
        [str(BIN / args[0]), *args[1:]],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"},
    )


def stop_grid_after(config: Path, output: Path, cells: int, sig: int = signal.SIGKILL, timeout: int = 600) -> tuple[int, int, str, float, list[int]]:
    """Starts `reportbench grid CONFIG --output OUTPUT`, sends it SIG once CELLS cells are finished (or
    after TIMEOUT seconds) and waits for it (at most 60 s after the signal).

    Returns (cells finished by then, exit status, stderr, seconds from the signal to the exit, the
    processes it had started, e.g. an engine's workers, that are still alive after it exited; those
    are then killed, so a SIGKILL test leaves nothing running)."""
    import tempfile

    import psutil

    with tempfile.TemporaryFile("w+") as log:  # a file, not a pipe: orphaned engine processes would hold a pipe open
        process = subprocess.Popen([str(BIN / "reportbench"), "grid", str(config), "--output", str(output)],
                                   stdout=subprocess.DEVNULL, stderr=log, text=True,
                                   env={**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"})
        deadline = time.time() + timeout
        children: list = []
        while time.time() < deadline and len(list(output.rglob("cell.json"))) < cells and process.poll() is None:
            with contextlib.suppress(psutil.Error):
                children = psutil.Process(process.pid).children(recursive=True) or children
            time.sleep(0.2)
        process.send_signal(sig)
        sent = time.time()
        process.wait(timeout=60)
        seconds = time.time() - sent
        survivors = [c for c in children if c.is_running() and c.status() != psutil.STATUS_ZOMBIE]
        for child in survivors:
            child.kill()
        log.seek(0)
        stderr = log.read()
    return len(list(output.rglob("cell.json"))), process.returncode, stderr, seconds, [c.pid for c in survivors]


def kill_grid_after(config: Path, output: Path, cells: int, timeout: int = 600) -> int:
    """SIGKILL once CELLS cells are finished; returns how many cells were finished by then."""
    return stop_grid_after(config, output, cells, signal.SIGKILL, timeout)[0]


def read_results(output_path: Path) -> tuple[dict, dict[str, list[dict]]]:
    """The single results JSON under an lm_eval --output_path, and its samples by task."""
    from reportbench.records import LmEvalOutput

    (output,) = LmEvalOutput.find(output_path)
    results = json.loads(output.results.read_text())
    samples = {
        task: [json.loads(line) for line in path.read_text().splitlines()]
        for task, path in output.samples_files(results["configs"]).items()
    }
    return results, samples


def write_jsonl(path: Path, rows) -> Path:
    path.write_text("".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows), encoding="utf-8")
    return path
