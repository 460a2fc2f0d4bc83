"""Turning a model's raw generation into a title and a report.

Tried in order: the whole text as JSON, a fenced ```json block, the first JSON
object embedded in prose, a truncated JSON object (generation hit the token
limit), and finally the plain text, which becomes the report.  Never raises.
"""

from __future__ import annotations

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


def _flatten(value) -> str:
    """Models sometimes nest the report ({"report": {"description": ...}}); keep all its text."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value.strip()
    if isinstance(value, dict):
        return " ".join(part for part in (_flatten(v) for v in value.values()) if part)
    if isinstance(value, list):
        return " ".join(part for part in (_flatten(v) for v in value) if part)
    return str(value)


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
    try:
        return json.loads(text)
    except (json.JSONDecodeError, RecursionError):
        return None


def _embedded_objects(text: str):
    decoder = json.JSONDecoder()
    start = text.find("{")
    while start != -1:
        try:
            obj, _ = decoder.raw_decode(text, start)
            yield obj
        except (json.JSONDecodeError, RecursionError):
            pass
        start = text.find("{", start + 1)


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
    text = (generation or "").strip()
    if not text:
        return ParsedReport("", "", False, "plain_text")

    parsed = _as_report(_loads(text), "json")
    if parsed:
        return parsed
    for block in FENCED_BLOCK.findall(text):
        parsed = _as_report(_loads(block.strip()), "fenced_json")
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
    except RecursionError:
        return False
    return False
