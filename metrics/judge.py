"""LLM-as-judge metrics: a rubric judge that reads the seven key fields and the generated report.

Off by default; naming a judge model switches them on (metric options `judge_model`,
`judge_backend` hf|vllm, `judge_model_args`). Per sample the judge grades four criteria from 1
to 5 (`judge_rubric.yaml`: faithfulness, completeness, no_invention, form); `judge_overall` is
their mean.

- **Prompt and rubric**: one versioned file; its sha256 is part of every cache key, log line and
  `metrics describe`.
- **Answer**: constrained to a JSON object with one integer 1-5 per criterion (xgrammar on hf,
  vLLM's structured outputs on vllm), greedy. Where the engine returns the distribution over the
  score tokens, a criterion's score is the probability-weighted mean over 1-5 (as G-Eval does);
  else the integer it wrote. An answer that cannot be read is a missing value (NaN here; absent
  from lm-eval's per-sample metrics) with its reason in the log, never a number.
- **Cost**: all samples of a task (or grid cell) go to the judge in one batched call; answers are
  cached on disk by (judge model, backend, model args, rubric sha256, prompt, token budget), so
  re-scoring saved outputs makes no new calls. Every judged sample is appended to a journal that
  the harness writes beside the samples (`take_journal`).
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import sqlite3
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from functools import cache, lru_cache
from pathlib import Path

from reportbench.metrics.base import FIELDS, MODEL, Metric, MetricUnavailable, ScoringInput
from reportbench.metrics.schema import KEY_FIELDS

RUBRIC_FILE = Path(__file__).resolve().parent / "judge_rubric.yaml"
FIELD_LABELS = {"what": "What", "when": "When", "where": "Where", "who": "Who", "how": "How", "why": "Why",
                "contingency_actions": "Contingency actions"}
PREFIX = "judge_"
OFF_HINT = "set the metric option judge_model (e.g. --judge-model smollm2-135m)"


# ---------------------------------------------------------------- rubric and prompt

@dataclass(frozen=True)
class Rubric:
    version: int
    scale: tuple[int, int]
    system: str
    criteria: tuple[tuple[str, str], ...]  # (name, what a grader checks), in answer order
    user: str
    sha256: str

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(name for name, _ in self.criteria)

    @property
    def levels(self) -> tuple[int, ...]:
        return tuple(range(self.scale[0], self.scale[1] + 1))

    def answer_schema(self) -> dict:
        """The judge's answer: exactly one integer on the scale per criterion, in rubric order."""
        return {"type": "object", "additionalProperties": False, "required": list(self.names),
                "properties": {name: {"type": "integer", "enum": list(self.levels)} for name in self.names}}

    def answer_template(self) -> str:
        return "{" + ", ".join(f'"{name}": n' for name in self.names) + "}"

    def messages(self, sample: ScoringInput) -> list[dict]:
        fields = "\n".join(f"- {FIELD_LABELS[k]}: {sample.fields.get(k, '').strip() or '(empty)'}" for k in KEY_FIELDS)
        criteria = "\n".join(f"- {name}: {text}" for name, text in self.criteria)
        user = self.user.format(fields=fields, title=sample.predicted_title.strip() or "(no title)",
                                report=sample.prediction.strip() or "(empty)", criteria=criteria,
                                answer_template=self.answer_template())
        return [{"role": "system", "content": self.system}, {"role": "user", "content": user}]


class RubricError(ValueError):
    pass


@cache
def load_rubric(path: str | Path = RUBRIC_FILE) -> Rubric:
    import yaml

    path = Path(path)
    raw = path.read_bytes()
    data = yaml.safe_load(raw)
    for key in ("version", "scale", "system", "criteria", "user"):
        if key not in (data or {}):
            raise RubricError(f"{path}: field '{key}': missing")
    low, high = data["scale"]
    for placeholder in ("{fields}", "{report}", "{criteria}", "{answer_template}"):
        if placeholder not in data["user"]:
            raise RubricError(f"{path}: field 'user': the prompt must contain {placeholder}")
    if not 1 <= low < high <= 9:
        raise RubricError(f"{path}: field 'scale': single digits, low < high, got {data['scale']}")
    return Rubric(int(data["version"]), (int(low), int(high)), data["system"].strip(),
                  tuple((str(k), str(v).strip()) for k, v in data["criteria"].items()), data["user"],
                  hashlib.sha256(raw).hexdigest())


# ---------------------------------------------------------------- reading answers

@dataclass(frozen=True)
class EngineAnswer:
    """What an engine returns for one prompt: the text, and where it can, per score written the
    probabilities of the scale's levels at that token (in the order the scores were written)."""

    text: str
    level_probabilities: tuple[dict[int, float], ...] | None = None


@dataclass
class Judgement:
    scores: dict[str, float] | None  # None: missing
    reason: str = ""  # why scores are missing
    integers: dict[str, int] = field(default_factory=dict)
    weighted: bool = False  # probability-weighted means, not the written integers


_LENIENT = r'["\']?{name}["\']?\s*[:=]\s*["\']?(\d)'


def read_answer(answer: EngineAnswer, rubric: Rubric) -> Judgement:
    """Strict JSON first, then a lenient search for `name: digit`; missing (with the reason) when a
    criterion has no score on the scale. Probabilities are used when there is one distribution per
    criterion, in order."""
    text = answer.text.strip()
    integers: dict[str, int] = {}
    start, end = text.find("{"), text.rfind("}")
    if start >= 0 and end > start:
        try:
            parsed = json.loads(text[start:end + 1])
            if isinstance(parsed, dict):
                integers = {k: v for k, v in parsed.items() if k in rubric.names and isinstance(v, int) and not isinstance(v, bool)}
        except json.JSONDecodeError:
            pass
    for name in rubric.names:
        if name not in integers:
            found = re.search(_LENIENT.format(name=re.escape(name)), text)
            if found:
                integers[name] = int(found.group(1))
    absent = [n for n in rubric.names if n not in integers]
    off_scale = [n for n in rubric.names if n in integers and integers[n] not in rubric.levels]
    if absent or off_scale:
        parts = ([f"no score for {', '.join(absent)}"] if absent else []) + \
                ([f"off the {rubric.scale[0]}-{rubric.scale[1]} scale: {', '.join(off_scale)}"] if off_scale else [])
        return Judgement(None, "; ".join(parts) + f" in the answer {text[:120]!r}", integers)
    probabilities = answer.level_probabilities
    if probabilities is not None and len(probabilities) == len(rubric.names) and all(sum(p.values()) > 0 for p in probabilities):
        scores = {name: sum(level * p for level, p in dist.items()) / sum(dist.values())
                  for name, dist in zip(rubric.names, probabilities)}
        return Judgement(scores, "", integers, weighted=True)
    return Judgement({name: float(integers[name]) for name in rubric.names}, "", integers)


# ---------------------------------------------------------------- engines

def parse_model_args(text: str | None) -> dict:
    """`judge_model_args`: a JSON object or lm-eval's `key=value,key=value` (values read as JSON when they parse)."""
    if not text:
        return {}
    text = text.strip()
    if text.startswith("{"):
        try:
            value = json.loads(text)
        except json.JSONDecodeError as err:
            raise MetricUnavailable(f"judge_model_args: not a JSON object: {err}") from None
        if not isinstance(value, dict):
            raise MetricUnavailable("judge_model_args: expected a JSON object")
        return value
    args = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        key, sep, raw = part.partition("=")
        if not sep or not key.strip():
            raise MetricUnavailable(f"judge_model_args: expected key=value, got {part!r}")
        try:
            args[key.strip()] = json.loads(raw)
        except json.JSONDecodeError:
            args[key.strip()] = raw.strip()
    return args


def resolve_judge_model(name: str) -> str:
    """An embedded generation model alias (e.g. smollm2-135m) becomes its local folder."""
    from reportbench.metrics.models import EMBEDDED_MODELS, ModelNotAvailable, model_path

    if name in EMBEDDED_MODELS:
        try:
            return str(model_path(name))
        except ModelNotAvailable as err:
            raise MetricUnavailable(str(err)) from None
    return name


class HFJudge:
    """transformers generate(), greedy, with an xgrammar JSON-schema logits processor; the processed
    scores at each written score token give the distribution over the levels."""

    def __init__(self, path: str, model_args: Mapping, batch_size: int, device: str):
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        args = dict(model_args)
        dtype = args.pop("dtype", args.pop("torch_dtype", "float32"))
        self.device = args.pop("device", device)
        self.batch_size = int(args.pop("batch_size", batch_size))
        self.tokenizer = AutoTokenizer.from_pretrained(path)
        self.tokenizer.padding_side = "left"
        if self.tokenizer.pad_token is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        self.model = AutoModelForCausalLM.from_pretrained(path, dtype=getattr(torch, dtype) if isinstance(dtype, str) else dtype, **args)
        self.model.to(self.device).eval()
        self.vocab_size = self.model.get_output_embeddings().weight.shape[0]
        self._grammars: dict[str, object] = {}

    def _prompt(self, messages: list[dict]) -> str:
        if self.tokenizer.chat_template:
            return self.tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        return "\n\n".join(m["content"] for m in messages) + "\n\n"

    def generate(self, prompts: Sequence[list[dict]], schema: dict, max_tokens: int, levels: Sequence[int]) -> list[EngineAnswer]:
        import torch
        import xgrammar.contrib.hf
        from tqdm import tqdm
        from transformers import LogitsProcessorList

        grammar = self._grammar(json.dumps(schema))  # key order kept: it is the order the judge writes them in
        level_of = _level_tokens(self.tokenizer, tuple(levels))
        answers: list[EngineAnswer] = []
        progress = tqdm(total=len(prompts), desc="LLM judge", unit="answer", disable=len(prompts) <= self.batch_size)
        for start in range(0, len(prompts), self.batch_size):
            texts = [self._prompt(m) for m in prompts[start:start + self.batch_size]]
            encoded = self.tokenizer(texts, return_tensors="pt", padding=True, add_special_tokens=False).to(self.device)
            with torch.no_grad():
                out = self.model.generate(
                    **encoded, do_sample=False, max_new_tokens=max_tokens, output_scores=True, return_dict_in_generate=True,
                    logits_processor=LogitsProcessorList([xgrammar.contrib.hf.LogitsProcessor(grammar)]),
                    pad_token_id=self.tokenizer.pad_token_id)
            generated = out.sequences[:, encoded["input_ids"].shape[1]:]
            for row in range(generated.shape[0]):
                ids = [int(t) for t in generated[row] if int(t) != self.tokenizer.pad_token_id]
                distributions = []
                for step, token in enumerate(ids):
                    if token in level_of:
                        probs = torch.softmax(out.scores[step][row].float(), dim=-1)
                        dist: dict[int, float] = {}
                        for tid, level in level_of.items():
                            dist[level] = dist.get(level, 0.0) + float(probs[tid])
                        distributions.append(dist)
                answers.append(EngineAnswer(self.tokenizer.decode(ids, skip_special_tokens=True), tuple(distributions)))
            progress.update(generated.shape[0])
        progress.close()
        return answers

    def _grammar(self, schema_json: str):
        """The compiled JSON-schema grammar, once per schema for the life of the engine (every task asks again)."""
        import xgrammar

        if schema_json not in self._grammars:
            info = xgrammar.TokenizerInfo.from_huggingface(self.tokenizer, vocab_size=self.vocab_size)
            self._grammars[schema_json] = xgrammar.GrammarCompiler(info).compile_json_schema(schema_json, any_whitespace=False)
        return self._grammars[schema_json]


def level_of_token(text: str | None, levels: Sequence[int]) -> int | None:
    """The level a token writes: its text (spaces aside) starts with one level digit not followed by
    another digit, e.g. '4', ' 4' or '4,' (tokenizers merge a score with the comma after it)."""
    text = (text or "").strip()
    digits = "0123456789"  # not str.isdigit, which also takes '²' and other digit-like characters
    if not text or text[0] not in digits or (len(text) > 1 and text[1] in digits):
        return None
    return int(text[0]) if int(text[0]) in levels else None


@lru_cache(maxsize=8)
def _level_tokens(tokenizer, levels: tuple[int, ...]) -> dict[int, int]:
    """Token id -> level, for every token that writes a level (level_of_token)."""
    found = {}
    for token_id in range(len(tokenizer)):
        level = level_of_token(tokenizer.decode([token_id]), levels)
        if level is not None:
            found[token_id] = level
    return found


class VLLMJudge:
    """vLLM's chat(), greedy, with structured outputs (json schema) and the top logprobs of every
    written token; the logprobs of the level digits at each score token give the distribution."""

    TOP_LOGPROBS = 20

    def __init__(self, path: str, model_args: Mapping, batch_size: int, device: str):
        from vllm import LLM

        args = {"structured_outputs_config": {"backend": "guidance", "disable_any_whitespace": True}, **model_args}
        self.llm = LLM(model=path, **args)

    def generate(self, prompts: Sequence[list[dict]], schema: dict, max_tokens: int, levels: Sequence[int]) -> list[EngineAnswer]:
        from vllm import SamplingParams
        from vllm.sampling_params import StructuredOutputsParams

        params = SamplingParams(temperature=0.0, max_tokens=max_tokens, logprobs=self.TOP_LOGPROBS,
                                structured_outputs=StructuredOutputsParams(json=schema))
        answers = []
        for result in self.llm.chat(list(prompts), params, use_tqdm=False):
            completion = result.outputs[0]
            distributions = []
            for token_id, top in zip(completion.token_ids, completion.logprobs or []):
                chosen = top.get(token_id)
                if chosen is not None and level_of_token(chosen.decoded_token, levels) is not None:
                    dist: dict[int, float] = {}
                    for entry in top.values():
                        level = level_of_token(entry.decoded_token, levels)
                        if level is not None:
                            dist[level] = dist.get(level, 0.0) + math.exp(entry.logprob)
                    distributions.append(dist)
            answers.append(EngineAnswer(completion.text, tuple(distributions) if completion.logprobs else None))
        return answers


ENGINES = {"hf": HFJudge, "vllm": VLLMJudge}
BACKENDS = tuple(ENGINES)  # the judge_backend values


@cache
def _engine(backend: str, path: str, model_args_json: str, batch_size: int, device: str):
    try:
        return ENGINES[backend](path, json.loads(model_args_json), batch_size, device)
    except MetricUnavailable:
        raise
    except Exception as err:  # a judge that cannot load makes the judge metrics unavailable, never the run
        detail = str(err).splitlines()[0][:200] if str(err) else ""
        raise MetricUnavailable(f"cannot load judge model '{path}' with backend {backend}: {type(err).__name__}: {detail}") from err


# ---------------------------------------------------------------- cache and journal

class JudgeCache:
    """sqlite file of raw answers by key; safe for several processes (sqlite's own locking)."""

    def __init__(self, path: Path):
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._db = sqlite3.connect(str(path), timeout=60)
        self._db.execute("CREATE TABLE IF NOT EXISTS answers (key TEXT PRIMARY KEY, answer TEXT NOT NULL)")
        self._db.commit()

    def get_many(self, keys: Sequence[str]) -> dict[str, EngineAnswer]:
        found = {}
        for start in range(0, len(keys), 500):
            chunk = list(keys[start:start + 500])
            rows = self._db.execute(f"SELECT key, answer FROM answers WHERE key IN ({','.join('?' * len(chunk))})", chunk)
            for key, answer in rows:
                data = json.loads(answer)
                probabilities = data.get("level_probabilities")
                found[key] = EngineAnswer(data["text"], None if probabilities is None else
                                          tuple({int(k): v for k, v in d.items()} for d in probabilities))
        return found

    def put_many(self, items: Mapping[str, EngineAnswer]) -> None:
        rows = [(key, json.dumps({"text": a.text, "level_probabilities": None if a.level_probabilities is None
                                  else [{str(k): v for k, v in d.items()} for d in a.level_probabilities]}))
                for key, a in items.items()]
        with self._db:
            self._db.executemany("INSERT OR REPLACE INTO answers (key, answer) VALUES (?, ?)", rows)


def cache_path(options) -> Path | None:
    if options.judge_cache == "off":
        return None
    if options.judge_cache:
        return Path(options.judge_cache).expanduser()
    from reportbench.metrics.cached_build import cache_root

    return cache_root() / "judge-cache.sqlite"


_journal: list[dict] = []


def take_journal() -> list[dict]:
    """The judge log lines written since the last call (one per judged sample), and forgets them."""
    lines = list(_journal)
    _journal.clear()
    return lines


def journal_mark() -> int:
    return len(_journal)


def tag_journal(mark: int, ids: Sequence[str], **tags) -> None:
    """Names the samples of the lines written since ``mark`` (``ids`` in the order they were scored) and adds ``tags``."""
    for line in _journal[mark:]:
        line.update(tags, id=ids[line["index"]] if line["index"] < len(ids) else None)


def journal_counts(lines: Sequence[Mapping]) -> dict:
    """Samples judged, new judge calls, cache hits, missing scores and seconds spent in the engine."""
    calls = sum(1 for line in lines if not line["cached"])
    return {"samples": len(lines), "calls": calls, "cache_hits": len(lines) - calls,
            "missing": sum(1 for line in lines if line["scores"] is None),
            "seconds": round(sum(line["seconds_per_call"] for line in lines), 3)}


def journal_summary(lines: Sequence[Mapping]) -> str:
    c = journal_counts(lines)
    return f"{c['samples']} judged, {c['calls']} judge calls, {c['cache_hits']} cache hits, {c['missing']} missing"


# ---------------------------------------------------------------- scoring

def judge_identity(options) -> dict:
    rubric = load_rubric()
    return {"judge_model": options.judge_model, "judge_backend": options.judge_backend,
            "judge_model_args": parse_model_args(options.judge_model_args), "judge_max_tokens": options.judge_max_tokens,
            "rubric_version": rubric.version, "rubric_sha256": rubric.sha256}


def _key(identity: Mapping, messages: list[dict]) -> str:
    return hashlib.sha256(json.dumps([identity, messages], sort_keys=True, ensure_ascii=False).encode("utf-8")).hexdigest()


def judge_samples(samples: Sequence[ScoringInput], options) -> list[Judgement]:
    """Judges every sample: cached answers first, then one batched engine call for the rest."""
    if not options.judge_model:
        raise MetricUnavailable(f"no judge model: {OFF_HINT}")
    rubric = load_rubric()
    identity = judge_identity(options)
    prompts = [rubric.messages(s) for s in samples]
    keys = [_key(identity, m) for m in prompts]
    store_path = cache_path(options)
    store = JudgeCache(store_path) if store_path else None
    answers = store.get_many(keys) if store else {}
    cached = set(answers)
    todo = list(dict.fromkeys(k for k in keys if k not in answers))
    seconds = 0.0
    if todo:
        engine = _engine(options.judge_backend, resolve_judge_model(options.judge_model),
                         json.dumps(identity["judge_model_args"], sort_keys=True), options.metric_batch_size, options.metric_device)
        first = {k: prompts[keys.index(k)] for k in todo}
        started = time.perf_counter()
        fresh = engine.generate(list(first.values()), rubric.answer_schema(), options.judge_max_tokens, rubric.levels)
        seconds = time.perf_counter() - started
        answers.update(zip(first, fresh))
        if store:
            store.put_many(dict(zip(first, fresh)))
    judgements = []
    for index, (messages, key) in enumerate(zip(prompts, keys)):
        judgement = read_answer(answers[key], rubric)
        judgements.append(judgement)
        _journal.append({"index": index, **identity, "cache_key": key, "cached": key in cached, "messages": messages,
                         "answer": answers[key].text,
                         "level_probabilities": None if answers[key].level_probabilities is None
                         else [{str(k): round(v, 6) for k, v in d.items()} for d in answers[key].level_probabilities],
                         "scores": judgement.scores, "weighted": judgement.weighted, "missing_reason": judgement.reason or None,
                         "seconds_per_call": round(seconds / len(todo), 4) if todo and key in todo else 0.0})
    return judgements


@lru_cache(maxsize=8)
def _judged(samples: tuple[ScoringInput, ...], options) -> tuple[Judgement, ...]:
    """One judge pass per (samples, options), shared by the five judge metrics."""
    return tuple(judge_samples([replace(s, fields=dict(s.fields)) for s in samples], options))


def _hashable(samples: Sequence[ScoringInput]) -> tuple:
    return tuple(replace(s, fields=tuple(sorted(s.fields.items()))) for s in samples)


def _criterion(name: str):
    def scores(samples: Sequence[ScoringInput], options) -> list[float]:
        judged = _judged(_hashable(samples), options)
        return [math.nan if j.scores is None else (sum(j.scores.values()) / len(j.scores) if name == "overall" else j.scores[name])
                for j in judged]
    return scores


def _settings(options) -> dict:
    rubric = load_rubric()
    return {"judge_model": options.judge_model, "judge_backend": options.judge_backend,
            "judge_model_args": options.judge_model_args, "judge_max_tokens": options.judge_max_tokens,
            "rubric_file": RUBRIC_FILE.name, "rubric_version": rubric.version, "rubric_sha256": rubric.sha256,
            "criteria": dict(rubric.criteria), "scale": list(rubric.scale), "decoding": "greedy",
            "answer": "JSON object, one integer per criterion (constrained: xgrammar on hf, structured outputs on vllm)",
            "score": "probability-weighted mean over the scale's digit tokens where the engine gives them, else the integer",
            "cache": str(cache_path(options) or "off")}


_DESCRIPTIONS = {
    "faithfulness": "LLM judge, 1-5: every statement agrees with the key fields",
    "completeness": "LLM judge, 1-5: every key field is covered",
    "no_invention": "LLM judge, 1-5: nothing added that the key fields do not state",
    "form": "LLM judge, 1-5: one professional paragraph with a fitting title",
    "overall": "LLM judge: mean of the four criteria",
}

# judge_form checks form, not content, so the metric-validity audit (which damages content) leaves it out.
JUDGE_METRICS = tuple(
    Metric(f"{PREFIX}{name}", description, True, batch_fn=_criterion(name), needs=frozenset({FIELDS, MODEL}),
           settings=_settings, form=name == "form", switched_on_by=lambda options: bool(options.judge_model), off_hint=OFF_HINT)
    for name, description in _DESCRIPTIONS.items()
)
