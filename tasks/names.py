"""Task and group names: how they are built and read back, in one place.

A task is ``reportbench_<domain>_<method>`` (method a-d, lower case), a domain group is
``reportbench_<domain>`` and the benchmark group is ``reportbench``. `_generate_configs.py` writes
the YAMLs under these names; the grid and the runs reader parse them back.
"""

from __future__ import annotations

from reportbench.cases import DOMAINS
from reportbench.prompts import METHODS

BENCHMARK = "reportbench"


def task_name(domain: str, method: str) -> str:
    return f"{BENCHMARK}_{domain}_{method.lower()}"


def group_name(domain: str | None = None) -> str:
    return f"{BENCHMARK}_{domain}" if domain else BENCHMARK


def parse_task_name(name: str) -> tuple[str, str]:
    """reportbench_<domain>_<method> -> (domain, METHOD); ValueError for anything else."""
    parts = name.split("_")
    if len(parts) != 3 or parts[0] != BENCHMARK or parts[1] not in DOMAINS or parts[2].upper() not in METHODS:
        raise ValueError(f"task {name!r} is not a reportbench prompt task ({BENCHMARK}_<{'|'.join(DOMAINS)}>_<{'|'.join(m.lower() for m in METHODS)}>)")
    return parts[1], parts[2].upper()


TASKS = tuple(task_name(domain, method) for domain in DOMAINS for method in METHODS)
GROUPS = (group_name(), *(group_name(domain) for domain in DOMAINS))
