"""The report of a programme: supply against demand by year, where the capital goes, GW by site, and a
map of the campuses on plain coordinates."""

from __future__ import annotations

import html
from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.offline import get_plotlyjs

from neocloud import formatting
from neocloud.backtest import REFERENCE
from neocloud.report.parts import figure_html, format_value

CAPEX_PARTS = (
    ("capex_it_usd", "chips and IT"),
    ("capex_facility_usd", "facilities"),
    ("capex_power_usd", "on-site power"),
)
STYLE = (
    "body{font-family:system-ui,sans-serif;margin:2em auto;max-width:1100px;color:#222}"
    "table{border-collapse:collapse}td,th{padding:3px 10px;border-bottom:1px solid #ddd;text-align:right}"
    "td:first-child,th:first-child{text-align:left}h2{margin-top:1.6em}"
)


def _table(header: list[str], rows: list[list[Any]]) -> str:
    head = "".join(f"<th>{html.escape(name)}</th>" for name in header)
    body = "".join(
        "<tr>" + "".join(f"<td>{format_value(cell)}</td>" for cell in row) + "</tr>" for row in rows
    )
    return f"<table><tr>{head}</tr>{body}</table>"


def _text_table(header: list[str], rows: list[list[str]]) -> str:
    head = "".join(f"<th>{html.escape(name)}</th>" for name in header)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(cell)}</td>" for cell in row) + "</tr>" for row in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def supply_figure(summary: dict[str, Any]) -> go.Figure:
    """Accelerators supplied, demanded and delivered by calendar year."""
    figure = go.Figure()
    for key, label in (
        ("accelerators_supplied_per_year", "supplied"),
        ("accelerators_demanded_per_year", "demanded"),
        ("accelerators_delivered_per_year", "delivered to campuses"),
    ):
        figure.add_bar(x=summary["years"], y=summary[key], name=label)
    figure.update_layout(
        title="Accelerators by year: supply against demand",
        barmode="group",
        yaxis_title="accelerators per year",
    )
    return figure


def capital_figure(summary: dict[str, Any]) -> go.Figure:
    """Where the capital goes: chips, facilities, power (and fabs), with the envelope's phasing by year."""
    figure = go.Figure()
    parts = [(label, summary.get(key) or 0.0) for key, label in CAPEX_PARTS]
    if summary.get("fab_capex_usd"):
        parts.append(("fabs, packaging and HBM", summary["fab_capex_usd"]))
    figure.add_bar(x=[label for label, _ in parts], y=[value for _, value in parts], name="capex (USD)")
    if summary.get("capital_envelope_usd"):
        figure.add_hline(
            y=summary["capital_envelope_usd"], line_dash="dash", annotation_text="capital envelope"
        )
    figure.update_layout(title="Where the capital goes", yaxis_title="USD")
    return figure


def capex_year_figure(summary: dict[str, Any]) -> go.Figure:
    """Campus capex by year against the envelope's phasing."""
    figure = go.Figure()
    figure.add_bar(x=summary["years"], y=summary["capex_usd_per_year"], name="campus capex")
    if "capital_envelope_usd_per_year" in summary:
        figure.add_scatter(
            x=summary["years"],
            y=summary["capital_envelope_usd_per_year"],
            name="envelope phasing",
            mode="lines+markers",
        )
    figure.update_layout(title="Capex by year", yaxis_title="USD per year")
    return figure


def sites_figure(summary: dict[str, Any]) -> go.Figure:
    """Facility GW by campus."""
    rows = summary["campus_results"]
    figure = go.Figure()
    figure.add_bar(
        x=[row["name"] for row in rows], y=[row["facility_power_mw"] / 1000 for row in rows], name="GW"
    )
    figure.update_layout(title="Facility power by site", yaxis_title="GW")
    return figure


def campus_coordinates(results: Any) -> list[dict[str, Any]]:
    """Each campus's name, latitude and longitude (its climate row's), facility MW and capex; campuses
    whose climate has no coordinates are left out."""
    rows = {row["name"]: row for row in results.summary()["campus_results"]}
    climates = results.programme.catalog.table("climates")
    out = []
    for campus in results.programme.campuses:
        climate = climates.loc[campus.scenario.site.climate] if campus.scenario.site.climate in climates.index else None
        if climate is None or "longitude" not in climate.index:
            continue
        latitude, longitude = float(climate["latitude"]), float(climate["longitude"])
        if not (np.isfinite(latitude) and np.isfinite(longitude)):
            continue
        row = rows.get(campus.name, {})
        out.append({"name": campus.name, "latitude": latitude, "longitude": longitude,
                    "facility_power_mw": float(row.get("facility_power_mw") or 0.0),
                    "capex_usd": row.get("capex_usd")})
    return out


def map_figure(results: Any) -> go.Figure | None:
    """The campuses on plain longitude/latitude axes (no map tiles: nothing is fetched), sized by facility MW."""
    points = campus_coordinates(results)
    if not points:
        return None
    largest = max(point["facility_power_mw"] for point in points) or 1.0
    figure = go.Figure()
    figure.add_scatter(
        x=[point["longitude"] for point in points],
        y=[point["latitude"] for point in points],
        mode="markers+text",
        text=[point["name"] for point in points],
        textposition="top center",
        marker={"size": [12 + 28 * np.sqrt(point["facility_power_mw"] / largest) for point in points],
                "color": "rgba(59,110,165,0.6)", "line": {"width": 1, "color": "#1f3a5f"}},
        hovertext=[f"{point['name']}: {formatting.format_value(point['facility_power_mw'], 'MW')}, "
                   f"capex {formatting.format_value(point['capex_usd'], 'USD')}" for point in points],
        hoverinfo="text",
        name="campuses",
    )
    figure.update_layout(
        title="Where the campuses are (marker area by facility power; plain coordinates, no map tiles)",
        xaxis={"title": "longitude (°E)", "zeroline": False},
        yaxis={"title": "latitude (°N)", "zeroline": False, "scaleanchor": "x", "scaleratio": 1.2},
        showlegend=False,
    )
    return figure


def key_figures(summary: dict[str, Any]) -> list[list[str]]:
    """The summary's single figures as [label, value] with units, then the key name for the JSON."""
    return [
        [formatting.label(key), formatting.format_value(value, formatting.unit(key)), key]
        for key, value in summary.items()
        if not isinstance(value, list | dict) and key != "scenario" and not key.endswith(("_p10", "_p90"))
    ]


def fab_figure(results: Any) -> go.Figure | None:
    """Accelerators made by year and each leg's limit (fab plans only)."""
    stage = results.fab_stage
    if stage is None:
        return None
    figure = go.Figure()
    years = stage["year"].values
    made = np.median(stage["accelerators_made_per_year"].values, axis=0)
    figure.add_bar(x=years, y=made, name="accelerators made")
    limits = np.median(stage["accelerators_limit_per_quarter"].values, axis=0)
    for index, leg in enumerate(stage["leg"].values):
        per_year = limits[index].reshape(len(years), -1).sum(axis=1)
        figure.add_scatter(x=years, y=per_year, name=f"{leg} limit", mode="lines")
    figure.update_layout(
        title="Accelerators made per year and the limit of each leg", yaxis_title="accelerators per year"
    )
    return figure


PER_GW_BASES = (
    ("facility_power_mw", "per GW of facility power (an ordinary hour)"),
    ("facility_peak_power_mw", "per GW of facility power (the design day)"),
    ("utility_capacity_mw", "per GW of utility capacity"),
    ("it_power_mw", "per GW of critical IT"),
)


def per_gw_table(summary: dict[str, Any]) -> str:
    """Capex per GW on each power basis beside the public figures (``reference/programme_costs.csv``),
    whose GW is rarely said to be one basis or another."""
    public = pd.read_csv(REFERENCE / "programme_costs.csv")
    capex = float(summary.get("capex_usd") or 0.0)
    ours = [[f"this programme, {label}", capex / (float(summary[key]) / 1000.0)]
            for key, label in PER_GW_BASES if summary.get(key)]
    theirs = [[f"{row.name} ({row.source})", float(usd)]
              for row, usd in zip(public.itertuples(), public["usd_per_gw"].to_numpy(dtype=float), strict=True)]
    return _table(["capex per GW", "USD per GW"], ours + theirs)


def render_programme(results: Any) -> str:
    """The whole report of a programme run as one self-contained HTML document (plotly.js inlined)."""
    summary = results.summary()
    figures = [
        supply_figure(summary),
        capital_figure(summary),
        capex_year_figure(summary),
        sites_figure(summary),
    ]
    for extra in (map_figure(results), fab_figure(results)):
        if extra is not None:
            figures.append(extra)
    campus_rows = [
        [
            row["name"],
            row["accelerators"],
            row["facility_power_mw"],
            row["capex_usd"],
            row["delivered_frac"],
            row["delay_months"],
        ]
        for row in summary["campus_results"]
    ]
    title = html.escape(f"neocloud programme report: {summary['scenario']}")
    return "\n".join(
        [
            "<!DOCTYPE html>",
            "<html lang='en'><head><meta charset='utf-8'>",
            f"<title>{title}</title>",
            f"<style>{STYLE}</style>",
            f"<script type='text/javascript'>{get_plotlyjs()}</script>",
            "</head><body>",
            f"<h1>{title}</h1>",
            f"<p>{html.escape(results.programme.spec.description)}</p>",
            "<h2>Key figures</h2>",
            _text_table(["figure", "value", "key in summary.json"], key_figures(summary)),
            "<h2>Capital per GW beside public figures</h2>",
            per_gw_table(summary),
            "<h2>Campuses</h2>",
            _table(
                ["campus", "accelerators", "facility MW", "capex USD", "delivered share", "delay (months)"],
                campus_rows,
            ),
            *[f"<div>{figure_html(figure)}</div>" for figure in figures],
            "</body></html>",
        ]
    )
