"""Report section of the serving share: throughput against latency, tokens per MWh, cost per million tokens."""

from __future__ import annotations

from typing import Any

import numpy as np
import plotly.graph_objects as go

from neocloud.inference import hardware, model_shape, parameter, serve, serving_share
from neocloud.load import scenario_catalog
from neocloud.reliability import main_system
from neocloud.report import parts

TPOT_TARGETS_MS = np.geomspace(10.0, 1000.0, 30)


def nearest_public(catalog: Any, accelerator: str, params: float, inputs: float, outputs: float) -> Any:
    """The published serving result closest to a prediction: by model size, accelerator and request shape."""
    rows = catalog.table("inference_results")
    models = catalog.table("models")
    sizes = models.loc[rows["model"], "params"].to_numpy(float)
    distance = (
        (rows["accelerator"] != accelerator).to_numpy(float) * 1.5
        + 2.0 * np.abs(np.log(sizes / params))
        + np.abs(np.log(rows["input_tokens"].to_numpy(float) / inputs))
        + np.abs(np.log(rows["output_tokens"].to_numpy(float) / outputs))
        + rows["tpot_ms"].notna().to_numpy(float)
    )
    return rows.iloc[int(np.argmin(distance))]


def section(results: Any) -> str | None:
    """Tokens/s per accelerator against the TPOT target, and the campus's serving figures."""
    data = results.dataset
    if "tokens_per_s_per_accelerator" not in data:
        return None
    first = parts.typical(data)
    scenario = results.scenario
    work = scenario.workload
    catalog = scenario_catalog(scenario)
    system = main_system(scenario, data)
    accelerator = str(catalog.row("systems", system)["accelerator"])
    row = catalog.row("accelerators", accelerator)
    precision = work.serve_precision or ("fp8" if not np.isnan(float(row["fp8_tflops"])) else "bf16")
    shape = model_shape(catalog, work.serve_model, work.serve_params, work.serve_active_params)
    inputs = work.serve_input_tokens or parameter(catalog, "default_input_tokens")
    outputs = work.serve_output_tokens or parameter(catalog, "default_output_tokens")
    curve = serve(hardware(catalog, accelerator, precision), shape, inputs, outputs, np.inf, TPOT_TARGETS_MS,
                  catalog=catalog)
    figure = go.Figure()
    figure.add_scatter(x=TPOT_TARGETS_MS, y=curve["tokens_per_s_per_accelerator"], name="throughput")
    figure.update_layout(title=f"Serving on {accelerator} ({precision}): throughput against latency target",
                         xaxis_title="time-per-output-token target, P99 (ms)", xaxis_type="log",
                         yaxis_title="output tokens/s per accelerator")
    public = nearest_public(catalog, accelerator, shape["params"], inputs, outputs)
    share = serving_share(work)
    cost = (f", {float(first['usd_per_million_tokens']):.3f} USD per million tokens at the campus's cost per "
            "GPU-hour" if "usd_per_million_tokens" in first else "")
    return (
        "<section id='serving'><h2>Serving</h2>"
        + parts.figure_html(figure)
        + f"<p>Served model {work.serve_model or format(shape['params'], '.3g') + ' parameters'}, "
        f"{inputs:g} prompt and {outputs:g} output tokens: "
        f"{float(first['tokens_per_s_per_accelerator']):,.0f} tokens/s per accelerator "
        f"(TTFT {float(first['serve_ttft_ms']):,.0f} ms, TPOT {float(first['serve_tpot_ms']):,.0f} ms), "
        f"{float(first['tokens_per_mwh']):,.3g} tokens per MWh of facility energy{cost}. "
        f"Serving share {share:.0%}: {float(first['tokens_per_s']):,.3g} tokens/s for the campus.</p>"
        f"<p>Nearest public figure: {public['model']} on {public['accelerator']} ({public['precision']}, "
        f"{public['scenario']}, {float(public['input_tokens']):g}/{float(public['output_tokens']):g} tokens), "
        f"{float(public['tokens_per_s_per_accelerator']):,.0f} tokens/s per accelerator "
        f"({public['source']}).</p></section>"
    )
