"""Content digests of data files: what a cell id and a leaderboard page use to name the data they ran on."""

from __future__ import annotations

import hashlib
from functools import cache
from pathlib import Path

from reportbench.paths import packaged_data_dir


@cache
def file_digest(path: Path) -> str | None:
    """sha256 of a file's bytes, or None when there is no such file; once per process (every cell id needs it)."""
    return hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else None


def packaged_data_digest(domain: str) -> str | None:
    return file_digest(packaged_data_dir() / f"{domain}.jsonl")


def text_digest(text: str) -> str:
    return hashlib.sha256(str(text).encode()).hexdigest()
