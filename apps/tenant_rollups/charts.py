"""Server-side PNGs of the digest's chart specs, for the e-mail (inline CID images: mail
clients block remote images but show inline ones). Pure: no Django.

Uses matplotlib's object API on the Agg canvas (no pyplot global state, safe in a worker)."""

from __future__ import annotations

import io
from typing import Any

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

COLOURS = ["#9aa7c7", "#3456d1", "#c0392b", "#2e7d4f"]


def render_png(chart: dict[str, Any]) -> bytes:
    """One chart spec (``kind`` bar or line, ``labels``, ``series``) as a small PNG."""
    fig = Figure(figsize=(5.2, 2.4), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    labels = [str(label) for label in chart["labels"]]
    series = chart["series"]
    positions = list(range(len(labels)))
    if chart["kind"] == "bar":
        width = 0.8 / max(len(series), 1)
        for i, s in enumerate(series):
            offset = (i - (len(series) - 1) / 2) * width
            ax.bar([x + offset for x in positions], s["values"], width, label=s["name"], color=COLOURS[i % 4])
    else:
        for i, s in enumerate(series):
            # None (no data that week) leaves a gap instead of a made-up zero.
            values = [float("nan") if v is None else v for v in s["values"]]
            ax.plot(positions, values, marker="o", label=s["name"], color=COLOURS[(i + 1) % 4])
    ax.set_xticks(positions, labels, fontsize=7, rotation=20 if len(labels) > 4 else 0)
    ax.tick_params(axis="y", labelsize=7)
    ax.set_title(chart["title"], fontsize=9)
    ax.spines[["top", "right"]].set_visible(False)
    ax.legend(fontsize=7, frameon=False)
    fig.tight_layout()
    out = io.BytesIO()
    fig.savefig(out, format="png")
    return out.getvalue()
