"""Report section of the compute stage: peak and delivered compute over time."""

from __future__ import annotations

from typing import Any

import plotly.graph_objects as go

from neocloud.report import document


def section(results: Any) -> str | None:
    """Peak and delivered BF16 PFLOP/s by month, and the reference run's days, MFU and goodput."""
    data = results.dataset
    if "delivered_bf16_pflops" not in data:
        return None
    first = document.typical(data)
    dates = [str(value)[:7] for value in first["date"].values]
    figure = go.Figure()
    figure.add_scatter(name="Peak online (dense BF16)", x=dates, y=first["bf16_pflops_online"].values)
    figure.add_scatter(
        name="Delivered (MFU x goodput of the reference run)",
        x=dates,
        y=first["delivered_bf16_pflops"].values,
    )
    figure.update_layout(title="Compute over time (PFLOP/s)", yaxis_title="PFLOP/s")
    work = results.scenario.workload
    return (
        "<section id='compute'><h2>Compute</h2>"
        + document.figure_html(figure)
        + f"<p>Reference run ({work.params:.3g} parameters, {work.tokens:.3g} tokens): "
        f"{float(first['reference_run_days']):,.1f} days at MFU {float(first['reference_run_mfu']):.1%} "
        f"and goodput {float(first['reference_run_goodput']):.1%}; decode "
        f"{float(first['decode_tokens_per_s_per_accelerator']):,.0f} tokens/s per accelerator.</p></section>"
    )
