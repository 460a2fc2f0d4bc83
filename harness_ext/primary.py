"""Which metric ranks a leaderboard and decides a comparison when the user names none."""

from __future__ import annotations

from reportbench.metrics import METRICS, PRIMARY_PREFERENCE
from reportbench.metrics.base import MODEL
from reportbench.records import RunsError


def higher_is_better(metric: str) -> bool:
    direction = METRICS[metric].higher_is_better
    if direction is None:
        raise RunsError(f"metric {metric!r} has no better direction (e.g. a length); pick a score metric")
    return bool(direction)


def choose_primary(complete: list[str], requested: str | None) -> tuple[str, str]:
    """The ranking metric among the metrics every sample has, and a sentence on why it was chosen.

    Without a request: the first of the metrics declared as default ranking metrics (PRIMARY_PREFERENCE)
    that every sample has.
    """
    if requested:
        if requested not in METRICS:
            raise RunsError(f"unknown metric {requested!r}; available: {', '.join(METRICS)}")
        if requested not in complete:
            raise RunsError(f"metric {requested!r} is missing from some or all samples of these runs; complete: {', '.join(complete)}")
        higher_is_better(requested)
        return requested, f"`{requested}` (chosen with --metric)"
    for rank, metric in enumerate(PRIMARY_PREFERENCE):
        if metric in complete:
            if rank == 0:
                return metric, f"`{metric}`, the default"
            skipped = PRIMARY_PREFERENCE[:rank]
            why = "".join(f": no {m.replace('_', '-')} model was available" for m in skipped if MODEL in METRICS[m].needs)
            names = " and ".join(f"`{m}`" for m in skipped)
            verb = "is" if len(skipped) == 1 else "are"
            return metric, f"`{metric}`, the fallback, since {names} {verb} not in every sample of these runs{why}"
    raise RunsError(f"neither {' nor '.join(PRIMARY_PREFERENCE)} is in every sample; choose one with --metric from: {', '.join(complete)}")
