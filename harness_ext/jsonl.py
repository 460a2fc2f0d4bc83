"""Line-numbered reading of JSONL files, shared by every reader that reports FILE:LINE problems."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path


class DuplicateKey(ValueError):
    def __init__(self, key: str):
        super().__init__(f"duplicate key {key!r}")
        self.key = key


def _unique_keys(pairs: list[tuple[str, object]]) -> dict:
    """json's object hook: a key given twice is an error, not a silent last-one-wins."""
    out: dict = {}
    for key, value in pairs:
        if key in out:
            raise DuplicateKey(key)
        out[key] = value
    return out


def numbered_objects(path: str | Path) -> Iterator[tuple[int, dict | str]]:
    """(line number, object) per non-blank line; a line that is not a JSON object gives (line number, problem).

    Callers decide what a problem means: stop at the first, or collect them all.
    """
    with Path(path).open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line, object_pairs_hook=_unique_keys)
            except DuplicateKey as err:
                yield number, f"duplicate key {err.key!r} in one JSON object (which value is meant?)"
                continue
            except json.JSONDecodeError as err:
                yield number, f"invalid JSON: {err.msg} (column {err.colno})"
                continue
            except (ValueError, RecursionError) as err:  # an integer of thousands of digits, nesting beyond the stack
                yield number, f"invalid JSON: {str(err) or type(err).__name__}"
                continue
            if not isinstance(record, dict):
                yield number, f"expected a JSON object, got {type(record).__name__}"
                continue
            yield number, record
