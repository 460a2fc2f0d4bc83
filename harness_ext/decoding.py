"""Decoding settings as one value type (as HELM's AdapterSpec holds them), used everywhere.

A `Decoding` is normalised when made: greedy decoding (temperature 0) has no top_p or top_k,
so greedy settings written several ways are one value. Its spellings:

- `Decoding.from_settings(mapping)`: a grid's `decoding:` entry or any user mapping (defaults filled in,
  values checked); `do_sample` defaults to temperature > 0;
- `Decoding.from_gen_kwargs(gen_kwargs, implicit_sampling)`: the gen_kwargs an lm-eval run recorded;
  whether a temperature samples without `do_sample` depends on the backend (see backends.py);
- `Decoding.from_columns(row)`: a row of the runs table (NaN for unset);
- `.gen_kwargs()`: complete lm-eval gen_kwargs with `do_sample` set; `.columns()`: the table columns;
  `.label()`: 'greedy · 300 tok', 'T=1 top_p=0.6 top_k=50 · 300 tok · json'.

`structured_output` is `none` (free decoding) or `json` (the answer schema of answer.py, enforced by
the backend: see constrained.py). It enters gen_kwargs only when it is not `none`, so cells of free
decoding keep the ids they had before the setting existed.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping
from dataclasses import dataclass, fields

from reportbench.labels import format_setting
from reportbench.metrics.base import is_missing

# Table columns, in table order; a grid's decoding keys add do_sample.
NUMERIC_COLUMNS = ("temperature", "top_p", "top_k", "max_gen_toks", "repetition_penalty")
COLUMNS = (*NUMERIC_COLUMNS, "structured_output")
SETTING_KEYS = (*COLUMNS, "do_sample")
STRUCTURED_OUTPUTS = ("none", "json")
DEFAULTS = {"temperature": 0.0, "top_p": 1.0, "top_k": 0, "max_gen_toks": 300, "repetition_penalty": 1.0, "structured_output": "none"}
SAMPLING_ONLY = ("top_p", "top_k")  # meaningless when decoding greedily
_TYPES = {"temperature": float, "top_p": float, "top_k": int, "max_gen_toks": int, "repetition_penalty": float, "structured_output": str}


class DecodingError(ValueError):
    """A decoding setting that cannot be used; the caller adds where it came from."""


# The range of each numeric setting: (check, what it must be). Out of range is an error, never a
# silent change (a negative temperature used to become a greedy cell).
RANGES = {
    "temperature": (lambda v: math.isfinite(v) and v >= 0, "a finite number >= 0 (0: greedy)"),
    "top_p": (lambda v: 0 < v <= 1, "a number with 0 < top_p <= 1"),
    "top_k": (lambda v: v >= 0, "a whole number >= 0 (0: off)"),
    "max_gen_toks": (lambda v: v >= 1, "a whole number >= 1"),
    "repetition_penalty": (lambda v: math.isfinite(v) and v > 0, "a finite number > 0 (1: off)"),
}


def checked(key: str, value):
    """``value`` as the type of setting ``key``, or DecodingError naming the key: booleans, fractions
    for whole-number keys, NaN and out-of-range values are refused."""
    kind = _TYPES[key]
    if kind is str:
        return structured_output(value) if key == "structured_output" else str(value)
    if isinstance(value, bool) or value is None:
        raise DecodingError(f"{key}: expected a number, got {value!r}")
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise DecodingError(f"{key}: expected a number, got {value!r}") from None
    if kind is int:
        if not number.is_integer():
            raise DecodingError(f"{key}: expected a whole number, got {value!r}")
        number = int(number)
    check, expected = RANGES[key]
    if not check(number):
        raise DecodingError(f"{key}: must be {expected}, got {value!r}")
    return number


def structured_output(value) -> str:
    """A structured_output value, checked: none or json."""
    if value not in STRUCTURED_OUTPUTS:
        raise DecodingError(f"structured_output must be one of {', '.join(STRUCTURED_OUTPUTS)}, got {value!r}")
    return value


def implies_sampling(settings: Mapping) -> bool:
    """Without an explicit do_sample, a temperature above 0 means the user wants to sample."""
    try:
        return float(settings.get("temperature", 0) or 0) > 0
    except (TypeError, ValueError):
        return False


def request_seed(base: int, case_id: str, repeat: int = 0) -> int:
    """The sampling seed of one request: from (cell seed, case id, repeat) only, so a case's sampled
    output does not depend on which other requests share the engine call, on shards or on resume order."""
    digest = hashlib.sha256(f"{int(base)}:{case_id}:{int(repeat)}".encode()).digest()
    return int.from_bytes(digest[:4], "big") & 0x7FFFFFFF


@dataclass(frozen=True)
class Decoding:
    temperature: float = 0.0  # 0: greedy
    top_p: float | None = None  # None: not set (always for greedy)
    top_k: int | None = None
    max_gen_toks: int | None = None
    repetition_penalty: float | None = None
    structured_output: str = "none"

    def __post_init__(self):
        if self.greedy and (self.top_p is not None or self.top_k is not None):
            raise DecodingError("greedy decoding has no top_p or top_k; make it with Decoding.of(...)")
        structured_output(self.structured_output)

    @property
    def greedy(self) -> bool:
        return self.temperature == 0

    @classmethod
    def of(cls, temperature=0.0, top_p=None, top_k=None, max_gen_toks=None, repetition_penalty=None, structured_output="none",
           do_sample=True) -> Decoding:
        """The one normalising constructor: without sampling, the temperature and sampling knobs go."""
        sampled = bool(do_sample) and temperature is not None and float(temperature) > 0
        if not sampled:
            return cls(0.0, None, None, max_gen_toks, repetition_penalty, structured_output)
        return cls(float(temperature), top_p, top_k, max_gen_toks, repetition_penalty, structured_output)

    @classmethod
    def from_settings(cls, settings: Mapping) -> Decoding:
        """A grid cell's settings: unknown keys, bad types and contradictions raise DecodingError."""
        unknown = set(settings) - set(SETTING_KEYS)
        if unknown:
            raise DecodingError(f"unknown decoding key(s) {', '.join(sorted(unknown))}; known: {', '.join(SETTING_KEYS)}")
        values = {**DEFAULTS, **{k: v for k, v in settings.items() if k != "do_sample"}}
        values = {key: checked(key, value) for key, value in values.items()}
        do_sample = settings["do_sample"] if "do_sample" in settings else implies_sampling(values)
        if not isinstance(do_sample, bool):
            raise DecodingError("do_sample: must be true or false")
        if do_sample and values["temperature"] <= 0:
            raise DecodingError("do_sample: true needs temperature > 0")
        return cls.of(**values, do_sample=do_sample)

    @classmethod
    def from_gen_kwargs(cls, gen_kwargs: Mapping, implicit_sampling: bool) -> Decoding:
        """As an lm-eval run decoded: keys it did not get stay unset."""
        do_sample = gen_kwargs.get("do_sample", implicit_sampling)
        values = {key: _TYPES[key](gen_kwargs[key]) for key in COLUMNS if gen_kwargs.get(key) is not None}
        return cls.of(**values, do_sample=do_sample)

    @classmethod
    def from_columns(cls, row: Mapping) -> Decoding:
        """A runs-table row (CSV or DataFrame: NaN is unset)."""
        values = {key: (None if is_missing(row[key]) else _TYPES[key](row[key])) for key in NUMERIC_COLUMNS}
        structured = row.get("structured_output")  # absent from tables written before the setting existed
        values["structured_output"] = DEFAULTS["structured_output"] if is_missing(structured) else str(structured)
        return cls.of(**values, do_sample=bool(values["temperature"]))

    def gen_kwargs(self) -> dict:
        """Complete, explicit lm-eval gen_kwargs: unset values take their defaults, do_sample is always set."""
        values = {f.name: getattr(self, f.name) for f in fields(self)}
        kwargs = {key: DEFAULTS[key] if value is None else _TYPES[key](value) for key, value in values.items()}
        if kwargs["structured_output"] == DEFAULTS["structured_output"]:
            del kwargs["structured_output"]  # free decoding: the gen_kwargs (and cell ids) of before
        return kwargs | {"do_sample": not self.greedy}

    def columns(self) -> dict[str, float | str | None]:
        """Table columns: numbers as floats (as a CSV round trip gives them back), None for unset."""
        numbers = {key: None if getattr(self, key) is None else float(getattr(self, key)) for key in NUMERIC_COLUMNS}
        return numbers | {"structured_output": self.structured_output}

    def label(self) -> str:
        """'greedy · 300 tok' or 'T=1 top_p=0.6 top_k=50 · 300 tok · rep 1.1'."""
        if self.greedy:
            decoding = "greedy"
        else:
            decoding = f"T={format_setting('temperature', self.temperature)}"
            decoding += "".join(f" {key}={format_setting(key, getattr(self, key))}" for key in SAMPLING_ONLY if getattr(self, key) is not None)
        parts = [decoding]
        if self.max_gen_toks is not None:
            parts.append(f"{format_setting('max_gen_toks', self.max_gen_toks)} tok")
        if self.repetition_penalty is not None and self.repetition_penalty != 1.0:
            parts.append(f"rep {format_setting('repetition_penalty', self.repetition_penalty)}")
        if self.structured_output != DEFAULTS["structured_output"]:
            parts.append(self.structured_output)
        return " · ".join(parts)
