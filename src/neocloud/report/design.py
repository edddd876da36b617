"""Report section of the design stage: what is built, and where the power goes."""

from __future__ import annotations

import html
from typing import Any

import plotly.graph_objects as go

from neocloud.design import POWER_BASES
from neocloud.report import parts


def section(results: Any) -> str:
    """Power breakdown per phase (IT, cooling, electrical losses) and the design table."""
    ds = parts.typical(results.dataset)
    phases = [str(name) for name in ds["phase"].values]
    figure = go.Figure()
    for key, label in (("phase_it_power_mw", "IT"), ("phase_cooling_power_mw", "Cooling and other"),
                       ("phase_electrical_loss_mw", "Electrical losses")):
        figure.add_bar(name=label, x=phases, y=ds[key].values)
    figure.update_layout(barmode="stack", title="Facility power in an ordinary hour at full IT load by phase (MW)",
                         yaxis_title="MW")
    rows = "".join(
        f"<tr><td>{html.escape(phase)}</td><td>{int(ds['phase_buildings'].values[i])}</td>"
        f"<td>{int(ds['phase_systems'].values[i]):,}</td><td>{int(ds['phase_accelerators'].values[i]):,}</td>"
        f"<td>{ds['phase_it_power_mw'].values[i]:,.1f}</td><td>{ds['phase_facility_power_mw'].values[i]:,.1f}</td></tr>"
        for i, phase in enumerate(phases))
    return (
        "<section id='design'><h2>Design</h2>"
        f"{parts.figure_html(figure)}"
        "<table><tr><th>Phase</th><th>Buildings</th><th>Systems</th><th>Accelerators</th><th>IT MW</th>"
        f"<th>Facility MW</th></tr>{rows}</table>{power_bases(ds)}</section>"
    )


def power_bases(ds: Any) -> str:
    """The campus's power on each basis a public figure may mean, beside what supplies the design-day peak."""
    rows = "".join(
        f"<tr><td>{key}</td><td>{float(ds[key].values):,.1f}</td><td>{POWER_BASES[key]}</td></tr>"
        for key in POWER_BASES if key in ds)
    supply = ""
    if "firm_power_mw" in ds and "grid_capacity_mw" in ds:
        grid = float(ds["grid_capacity_mw"].values[-1])
        firm = float(ds["firm_power_mw"].values[-1])
        draw = float(ds["design_day_draw_mw"].values)
        supply = (
            "<table><tr><th>What supplies the design-day peak (final month)</th><th>MW</th></tr>"
            f"<tr><td>Grid import</td><td>{grid:,.1f}</td></tr>"
            f"<tr><td>Gas turbines (derated) and batteries through the peak</td><td>{firm - grid:,.1f}</td></tr>"
            f"<tr><td>Firm supply</td><td>{firm:,.1f}</td></tr>"
            f"<tr><td>Design-day draw at training load</td><td>{draw:,.1f}</td></tr>"
            f"<tr><td>Margin</td><td>{firm - draw:,.1f}</td></tr></table>"
        )
    return ("<h3>Power on each basis</h3><table><tr><th>Key</th><th>MW</th><th>Basis</th></tr>"
            f"{rows}</table>{supply}")
