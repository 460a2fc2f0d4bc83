"""Controlled damage to a report: one wrong fact, one omission, one invention, one reversal.

Each damage class edits exactly one thing in a report and says what it changed; the controls
change the wording without changing the meaning. The metric-validity audit
(`reportbench metrics audit`) pairs clean candidates with their damaged copies, and the
fact-aware cross-encoder is trained on the same damage applied to dev-split cases.

Everything is deterministic given a `random.Random`; a class that has nothing to edit in a
report (no time in it, only one person named) returns None and is counted as not applicable.
"""

from __future__ import annotations

import calendar
import random
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property, lru_cache

from reportbench.metrics.facts import NUMBER_WORDS, UNIT_WORDS, fact_spans, person_names

# class -> what it does; the order is the order of every audit table.
DAMAGE_CLASSES: dict[str, str] = {
    "date": "one date changed (day moved by 1-9)",
    "time": "one time changed (minutes or hour moved)",
    "number": "one number or quantity changed",
    "id": "one digit of one reference ID changed (batch, deviation, CAPA, equipment, police reference, plate)",
    "name": "one person replaced by a person from another case",
    "place": "one part of the place (site, room, road, town, country) replaced by another case's",
    "swap": "two people swapped: who did what is reversed",
    "omission": "one clause or sentence carrying a key fact deleted",
    "invented": "one sentence with a fact the key fields do not support inserted",
    "negation": "one statement negated or reversed (quarantined -> released, before -> after, not inserted)",
    "other_case": "another case's reference report of the same domain",
}
ONE_FACT_CLASSES = ("date", "time", "number", "id", "name", "place")
# Meaning-preserving edits: a metric must score these above every damaged copy.
CONTROL_CLASSES: dict[str, str] = {
    "date_time_format": "dates and times rewritten in another format (2025-02-11 -> 11 February 2025, 09:25 -> 9:25 am)",
    "number_format": "numbers and units spelled differently (1,260 -> 1260, 3 -> three, 12% -> 12 per cent, kg -> kilograms)",
    "sentence_order": "two sentences swapped where neither refers back to the other",
}


@dataclass(frozen=True)
class Edit:
    kind: str  # a damage or control class
    text: str
    change: str  # what was changed, "old -> new"


class CaseContext:
    """A case plus the pools other cases lend to damage (names, places, reports)."""

    def __init__(self, case: Mapping[str, str], others: Sequence[Mapping[str, str]]):
        self.case = case
        self.others = [o for o in others if o.get("id") != case.get("id")]

    @cached_property
    def names(self) -> list[str]:
        return person_names(self.case.get("who", ""))

    @cached_property
    def other_names(self) -> list[str]:
        own = set(self.names)
        return sorted({n for o in self.others for n in _names_of(o.get("who", "")) if n not in own})

    @cached_property
    def places(self) -> list[list[str]]:
        return [place_parts(o.get("where", "")) for o in self.others]


@lru_cache(maxsize=4096)
def _names_of(who: str) -> tuple[str, ...]:
    return tuple(person_names(who))


def place_parts(where: str) -> list[str]:
    return [part.strip() for part in where.split(",") if part.strip()]


# ---------------------------------------------------------------- sentences and clauses

_ABBREVIATIONS = {"dr", "ref", "const", "mr", "mrs", "ms", "pc", "no", "st", "az", "sgt", "insp", "det", "prof", "nr",
                  "approx", "ca", "vs", "e.g", "i.e", "co", "ltd", "inc", "jr", "sr", "mt", "ave", "rd", "km", "art", "sec"}
_ANAPHORA = re.compile(r"^(?:It|Its|This|These|Those|That|He|She|They|His|Her|Their|Them|There|Then|After|Afterwards|"
                       r"Later|Meanwhile|Both|The same|Subsequently|However|As a result|Consequently|Following|Once)\b")


def sentences(text: str) -> list[str]:
    """Sentences of a report; "Dr." and "Ref." do not end one."""
    pieces = re.split(r"(?<=[.!?])\s+(?=[A-Z0-9(\"'])", text.strip())
    merged: list[str] = []
    for piece in pieces:
        if merged:
            last_word = re.findall(r"([\w.]+)\.$", merged[-1])
            if last_word and (last_word[0].lower() in _ABBREVIATIONS or (len(last_word[0]) == 1 and last_word[0].isalpha())):
                merged[-1] = f"{merged[-1]} {piece}"
                continue
        merged.append(piece)
    return merged


def _join(parts: Sequence[str]) -> str:
    return " ".join(p.strip() for p in parts if p.strip())


def _replace_span(text: str, start: int, end: int, new: str) -> str:
    return text[:start] + new + text[end:]


def _spans(text: str, kinds: set[str]) -> list[tuple[int, int]]:
    return [(start, end) for kind, start, end in fact_spans(text) if kind in kinds]


# ---------------------------------------------------------------- one-fact changes

_MONTH_NAMES = list(calendar.month_name)[1:]


def _shift_day(day: int, rng: random.Random, limit: int = 28) -> int:
    choices = [d for d in range(1, limit + 1) if 1 <= abs(d - day) <= 9]
    return rng.choice(choices)


def _change_date(old: str, rng: random.Random) -> str:
    iso = re.fullmatch(r"(\d{4})-(\d{2})-(\d{2})", old)
    if iso:
        return f"{iso.group(1)}-{iso.group(2)}-{_shift_day(int(iso.group(3)), rng):02d}"
    day = re.search(r"\b(\d{1,2})(?=(?:st|nd|rd|th)?\b(?![./]\d{4}))", old)
    if day is None:
        day = re.search(r"\d{1,2}", old)
    new_day = _shift_day(int(day.group()), rng)
    width = len(day.group())
    return old[:day.start()] + (f"{new_day:0{width}d}" if width == 2 and day.group().startswith("0") else str(new_day)) + old[day.end():]


def _change_time(old: str, rng: random.Random) -> str:
    match = re.match(r"(\d{1,2}):(\d{2})(.*)", old)
    hour, minute, rest = int(match.group(1)), int(match.group(2)), match.group(3)
    if rng.random() < 0.5:
        new_minute = rng.choice([m for m in range(0, 60, 5) if m != minute and abs(m - minute) >= 5])
        new_hour = hour
    else:
        new_minute = minute
        limit = 12 if rest.strip() else 23
        new_hour = rng.choice([h for h in range(0 if limit == 23 else 1, limit + 1) if 1 <= abs(h - hour) <= 4])
    width = len(match.group(1))
    return f"{new_hour:0{width}d}:{new_minute:02d}{rest}"


def _change_number(old: str, rng: random.Random) -> str:
    match = re.match(r"\d+(?:[.,]\d+)*", old)
    digits = match.group()
    value_text = digits.replace(",", "") if re.fullmatch(r"\d{1,3}(?:,\d{3})+", digits) else digits
    if "." in value_text or "," in value_text:  # a decimal: change one digit after the separator or before it
        positions = [i for i, c in enumerate(value_text) if c.isdigit()]
        pos = rng.choice(positions)
        new_digit = rng.choice([d for d in "0123456789" if d != value_text[pos] and not (pos == 0 and d == "0")])
        new_text = value_text[:pos] + new_digit + value_text[pos + 1:]
    else:
        value = int(value_text)
        if value <= 12:
            new_value = rng.choice([v for v in range(1, 25) if v != value and abs(v - value) <= 6])
        else:
            step = max(1, round(value * rng.uniform(0.15, 0.6)))
            new_value = value + step if rng.random() < 0.5 or value - step <= 0 else value - step
        new_text = str(new_value)
        if "," in digits:
            new_text = f"{new_value:,}"
    return new_text + old[match.end():]


def _change_id(old: str, rng: random.Random) -> str:
    positions = [i for i, c in enumerate(old) if c.isdigit()]
    # Prefer the last run of digits: the serial part of DEV-2025-0147, not its year.
    runs = [m.span() for m in re.finditer(r"\d+", old)]
    start, end = runs[-1] if runs[-1][1] - runs[-1][0] >= 2 or len(runs) == 1 else runs[-2]
    positions = list(range(start, end)) or positions
    pos = rng.choice(positions)
    new_digit = rng.choice([d for d in "0123456789" if d != old[pos]])
    return old[:pos] + new_digit + old[pos + 1:]


_FACT_CHANGERS: dict[str, tuple[set[str], Callable[[str, random.Random], str]]] = {
    "date": ({"date"}, _change_date),
    "time": ({"time"}, _change_time),
    "number": ({"quantity", "number"}, _change_number),
    "id": ({"id"}, _change_id),
}


def _change_fact(kind: str, text: str, context: CaseContext, rng: random.Random) -> Edit | None:
    kinds, changer = _FACT_CHANGERS[kind]
    spans = _spans(text, kinds)
    if kind == "number":  # a year alone is read as a number; changing it is a date error, not a count
        spans = [(s, e) for s, e in spans if not re.fullmatch(r"(19|20)\d{2}", text[s:e])]
    if not spans:
        return None
    start, end = rng.choice(spans)
    old = text[start:end]
    for _ in range(10):  # a value the text already holds elsewhere would not be a wrong fact
        new = changer(old, rng)
        if new != old and new not in text:
            break
    else:
        return None
    return Edit(kind, _replace_span(text, start, end, new), f"{old} -> {new}")


def _present_names(text: str, context: CaseContext) -> list[str]:
    return [name for name in context.names if name in text]


def _change_name(text: str, context: CaseContext, rng: random.Random) -> Edit | None:
    names = _present_names(text, context)
    pool = context.other_names
    if not names or not pool:
        return None
    old = rng.choice(names)
    new = rng.choice(pool)
    return Edit("name", text.replace(old, new), f"{old} -> {new}")


def _change_place(text: str, context: CaseContext, rng: random.Random) -> Edit | None:
    own = place_parts(context.case.get("where", ""))
    names = set(context.names)
    present = [(i, part) for i, part in enumerate(own)
               if len(part) > 2 and part in text and not any(part in n for n in names) and not re.search(r"\d{3,}", part)]
    if not present:
        return None
    index, old = rng.choice(present)
    # The part at the same distance from the end of another case's place: a town for a town, a country for a country.
    from_end = len(own) - index
    candidates = sorted({parts[-from_end] for parts in context.places if len(parts) >= from_end} - {old} - set(own))
    candidates = [c for c in candidates if c not in text]
    if not candidates:
        return None
    new = rng.choice(candidates)
    return Edit("place", text.replace(old, new), f"{old} -> {new}")


def _swap_people(text: str, context: CaseContext, rng: random.Random) -> Edit | None:
    names = _present_names(text, context)
    # A name contained in another ("Li" in "Li Wei") cannot be swapped cleanly.
    names = [n for n in names if not any(n != m and n in m for m in names)]
    if len(names) < 2:
        return None
    first, second = rng.sample(names, 2)
    marker = "\x00"
    swapped = text.replace(first, marker).replace(second, first).replace(marker, second)
    return Edit("swap", swapped, f"{first} <-> {second}")


# ---------------------------------------------------------------- omission, invention, negation

def _omit(text: str, context: CaseContext, rng: random.Random) -> Edit | None:
    parts = sentences(text)
    options: list[tuple[int, str | None, str]] = []  # (sentence index, shortened sentence or None, removed text)
    for index, sentence in enumerate(parts):
        clauses = re.split(r"(;\s|,\s(?:and\s|while\s|so\s|but\s)?)", sentence)
        # clauses alternate text, delimiter, text, ...; drop one non-first clause with its delimiter
        for k in range(2, len(clauses), 2):
            clause = clauses[k].rstrip(".")
            if len(clause.split()) >= 3:
                kept = "".join(clauses[:k - 1] + clauses[k + 1:])
                if not kept.endswith("."):
                    kept = kept.rstrip(",; ") + "."
                options.append((index, kept, clauses[k].rstrip(".")))
        if index > 0 and len(parts) > 2:
            options.append((index, None, sentence))
    if not options:
        return None
    index, shortened, removed = rng.choice(options)
    new_parts = list(parts)
    if shortened is None:
        del new_parts[index]
    else:
        new_parts[index] = shortened
    return Edit("omission", _join(new_parts), f"removed: {removed}")


# Invented facts: held in two disjoint pools so the audit never shows the cross-encoder a sentence
# it was trained on (training draws from "train", the audit from "audit").
_INVENTED = {
    "pharma": {
        "train": [
            "A second batch, {batch}, was also placed on hold as a precaution.",
            "The line was restarted at {time} after a clearance check.",
            "{n} units were destroyed on site the same day.",
            "The supplier was informed by telephone on the same afternoon.",
            "A similar event had been recorded on the same equipment {n} weeks earlier.",
            "The regulatory authority was notified within 24 hours.",
            "Operator {name} had raised the same concern at the previous shift handover.",
            "Room temperature rose to {temp} °C during the event.",
        ],
        "audit": [
            "Production on the neighbouring line was also paused for {n} hours.",
            "A customer complaint about the previous lot, {batch}, was found during the review.",
            "The affected material was later destroyed under witness.",
            "Quality control retested {n} retained samples, all of which failed.",
            "The site head, {name}, decided to recall product already shipped.",
            "An alarm had sounded at {time} but was acknowledged without action.",
            "Maintenance replaced the seal of the filling pump the following morning.",
            "The deviation was classified as critical.",
        ],
    },
    "traffic": {
        "train": [
            "A cyclist was also struck and suffered a broken arm.",
            "The driver was arrested at the scene.",
            "The road stayed closed for {n} hours.",
            "A speed camera recorded {n} km/h shortly before the collision.",
            "A second vehicle failed to stop and left the scene.",
            "Witness {name} filmed the collision on a mobile phone.",
            "The driver had been on the road since {time} without a break.",
            "Fuel leaked onto the carriageway and the fire service attended.",
        ],
        "audit": [
            "A pedestrian waiting at the crossing was treated for shock.",
            "The driver later tested positive for cannabis.",
            "Traffic queued for {n} km behind the scene.",
            "One of the vehicles caught fire shortly afterwards.",
            "Officer {name} issued a fixed penalty notice for a defective tyre.",
            "A child passenger was taken to hospital as a precaution at {time}.",
            "The traffic lights at the scene had been out of order since the morning.",
            "The driver's licence had been revoked {n} months earlier.",
        ],
    },
}
INVENTED_POOLS = ("train", "audit")


def _domain(case: Mapping[str, str]) -> str:
    return "traffic" if str(case.get("id", "")).startswith("traffic") else "pharma"


def _invent(text: str, context: CaseContext, rng: random.Random, pool: str) -> Edit | None:
    template = rng.choice(_INVENTED[_domain(context.case)][pool])
    names = context.other_names or ["Alex Morgan"]
    sentence = template.format(
        batch=f"{rng.choice('BLKP')}{rng.randint(20, 26)}-{rng.randint(1000, 9999):04d}",
        time=f"{rng.randint(6, 22):02d}:{rng.choice(range(0, 60, 5)):02d}",
        n=rng.randint(2, 12),
        temp=rng.randint(27, 34),
        name=rng.choice(names),
    )
    parts = sentences(text)
    position = rng.randint(1, len(parts))
    return Edit("invented", _join(parts[:position] + [sentence] + parts[position:]), f"added: {sentence}")


# (pattern, replacement): each reverses one statement; applied to one occurrence.
_REVERSALS: list[tuple[str, str]] = [
    (r"\bquarantined\b", "released"), (r"\bon hold\b", "released for sale"), (r"\brejected\b", "accepted"),
    (r"\bnegative\b", "positive"), (r"\bpositive\b", "negative"), (r"\bpassed\b", "failed"), (r"\bfailed\b", "passed"),
    (r"\bbefore\b", "after"), (r"\bafter\b", "before"), (r"\babove\b", "below"), (r"\bbelow\b", "above"),
    (r"\bincreased\b", "decreased"), (r"\bdecreased\b", "increased"), (r"\bhigher\b", "lower"), (r"\blower\b", "higher"),
    (r"\bexceeded\b", "stayed within"), (r"\bbeyond\b", "short of"), (r"\bover\b", "under"),
    (r"\bstopped\b", "kept running"), (r"\bsuspended\b", "continued"), (r"\bhalted\b", "continued"),
    (r"\bclosed\b", "kept open"), (r"\bmissing\b", "present"), (r"\bwithout\b", "with"),
    (r"\bcould not\b", "could"), (r"\bdid not\b", "did"), (r"\bwas not\b", "was"), (r"\bwere not\b", "were"),
    (r"\bseriously injured\b", "unhurt"), (r"\bminor injuries\b", "no injuries"), (r"\binjured\b", "unhurt"),
    (r"\bleft\b", "right"), (r"\bright\b", "left"), (r"\bentered\b", "left"), (r"\bdrifted\b", "held steady"),
    (r"\btoo fast\b", "slowly"), (r"\bskipped\b", "performed"), (r"\bforgot\b", "remembered"),
    (r"\bout of specification\b", "within specification"), (r"\bwithin specification\b", "out of specification"),
    (r"\bwithin\b", "outside"), (r"\bexpired\b", "valid"), (r"\bdamaged\b", "intact"), (r"\bcontaminated\b", "clean"),
    (r"\barrested\b", "released without charge"), (r"\bno\b", "a"),
]
# Each pattern is a literal phrase between word boundaries (a test holds them to it), so a text
# without the phrase is not scanned.
_REVERSAL_PATTERNS = [(pattern[2:-2], re.compile(pattern), replacement) for pattern, replacement in _REVERSALS]
_AUXILIARY = re.compile(r"\b(was|were|had|has|is|are|could|would)\b(?! not\b)(?=\s+[a-z])")


def _negate(text: str, context: CaseContext, rng: random.Random) -> Edit | None:
    options: list[tuple[int, int, str]] = []
    for phrase, pattern, replacement in _REVERSAL_PATTERNS:
        if phrase in text:
            options.extend((match.start(), match.end(), replacement) for match in pattern.finditer(text))
    if not options:  # no word with a clear opposite: negate an auxiliary ("was treated" -> "was not treated")
        for match in _AUXILIARY.finditer(text):
            options.append((match.start(), match.end(), f"{match.group()} not"))
    if not options:
        return None
    start, end, new = rng.choice(options)
    old = text[start:end]
    if old[:1].isupper():
        new = new[:1].upper() + new[1:]
    return Edit("negation", _replace_span(text, start, end, new), f"{old} -> {new}")


def _other_case(text: str, context: CaseContext, rng: random.Random) -> Edit | None:
    same_domain = [o for o in context.others if _domain(o) == _domain(context.case)]
    if not same_domain:
        return None
    other = rng.choice(same_domain)
    return Edit("other_case", other["event_description"], f"report of {other.get('id', 'another case')}")


def damage(text: str, kind: str, context: CaseContext, rng: random.Random, invented_pool: str = "audit") -> Edit | None:
    """One damaged copy of ``text`` of the given class, or None when the class does not apply."""
    if kind in _FACT_CHANGERS:
        return _change_fact(kind, text, context, rng)
    if kind == "invented":
        return _invent(text, context, rng, invented_pool)
    handlers = {"name": _change_name, "place": _change_place, "swap": _swap_people, "omission": _omit,
                "negation": _negate, "other_case": _other_case}
    if kind not in handlers:
        raise ValueError(f"unknown damage class {kind!r}; known: {', '.join(DAMAGE_CLASSES)}")
    edit = handlers[kind](text, context, rng)
    return edit if edit is None or edit.text != text else None


# ---------------------------------------------------------------- meaning-preserving controls

def _date_in_words(old: str) -> str:
    iso = re.fullmatch(r"(\d{4})-(\d{2})-(\d{2})", old)
    if iso:
        return f"{int(iso.group(3))} {_MONTH_NAMES[int(iso.group(2)) - 1]} {iso.group(1)}"
    words = re.fullmatch(r"(\d{1,2})(?:st|nd|rd|th)?\s+([A-Za-z]+)\.?,?\s+(\d{4})", old)
    if words and words.group(2)[:3].title() in [m[:3] for m in _MONTH_NAMES]:
        month = [m[:3] for m in _MONTH_NAMES].index(words.group(2)[:3].title()) + 1
        return f"{words.group(3)}-{month:02d}-{int(words.group(1)):02d}"
    return old


def _time_in_words(old: str) -> str:
    match = re.fullmatch(r"(\d{1,2}):(\d{2})", old)
    if not match:
        return old
    hour, minute = int(match.group(1)), match.group(2)
    suffix = "am" if hour < 12 else "pm"
    return f"{hour % 12 or 12}:{minute} {suffix}"


def _reformat(text: str, kinds: dict[str, Callable[[str], str]]) -> str:
    out, last = [], 0
    for kind, start, end in fact_spans(text):
        if kind in kinds:
            out.append(text[last:start] + kinds[kind](text[start:end]))
            last = end
    return "".join(out) + text[last:]


# The units the control writes out; compound units (mg/100 ml) are left alone.
_SPELLED_UNITS = ("kg", "%", "km/h", "min", "km", "m", "h")


def _number_in_words(old: str) -> str:
    match = re.fullmatch(r"(\d+(?:[.,]\d+)*)(\s?)(.*)", old)
    number, space, unit = match.groups()
    if re.fullmatch(r"\d{1,3}(?:,\d{3})+", number):
        number = number.replace(",", "")
    elif re.fullmatch(r"\d{4,}", number) and int(number) > 9999:
        number = f"{int(number):,}"
    elif re.fullmatch(r"[1-9]\d?", number) and 2 <= int(number) <= 12 and unit not in _SPELLED_UNITS:
        number = NUMBER_WORDS[int(number)]
    if unit in _SPELLED_UNITS:
        return f"{number} {UNIT_WORDS[unit]}"
    return f"{number}{space}{unit}"


def control(text: str, kind: str, rng: random.Random) -> Edit | None:
    """A meaning-preserving variant of ``text``, or None when the control changes nothing."""
    if kind == "date_time_format":
        new = _reformat(text, {"date": _date_in_words, "time": _time_in_words})
    elif kind == "number_format":
        new = _reformat(text, {"quantity": _number_in_words, "number": _number_in_words})
    elif kind == "sentence_order":
        parts = sentences(text)
        swappable = [i for i in range(1, len(parts) - 1) if not _ANAPHORA.match(parts[i]) and not _ANAPHORA.match(parts[i + 1])]
        if not swappable:
            return None
        i = rng.choice(swappable)
        parts[i], parts[i + 1] = parts[i + 1], parts[i]
        new = _join(parts)
    else:
        raise ValueError(f"unknown control {kind!r}; known: {', '.join(CONTROL_CLASSES)}")
    return None if new == text else Edit(kind, new, kind)
