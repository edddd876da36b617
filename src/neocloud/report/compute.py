"""Report section of the compute stage: peak and delivered compute over time."""

from __future__ import annotations

from typing import Any

import numpy as np
import plotly.graph_objects as go

from neocloud.load import scenario_catalog
from neocloud.report import parts


def section(results: Any) -> str | None:
    """Peak and delivered BF16 PFLOP/s by month, and the reference run's days, MFU and goodput."""
    data = results.dataset
    if "delivered_bf16_pflops" not in data:
        return None
    first = parts.typical(data)
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
        + parts.figure_html(figure)
        + f"<p>Reference run ({work.params:.3g} parameters, {work.tokens:.3g} tokens): "
        f"{float(first['reference_run_days']):,.1f} days at MFU {float(first['reference_run_mfu']):.1%} "
        f"and goodput {float(first['reference_run_goodput']):.1%}; decode "
        f"{float(first['decode_tokens_per_s_per_accelerator']):,.0f} tokens/s per accelerator.</p>"
        + _nearest_run(results, float(first["reference_run_mfu"]))
        + "</section>"
    )


def _nearest_run(results: Any, mfu: float) -> str:
    """The published training run closest in size to the reference run, beside the predicted MFU."""
    catalog = scenario_catalog(results.scenario)
    runs = catalog.table("training_runs")
    work = results.scenario.workload
    distance = np.abs(np.log(runs["params"].to_numpy(float) / work.params))
    run = runs.iloc[int(np.argmin(distance))]
    reported = (f"{float(run['gpu_hours']):,.3g} GPU-hours" if not np.isnan(float(run["gpu_hours"]))
                else f"MFU {float(run['mfu']):.0%}")
    return (f"<p>Nearest public run: {run['name']} ({float(run['params']):.3g} parameters on "
            f"{int(float(run['accelerators'])):,} {run['accelerator']}), {reported} ({run['source']}); "
            f"predicted MFU here {mfu:.1%}.</p>")
