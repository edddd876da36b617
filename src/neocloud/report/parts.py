"""The parts that the report's document and its sections share: charts, the typical draw, plain numbers."""

from __future__ import annotations

import html
from typing import Any

import numpy as np
import plotly.graph_objects as go

from neocloud import formatting


def figure_html(figure: go.Figure) -> str:
    """A plotly figure as an HTML fragment that uses the page's inlined plotly.js."""
    figure.update_layout(template="plotly_white", margin={"l": 60, "r": 20, "t": 50, "b": 50}, height=380)
    return figure.to_html(full_html=False, include_plotlyjs=False, config={"displaylogo": False})


def typical(dataset: Any) -> Any:
    """The dataset with its ``draw`` axis reduced to the median: what a section shows for one campus."""
    return dataset.median("draw") if dataset.sizes.get("draw", 1) > 1 else dataset.isel(draw=0)


def format_value(value: Any) -> str:
    """A number without a unit as a reader wants it (thousands separators, three significant figures)."""
    if isinstance(value, bool) or value is None:
        return "–" if value is None else str(value)
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return "–" if not np.isfinite(value) else formatting.quantity(value, "")
    return html.escape(str(value))
