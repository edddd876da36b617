"""``neocloud inference``: a served model on one kind of accelerator, no scenario file."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from neocloud.cli.root import app


@app.command("inference")
def inference_command(
    accelerator: Annotated[str, typer.Option(help="Catalog accelerator id, e.g. h100-sxm.")],
    input_tokens: Annotated[float, typer.Option(help="Prompt tokens per request (mean).")],
    output_tokens: Annotated[float, typer.Option(help="Generated tokens per request (mean).")],
    model: Annotated[str | None, typer.Option(help="Catalog model id, e.g. llama3.1-70b.")] = None,
    params: Annotated[float | None, typer.Option(help="Model parameters (total), when no --model.")] = None,
    active_params: Annotated[
        float | None, typer.Option(help="Parameters active per token (mixture of experts).")
    ] = None,
    precision: Annotated[str, typer.Option(help="Weight precision: bf16, fp8 or fp4.")] = "fp8",
    ttft_ms: Annotated[float | None, typer.Option(help="Time-to-first-token target (P99), ms.")] = None,
    tpot_ms: Annotated[float | None, typer.Option(help="Time-per-output-token target (P99), ms.")] = None,
    usd_per_gpu_hour: Annotated[
        float | None, typer.Option(help="Price of an accelerator-hour; default the catalog rental price.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Output tokens/s per accelerator, latencies, tokens per MWh and cost per million tokens."""
    from neocloud.catalog import load_catalog
    from neocloud.inference import infer

    result = infer(accelerator, input_tokens, output_tokens, model=model, params=params,
                   active_params=active_params, precision=precision, ttft_ms=ttft_ms, tpot_ms=tpot_ms,
                   usd_per_gpu_hour=usd_per_gpu_hour, catalog=load_catalog())
    if as_json:
        typer.echo(json.dumps(result))
        return
    for key, value in result.items():
        typer.echo(f"{key:>30}  {value:,.4g}")
