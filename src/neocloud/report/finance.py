"""Report section of the finance stage: where the money goes."""

from __future__ import annotations

from typing import Any

import plotly.graph_objects as go

from neocloud.report import document


def section(results: Any) -> str:
    """Capex by class and the cost per GPU-hour."""
    ds = results.dataset.isel(draw=0)
    labels = ["IT (systems, network, storage)", "Facility (building, fit-out, soft costs, land)"]
    values = [float(ds["capex_it_usd"]) / 1e9, float(ds["capex_facility_usd"]) / 1e9]
    figure = go.Figure(go.Bar(x=labels, y=values))
    figure.update_layout(title="Capital cost (USD billion)", yaxis_title="USD billion")
    return f"<section id='finance'><h2>Cost</h2>{document.figure_html(figure)}</section>"
