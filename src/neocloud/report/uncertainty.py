"""Report section on uncertainty: fan charts over time, histograms of key outputs and a tornado chart.

Shown only for runs with more than one draw.
"""

from __future__ import annotations

import html
from typing import Any

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from neocloud.report.parts import figure_html
from neocloud.sensitivity import tornado
from neocloud.uncertainty import uncertain_inputs

# Monthly variables drawn as fans (P10-P90 band, P50 line), with their titles.
FANS = (
    ("accelerators_online", "Accelerators online"),
    ("it_power_online_mw", "IT power online (MW)"),
    ("energy_cost_usd", "Energy cost per month (USD)"),
    ("bf16_pflops_online", "BF16 PFLOP/s online"),
    ("cash_flow_usd", "Cash flow per month (USD)"),
)
# Summary outputs drawn as histograms.
HISTOGRAMS = (
    ("cost_usd_per_gpu_hour", "Cost per GPU-hour (USD)"),
    ("npv_usd", "NPV (USD)"),
    ("capex_usd", "Capex (USD)"),
    ("full_capacity_month", "Full capacity (months from start)"),
)
TORNADO_OUTPUT = "cost_usd_per_gpu_hour"
BAND_COLOUR = "rgba(31, 119, 180, 0.25)"


def fan_chart(dataset: Any, name: str, title: str) -> go.Figure:
    """P10-P90 band and P50 line over the months of a (draw, month) variable."""
    values = np.asarray(dataset[name].values, dtype=float)
    low, middle, high = np.nanpercentile(values, [10, 50, 90], axis=0)
    dates = dataset["date"].values
    figure = go.Figure()
    figure.add_trace(
        go.Scatter(x=dates, y=high, mode="lines", line={"width": 0}, showlegend=False, hoverinfo="skip")
    )
    figure.add_trace(
        go.Scatter(
            x=dates,
            y=low,
            mode="lines",
            line={"width": 0},
            fill="tonexty",
            fillcolor=BAND_COLOUR,
            name="P10-P90",
        )
    )
    figure.add_trace(
        go.Scatter(x=dates, y=middle, mode="lines", line={"color": "rgb(31, 119, 180)"}, name="P50")
    )
    figure.update_layout(title=title, xaxis_title="month", yaxis_title=dataset[name].attrs.get("units", ""))
    return figure


def histograms(dataset: Any, keys: list[tuple[str, str]]) -> go.Figure:
    """One histogram per summary output, side by side, with P10/P50/P90 marked."""
    figure = make_subplots(rows=1, cols=len(keys), subplot_titles=[title for _, title in keys])
    for column, (name, _) in enumerate(keys, start=1):
        values = np.asarray(dataset[name].values, dtype=float)
        values = values[np.isfinite(values)]
        figure.add_trace(
            go.Histogram(x=values, nbinsx=40, showlegend=False, marker_color="rgb(31, 119, 180)"),
            row=1,
            col=column,
        )
        for level, value in zip(("P10", "P50", "P90"), np.percentile(values, [10, 50, 90]), strict=True):
            figure.add_vline(
                x=float(value), line_dash="dot" if level != "P50" else "solid", row=1, col=column
            )
    figure.update_layout(title="Distributions of key outputs (lines: P10, P50, P90)")
    return figure


def tornado_chart(results: Any, output: str) -> go.Figure | None:
    """Bars of the output with each input at its P10 and P90 (others at median); None without inputs."""
    if not uncertain_inputs(results.scenario) or output not in results.dataset:
        return None
    median, swings = tornado(results.scenario, output)
    swings = [item for item in swings if np.isfinite(item.swing)][::-1]
    names = [item.input for item in swings]
    figure = go.Figure()
    figure.add_trace(
        go.Bar(
            y=names,
            x=[item.low_output - median for item in swings],
            base=median,
            orientation="h",
            name="input at P10",
        )
    )
    figure.add_trace(
        go.Bar(
            y=names,
            x=[item.high_output - median for item in swings],
            base=median,
            orientation="h",
            name="input at P90",
        )
    )
    figure.update_layout(
        barmode="overlay",
        title=f"What drives {output} (median case {median:,.4g})",
        xaxis_title=output,
        yaxis={"automargin": True},
    )
    return figure


def section(results: Any) -> str | None:
    """Fan charts, histograms and a tornado chart, for runs with more than one draw."""
    if getattr(results, "draws", 1) <= 1:
        return None
    dataset = results.dataset
    parts = [
        "<section id='uncertainty'><h2>Uncertainty</h2>",
        f"<p>{results.draws:,} draws (seed {results.seed}); bands and lines show P10, P50 and P90.</p>",
    ]
    for name, title in FANS:
        if name in dataset and dataset[name].dims == ("draw", "month"):
            parts.append(figure_html(fan_chart(dataset, name, title)))
    keys = [
        (name, title)
        for name, title in HISTOGRAMS
        if name in dataset and dataset[name].dims == ("draw",) and np.isfinite(dataset[name].values).any()
    ]
    if keys:
        parts.append(figure_html(histograms(dataset, keys)))
    if getattr(results, "run_id", None) is not None:  # a kept run is drawn as kept: no model run again
        parts.append("<p>A kept run's report shows what the run kept; the tornado chart, which runs the model "
                     f"again per input, is drawn by neocloud sensitivity {html.escape(results.scenario.name)}.</p>")
        chart = None
    else:
        chart = tornado_chart(results, TORNADO_OUTPUT)
    if chart is not None:
        parts.append(figure_html(chart))
        parts.append(
            f"<p>Each bar moves one input, named by its field path, from its median to its P10 or P90 "
            f"with the others at their medians (neocloud sensitivity {html.escape(results.scenario.name)!s} "
            f"gives Sobol' indices too).</p>"
        )
    parts.append("</section>")
    return "\n".join(parts)
