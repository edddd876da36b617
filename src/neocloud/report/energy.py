"""Report section of the energy stage: supply mix over a typical week and over the horizon."""

from __future__ import annotations

from typing import Any

import plotly.graph_objects as go

from neocloud.report import parts

COLOURS = {
    "grid": "#6baed6",
    "gas": "#fd8d3c",
    "solar": "#fed976",
    "battery": "#74c476",
    "curtailed": "#de2d26",
}


def section(results: Any) -> str | None:
    """Hourly supply by source over a typical July week, and monthly energy by source (median draw)."""
    ds = results.dataset
    if "typical_week_supply_mw" not in ds:
        return None
    week = ds["typical_week_supply_mw"].median("draw")
    hours = ds["hour_of_week"].values
    weekly = go.Figure()
    for source in (str(name) for name in ds["source"].values):
        values = week.sel(source=source).values
        if abs(values).max() > 0:
            weekly.add_scatter(
                x=hours,
                y=values,
                name=source,
                stackgroup="supply" if source != "battery" else None,
                line={"color": COLOURS.get(source)},
            )
    weekly.add_scatter(
        x=hours,
        y=ds["typical_week_demand_mw"].median("draw").values,
        name="facility demand",
        line={"color": "black", "dash": "dot"},
    )
    weekly.update_layout(
        title="Supply over a typical July week at full build-out (MW)",
        xaxis_title="hour of the week",
        yaxis_title="MW",
    )
    monthly = go.Figure()
    dates = [str(value)[:7] for value in ds["date"].values]
    by_source = ds["energy_by_source_mwh"].median("draw")
    for source in (str(name) for name in ds["source"].values):
        values = by_source.sel(source=source).values
        if abs(values).max() > 0:
            monthly.add_bar(x=dates, y=values, name=source, marker_color=COLOURS.get(source))
    monthly.update_layout(barmode="relative", title="Energy by source by month (MWh)", yaxis_title="MWh")
    summary = results.summary()
    facts = "".join(
        f"<li>{label}: {parts.format_value(summary.get(key))}</li>"
        for key, label in (
            ("annual_energy_mwh", "facility energy per year (MWh)"),
            ("realised_pue", "realised PUE"),
            ("energy_cost_usd_per_year", "energy cost per year (USD)"),
            ("co2_t_per_year", "CO2 per year (t)"),
            ("curtailed_mwh_per_year", "IT energy curtailed per year (MWh)"),
            ("water_m3_per_year", "water per year (m3)"),
        )
    )
    return (
        "<section id='energy'><h2>Energy</h2><ul>"
        + facts
        + "</ul>"
        + parts.figure_html(weekly)
        + parts.figure_html(monthly)
        + "</section>"
    )
