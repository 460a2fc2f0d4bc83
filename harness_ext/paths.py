"""Where the installed task configs and data live."""

from __future__ import annotations

from pathlib import Path


def tasks_dir() -> Path:
    from reportbench import tasks

    return Path(tasks.__file__).resolve().parent


def packaged_data_dir() -> Path:
    return tasks_dir() / "data"
