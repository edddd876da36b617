"""``neocloud train-time`` and ``neocloud reliability``: one job, no scenario file."""

from __future__ import annotations

import json
from typing import Annotated

import numpy as np
import typer

from neocloud.catalog import load_catalog
from neocloud.cli import app
from neocloud.compute import train_time
from neocloud.errors import ScenarioError
from neocloud.reliability import component_rates, job_reliability, spare_turnaround_hours
from neocloud.reliability_sim import simulate
from neocloud.uncertainty import MAX_SEED
from neocloud.units import HOURS_PER_DAY

REPLICATIONS = 200


def _print(result: dict[str, float], as_json: bool) -> None:
    if as_json:
        typer.echo(json.dumps(result))
        return
    for key, value in result.items():
        typer.echo(f"{key:>28}  {value:,.4g}")


@app.command("train-time")
def train_time_command(
    accelerator: Annotated[str, typer.Option(help="Catalog accelerator id, e.g. h100-sxm.")],
    count: Annotated[int, typer.Option(help="Accelerators in the job.")],
    params: Annotated[float, typer.Option(help="Model parameters (total).")],
    tokens: Annotated[float, typer.Option(help="Training tokens.")],
    active_params: Annotated[
        float | None, typer.Option(help="Active parameters per token (mixture of experts).")
    ] = None,
    precision: Annotated[str, typer.Option(help="bf16 or fp8.")] = "bf16",
    checkpoint_minutes: Annotated[
        float | None, typer.Option(help="Minutes of work between checkpoints.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Days, GPU-hours, MFU and goodput of a training run, failures included."""
    if precision not in ("bf16", "fp8"):
        raise ScenarioError("unknown precision", field="precision", value=precision, allowed="bf16, fp8")
    _print(
        train_time(
            accelerator,
            count,
            params,
            tokens,
            active_params,
            load_catalog(),
            checkpoint_minutes=checkpoint_minutes,
            precision=precision,
        ),
        as_json,
    )


@app.command("reliability")
def reliability_command(
    accelerator: Annotated[str, typer.Option(help="Catalog accelerator id, e.g. h100-sxm.")],
    count: Annotated[int, typer.Option(help="Accelerators in the job.")],
    days: Annotated[float, typer.Option(help="Days of wall-clock time to simulate.")],
    checkpoint_minutes: Annotated[
        float | None, typer.Option(help="Minutes of work between checkpoints.")
    ] = None,
    seed: Annotated[int, typer.Option(min=0, max=MAX_SEED, help="Seed of the simulator.")] = 0,
    replications: Annotated[int, typer.Option(help="Monte Carlo replications.")] = REPLICATIONS,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Interruptions and goodput of a job: simulated (mean of replications) and closed form."""
    catalog = load_catalog()
    catalog.row("accelerators", accelerator, field="accelerator")
    if (
        count <= 0
        or days <= 0
        or replications <= 0
        or (checkpoint_minutes is not None and checkpoint_minutes <= 0)
    ):
        raise ScenarioError(
            "count, days, replications and checkpoint minutes must be positive",
            field="reliability",
            value=min(count, days, replications, checkpoint_minutes or 1),
            allowed="> 0",
        )
    job = job_reliability(catalog, float(count), checkpoint_minutes=checkpoint_minutes)
    rates = component_rates(catalog)
    minutes_per_hour = 60.0
    result = simulate(
        count * rates["rate_per_accelerator_hour"].to_numpy(),
        rates["hardware"].to_numpy(),
        spare_turnaround_hours(catalog),
        days * HOURS_PER_DAY,
        float(job["checkpoint_minutes"]) / minutes_per_hour,
        catalog.value("training_parameters", "checkpoint_write_minutes") / minutes_per_hour,
        catalog.value("training_parameters", "restart_minutes") / minutes_per_hour,
        int(float(job["spares_accelerators"]) // catalog.value("training_parameters", "node_accelerators")),
        replications,
        seed,
    )
    interruptions = float(np.mean(result["interruptions"]))
    _print(
        {
            "interruptions": interruptions,
            "interruptions_per_day": interruptions / days,
            "goodput": float(np.mean(result["goodput"])),
            "checkpoint_minutes": float(job["checkpoint_minutes"]),
            "goodput_p10": float(np.percentile(result["goodput"], 10)),
            "goodput_p90": float(np.percentile(result["goodput"], 90)),
            "goodput_closed_form": float(job["goodput"]),
            "young_minutes": float(job["young_minutes"]),
            "daly_minutes": float(job["daly_minutes"]),
            "mtti_hours": float(job["mtti_hours"]),
            "spares_accelerators": float(job["spares_accelerators"]),
            "replications": replications,
        },
        as_json,
    )
