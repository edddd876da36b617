"""Report section of the finance stage: sources and uses of funds, the cash-flow waterfall by year, debt
and DSCR, and what a GPU-hour costs."""

from __future__ import annotations

import html
from typing import Any

import numpy as np
import plotly.graph_objects as go

from neocloud.catalog import load_catalog
from neocloud.report import parts

WATERFALL = (
    ("revenue_usd", "Revenue", 1),
    ("opex_usd", "Opex", -1),
    ("tax_usd", "Tax", -1),
    ("capex_spend_usd", "Capex", -1),
    ("debt_draw_usd", "Debt drawn", 1),
    ("debt_service_usd", "Debt service", -1),
    ("debt_fees_usd", "Fees", -1),
)


def _median(dataset: Any, name: str) -> np.ndarray:
    """The median over draws, NaN where no draw has a value (e.g. a DSCR in a month without debt service)."""
    values = np.asarray(dataset[name].values, dtype=float)
    if values.shape[0] == 1:
        return values[0]
    some = np.isfinite(values).any(axis=0)
    median = np.full(values.shape[1:], np.nan)
    median[some] = np.nanmedian(values[:, some], axis=0)
    return median


def _billions(value: float) -> str:
    return f"{value / 1e9:,.2f}"


def sources_and_uses(dataset: Any) -> str:
    """Table of where the money came from and where it went over the horizon (USD billion, median draw)."""
    total = {
        name: float(np.median(np.asarray(dataset[name].values, dtype=float).sum(axis=1)))
        for name in (
            "debt_draw_usd",
            "equity_in_usd",
            "cfads_usd",
            "capex_spend_usd",
            "debt_fees_usd",
            "interest_usd",
            "principal_usd",
            "distributions_usd",
        )
    }
    sources = [
        ("Debt drawn", total["debt_draw_usd"]),
        ("Equity invested", total["equity_in_usd"]),
        ("Cash from operations (CFADS)", total["cfads_usd"]),
    ]
    uses = [
        ("Capex", total["capex_spend_usd"]),
        ("Fees", total["debt_fees_usd"]),
        ("Interest paid", total["interest_usd"]),
        ("Principal repaid", total["principal_usd"]),
        ("Distributions to equity", total["distributions_usd"]),
    ]
    padded = sources + [("", None)] * (len(uses) - len(sources))
    rows = "".join(
        f"<tr><td>{html.escape(left)}</td><td>{'' if amount is None else _billions(amount)}</td>"
        f"<td>{html.escape(right)}</td><td>{_billions(spent)}</td></tr>"
        for (left, amount), (right, spent) in zip(padded, uses, strict=True)
    )
    return (
        "<h3>Sources and uses of funds over the horizon (USD billion)</h3>"
        f"<table><tr><th>Sources</th><th></th><th>Uses</th><th></th></tr>{rows}</table>"
    )


def waterfall_by_year(dataset: Any) -> str:
    """Stacked bars of the cash flows of each calendar year, and the equity flow as a line (median draw)."""
    years = dataset["date"].values.astype("datetime64[Y]").astype(int) + 1970
    labels = np.unique(years)
    by_year = (years[:, None] == labels[None, :]).astype(float)
    figure = go.Figure()
    for name, label, sign in WATERFALL:
        figure.add_bar(name=label, x=labels, y=sign * (_median(dataset, name) @ by_year) / 1e9)
    figure.add_scatter(
        name="Equity flow",
        x=labels,
        y=(_median(dataset, "equity_flow_usd") @ by_year) / 1e9,
        mode="lines+markers",
        line={"color": "black"},
    )
    figure.update_layout(
        barmode="relative",
        title="Cash flow by year (USD billion)",
        yaxis_title="USD billion",
        legend={"orientation": "h", "y": -0.2},
    )
    return parts.figure_html(figure)


def debt_and_cover(dataset: Any) -> str:
    """Debt balance by month and the trailing-twelve-month DSCR (median draw); nothing without debt."""
    dates = dataset["date"].values
    if "debt_balance_usd" not in dataset or not np.nanmax(_median(dataset, "debt_balance_usd"), initial=0.0) > 0:
        return "<p class='meta'>No debt: no debt balance or DSCR to chart.</p>"
    figure = go.Figure()
    figure.add_scatter(
        name="Debt balance (USD billion)", x=dates, y=_median(dataset, "debt_balance_usd") / 1e9
    )
    figure.add_scatter(name="DSCR, trailing 12 months", x=dates, y=_median(dataset, "dscr"), yaxis="y2")
    figure.update_layout(
        title="Debt balance and DSCR",
        yaxis={"title": "USD billion"},
        yaxis2={"title": "DSCR", "overlaying": "y", "side": "right", "tickformat": ".2f", "hoverformat": ".2f"},
        legend={"orientation": "h", "y": -0.2},
    )
    return parts.figure_html(figure)


def cost_per_gpu_hour(dataset: Any) -> str:
    """The levelised cost of a GPU-hour sold, by component (median draw)."""
    components = [str(name).replace("_", " ") for name in dataset["cost_component"].values]
    values = np.median(np.asarray(dataset["cost_breakdown_usd_per_gpu_hour"].values, dtype=float), axis=0)
    figure = go.Figure(go.Bar(x=components, y=values))
    figure.update_layout(
        title="Levelised cost per GPU-hour sold (USD), whole campus", yaxis_title="USD/GPU-hour"
    )
    return parts.figure_html(figure)


def contracted_and_merchant(dataset: Any) -> str:
    """Revenue by calendar year: under contract (or lease term), the spot or merchant tail, and energy passed
    through; with opex per MW of IT by cost class in the last year next to a public benchmark."""
    if "revenue_contracted_usd" not in dataset:
        return ""
    years = dataset["date"].values.astype("datetime64[Y]").astype(int) + 1970
    labels = np.unique(years)
    by_year = (years[:, None] == labels[None, :]).astype(float)
    contracted = _median(dataset, "revenue_contracted_usd") @ by_year
    passed = _median(dataset, "revenue_pass_through_usd") @ by_year
    merchant = _median(dataset, "revenue_usd") @ by_year - contracted - passed
    rows = "".join(
        f"<tr><td>{year}</td><td>{_billions(a)}</td><td>{_billions(b)}</td><td>{_billions(c)}</td></tr>"
        for year, a, b, c in zip(labels, contracted, merchant, passed, strict=True)
        if a or b or c
    )
    it_mw = float(np.median(dataset["it_power_mw"].values)) if "it_power_mw" in dataset else 0.0
    classes = [name for name in dataset.data_vars if name.startswith("opex_") and name.endswith("_usd")]
    opex = ""
    benchmark = load_catalog().value("finance_defaults", "opex_non_energy_benchmark_usd_per_mw_year")
    if it_mw > 0 and classes:
        last = {name: float(_median(dataset, name)[-12:].sum()) / it_mw for name in classes if name != "opex_usd"}
        non_energy = sum(value for name, value in last.items() if name != "opex_energy_usd")
        lines = "".join(
            f"<tr><td>{html.escape(name[5:-4].replace('_', ' '))}</td><td>{value / 1e3:,.0f}</td></tr>"
            for name, value in last.items()
            if value
        )
        opex = (
            "<h3>Opex per MW of IT, last year of the horizon (USD thousand per MW-year)</h3>"
            f"<table><tr><th>Class</th><th></th></tr>{lines}"
            f"<tr><td>all but energy</td><td>{non_energy / 1e3:,.0f}</td></tr>"
            f"<tr><td>public benchmark, all but energy (IREN's 85% margin)</td>"
            f"<td>{benchmark / 1e3:,.0f}</td></tr></table>"
        )
    return (
        "<h3>Revenue by year: contracted, spot or merchant, energy passed through (USD billion)</h3>"
        "<table><tr><th>Year</th><th>Contracted</th><th>Spot or merchant</th><th>Pass-through</th></tr>"
        f"{rows}</table>{opex}"
    )


def section(results: Any) -> str | None:
    """Sources and uses, the cash-flow waterfall by year, debt and DSCR, and the cost per GPU-hour."""
    dataset = results.dataset
    if "revenue_usd" not in dataset or "date" not in dataset:
        return None
    model = html.escape(str(results.scenario.finance.business_model).replace("_", " "))
    return (
        f"<section id='finance'><h2>Finance</h2><p>Business model: {model}.</p>"
        f"{sources_and_uses(dataset)}{contracted_and_merchant(dataset)}{waterfall_by_year(dataset)}"
        f"{debt_and_cover(dataset)}"
        f"{cost_per_gpu_hour(dataset)}</section>"
    )
