"""The error surface of a grid: WER (or CER) over (alpha, beta) as a PNG, the minimum marked.

Like the seed's ``tuning_error_surface.png`` (a 3-D surface), with a top view beside it: a heat
map with contour lines, every grid point as a dot and the best point (chosen by
:func:`ds2ray.tune.results.select_best`) as a star with its value. A grid with a single alpha or a
single beta has no surface: the plot is then the error rate along the other axis. Drawn with
matplotlib's Agg backend (no display needed).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from ds2ray.tune.results import TuneResult


def error_matrix(result: "TuneResult") -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(alphas (A,), betas (B,), errors (A, B))`` of the result's error rate type."""
    alphas = np.array(sorted({p.alpha for p in result.points}))
    betas = np.array(sorted({p.beta for p in result.points}))
    errors = np.full((len(alphas), len(betas)), np.nan)
    ai = {a: i for i, a in enumerate(alphas.tolist())}
    bi = {b: j for j, b in enumerate(betas.tolist())}
    for p in result.points:
        errors[ai[p.alpha], bi[p.beta]] = p.rate(result.error_rate_type)
    return alphas, betas, errors


def plot_error_surface(result: "TuneResult", path: str, title: str | None = None) -> str:
    """Write the PNG to ``path`` (atomically) and return ``path``."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    from ds2ray import fileio

    kind = result.error_rate_type.upper()
    best = result.best
    best_value = best.rate(result.error_rate_type)
    alphas, betas, errors = error_matrix(result)
    title = title or (f"{kind} over (alpha, beta): {len(result.points)} points, {result.num_utterances} utterances; "
                      f"best {best_value:.4f} at alpha {best.alpha:g}, beta {best.beta:g}")
    label = f"alpha {best.alpha:g}, beta {best.beta:g}: {kind} {best_value:.4f}"
    if len(alphas) > 1 and len(betas) > 1:
        fig = plt.figure(figsize=(13, 5.2))
        ax3 = fig.add_subplot(1, 2, 1, projection="3d")
        A, B = np.meshgrid(alphas, betas, indexing="ij")
        ax3.plot_surface(A, B, errors, cmap="viridis", linewidth=0.2, edgecolor="k", alpha=0.85)
        ax3.scatter([best.alpha], [best.beta], [best_value], color="red", marker="*", s=200, depthshade=False)
        ax3.set_xlabel("alpha (LM weight)")
        ax3.set_ylabel("beta (word bonus)")
        ax3.set_zlabel(kind)
        ax = fig.add_subplot(1, 2, 2)
        mesh = ax.pcolormesh(betas, alphas, errors, cmap="viridis", shading="nearest")
        if len(alphas) > 2 and len(betas) > 2 and np.nanmax(errors) > np.nanmin(errors):
            contours = ax.contour(betas, alphas, errors, levels=8, colors="white", linewidths=0.6)
            ax.clabel(contours, fontsize=7, fmt="%.3f")
        ax.scatter(B.ravel(), A.ravel(), s=4, color="black", alpha=0.4)
        ax.scatter([best.beta], [best.alpha], color="red", marker="*", s=260, edgecolors="white", label=label, zorder=5)
        ax.set_xlabel("beta (word bonus)")
        ax.set_ylabel("alpha (LM weight)")
        fig.colorbar(mesh, ax=ax, label=kind)
        ax.legend(loc="upper right", fontsize=8)
    else:
        fig, ax = plt.subplots(figsize=(7, 4.5))
        along_alpha = len(alphas) > 1 or len(betas) == 1
        xs, ys = (alphas, errors[:, 0]) if along_alpha else (betas, errors[0, :])
        ax.plot(xs, ys, marker="o")
        ax.scatter([best.alpha if along_alpha else best.beta], [best_value], color="red", marker="*", s=260,
                   label=label, zorder=5)
        ax.set_xlabel("alpha (LM weight)" if along_alpha else "beta (word bonus)")
        ax.set_ylabel(kind)
        ax.legend(fontsize=8)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    with fileio.atomic_write(path, "wb") as fh:
        fig.savefig(fh, format="png", dpi=110)
    plt.close(fig)
    return path
