"""Reliability: what failures take away from a synchronous training job, in closed form.

A job over K accelerators stops whenever any of its K fails (component classes and rates per
device-hour from the catalog's ``failure_rates``). Each interruption loses the work since the last
checkpoint plus a restart; hardware failures also need a hot spare (or wait for the repair).
Answers: interruptions per day, goodput (useful share of wall-clock time), the best checkpoint
interval (exact optimum and Young/Daly), accelerators unavailable on average, and the spares that
keep a job at full size with a given probability. Method: docs/methods/reliability.md.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import xarray as xr
from scipy import special, stats

from neocloud.catalog import Catalog
from neocloud.errors import ScenarioError
from neocloud.scenario import Realised
from neocloud.units import HOURS_PER_DAY, MINUTES_PER_HOUR

CURVE_MINUTES = np.geomspace(1.0, 480.0, 40)
"""Checkpoint intervals (minutes of work) at which the goodput curve is reported."""


def parameter(catalog: Catalog, name: str) -> float:
    """A value of the ``training_parameters`` table."""
    return catalog.value("training_parameters", name)


def generation(catalog: Catalog, accelerator: str) -> tuple[float, float]:
    """Median multiplier on the catalog failure rates for an accelerator's generation, and its lognormal sigma."""
    table = catalog.table("failure_generations")
    if accelerator not in table.index:
        return 1.0, float(table["rate_sigma"].max())
    return (catalog.value("failure_generations", accelerator, "rate_factor"),
            catalog.value("failure_generations", accelerator, "rate_sigma"))


def failure_domain(catalog: Catalog, system: str) -> float:
    """Accelerators a hardware fault takes out of a job on ``system`` (a server, or an NVL72 compute tray)."""
    table = catalog.table("failure_domains")
    if system in table.index:
        return catalog.value("failure_domains", system, "domain_accelerators")
    return parameter(catalog, "node_accelerators")


def spare_turnaround_hours(catalog: Catalog) -> float:
    """Hours a failed node takes to come back into the spare pool: rate-weighted mean repair time."""
    rates = component_rates(catalog)
    hardware = rates[rates["hardware"]]
    return float(
        (hardware["rate_per_accelerator_hour"] * hardware["repair_hours"]).sum()
        / hardware["rate_per_accelerator_hour"].sum()
    )


def component_rates(catalog: Catalog) -> pd.DataFrame:
    """Per class: ``rate_per_accelerator_hour``, ``accelerators_out``, ``repair_hours``, ``hardware``."""
    table = catalog.table("failure_rates")
    out = pd.DataFrame(index=table.index)
    out["rate_per_accelerator_hour"] = table["rate_per_device_hour"].astype(float) * table[
        "devices_per_accelerator"
    ].astype(float)
    out["accelerators_out"] = table["accelerators_out"].astype(float)
    out["repair_hours"] = table["repair_hours"].astype(float)
    out["hardware"] = out["accelerators_out"] > 0
    return out


def goodput(
    rate_per_hour: Any, interval_hours: Any, checkpoint_hours: Any, recovery_hours: Any
) -> np.ndarray:
    """Useful share of wall-clock time of a job with Poisson interruptions (exact for this model).

    Work runs in segments of ``interval_hours`` followed by a checkpoint of ``checkpoint_hours``;
    an interruption loses the segment in progress and costs ``recovery_hours`` (itself restarted by
    a failure within it):
    ``goodput = rate * interval * exp(-rate * recovery) / expm1(rate * (interval + checkpoint))``.
    """
    rate = np.asarray(rate_per_hour, dtype=float)
    interval = np.asarray(interval_hours, dtype=float)
    segment = interval + np.asarray(checkpoint_hours, dtype=float)
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        value = (
            rate
            * interval
            * np.exp(-rate * np.asarray(recovery_hours, dtype=float))
            / np.expm1(rate * segment)
        )
    failure_free = interval / segment
    return np.where(rate > 0, np.nan_to_num(value, nan=0.0), failure_free)


def best_interval_hours(rate_per_hour: Any, checkpoint_hours: Any) -> np.ndarray:
    """Checkpoint interval (hours of work) that maximises :func:`goodput`, exactly (Lambert W).

    The optimum solves ``1 - exp(-rate * T) = rate * (T - checkpoint)`` with ``T = interval + checkpoint``:
    ``rate * T = 1 + rate * checkpoint + W0(-exp(-1 - rate * checkpoint))``.
    """
    rate = np.maximum(np.asarray(rate_per_hour, dtype=float), 1e-300)
    delta = np.asarray(checkpoint_hours, dtype=float)
    x = rate * delta
    segment = (1.0 + x + np.real(special.lambertw(-np.exp(-1.0 - x), 0))) / rate
    return np.maximum(segment - delta, 1e-9)


def young_daly_hours(
    rate_per_hour: Any, checkpoint_hours: Any, restart_hours: Any
) -> tuple[np.ndarray, np.ndarray]:
    """Young's ``sqrt(2 delta M)`` and Daly's higher-order interval (hours), M the mean time to interrupt."""
    mtti = 1.0 / np.maximum(np.asarray(rate_per_hour, dtype=float), 1e-300)
    delta = np.asarray(checkpoint_hours, dtype=float)
    young = np.sqrt(2.0 * delta * mtti)
    scale = mtti + np.asarray(restart_hours, dtype=float)
    ratio = delta / (2.0 * scale)
    daly = np.where(
        delta < 2.0 * scale,
        np.sqrt(2.0 * delta * scale) * (1.0 + np.sqrt(ratio) / 3.0 + ratio / 9.0) - delta,
        scale,
    )
    return young, daly


def spare_wait_hours(spares_nodes: Any, node_failure_rate: Any, repair_hours: Any) -> np.ndarray:
    """Mean wait for a replacement node at a hardware failure with ``spares_nodes`` hot spares.

    Spares are first in, first out with one turnaround: failure i takes the node freed by failure
    i - S, so it waits
    ``(repair - X)+`` with X ~ Gamma(S, rate); ``E = repair P(S, rate repair) - S/rate P(S+1, rate repair)``.
    """
    spares = np.asarray(spares_nodes, dtype=float)
    rate = np.maximum(np.asarray(node_failure_rate, dtype=float), 1e-300)
    repair = np.asarray(repair_hours, dtype=float)
    load = rate * repair
    safe = np.maximum(spares, 1.0)
    waited = repair * special.gammainc(safe, load) - spares / rate * special.gammainc(safe + 1.0, load)
    return np.where(spares > 0, np.maximum(waited, 0.0), repair)


def spares_for(probability: Any, nodes_in_repair: Any, node_accelerators: float | np.ndarray) -> np.ndarray:
    """Hot spare accelerators that keep a job at full size with ``probability`` (Poisson nodes in repair)."""
    return poisson_quantile(probability, nodes_in_repair) * node_accelerators


def poisson_quantile(probability: Any, mean: Any) -> np.ndarray:
    """``scipy.stats.poisson.ppf(probability, mean)``, the same numbers at about a third of the cost: the
    least count k with P(N <= k) >= ``probability``, as a float array (arguments broadcast together).

    scipy inverts the continuous CDF F(s) = Q(s + 1, mean) with cdflib's root search (``pdtrik``, a relative
    tolerance of 1e-10, 1.7 us an element), rounds up, and steps down once where ``pdtr`` allows. That gives
    the least k exactly unless the root s lies within the search's tolerance above k - 1. Here k comes from
    the Cornish-Fisher expansion, stepped to the least count with ``pdtr``; where the root may lie within
    1e-6 k above k - 1, where 32 steps did not settle k, or where the arguments are not an open probability
    and a mean in (0, 1e12], scipy's own answer is taken.
    """
    q, mu = np.broadcast_arrays(np.asarray(probability, dtype=float), np.asarray(mean, dtype=float))
    q, mu = q.ravel(), mu.ravel()
    plain = (q > 0) & (q < 1) & (mu > 0) & (mu <= 1e12)  # counts stay exact integers in float64
    qp, mp = q[plain], mu[plain]
    z = special.ndtri(qp)
    k = np.maximum(np.ceil(mp + z * np.sqrt(mp) + (z * z - 1.0) / 6.0 - 0.5), 0.0)
    short = special.pdtr(k, mp) < qp
    over = ~short & (k > 0) & (special.pdtr(k - 1.0, mp) >= qp)
    for _ in range(32):  # step to the least count whose CDF reaches q (the expansion is a step or two off)
        if not (short.any() or over.any()):
            break
        k[short] += 1.0
        short[short] = special.pdtr(k[short], mp[short]) < qp[short]
        k[over] -= 1.0
        over[over] = (k[over] > 0) & (special.pdtr(k[over] - 1.0, mp[over]) >= qp[over])
    near = short | over | ((k > 0) & (special.gammaincc(k + 1e-6 * k, mp) >= qp - 1e-12))  # scipy's rounding
    out = np.empty(q.shape)
    out[plain] = k
    fallback = ~plain
    fallback[np.flatnonzero(plain)[near]] = True
    if fallback.any():
        out[fallback] = stats.poisson.ppf(q[fallback], mu[fallback])
    return out.reshape(np.broadcast(np.asarray(probability), np.asarray(mean)).shape)


def job_reliability(
    catalog: Catalog,
    accelerators: Any,
    failure_rate_scale: Any = 1.0,
    checkpoint_write_minutes: Any = None,
    restart_minutes: Any = None,
    checkpoint_minutes: Any = None,
    hot_spares: Any = None,
    spare_probability: Any = None,
    node_accelerators: Any = None,
) -> dict[str, np.ndarray]:
    """Closed-form reliability of one synchronous job of ``accelerators`` (arrays broadcast together).

    ``checkpoint_minutes`` is the interval of work between checkpoints (None or NaN: the best one);
    ``hot_spares`` in accelerators (None or NaN: sized for ``spare_probability``); ``node_accelerators`` the
    failure domain (accelerators a hardware fault takes out; default the catalog's 8-GPU node). Returns
    arrays: ``interruptions_per_day`` (unexpected), ``planned_interruptions_per_day``, ``mtti_hours``,
    ``goodput`` (planned restarts included), ``checkpoint_minutes``, ``young_minutes``, ``daly_minutes``,
    ``spares_accelerators``, ``nodes_in_repair``, ``recovery_minutes``, ``spare_shortfall_probability``
    (that failed units outnumber the spares: where it is high the closed form is not to be trusted).
    """
    state = job_state(catalog, accelerators, failure_rate_scale, checkpoint_write_minutes, restart_minutes,
                      hot_spares, spare_probability, node_accelerators)
    return job_figures(state, checkpoint_minutes)


def job_state(
    catalog: Catalog, accelerators: Any, failure_rate_scale: Any = 1.0, checkpoint_write_minutes: Any = None,
    restart_minutes: Any = None, hot_spares: Any = None, spare_probability: Any = None,
    node_accelerators: Any = None,
) -> dict[str, np.ndarray]:
    """What a job's figures are made from, whatever its checkpoint interval (arguments as
    :func:`job_reliability`'s): interruption ``rate`` and hardware ``node_rate`` per hour, ``in_repair``
    nodes, ``spares`` (accelerators), ``node`` (failure domain), ``delta`` (checkpoint write), ``restart``
    and ``recovery`` (hours), and ``planned_loss``, the share of time planned restarts take."""
    rates = component_rates(catalog)
    scale = np.asarray(failure_rate_scale, dtype=float)
    size = np.asarray(accelerators, dtype=float)
    node = _or_catalog(catalog, node_accelerators, "node_accelerators")
    delta = _or_catalog(catalog, checkpoint_write_minutes, "checkpoint_write_minutes") / MINUTES_PER_HOUR
    restart = _or_catalog(catalog, restart_minutes, "restart_minutes") / MINUTES_PER_HOUR
    probability = parameter(catalog, "spare_probability") if spare_probability is None else spare_probability
    per_accelerator = float(rates["rate_per_accelerator_hour"].sum())
    hardware = rates[rates["hardware"]]
    hardware_rate = float(hardware["rate_per_accelerator_hour"].sum())
    repair = spare_turnaround_hours(catalog)
    rate = size * per_accelerator * scale
    node_rate = size * hardware_rate * scale
    in_repair = node_rate * repair
    auto_spares = spares_for(probability, in_repair, node)
    spares = (
        auto_spares
        if hot_spares is None
        else np.where(
            np.isnan(np.asarray(hot_spares, dtype=float)), auto_spares, np.asarray(hot_spares, dtype=float)
        )
    )
    wait = spare_wait_hours(np.floor(spares / node), node_rate, repair)
    planned = parameter(catalog, "planned_interruptions_per_day")
    return {"rate": rate, "node_rate": node_rate, "in_repair": in_repair, "spares": spares, "node": node,
            "delta": delta, "restart": restart, "recovery": _recovery_hours(rate, node_rate, restart, wait),
            "planned": np.asarray(planned), "planned_loss": planned / HOURS_PER_DAY * restart}


def job_figures(state: dict[str, np.ndarray], checkpoint_minutes: Any = None) -> dict[str, np.ndarray]:
    """:func:`job_reliability`'s figures from a job's :func:`job_state`, at ``checkpoint_minutes`` of work
    between checkpoints (None or NaN: the best interval)."""
    rate, delta, restart, spares = state["rate"], state["delta"], state["restart"], state["spares"]
    best = best_interval_hours(rate, delta)
    interval = (
        best
        if checkpoint_minutes is None
        else np.where(
            np.isnan(np.asarray(checkpoint_minutes, dtype=float)),
            best,
            np.asarray(checkpoint_minutes, dtype=float) / MINUTES_PER_HOUR,
        )
    )
    young, daly = young_daly_hours(rate, delta, restart)
    with np.errstate(divide="ignore"):
        mtti = np.where(rate > 0, 1.0 / np.maximum(rate, 1e-300), np.inf)
    shortfall = stats.poisson.sf(np.floor(np.asarray(spares, dtype=float) / state["node"]), state["in_repair"])
    return {
        "interruptions_per_day": rate * HOURS_PER_DAY,
        "planned_interruptions_per_day": state["planned"] + np.zeros_like(rate),
        "spare_shortfall_probability": shortfall + np.zeros_like(rate),
        "mtti_hours": mtti,
        "goodput": planned_goodput(state, interval),
        "checkpoint_minutes": interval * MINUTES_PER_HOUR,
        "young_minutes": young * MINUTES_PER_HOUR,
        "daly_minutes": daly * MINUTES_PER_HOUR,
        "spares_accelerators": np.asarray(spares, dtype=float) + np.zeros_like(rate),
        "nodes_in_repair": state["in_repair"],
        "recovery_minutes": state["recovery"] * MINUTES_PER_HOUR,
    }


def planned_goodput(state: dict[str, np.ndarray], interval_hours: Any) -> np.ndarray:
    """Goodput of a job (its :func:`job_state`) checkpointing every ``interval_hours`` of work, planned
    restarts included."""
    return goodput(state["rate"], interval_hours, state["delta"], state["recovery"]) * (1.0 - state["planned_loss"])


def goodput_by_interval(state: dict[str, np.ndarray], minutes: np.ndarray) -> np.ndarray:
    """Goodput (planned restarts included) of a job (:func:`job_state` of arrays along ``draw``) at each
    checkpoint interval of ``minutes`` of work: (draw, interval)."""
    columns = {key: np.broadcast_to(state[key], state["rate"].shape)[:, None]
               for key in ("rate", "delta", "recovery", "planned_loss")}
    return planned_goodput(columns, np.asarray(minutes, dtype=float)[None, :] / MINUTES_PER_HOUR)


def _or_catalog(catalog: Catalog, value: Any, name: str) -> np.ndarray:
    """``value`` as an array, or the catalog's ``training_parameters`` value when it is None."""
    return np.asarray(parameter(catalog, name) if value is None else value, dtype=float)


def _recovery_hours(rate: np.ndarray, hardware_rate: np.ndarray, restart: np.ndarray,
                    wait: np.ndarray) -> np.ndarray:
    """The constant recovery D with the same ``E[exp(-rate D)]`` as restarts plus waits for spares."""
    with np.errstate(invalid="ignore", divide="ignore"):
        hardware_share = np.where(rate > 0, hardware_rate / rate, 0.0)
        # E[exp(-rate * D)] over the classes, D = restart (+ wait for a spare at a hardware failure)
        mixed = hardware_share * np.exp(-rate * (restart + wait)) + (1 - hardware_share) * np.exp(
            -rate * restart
        )
        return np.where(rate > 0, -np.log(np.maximum(mixed, 1e-300)) / np.maximum(rate, 1e-300), restart)


def unavailable_accelerators(
    catalog: Catalog, accelerators: Any, failure_rate_scale: Any = 1.0, domain_accelerators: float | None = None
) -> np.ndarray:
    """Accelerators out of service on average (in repair) in a fleet of ``accelerators`` (Little's law).

    A hardware fault takes ``domain_accelerators`` out (default: the catalog's ``accelerators_out``).
    """
    rates = component_rates(catalog)
    out = rates["accelerators_out"] if domain_accelerators is None else np.where(
        rates["accelerators_out"] > 0, domain_accelerators, 0.0)
    per_accelerator = float((rates["rate_per_accelerator_hour"] * rates["repair_hours"] * out).sum())
    return (
        np.asarray(accelerators, dtype=float) * np.asarray(failure_rate_scale, dtype=float) * per_accelerator
    )


def _summary(values: np.ndarray, units: str, integer: bool = False) -> xr.Variable:
    return xr.Variable("draw", np.asarray(values, dtype=float),
                       attrs={"summary": 1, "units": units, **({"integer": 1} if integer else {})})


def _positive(value: Any, default: float, field: str) -> np.ndarray:
    array = np.asarray(default if value is None else value, dtype=float)
    if np.any(~(array > 0)):
        raise ScenarioError(
            f"{field} must be positive",
            field=field,
            value=float(np.min(array)),
            allowed="a number of minutes > 0",
        )
    return array


def main_system(scenario: Realised, upstream: xr.Dataset) -> str:
    """The system of the campus's largest phase (most accelerators in the first draw)."""
    accelerators = np.asarray(upstream["phase_accelerators"].isel(draw=0).values, dtype=float)
    return str(scenario.campus.phases[int(np.argmax(accelerators))].system)


def workload_inputs(scenario: Realised, catalog: Catalog, campus_accelerators: np.ndarray,
                    system: str) -> dict[str, Any]:
    """The reference job of a realised scenario: size, rate scale, times (minutes), interval and spares.

    The rate scale is the scenario's ``failure_rate_scale`` (which may be uncertain) times the median
    generation multiplier of the system's accelerator (``failure_generations``); hardware faults take the
    system's failure domain out (``failure_domains``).
    """
    work = scenario.workload
    factor, _ = generation(catalog, str(catalog.row("systems", system)["accelerator"]))
    size = (
        campus_accelerators
        if work.job_accelerators is None
        else np.minimum(float(work.job_accelerators), campus_accelerators)
    )
    if np.any(size <= 0):
        raise ScenarioError(
            "the campus has no accelerators to run a job on",
            field="workload.job_accelerators",
            value=work.job_accelerators,
            allowed="a campus with accelerators",
        )
    scale = np.asarray(work.failure_rate_scale, dtype=float)
    if np.any(scale < 0):
        raise ScenarioError(
            "failure_rate_scale must not be negative",
            field="workload.failure_rate_scale",
            value=float(np.min(scale)),
            allowed=">= 0",
        )
    checkpoint = (
        None
        if isinstance(work.checkpoint_minutes, str)
        else _positive(work.checkpoint_minutes, 1.0, "workload.checkpoint_minutes")
    )
    return {
        "accelerators": size,
        "failure_rate_scale": scale * factor * np.ones_like(size),
        "node_accelerators": failure_domain(catalog, system),
        "checkpoint_write_minutes": _positive(
            work.checkpoint_write_minutes,
            parameter(catalog, "checkpoint_write_minutes"),
            "workload.checkpoint_write_minutes",
        )
        * np.ones_like(size),
        "restart_minutes": _positive(
            work.restart_minutes, parameter(catalog, "restart_minutes"), "workload.restart_minutes"
        )
        * np.ones_like(size),
        "checkpoint_minutes": checkpoint,
        "hot_spares": None if work.hot_spares == "auto" else float(work.hot_spares),
    }


def mix_goodput(catalog: Catalog, job: dict[str, Any], mix: list[Any] | None) -> tuple[np.ndarray, np.ndarray]:
    """Goodput of the campus's job mix (share-weighted over job sizes) and of its largest job, per draw.

    Without a mix the campus runs the reference job alone: both are its goodput.
    """
    if not mix:
        alone = job_reliability(catalog, **job)["goodput"]
        return alone, alone
    sizes = np.array([float(entry.accelerators) for entry in mix])
    shares = np.array([float(entry.share) for entry in mix])
    inputs = {key: (value[:, None] if isinstance(value, np.ndarray) and value.ndim == 1 else value)
              for key, value in job.items() if key not in ("accelerators", "checkpoint_minutes")}
    size = np.minimum(sizes[None, :], np.asarray(job["accelerators"], dtype=float)[:, None])
    state = job_state(catalog, size, **inputs)
    each = planned_goodput(state, best_interval_hours(state["rate"], state["delta"]))
    return each @ shares / shares.sum(), each[:, int(np.argmax(sizes))]


# Upstream variables the stage reads (the pipeline checks them against the variables registry).
READS = ("phase_accelerators", "accelerators")


def reliability(scenario: Realised, catalog: Catalog, upstream: xr.Dataset) -> xr.Dataset:
    """Interruptions, goodput, checkpoint interval and spares of the scenario's jobs, per draw.

    ``goodput`` is the campus's job mix's (``workload.job_mix``; without one, the reference job's);
    ``largest_job_goodput`` that of its largest job; the other figures are the reference job's.
    """
    campus_size = np.asarray(upstream["accelerators"].values, dtype=float)
    system = main_system(scenario, upstream)
    job = workload_inputs(scenario, catalog, campus_size, system)
    state = job_state(catalog, **{key: value for key, value in job.items() if key != "checkpoint_minutes"})
    result = job_figures(state, job["checkpoint_minutes"])
    size, scale = job["accelerators"], job["failure_rate_scale"]
    campus, largest = mix_goodput(catalog, job, scenario.workload.job_mix)
    rates = component_rates(catalog)
    by_class = (
        size[:, None]
        * scale[:, None]
        * rates["rate_per_accelerator_hour"].to_numpy()[None, :]
        * HOURS_PER_DAY
    )
    curve = goodput_by_interval(state, CURVE_MINUTES)
    # the variables are gathered first and the Dataset built once (a Dataset aligns on every assignment)
    return xr.Dataset(
        {
            "interruptions_per_day": _summary(result["interruptions_per_day"], "1/day"),
            "planned_interruptions_per_day": _summary(result["planned_interruptions_per_day"], "1/day"),
            "mtti_hours": _summary(result["mtti_hours"], "h"),
            "goodput": _summary(campus, "fraction"),
            "largest_job_goodput": _summary(largest, "fraction"),
            "reference_job_goodput": _summary(result["goodput"], "fraction"),
            "checkpoint_minutes": _summary(result["checkpoint_minutes"], "min"),
            "young_daly_checkpoint_minutes": _summary(result["daly_minutes"], "min"),
            "spares_accelerators": _summary(result["spares_accelerators"], "count", integer=True),
            "spare_shortfall_probability": _summary(result["spare_shortfall_probability"], "fraction"),
            "failure_rate_scale": _summary(scale, "ratio"),
            "failure_domain_accelerators": _summary(np.full(size.shape, job["node_accelerators"]), "count"),
            "accelerators_unavailable": _summary(
                unavailable_accelerators(catalog, campus_size, scale, job["node_accelerators"]), "count"
            ),
            "job_accelerators": _summary(size, "count", integer=True),
            "component_interruptions_per_day": xr.Variable(("draw", "component"), by_class, attrs={"units": "1/day"}),
            "goodput_by_interval": xr.Variable(("draw", "interval_minutes"), curve, attrs={"units": "fraction"}),
        },
        coords={"component": list(rates.index), "interval_minutes": CURVE_MINUTES},
    )
