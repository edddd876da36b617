"""``neocloud train-time`` and ``neocloud reliability``: one job, no scenario file."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Annotated

import typer

from neocloud.cli.root import app
from neocloud.errors import ScenarioError
from neocloud.limits import MAX_SEED
from neocloud.units import HOURS_PER_DAY

if TYPE_CHECKING:
    import numpy as np

    from neocloud.catalog import Catalog

REPLICATIONS = 200


def _print(result: Mapping[str, float | str], as_json: bool) -> None:
    if as_json:
        typer.echo(json.dumps(result))
        return
    for key, value in result.items():
        typer.echo(f"{key:>28}  {value:,.4g}" if not isinstance(value, str) else f"{key:>28}  {value}")


@app.command("train-time")
def train_time_command(
    accelerator: Annotated[str, typer.Option(help="Catalog accelerator id, e.g. h100-sxm.")],
    count: Annotated[int, typer.Option(help="Accelerators in the job.")],
    params: Annotated[float, typer.Option(help="Model parameters (total).")],
    tokens: Annotated[float, typer.Option(help="Training tokens.")],
    active_params: Annotated[
        float | None, typer.Option(help="Active parameters per token (mixture of experts).")
    ] = None,
    precision: Annotated[str, typer.Option(help="bf16, fp8 or fp4 (where the accelerator has it).")] = "bf16",
    checkpoint_minutes: Annotated[
        float | None, typer.Option(help="Minutes of work between checkpoints.")
    ] = None,
    network_gbps: Annotated[
        float | None, typer.Option(help="Scale-out bandwidth per accelerator, Gb/s.")
    ] = None,
    seq_tokens: Annotated[float | None, typer.Option(help="Training sequence length, tokens.")] = None,
    layers: Annotated[float | None, typer.Option(help="Transformer layers (default from the size).")] = None,
    d_model: Annotated[float | None, typer.Option(help="Model width (default from the size).")] = None,
    failure_rate_scale: Annotated[
        float, typer.Option(help="Multiplier on the catalog failure rates.")
    ] = 1.0,
    restart_minutes: Annotated[
        float | None, typer.Option(help="Minutes to restart after an interruption.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Days, GPU-hours, MFU and goodput of a training run, failures included."""
    from neocloud.catalog import load_catalog
    from neocloud.compute import train_time

    if precision not in ("bf16", "fp8", "fp4"):
        raise ScenarioError("unknown precision", field="precision", value=precision, allowed="bf16, fp8, fp4")
    for name, value in (("network_gbps", network_gbps), ("seq_tokens", seq_tokens), ("layers", layers),
                        ("d_model", d_model), ("restart_minutes", restart_minutes)):
        if value is not None and not value > 0:
            raise ScenarioError("must be positive", field=name, value=value, allowed="> 0")
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
            network_gbps=network_gbps,
            seq_tokens=seq_tokens,
            layers=layers,
            d_model=d_model,
            failure_rate_scale=failure_rate_scale,
            restart_minutes=restart_minutes,
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
    hot_spares: Annotated[
        int | None, typer.Option(help="Hot spare accelerators (default: sized for the catalog's probability).")
    ] = None,
    failure_rate_scale: Annotated[float, typer.Option(help="Multiplier on the catalog failure rates.")] = 1.0,
    restart_minutes: Annotated[
        float | None, typer.Option(help="Minutes to restart after an interruption.")
    ] = None,
    system: Annotated[
        str | None, typer.Option(help="Catalog system id (failure domain); default the accelerator's largest.")
    ] = None,
    method: Annotated[str, typer.Option(help="auto, closed-form or simulation.")] = "auto",
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Interruptions and goodput of a job, with a P10-P90 band from the spread of the failure rates.

    The closed form is used unless failed units are likely to outnumber the spares (then the simulator):
    ``method`` says which.
    """
    import numpy as np
    from scipy import stats

    from neocloud.catalog import load_catalog
    from neocloud.design import default_system
    from neocloud.reliability import failure_domain, generation, job_reliability

    catalog = load_catalog()
    catalog.row("accelerators", accelerator, field="accelerator")
    _check_reliability(count, days, replications, checkpoint_minutes, hot_spares, failure_rate_scale,
                       restart_minutes, method)
    system = system or default_system(accelerator, catalog)
    catalog.row("systems", system, field="system")
    factor, sigma = generation(catalog, accelerator)
    domain = failure_domain(catalog, system)
    # the median and the P10 / P90 of the rate multiplier: goodput falls and interruptions rise with it
    scales = failure_rate_scale * factor * np.exp(sigma * stats.norm.ppf([0.5, 0.1, 0.9]))
    job = job_reliability(catalog, float(count), scales, restart_minutes=restart_minutes,
                          checkpoint_minutes=checkpoint_minutes, hot_spares=hot_spares, node_accelerators=domain)
    shortfall = float(job["spare_shortfall_probability"][0])
    chosen = method if method != "auto" else (
        "simulation" if shortfall > catalog.value("training_parameters", "spare_shortfall_limit") else "closed-form")
    if chosen == "simulation":
        runs = [_simulate(catalog, count, days, scale, job, index, domain, restart_minutes, replications, seed)
                for index, scale in enumerate(scales)]
        goodputs = [float(np.mean(run["goodput"])) for run in runs]
        interruptions = [float(np.mean(run["interruptions"])) for run in runs]
    else:
        goodputs = [float(value) for value in job["goodput"]]
        interruptions = [float(value) * days for value in job["interruptions_per_day"]]
    _print(
        {
            "interruptions": interruptions[0],
            "interruptions_per_day": interruptions[0] / days,
            "goodput": goodputs[0],
            "checkpoint_minutes": float(job["checkpoint_minutes"][0]),
            "method": chosen,
            "goodput_p10": goodputs[2],
            "goodput_p90": goodputs[1],
            "interruptions_p10": interruptions[1],
            "interruptions_p90": interruptions[2],
            "goodput_closed_form": float(job["goodput"][0]),
            **{key: float(job[key][0]) for key in ("young_minutes", "daly_minutes", "mtti_hours",
                                                   "spares_accelerators")},
            "spare_shortfall_probability": shortfall,
            "planned_interruptions_per_day": float(job["planned_interruptions_per_day"][0]),
            "failure_domain_accelerators": domain,
            "failure_rate_scale": float(scales[0]),
            "system": system,
            "replications": replications if chosen == "simulation" else 0,
        },
        as_json,
    )


def _check_reliability(count: int, days: float, replications: int, checkpoint_minutes: float | None,
                       hot_spares: int | None, scale: float, restart_minutes: float | None, method: str) -> None:
    if method not in ("auto", "closed-form", "simulation"):
        raise ScenarioError("unknown method", field="method", value=method,
                            allowed="auto, closed-form, simulation")
    if (
        count <= 0
        or days <= 0
        or replications <= 0
        or (checkpoint_minutes is not None and checkpoint_minutes <= 0)
        or (restart_minutes is not None and restart_minutes <= 0)
    ):
        raise ScenarioError(
            "count, days, replications, checkpoint and restart minutes must be positive",
            field="reliability",
            value=min(count, days, replications, checkpoint_minutes or 1, restart_minutes or 1),
            allowed="> 0",
        )
    if (hot_spares is not None and hot_spares < 0) or not scale >= 0:
        raise ScenarioError("hot spares and failure rate scale must not be negative", field="reliability",
                            value=min(hot_spares or 0, scale), allowed=">= 0")


def _simulate(catalog: Catalog, count: int, days: float, scale: float, job: dict[str, np.ndarray], index: int,
              domain: float, restart_minutes: float | None, replications: int, seed: int) -> dict[str, np.ndarray]:
    """The Monte Carlo simulator on the job at one rate multiplier (``index`` picks the job's entry)."""
    from neocloud.reliability import MINUTES_PER_HOUR, component_rates, spare_turnaround_hours
    from neocloud.reliability_sim import simulate

    rates = component_rates(catalog)
    restart = catalog.value("training_parameters", "restart_minutes") if restart_minutes is None else restart_minutes
    return simulate(
        count * scale * rates["rate_per_accelerator_hour"].to_numpy(),
        rates["hardware"].to_numpy(),
        spare_turnaround_hours(catalog),
        days * HOURS_PER_DAY,
        float(job["checkpoint_minutes"][index]) / MINUTES_PER_HOUR,
        catalog.value("training_parameters", "checkpoint_write_minutes") / MINUTES_PER_HOUR,
        restart / MINUTES_PER_HOUR,
        int(float(job["spares_accelerators"][index]) // domain),
        replications,
        seed,
    )
