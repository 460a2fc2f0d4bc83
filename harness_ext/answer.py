"""The answer a model writes: a JSON object with a title and a report, declared once.

The prompts show it (`placeholder_answer`, `example_answer`), constrained decoding enforces it
(`json_schema`), fine-tuning writes it, and the parser reads it back.

Under constraint the strings get length limits derived from the token budget, so that the object
can close within `max_gen_toks`: of the budget, `OVERHEAD_TOKENS` go to the braces, keys and
quotes, up to a quarter (at most `TITLE_TOKENS`) to the title and the rest to the report, each at
`CHARS_PER_TOKEN` characters per token. That is a floor on what English BPE tokenizers average
(about 4), not a guarantee: a model writing many one-character tokens (escapes, byte pieces) can
still reach the budget inside a string. Such an answer is cut; the parser keeps the report text
and marks it `truncated`, and `json_valid` is 0 for it.
"""

from __future__ import annotations

import json

TITLE = "title"
REPORT = "report"
KEYS = (TITLE, REPORT)
PLACEHOLDERS = {TITLE: "<short title>", REPORT: "<the report>"}

OVERHEAD_TOKENS = 16
TITLE_TOKENS = 40
CHARS_PER_TOKEN = 3


def example_answer(title: str, report: str) -> str:
    return json.dumps({TITLE: title, REPORT: report}, ensure_ascii=False)


def placeholder_answer() -> str:
    return json.dumps(PLACEHOLDERS, ensure_ascii=False)


def length_limits(max_gen_toks: int) -> dict[str, int]:
    """Maximum characters of each string for a token budget."""
    usable = max(max_gen_toks - OVERHEAD_TOKENS, 2)
    title_tokens = max(min(TITLE_TOKENS, usable // 4), 1)
    return {TITLE: title_tokens * CHARS_PER_TOKEN, REPORT: max(usable - title_tokens, 1) * CHARS_PER_TOKEN}


# Characters of the Basic Multilingual Plane except the double quote, the backslash and control characters:
# such a string is the same text raw and JSON-encoded, so the object is strict JSON by construction
# (xgrammar's plain JSON strings let raw control characters through, which json.loads rejects), and no
# character costs a byte-level tokenizer more than 3 tokens (emoji and other 4-byte characters are out).
# The reference reports use none of the excluded characters.
_STRING = "^[ !#-\\[\\]-\\uffff]{1,%s}$"


def json_schema(max_gen_toks: int | None = None) -> dict:
    """JSON Schema of the answer: exactly a non-empty title and a non-empty report; with a budget, length-limited.

    Lengths are part of the pattern, because grammar engines ignore minLength/maxLength next to a pattern.
    """
    limits = length_limits(max_gen_toks) if max_gen_toks else {}
    properties = {key: {"type": "string", "pattern": _STRING % limits.get(key, "")} for key in KEYS}
    return {"type": "object", "properties": properties, "required": list(KEYS), "additionalProperties": False}


SCHEMA_SETTINGS = {
    "schema": json_schema(),
    "length_limits": f"per string, from max_gen_toks: usable = max_gen_toks - {OVERHEAD_TOKENS}; title = min({TITLE_TOKENS}, usable // 4) tokens, "
    f"report = the rest; {CHARS_PER_TOKEN} characters per token (e.g. max_gen_toks 300: title {length_limits(300)[TITLE]}, "
    f"report {length_limits(300)[REPORT]} characters)",
    "strings": "1 to the limit characters of the Basic Multilingual Plane, none of them a double quote, backslash or control character",
    "whitespace": "none between JSON tokens",
}
