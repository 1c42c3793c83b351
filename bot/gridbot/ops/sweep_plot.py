"""A sweep's plot (matplotlib, the `plot` extra): the ranking column over the swept keys, a heatmap of the
first two, or a line over one."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import matplotlib as mpl
import numpy as np

mpl.use("Agg")
import matplotlib.pyplot as plt

from gridbot.ops.sweep import LOWER_IS_BETTER, Axis, Result, as_text


def plot_sweep(axes: Sequence[Axis], results: Sequence[Result], by: str, path: Path) -> None:
    if len(axes) == 1:
        plot_line(axes[0], results, by, path)
    else:
        plot_heatmap(axes, results, by, path)


def plot_line(axis: Axis, results: Sequence[Result], by: str, path: Path) -> None:
    """`by` at each value of the one swept key, in the order the values were given, the best marked."""
    found = {r.combo.values[0]: float(r.summary[by]) for r in results}
    shown = [v for v in axis.values if v in found]
    values = [found[v] for v in shown]
    fig, ax = plt.subplots(figsize=(max(6.0, 0.5 * len(shown) + 3), 4))
    ax.plot(range(len(shown)), values, marker="o")
    best = (min if by in LOWER_IS_BETTER else max)(range(len(values)), key=values.__getitem__)
    ax.plot([best], [values[best]], marker="*", markersize=16, color="tab:red", linestyle="none",
            label=f"best: {axis.key}={as_text(shown[best])}")  # fmt: skip
    ax.set_xticks(range(len(shown)), [as_text(v) for v in shown])
    ax.set_xlabel(axis.key)
    ax.set_ylabel(by)
    ax.set_title(f"gridbot sweep: {by}")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_heatmap(axes: Sequence[Axis], results: Sequence[Result], by: str, path: Path) -> None:
    """`by` over the first two swept keys; with more keys swept, each cell shows the best over the rest."""
    x, y = axes[0], axes[1]
    best = min if by in LOWER_IS_BETTER else max
    grid = np.full((len(y.values), len(x.values)), np.nan)
    for r in results:
        i, j = y.values.index(r.combo.values[1]), x.values.index(r.combo.values[0])
        value = float(r.summary[by])
        grid[i, j] = value if np.isnan(grid[i, j]) else best(grid[i, j], value)
    fig, ax = plt.subplots(figsize=(1.2 * len(x.values) + 3, 0.8 * len(y.values) + 2))
    image = ax.imshow(grid, cmap="viridis_r" if by in LOWER_IS_BETTER else "viridis", origin="lower",
                      aspect="auto")  # fmt: skip
    ax.set_xticks(range(len(x.values)), [as_text(v) for v in x.values])
    ax.set_yticks(range(len(y.values)), [as_text(v) for v in y.values])
    ax.set_xlabel(x.key)
    ax.set_ylabel(y.key)
    low, high = float(np.nanmin(grid)), float(np.nanmax(grid))
    for (i, j), value in np.ndenumerate(grid):
        if not np.isnan(value):
            place = (value - low) / (high - low) if high > low else 0.5
            light = place < 0.4 if by in LOWER_IS_BETTER else place > 0.6  # viridis' yellow end
            ax.text(j, i, f"{value:g}", ha="center", va="center", color="black" if light else "white",
                    fontsize=8)  # fmt: skip
    rest = f" (best over {', '.join(a.key for a in axes[2:])})" if len(axes) > 2 else ""
    ax.set_title(f"gridbot sweep: {by}{rest}")
    fig.colorbar(image, ax=ax, label=by)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
