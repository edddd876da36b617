"""The report of an optimisation: what is built where and when, demand against capacity, shadow prices."""

from __future__ import annotations

import html
from typing import Any

import plotly.graph_objects as go
from plotly.offline import get_plotlyjs

from neocloud.report.parts import figure_html, format_value

_STYLE = """
body{font-family:system-ui,sans-serif;margin:2rem auto;max-width:1100px;color:#222}
h1{font-size:1.6rem}h2{font-size:1.25rem;margin-top:2rem;border-bottom:1px solid #ddd}
table{border-collapse:collapse;margin:0.5rem 0}td,th{border:1px solid #ddd;padding:4px 8px;text-align:right}
th{background:#f5f5f5}td:first-child,th:first-child{text-align:left}
.status-optimal{color:#1a7f37}.status-time_limit{color:#9a6700}.status-infeasible{color:#cf222e}
"""


def _table(rows: list[dict[str, Any]], columns: list[str]) -> str:
    head = "".join(f"<th>{html.escape(column)}</th>" for column in columns)
    body = "".join(
        "<tr>" + "".join(f"<td>{format_value(row.get(column))}</td>" for column in columns) + "</tr>"
        for row in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _timeline(result: dict[str, Any], quarters: list[str]) -> str:
    """Bars per site: construction (light) then operation (dark), labelled with design and buildings."""
    figure = go.Figure()
    last = len(quarters)
    for row in result["plan"]:
        start, online = quarters.index(row["start_quarter"]), quarters.index(row["online_quarter"])
        label = f"{row['design']} x{row['buildings']}"
        figure.add_trace(
            go.Bar(
                y=[row["site"]],
                x=[online - start],
                base=[start],
                orientation="h",
                marker_color="#9ecae1",
                name="construction",
                showlegend=False,
                hovertext=f"{label}: construction {row['start_quarter']} to {row['online_quarter']}",
            )
        )
        figure.add_trace(
            go.Bar(
                y=[row["site"]],
                x=[last - online],
                base=[online],
                orientation="h",
                marker_color="#08519c",
                name="online",
                showlegend=False,
                text=label,
                textposition="inside",
                hovertext=f"{label}: online from {row['online_quarter']}",
            )
        )
    figure.update_layout(
        barmode="overlay",
        title="What is built where and when (light: construction, dark: online)",
        xaxis={
            "tickmode": "array",
            "tickvals": list(range(0, last, max(1, last // 12))),
            "ticktext": quarters[:: max(1, last // 12)],
            "title": "quarter",
        },
    )
    return figure_html(figure)


def _capacity(result: dict[str, Any]) -> str:
    """Demand against capacity online, by region and quarter."""
    by_quarter = result.get("capacity_by_quarter") or {}
    quarters = by_quarter.get("quarters", [])
    figure = go.Figure()
    for region, series in by_quarter.get("regions", {}).items():
        unit = "accelerators" if series["unit"] == "accelerators" else "IT MW"
        figure.add_trace(
            go.Scatter(
                x=quarters,
                y=series["demand"],
                mode="lines",
                line={"dash": "dash"},
                line_shape="hv",
                name=f"{region} demand ({unit})",
            )
        )
        figure.add_trace(
            go.Scatter(
                x=quarters,
                y=series["capacity"],
                mode="lines",
                line_shape="hv",
                name=f"{region} capacity ({unit})",
            )
        )
    figure.update_layout(title="Demand against capacity online", xaxis_title="quarter")
    return figure_html(figure)


def _shadow(result: dict[str, Any]) -> str:
    """Bars of the binding constraints' shadow prices, and the value of one more MW at each site."""
    prices = result.get("shadow_prices") or {}
    binding = prices.get("binding", [])
    parts = [f"<p>{html.escape(str(prices.get('method', '')))}.</p>"]
    per_site = prices.get("site_power_usd_per_mw", {})
    if per_site:
        figure = go.Figure(go.Bar(x=list(per_site), y=list(per_site.values()), marker_color="#31a354"))
        figure.update_layout(
            title="Value of one more MW at each site, every quarter of the plan (USD per MW)",
            yaxis_title="USD per MW",
        )
        parts.append(figure_html(figure))
    if binding:
        rows = [
            {
                "constraint": item["constraint"],
                "where": item.get("site") or item.get("region") or str(item.get("year", "")),
                "when": item.get("quarter", item.get("year", "")),
                "value_usd": item["value_usd"],
                "per": item["per"],
            }
            for item in binding
        ]
        parts.append(_table(rows, ["constraint", "where", "when", "value_usd", "per"]))
    else:
        parts.append("<p>No constraint binds at the margin.</p>")
    return "".join(parts)


def render_optimization(result: dict[str, Any], portfolio: Any) -> str:
    """One self-contained HTML page for an optimisation result (plotly's JS inlined; nothing fetched)."""
    quarters = (result.get("capacity_by_quarter") or {}).get("quarters") or [
        portfolio.label(index) for index in range(portfolio.quarters)
    ]
    status = str(result["status"])
    figures = [
        (
            "Key figures",
            _table(
                [
                    {"figure": key, "value": result.get(key)}
                    for key in (
                        "status",
                        "objective",
                        "objective_usd",
                        "present_cost_usd",
                        "gap",
                        "solve_seconds",
                    )
                ],
                ["figure", "value"],
            )
            + f"<p class='status-{html.escape(status)}'>{html.escape(str(result.get('message', '')))}</p>",
        )
    ]
    figures.append(
        (
            "Plan",
            _table(result["plan"], ["site", "design", "buildings", "start_quarter", "online_quarter"])
            + _timeline(result, quarters),
        )
    )
    figures.append(
        (
            "Demand and capacity",
            _capacity(result)
            + (
                _table(result["unmet_demand"], ["region", "quarter", "unit", "demand", "capacity", "unmet"])
                if result["unmet_demand"]
                else ""
            ),
        )
    )
    figures.append(("Shadow prices of the binding constraints", _shadow(result)))
    realised = {key: value for key, value in (result.get("realised") or {}).items() if key != "campuses"}
    figures.append(
        (
            "The plan through the pipeline",
            _table([{"figure": key, "value": value} for key, value in realised.items()], ["figure", "value"]),
        )
    )
    body = "".join(f"<h2>{html.escape(title)}</h2>{content}" for title, content in figures)
    title = html.escape(f"neocloud optimisation: {portfolio.name}")
    return (
        f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>{title}</title>"
        f"<style>{_STYLE}</style><script>{get_plotlyjs()}</script></head>"
        f"<body><h1>{title}</h1><p>{html.escape(portfolio.description)}</p>{body}</body></html>"
    )
