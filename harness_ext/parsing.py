"""Turning a model's raw generation into a title and a report.

Tried in order: the whole text as JSON, a fenced ```json block, the first JSON
object embedded in prose, a truncated JSON object (generation hit the token
limit), and finally the plain text, which becomes the report.  Never raises.
"""

from __future__ import annotations

import itertools
import json
import re
from dataclasses import asdict, dataclass

FENCED_BLOCK = re.compile(r"```[ \t]*(?:json|JSON)?[ \t]*\n?(.*?)```", re.DOTALL)
# A JSON string value whose closing quote may be missing (cut-off generation).
PARTIAL_FIELD = r'"{key}"\s*:\s*"((?:[^"\\]|\\.)*)'


@dataclass(frozen=True)
class ParsedReport:
    title: str
    report: str
    json_valid: bool
    method: str  # json | fenced_json | embedded_json | partial_json | plain_text
    # A JSON answer cut off before it closed (e.g. by the token limit), not one that is malformed: never
    # json_valid; the report text inside it is kept (partial_json), or, cut before its report, the whole text.
    truncated: bool = False

    def to_json(self) -> str:
        return json.dumps(asdict(self), ensure_ascii=False)

    @classmethod
    def from_json(cls, text: str) -> ParsedReport:
        return cls(**json.loads(text))


# Bounded work for any input: JSON objects are looked for in one scan, at most this many embedded
# objects are decoded, and nesting deeper than this is not a report.
MAX_DEPTH = 64
MAX_EMBEDDED = 64
_SIGNIFICANT = re.compile(r'[{}"\\]')


def _flatten(value) -> str:
    """Models sometimes nest the report ({"report": {"description": ...}}); keep all its text, in
    order (iteratively: a deeply nested answer must not exhaust the stack)."""
    parts: list[str] = []
    stack = [value]
    while stack:
        item = stack.pop()
        if item is None:
            continue
        if isinstance(item, str):
            if item.strip():
                parts.append(item.strip())
        elif isinstance(item, dict):
            stack.extend(reversed(list(item.values())))
        elif isinstance(item, list):
            stack.extend(reversed(item))
        else:
            parts.append(str(item))
    return " ".join(parts)


def _lower_keys(obj: dict) -> dict:
    return {str(key).strip().lower(): value for key, value in obj.items()}


def _as_report(candidate, method: str) -> ParsedReport | None:
    if not isinstance(candidate, dict):
        return None
    fields = _lower_keys(candidate)
    if "report" not in fields:
        return None
    return ParsedReport(_flatten(fields.get("title")), _flatten(fields["report"]), True, method)


def _loads(text: str):
    # ValueError: JSONDecodeError, and an integer too long to convert (over 4,300 digits)
    try:
        return json.loads(text)
    except (ValueError, RecursionError):
        return None


def _object_spans(text: str) -> list[tuple[int, int]]:
    """(start, end) of every balanced { ... } span at most MAX_DEPTH deep, braces inside JSON strings
    ignored, in order of start: one scan over the braces, quotes and backslashes of the text."""
    spans: list[tuple[int, int]] = []
    opened: list[int] = []
    in_string = escaped = False
    for match in _SIGNIFICANT.finditer(text):
        char, at = match.group(), match.start()
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = at + 1 < len(text) and text[at + 1] in '"\\'  # the only escapes that hide a significant char
            elif char == '"':
                in_string = False
            continue
        if char == '"':
            in_string = bool(opened)  # quotes in prose outside any object do not start a JSON string
        elif char == "{":
            opened.append(at)
        elif char == "}" and opened:
            start = opened.pop()
            if len(opened) < MAX_DEPTH:
                spans.append((start, at + 1))
    return sorted(spans)


def _embedded_objects(text: str):
    """The JSON objects embedded in prose, outermost first in order of start; at most MAX_EMBEDDED decoded."""
    for start, end in _object_spans(text)[:MAX_EMBEDDED]:
        obj = _loads(text[start:end])
        if obj is not None:
            yield obj


def _partial_field(text: str, key: str) -> str | None:
    match = re.search(PARTIAL_FIELD.format(key=key), text, flags=re.IGNORECASE)
    if not match:
        return None
    raw = match.group(1)
    if raw.endswith("\\"):
        raw = raw[:-1]
    value = _loads(f'"{raw}"')
    return (value if isinstance(value, str) else raw).strip()


def parse_report(generation: str | None) -> ParsedReport:
    """Never raises for a str (or None), in time linear in its length; anything else is a caller's bug, refused by type."""
    if generation is not None and not isinstance(generation, str):
        raise TypeError(f"parse_report expects the generated text as a str, got {type(generation).__name__}")
    text = (generation or "").strip()
    if not text:
        return ParsedReport("", "", False, "plain_text")

    parsed = _as_report(_loads(text), "json")
    if parsed:
        return parsed
    for match in itertools.islice(FENCED_BLOCK.finditer(text), MAX_EMBEDDED):  # bounded, as embedded objects are
        parsed = _as_report(_loads(match.group(1).strip()), "fenced_json")
        if parsed:
            return parsed
    for obj in _embedded_objects(text):
        parsed = _as_report(obj, "embedded_json")
        if parsed:
            return parsed

    report = _partial_field(text, "report")
    if report is not None:
        return ParsedReport(_partial_field(text, "title") or "", report, False, "partial_json", truncated=_unclosed_object(text))
    return ParsedReport("", text, False, "plain_text", truncated=_unclosed_object(text))


def _unclosed_object(text: str) -> bool:
    """The text opens a JSON object that runs out before it closes (as opposed to one that is malformed)."""
    start = text.find("{")
    if start == -1 or text[:start].strip():
        return False
    try:
        json.JSONDecoder().raw_decode(text, start)
    except json.JSONDecodeError as err:
        return err.msg.startswith("Unterminated string") or err.pos >= len(text.rstrip())
    except (ValueError, RecursionError):
        return False
    return False
