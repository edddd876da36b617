"""Assemble the report: key figures first, then one section per stage, then the inputs and their sources.

One self-contained HTML file (plotly's JavaScript inlined from the installed package, nothing fetched),
readable on screen and when printed to PDF. With draws, the key figures carry P10–P90 ranges and the
overview chart a P10–P90 band.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from typing import Any

import numpy as np
import plotly.graph_objects as go
from jinja2 import Environment, PackageLoader, select_autoescape
from markupsafe import Markup
from plotly.offline import get_plotlyjs

from neocloud import formatting
from neocloud.catalog import Catalog
from neocloud.load import catalog_references, scenario_catalog
from neocloud.report import buildout, compute, design, energy, finance, reliability, uncertainty
from neocloud.report import inference as serving
from neocloud.report.parts import figure_html, format_value, typical
from neocloud.version import code_version

SECTIONS = (design, buildout, energy, compute, reliability, finance, serving, uncertainty)
__all__ = ["SECTIONS", "figure_html", "format_value", "render", "typical"]  # the parts, named here as before

# Autoescape everything: a user's string reaches the page as text. The only markup passed in whole is
# what the section modules build, and they escape every user string they put in it (see ``trusted``).
_ENV = Environment(
    loader=PackageLoader("neocloud.report", "templates"),
    autoescape=select_autoescape(["html"], default_for_string=True, default=True),
)
LINK_SCHEMES = ("https://", "http://")

# Key figures shown first (the registry's headline keys carry the reader's label and unit).
KEY_LABELS: dict[str, str] = {
    str(key): formatting.label(str(key))
    for key, entry in formatting.variables().items()
    if int(entry["headline"]) == 1 and entry["stage"] != "programme"
}
# Catalog columns worth showing beside a row's name, per table.
SHOWN_COLUMNS: dict[str, tuple[str, ...]] = {
    "systems": ("accelerator", "accelerators_per_system", "typical_power_kw", "price_usd"),
    "accelerators": ("tdp_w", "bf16_tflops", "price_usd"),
    "climates": ("design_day_c",),
    "regions": ("power_price_usd_per_mwh", "carbon_g_per_kwh"),
    "cooling": ("pue_min", "pue_max", "max_rack_kw"),
    "fabrics": ("power_w_per_accelerator", "capex_usd_per_accelerator"),
}


def key_figures(summary: dict[str, Any], start: str | None = None) -> list[dict[str, str]]:
    """The summary as labelled figures in their units, headline ones first, with P10–P90 ranges with draws."""
    keys = [key for key in KEY_LABELS if key in summary]
    keys += [
        key
        for key in summary
        if key not in KEY_LABELS and key not in ("scenario", "draws", "draws_computed")
        and not key.endswith(("_p10", "_p90"))
    ]
    figures = []
    for key in keys:
        unit = formatting.unit(key)
        spread = ""
        if f"{key}_p10" in summary:
            low, high = (formatting.format_value(summary.get(f"{key}_{end}"), unit, start) for end in ("p10", "p90"))
            spread = f"P10–P90 {low} – {high}"
        figures.append(
            {
                "key": key,
                "label": formatting.label(key),
                "value": formatting.format_value(summary[key], unit, start),
                "range": spread,
                "main": "main" if key in KEY_LABELS else "",
                "description": formatting.description(key),
            }
        )
    return figures


def glossary(summary: dict[str, Any]) -> list[dict[str, str]]:
    """Label, key, unit and meaning of every summary figure the registry describes, in registry order."""
    return [
        {"label": str(entry["label"]), "key": str(key), "unit": formatting.unit_text(str(entry["unit"])),
         "description": str(entry["description"])}
        for key, entry in formatting.variables().items()
        if key in summary and key not in ("scenario",)
    ]


def _band(figure: go.Figure, dates: np.ndarray, values: np.ndarray, name: str, color: str, axis: str) -> None:
    """A median line with a shaded P10–P90 band (the band only when the draws differ)."""
    values = np.where(np.isfinite(values), values, np.nan)
    with np.errstate(all="ignore"):
        p10, p50, p90 = np.nanpercentile(values, [10, 50, 90], axis=0)
    if not np.allclose(p10, p90, equal_nan=True):
        figure.add_scatter(
            x=dates, y=p90, mode="lines", line={"width": 0}, showlegend=False, yaxis=axis, hoverinfo="skip"
        )
        figure.add_scatter(
            x=dates,
            y=p10,
            mode="lines",
            line={"width": 0},
            fill="tonexty",
            yaxis=axis,
            fillcolor=color.replace("rgb", "rgba").replace(")", ",0.2)"),
            name=f"{name} P10–P90",
        )
    figure.add_scatter(
        x=dates, y=p50, mode="lines", line={"color": color}, name=f"{name} (median)", yaxis=axis
    )


def overview_chart(results: Any) -> str:
    """Accelerators online and facility power by month, with a P10–P90 fan when there are draws."""
    dataset = results.dataset
    if "accelerators_online" not in dataset or "date" not in dataset:
        return ""
    dates = dataset["date"].values
    figure = go.Figure()
    _band(
        figure,
        dates,
        np.asarray(dataset["accelerators_online"].values, dtype=float),
        "Accelerators online",
        "rgb(59,110,165)",
        "y",
    )
    if "facility_power_online_mw" in dataset:
        _band(
            figure,
            dates,
            np.asarray(dataset["facility_power_online_mw"].values, dtype=float),
            "Facility power (MW)",
            "rgb(217,130,43)",
            "y2",
        )
    figure.update_layout(
        title="Build-out at a glance",
        yaxis={"title": "accelerators"},
        yaxis2={"title": "MW", "overlaying": "y", "side": "right"},
        legend={"orientation": "h", "y": -0.2},
    )
    return figure_html(figure)


def _cell(value: Any) -> str:
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        value = int(value)
    if isinstance(value, float) and not np.isfinite(value):
        return "–"
    return format_value(value)


def catalog_inputs(scenario: Any, catalog: Catalog, file: str | None = None) -> list[dict[str, Any]]:
    """The catalog rows a scenario uses (and the accelerators of its systems), with their sources.

    Returns
    -------
    list of dict
        ``table``, ``id``, ``fields`` (scenario fields naming the row), ``name``, ``shown`` (the main
        columns as text), ``estimate``, ``sources`` (``title``, ``publisher``, ``year``, ``url``) and
        ``user``: for a row the scenario's own ``catalog:`` block adds or overrides, the file it came from
        (``file``, else "the scenario file"), otherwise empty.
    """
    user_rows = {(table, str(row.get("id", ""))) for table, added in (scenario.catalog or {}).items()
                 for row in added}
    used: dict[tuple[str, str], list[str]] = {}
    for path, table, value in catalog_references(scenario):
        used.setdefault((table, str(value)), []).append(".".join(path))
    for table, row_id in list(used):
        if table == "systems" and row_id in catalog.table("systems").index:
            accelerator = str(catalog.table("systems").loc[row_id, "accelerator"])
            used.setdefault(("accelerators", accelerator), []).append(f"systems.{row_id}.accelerator")
    rows = []
    for (table, row_id), fields in used.items():
        frame = catalog.table(table)
        if row_id not in frame.index:
            continue
        row = frame.loc[row_id]
        values = ", ".join(
            f"{column} {_cell(row[column])}" for column in SHOWN_COLUMNS.get(table, ()) if column in row.index
        )
        rows.append(
            {
                "table": table,
                "id": row_id,
                "fields": ", ".join(fields),
                "name": str(row.get("name", row_id)),
                "shown": values,
                "estimate": str(row.get("estimate", "")).lower() == "true",
                "notes": "" if not isinstance(row.get("notes"), str) else row["notes"],
                "sources": [_clean(source) for source in catalog.sources_of(table, row_id)],
                "user": (file or "the scenario file") if (table, row_id) in user_rows else "",
            }
        )
    return rows


def _clean(record: dict[str, Any]) -> dict[str, Any]:
    """A source record with empty cells (NaN) as empty strings and whole-number years as ints.

    A ``url`` that is not an http(s) address (``javascript:``, say) is dropped: the report links only to
    web pages.
    """
    out = {}
    for key, value in record.items():
        if isinstance(value, float):
            value = "" if not np.isfinite(value) else (int(value) if value.is_integer() else value)
        out[key] = value
    if not str(out.get("url", "")).lower().startswith(LINK_SCHEMES):
        out["url"] = ""
    return out


def trusted(fragment: str) -> Markup:
    """Markup built by this package (a section, a chart, plotly.js), every user string in it escaped."""
    return Markup(fragment)


def render(results: Any) -> str:
    """The whole report of a run as one self-contained HTML document."""
    summary = results.summary()
    sections = []
    for module in SECTIONS:
        fragment = module.section(results)
        if fragment:
            sections.append(fragment)
    scenario_text = results.source_text or results.scenario.model_dump_json(indent=2)
    try:
        inputs = catalog_inputs(results.scenario, scenario_catalog(results.scenario),
                                getattr(results, "path", None))
    except ValueError:  # a catalog the scenario's own rows no longer fit: the report still renders
        inputs = []
    draws = int(getattr(results, "draws", 1))
    return _ENV.get_template("report.html").render(
        title=f"neocloud report: {results.scenario.name}",
        scenario=results.scenario,
        figures=key_figures(summary, str(results.scenario.start)),
        glossary=glossary(summary),
        overview=trusted(overview_chart(results)),
        sections=[trusted(fragment) for fragment in sections],
        catalog_rows=inputs,
        scenario_text=scenario_text,
        meta={
            "draws": draws,
            "seed": getattr(results, "seed", 0),
            "version": getattr(results, "version", None) or code_version(),  # a kept run's: the code that made it
            "drawn_by": code_version() if getattr(results, "run_id", None) is not None else None,
            "sha256": hashlib.sha256(scenario_text.encode("utf-8")).hexdigest(),
            "made": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        },
        plotly_js=trusted(get_plotlyjs()),
    )
