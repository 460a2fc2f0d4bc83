"""Line-numbered reading of JSONL files, shared by every reader that reports FILE:LINE problems."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path


def numbered_objects(path: str | Path) -> Iterator[tuple[int, dict | str]]:
    """(line number, object) per non-blank line; a line that is not a JSON object gives (line number, problem).

    Callers decide what a problem means: stop at the first, or collect them all.
    """
    with Path(path).open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as err:
                yield number, f"invalid JSON: {err.msg} (column {err.colno})"
                continue
            if not isinstance(record, dict):
                yield number, f"expected a JSON object, got {type(record).__name__}"
                continue
            yield number, record
