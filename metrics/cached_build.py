"""Folders built once per machine under the user cache: atomically, under a file lock, and
rebuilt only when what they were built from changes (a fingerprint in a manifest).

Used for the safetensors copies of embedded generation models (`reportbench model-path`) and
for the fact-aware cross-encoder assembled from the embedded encoder plus the shipped weights.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

MANIFEST = "reportbench-model.json"


def cache_root() -> Path:
    """REPORTBENCH_CACHE, else the platform user cache (e.g. ~/.cache/reportbench)."""
    override = os.environ.get("REPORTBENCH_CACHE")
    if override:
        return Path(override).expanduser()
    from platformdirs import user_cache_dir

    return Path(user_cache_dir("reportbench"))


def is_complete(folder: Path, fingerprint: dict) -> bool:
    manifest = folder / MANIFEST
    if not manifest.is_file():
        return False
    try:
        return json.loads(manifest.read_text()).get("source") == fingerprint
    except (OSError, json.JSONDecodeError):
        return False


def build_once(final: Path, fingerprint: dict, build: Callable[[Path], None], message: str) -> Path:
    """``final``, built by ``build(staging_folder)`` unless a complete copy from the same fingerprint exists."""
    if is_complete(final, fingerprint):
        return final

    from filelock import FileLock

    final.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(final) + ".lock"):
        if is_complete(final, fingerprint):  # another process built it while we waited
            return final
        print(f"reportbench: {message} in {final} (one time)", file=sys.stderr)
        staging = Path(tempfile.mkdtemp(prefix=f".{final.name}-", dir=final.parent))
        try:
            build(staging)
            (staging / MANIFEST).write_text(json.dumps({"name": final.name, "source": fingerprint}, indent=2))
            if final.exists():  # stale copy built from other sources
                shutil.rmtree(final)
            os.rename(staging, final)  # atomic: the folder appears complete or not at all
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    return final
