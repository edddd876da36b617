"""Report section of the reliability stage: goodput against checkpoint interval, interruptions by cause."""

from __future__ import annotations

from typing import Any

import plotly.graph_objects as go

from neocloud.report import parts


def section(results: Any) -> str | None:
    """Goodput of the reference job against the checkpoint interval, and interruptions per day by class."""
    data = results.dataset
    if "goodput_by_interval" not in data:
        return None
    first = parts.typical(data)
    curve = go.Figure()
    curve.add_scatter(
        x=first["interval_minutes"].values, y=first["goodput_by_interval"].values, name="goodput"
    )
    best = float(first["checkpoint_minutes"])
    curve.add_vline(x=best, line_dash="dash", annotation_text=f"chosen {best:.1f} min",
                    annotation_position="top left")
    curve.add_vline(
        x=float(first["young_daly_checkpoint_minutes"]), line_dash="dot", annotation_text="Young/Daly",
        annotation_position="bottom right"
    )
    curve.update_layout(
        title="Goodput against checkpoint interval",
        xaxis_title="minutes of work between checkpoints",
        yaxis_title="goodput",
        xaxis_type="log",
    )
    causes = go.Figure()
    causes.add_bar(
        x=[str(name) for name in first["component"].values], y=first["component_interruptions_per_day"].values
    )
    causes.update_layout(title="Interruptions per day by component class", yaxis_title="per day")
    return (
        "<section id='reliability'><h2>Reliability</h2>"
        + parts.figure_html(curve)
        + parts.figure_html(causes)
        + f"<p>Job of {int(first['job_accelerators']):,} accelerators: "
        f"{float(first['interruptions_per_day']):,.1f} interruptions per day (one every "
        f"{float(first['mtti_hours']) * 60:,.0f} minutes), goodput "
        f"{float(first.get('reference_job_goodput', first['goodput'])):.1%}, "
        f"{int(first['spares_accelerators']):,} hot spares, "
        f"{float(first['accelerators_unavailable']):,.0f} accelerators in repair on average.</p>"
        + _mix(first)
        + "</section>"
    )


def _mix(first: Any) -> str:
    """The campus's job-mix goodput, its largest job's, and the failure model behind them."""
    if "largest_job_goodput" not in first:
        return ""
    return (
        f"<p>Campus goodput over its job mix {float(first['goodput']):.1%}; largest job "
        f"{float(first['largest_job_goodput']):.1%}. Failure rates {float(first['failure_rate_scale']):.2f} x "
        f"the Llama 3 H100 rates (generation and spread: failure_generations); a hardware fault takes "
        f"{float(first['failure_domain_accelerators']):g} accelerators out; "
        f"{float(first['planned_interruptions_per_day']):.2f} planned interruptions per day.</p>"
    )
