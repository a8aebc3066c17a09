"""Attention alignment plots (common.synthesis)."""

from __future__ import annotations

import warnings
from pathlib import Path

from torch import Tensor

# --------------------------------------------------------------------------------------------- plotting

def plot_alignment(alignment: Tensor, path: str | Path, title: str = "") -> Path:
    """Save an attention alignment (decoder steps, input symbols) as a PNG heat map; returns the path.

    Uses matplotlib's object API with the Agg canvas (no pyplot state, safe in threads and tests).
    """
    # deferred: matplotlib is slow to import; only --plot needs it
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    # deferred: matplotlib is slow to import; only --plot needs it
    from matplotlib.figure import Figure

    data = alignment.detach().float().cpu().numpy()
    if data.ndim != 2:
        raise ValueError(f"alignment must be 2-D (decoder steps, input symbols), got shape {data.shape}")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig = Figure(figsize=(8, 4.5), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.subplots()
    image = ax.imshow(data.T, aspect="auto", origin="lower", interpolation="none", vmin=0.0)
    fig.colorbar(image, ax=ax)
    ax.set_xlabel("decoder step")
    ax.set_ylabel("input symbol")
    with warnings.catch_warnings():  # a title in a script the font lacks only loses those glyphs
        warnings.filterwarnings("ignore", message="Glyph .* missing from font")
        if title:
            ax.set_title(title)
        fig.tight_layout()
        fig.savefig(path, format="png")
    return path
