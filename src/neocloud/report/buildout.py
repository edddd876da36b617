"""Report section of the build-out stage: accelerators online by month, shaded by what binds."""

from __future__ import annotations

import html
from typing import Any

import numpy as np
import plotly.graph_objects as go

from neocloud.buildout import CONSTRAINTS
from neocloud.report import parts

SHADES = {
    "construction": "#d9d9d9",
    "equipment": "#fdd0a2",
    "power": "#fcbba1",
    "gpus": "#c6dbef",
    "installation": "#c7e9c0",
    "sequence": "#dadaeb",
}


def section(results: Any) -> str | None:
    """Accelerators online by month (median draw) with the binding constraint shaded behind it."""
    ds = results.dataset
    if "accelerators_online" not in ds:
        return None
    first = ds.isel(draw=0)
    dates = [str(value)[:7] for value in ds["date"].values]
    online = ds["accelerators_online"].median("draw").values
    codes = first["binding_constraint"].values
    figure = go.Figure()
    top = float(max(online.max(), 1.0))
    for name, colour in SHADES.items():
        mask = codes == CONSTRAINTS.index(name)
        if mask.any():
            figure.add_bar(
                x=dates,
                y=np.where(mask, top, 0.0),
                name=f"binding: {name}",
                marker_color=colour,
                opacity=0.6,
                width=1.0,
            )
    figure.add_scatter(x=dates, y=online, name="accelerators online", mode="lines", line={"color": "#08306b"})
    figure.update_layout(
        barmode="overlay",
        bargap=0,
        title="Accelerators online by month, shaded by what binds",
        yaxis_title="accelerators",
    )
    rows = "".join(
        f"<tr><td>{html.escape(phase)}</td><td>{_month(first['phase_construction_ready_month'].values[i], dates)}</td>"
        f"<td>{_month(first['phase_equipment_ready_month'].values[i], dates)}</td>"
        f"<td>{_month(first['phase_energised_month'].values[i], dates)}</td>"
        f"<td>{_month(first['phase_online_month'].values[i], dates)}</td></tr>"
        for i, phase in enumerate(str(name) for name in ds["phase"].values)
    )
    return (
        "<section id='buildout'><h2>Build-out</h2>"
        + parts.figure_html(figure)
        + "<table><tr><th>Phase</th><th>Construction done</th><th>Equipment arrived</th><th>Energised</th>"
        f"<th>All systems online</th></tr>{rows}</table></section>"
    )


def _month(value: float, dates: list[str]) -> str:
    if not np.isfinite(value):
        return "not within the horizon"
    index = int(value)
    return dates[index] if 0 <= index < len(dates) else f"month {index}"
