"""Assemble the report: key figures first, then one section per stage, then the inputs and their sources."""

from __future__ import annotations

import html
from typing import Any

import plotly.graph_objects as go
from jinja2 import Environment, PackageLoader, select_autoescape
from plotly.offline import get_plotlyjs

from neocloud.report import buildout, compute, design, energy, finance, reliability, uncertainty

SECTIONS = (design, buildout, energy, compute, reliability, finance, uncertainty)

_ENV = Environment(loader=PackageLoader("neocloud.report", "templates"), autoescape=select_autoescape(["html"]))


def figure_html(figure: go.Figure) -> str:
    """A plotly figure as an HTML fragment that uses the page's inlined plotly.js."""
    figure.update_layout(template="plotly_white", margin={"l": 60, "r": 20, "t": 50, "b": 50}, height=380)
    return figure.to_html(full_html=False, include_plotlyjs=False, config={"displaylogo": False})


def format_value(value: Any) -> str:
    """A number as a reader wants it: thousands separators, three significant figures for small ones."""
    if isinstance(value, bool) or value is None:
        return "–" if value is None else str(value)
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        if abs(value) >= 1e4:
            return f"{value:,.0f}"
        return f"{value:,.3g}"
    return html.escape(str(value))


def render(results: Any) -> str:
    """The whole report of a run as one self-contained HTML document."""
    summary = results.summary()
    sections = []
    for module in SECTIONS:
        fragment = module.section(results)
        if fragment:
            sections.append(fragment)
    return _ENV.get_template("report.html").render(
        title=f"neocloud report: {results.scenario.name}",
        scenario=results.scenario,
        summary=[(key, format_value(value)) for key, value in summary.items() if key != "scenario"],
        sections=sections,
        scenario_text=results.source_text or results.scenario.model_dump_json(indent=2),
        plotly_js=get_plotlyjs(),
    )
