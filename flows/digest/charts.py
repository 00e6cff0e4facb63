"""Digest charts as PNG bytes: topic mix by week and the stance trend (matplotlib, Agg backend).

matplotlib is imported lazily, with the Agg backend (no display) and MPLCONFIGDIR pointed at a
folder we own, so it never writes to $HOME and never looks for fonts it would have to fetch.
Labels are topic and stance ids (ASCII): page titles, and so CJK text, never reach a chart.
"""

from __future__ import annotations

import io
import math
import os
import re
import tempfile
from collections.abc import Mapping, Sequence
from datetime import date
from pathlib import Path
from typing import Any

TOPIC_COLOURS = {
    "diplomacy": "#1f77b4",
    "trade_economy": "#2ca02c",
    "energy": "#ff7f0e",
    "military_security": "#d62728",
    "technology_space": "#9467bd",
    "culture_people": "#8c564b",
    "multilateral": "#17becf",
    "regional_conflict": "#7f7f7f",
}
STANCE_COLOURS = {"positive": "#2ca02c", "neutral": "#7f7f7f", "skeptical": "#d62728"}


def _pyplot(config_dir: Path | None) -> Any:
    """pyplot with the Agg backend; MPLCONFIGDIR under `config_dir` (else a temp folder)."""
    folder = config_dir or Path(tempfile.gettempdir()) / "crwatch-matplotlib"
    folder.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("MPLCONFIGDIR", str(folder))
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _png(fig: Any, plt: Any) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100, metadata={"Software": None})
    plt.close(fig)
    return buffer.getvalue()


def _label(value: str) -> str:
    """A chart label: ASCII only (ids like `trade_economy`), so no glyph is ever missing."""
    text = re.sub(r"[$\\^{}]", "", value.replace("_", " "))  # no mathtext from data
    return text.encode("ascii", "replace").decode("ascii")[:40]


def topic_mix_chart(
    weeks: Sequence[date],
    shares: Mapping[str, Sequence[float]],
    config_dir: Path | None = None,
) -> bytes:
    """Grouped horizontal bars: each topic's share of relevant documents, per week (last = bold)."""
    plt = _pyplot(config_dir)
    topics = sorted(shares, key=lambda t: -shares[t][-1] if shares[t] else 0.0)
    height = max(2.4, 0.42 * len(topics) + 1.2)
    fig, ax = plt.subplots(figsize=(6.4, height))
    count = max(len(weeks), 1)
    bar = 0.8 / count
    for w_index, week in enumerate(weeks):
        values = [shares[t][w_index] * 100 for t in topics]
        positions = [i + (count - 1 - w_index) * bar - 0.4 + bar / 2 for i in range(len(topics))]
        latest = w_index == len(weeks) - 1
        ax.barh(
            positions,
            values,
            height=bar * 0.9,
            color=[TOPIC_COLOURS.get(t, "#444444") for t in topics],
            alpha=1.0 if latest else 0.35,
            label=f"week of {week.isoformat()}",
        )
    ax.set_yticks(range(len(topics)), [_label(t) for t in topics])
    ax.invert_yaxis()
    ax.set_xlabel("% of relevant documents (a document may have several topics)")
    ax.set_title("Topic mix: this week (solid) vs the weeks before (faded)", fontsize=10)
    ax.spines[["top", "right"]].set_visible(False)
    if not topics:
        ax.set_xlim(0, 100)
        ax.text(0.5, 0.5, "no relevant documents", ha="center", va="center",
                transform=ax.transAxes)  # fmt: skip
    fig.tight_layout()
    return _png(fig, plt)


def stance_trend_chart(
    weeks: Sequence[date],
    shares: Mapping[str, Sequence[float]],
    config_dir: Path | None = None,
) -> bytes:
    """Lines of positive / neutral / skeptical shares per week (NaN: no data, a gap)."""
    plt = _pyplot(config_dir)
    fig, ax = plt.subplots(figsize=(6.4, 2.9))
    positions = list(range(len(weeks)))
    for stance in ("positive", "neutral", "skeptical"):
        values = [v * 100 for v in shares.get(stance, [math.nan] * len(weeks))]
        ax.plot(positions, values, marker="o", color=STANCE_COLOURS[stance], label=stance)
    ax.set_xticks(positions, [w.strftime("%d %b") for w in weeks])
    ax.set_xlim(-0.5, max(len(weeks) - 0.5, 0.5))
    ax.set_ylim(0, 105)
    ax.set_ylabel("% of relevant docs")
    ax.set_title("Stance toward the relationship, by week (gaps: no data)", fontsize=10)
    ax.spines[["top", "right"]].set_visible(False)
    if all(math.isnan(v) for series in shares.values() for v in series):
        ax.text(0.5, 0.5, "no stance judgements in these weeks", ha="center", va="center",
                transform=ax.transAxes)  # fmt: skip
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.15), fontsize=8, frameon=False,
              ncols=3)  # fmt: skip
    ax.tick_params(axis="x", labelsize=8)
    fig.tight_layout()
    return _png(fig, plt)
