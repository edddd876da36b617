"""Report section of the design stage: what is built, and where the power goes."""

from __future__ import annotations

import html
from typing import Any

import plotly.graph_objects as go

from neocloud.report import document


def section(results: Any) -> str:
    """Power breakdown per phase (IT, cooling, electrical losses) and the design table."""
    ds = document.typical(results.dataset)
    phases = [str(name) for name in ds["phase"].values]
    figure = go.Figure()
    for key, label in (("phase_it_power_mw", "IT"), ("phase_cooling_power_mw", "Cooling and other"),
                       ("phase_electrical_loss_mw", "Electrical losses")):
        figure.add_bar(name=label, x=phases, y=ds[key].values)
    figure.update_layout(barmode="stack", title="Facility power at the design day by phase (MW)",
                         yaxis_title="MW")
    rows = "".join(
        f"<tr><td>{html.escape(phase)}</td><td>{int(ds['phase_buildings'].values[i])}</td>"
        f"<td>{int(ds['phase_systems'].values[i]):,}</td><td>{int(ds['phase_accelerators'].values[i]):,}</td>"
        f"<td>{ds['phase_it_power_mw'].values[i]:,.1f}</td><td>{ds['phase_facility_power_mw'].values[i]:,.1f}</td></tr>"
        for i, phase in enumerate(phases))
    return (
        "<section id='design'><h2>Design</h2>"
        f"{document.figure_html(figure)}"
        "<table><tr><th>Phase</th><th>Buildings</th><th>Systems</th><th>Accelerators</th><th>IT MW</th>"
        f"<th>Facility MW</th></tr>{rows}</table></section>"
    )
