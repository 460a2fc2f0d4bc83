"""Matplotlib figures shared by `metrics correlate` and `leaderboard` (Agg backend, no display)."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save(fig, path: Path) -> Path:
    # No "Software"/date metadata: the same data gives the same PNG bytes.
    fig.savefig(path, dpi=110, metadata={"Software": None})
    pyplot().close(fig)
    return path


def correlation_heatmap(corr, path: Path, title: str) -> Path:
    """Annotated Pearson matrix of a metrics x metrics DataFrame."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(1 + 0.55 * len(corr), 0.8 + 0.5 * len(corr)))
    image = ax.imshow(corr.to_numpy(), cmap="RdYlGn", vmin=-1, vmax=1)
    ax.set_xticks(range(len(corr)), corr.columns, rotation=60, ha="right")
    ax.set_yticks(range(len(corr)), corr.index)
    for (i, j), value in np.ndenumerate(corr.to_numpy()):
        ax.text(j, i, f"{value:.2f}", ha="center", va="center", fontsize=7)
    fig.colorbar(image, ax=ax, shrink=0.8)
    ax.set_title(title)
    fig.tight_layout()
    return save(fig, path)
