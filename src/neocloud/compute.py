"""Compute: what the campus can do: peak and delivered FLOP/s by precision, training time, decode tokens/s.

Model FLOPs utilisation (MFU) comes from a step-time model whose three terms (matmuls, memory-bound
work, exposed scale-out communication) are calibrated on the catalog's ``training_runs`` as a set
(:func:`calibrate`); wall-clock time includes failures, restarts and checkpoints: the pipeline's stage
reads the reference job's goodput from the reliability stage, which runs before it; a single job
(:func:`train_time`) asks :mod:`neocloud.reliability` itself. Method: docs/methods/compute.md.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr
from scipy import optimize

from neocloud.blocks import stand_in
from neocloud.catalog import Catalog, load_catalog
from neocloud.errors import ScenarioError
from neocloud.registry import dropped
from neocloud.reliability import job_reliability, parameter
from neocloud.scenario import Realised
from neocloud.units import HOURS_PER_DAY, SECONDS_PER_HOUR, TFLOP_PER_PFLOP

FITTED = ("gemm_efficiency", "memory_bytes_width_per_flop", "network_bits_per_flop", "expert_bits_per_flop")
PRECISION_COLUMN = {"bf16": "bf16_tflops", "fp8": "fp8_tflops", "fp4": "fp4_tflops"}
TFLOPS_PER_TB_PER_S = 1.0  # peak (TFLOP/s) x bytes per FLOP / bandwidth (TB/s) is in seconds per second


def model_depth_width(active_params: Any, aspect_ratio: float = 128.0, layers: Any = None,
                      d_model: Any = None) -> tuple[np.ndarray, np.ndarray]:
    """Layers L and width d of a transformer: given, or from ``N_active = 12 L d^2`` and ``d = aspect L``."""
    active = np.asarray(active_params, dtype=float)
    depth = np.cbrt(active / (12.0 * aspect_ratio**2)) if layers is None else np.asarray(layers, dtype=float)
    width = aspect_ratio * depth if d_model is None else np.asarray(d_model, dtype=float)
    return depth, width


def training_flops(
    params: Any, tokens: Any, active_params: Any = None, seq_tokens: Any = 8192.0, aspect_ratio: float = 128.0,
    layers: Any = None, d_model: Any = None,
) -> np.ndarray:
    """Training FLOPs: ``6 N D`` plus attention ``12 L d S D`` (PaLM's count), N the active parameters.

    Depth L and width d are given or follow from the active parameters (``N = 12 L d^2``,
    ``d = aspect_ratio L``), so a mixture of experts counts the attention of its active model.
    """
    total = np.asarray(params, dtype=float)
    active = total if active_params is None else np.asarray(active_params, dtype=float)
    depth, width = model_depth_width(active, aspect_ratio, layers, d_model)
    return np.asarray(tokens, dtype=float) * (
        6.0 * active + 12.0 * depth * width * np.asarray(seq_tokens, dtype=float)
    )


def scale_up_domain(catalog: Catalog, accelerator: str) -> float:
    """Accelerators per scale-up (NVLink) domain: the largest system of that accelerator in the catalog."""
    systems = catalog.table("systems")
    sizes = systems.loc[systems["accelerator"] == accelerator, "accelerators_per_system"].astype(float)
    return float(sizes.max()) if len(sizes) else parameter(catalog, "node_accelerators")


def peak_tflops(catalog: Catalog, accelerator: str, precision: str) -> float:
    """Dense peak TFLOP/s of one accelerator at ``precision``; ScenarioError when it has none."""
    value = catalog.row("accelerators", accelerator, field="accelerator").get(PRECISION_COLUMN[precision])
    if value is None or pd.isna(value):
        raise ScenarioError(
            f"{accelerator} has no dense {precision} rate in the catalog",
            field="precision",
            value=precision,
            allowed="bf16" + (", fp8" if precision != "bf16" else ""),
        )
    return float(value)


def mfu(
    peak: Any,
    hbm_tb_per_s: Any,
    accelerators: Any,
    domain: Any,
    network_gbps: Any,
    expert: Any,
    coefficients: dict[str, float],
    width: Any = 16384.0,
) -> np.ndarray:
    """Model FLOPs utilisation from the step-time model (fraction of dense peak at the run's precision).

    ``1 / MFU = 1 / gemm_efficiency + memory_bytes_width_per_flop / d * peak / hbm + (network_bits_per_flop
    * log2(K / domain)+ + expert_bits_per_flop * moe) * peak / network``, peak in TFLOP/s, hbm in TB/s,
    network in Gb/s per accelerator, d the model width (so each term is seconds of that work per second
    of matmul at peak). The memory-bound work (norms, activations, optimizer) moves bytes in proportion
    to d per token and layer while the matmuls do FLOPs in proportion to d^2: its share falls as 1 / d.
    """
    peak = np.asarray(peak, dtype=float)
    doublings = np.log2(
        np.maximum(np.asarray(accelerators, dtype=float) / np.asarray(domain, dtype=float), 1.0)
    )
    network = np.asarray(network_gbps, dtype=float)
    inverse = (
        1.0 / coefficients["gemm_efficiency"]
        + coefficients["memory_bytes_width_per_flop"] / np.asarray(width, dtype=float) * peak
        / np.asarray(hbm_tb_per_s, dtype=float)
        + coefficients["network_bits_per_flop"] * doublings * peak / network
        + coefficients["expert_bits_per_flop"] * np.asarray(expert, dtype=float) * peak / network
    )
    return 1.0 / inverse


def coefficients_of(catalog: Catalog) -> dict[str, float]:
    """The shipped MFU coefficients (``training_parameters``)."""
    return {name: parameter(catalog, name) for name in FITTED}


def train_time(
    accelerator: str,
    accelerators: int,
    params: float,
    tokens: float,
    active_params: float | None = None,
    catalog: Catalog | None = None,
    checkpoint_minutes: float | None = None,
    seed: int = 0,
    precision: str = "bf16",
    network_gbps: float | None = None,
    seq_tokens: float | None = None,
    coefficients: dict[str, float] | None = None,
    layers: float | None = None,
    d_model: float | None = None,
    failure_rate_scale: float = 1.0,
    restart_minutes: float | None = None,
) -> dict[str, float]:
    """Wall-clock time to train a model on ``accelerators`` of one kind, failures included.

    Returns ``days`` (wall clock with failures, restarts and checkpoints), ``gpu_hours`` (accelerators
    x those hours), ``mfu`` (model FLOPs / peak while running), ``goodput`` (useful share of time),
    plus ``flops``, ``ideal_days`` (no failures), ``interruptions`` and ``checkpoint_minutes``.
    ``layers`` and ``d_model`` default to a transformer of the active parameters (``aspect_ratio``).
    ``seed`` is accepted for interface stability; the answer is closed-form and does not depend on it.

    >>> round(train_time("h100-sxm", 16384, 405e9, 15.6e12)["mfu"], 2) > 0.3
    True
    """
    catalog = catalog or load_catalog()
    _check_run(accelerators, params, tokens, active_params, failure_rate_scale)
    del seed
    peak = peak_tflops(catalog, accelerator, precision)
    hbm = catalog.value("accelerators", accelerator, "hbm_tb_per_s")
    seq = parameter(catalog, "seq_tokens") if seq_tokens is None else seq_tokens
    aspect = parameter(catalog, "aspect_ratio")
    active = params if active_params is None else active_params
    _, width = model_depth_width(active, aspect, layers, d_model)
    flops = float(training_flops(params, tokens, active, seq, aspect, layers, d_model))
    expert = float(active < params)
    network = parameter(catalog, "network_gbps") if network_gbps is None else network_gbps
    utilisation = float(
        mfu(peak, hbm, accelerators, scale_up_domain(catalog, accelerator), network, expert,
            coefficients or coefficients_of(catalog), width)
    )
    ideal_hours = flops / (accelerators * peak * 1e12 * utilisation) / SECONDS_PER_HOUR
    job = job_reliability(catalog, float(accelerators), failure_rate_scale=failure_rate_scale,
                          restart_minutes=restart_minutes, checkpoint_minutes=checkpoint_minutes)
    good = float(job["goodput"])
    hours = ideal_hours / good if good > 0 else float("inf")
    return {
        "days": hours / HOURS_PER_DAY,
        "gpu_hours": hours * accelerators,
        "mfu": utilisation,
        "goodput": good,
        "flops": flops,
        "ideal_days": ideal_hours / HOURS_PER_DAY,
        "interruptions": float(job["interruptions_per_day"]) * hours / HOURS_PER_DAY,
        "checkpoint_minutes": float(job["checkpoint_minutes"]),
    }


def _check_run(accelerators: float, params: float, tokens: float, active_params: float | None,
               failure_rate_scale: float) -> None:
    if accelerators <= 0 or params <= 0 or tokens <= 0:
        raise ScenarioError(
            "accelerators, params and tokens must be positive",
            field="train-time",
            value=min(accelerators, params, tokens),
            allowed="> 0",
        )
    if active_params is not None and not 0 < active_params <= params:
        raise ScenarioError(
            "active params must lie in (0, params]",
            field="active_params",
            value=active_params,
            allowed=f"(0, {params:g}]",
        )
    if not failure_rate_scale >= 0:
        raise ScenarioError("failure rate scale must not be negative", field="failure_rate_scale",
                            value=failure_rate_scale, allowed=">= 0")


def calibration_runs(catalog: Catalog) -> pd.DataFrame:
    """Runs of ``training_runs`` with a job size and a reported GPU-hours or MFU (the calibration set)."""
    runs = catalog.table("training_runs")
    usable = runs["accelerators"].notna() & (runs["gpu_hours"].notna() | runs["mfu"].notna())
    return runs[usable]


def run_arrays(catalog: Catalog, runs: pd.DataFrame) -> dict[str, np.ndarray]:
    """Per run, what the MFU coefficients do not change: FLOPs, peak, HBM, domain, network, goodput."""
    aspect = parameter(catalog, "aspect_ratio")
    out: dict[str, list[float]] = {key: [] for key in (
        "flops", "peak", "hbm", "domain", "network", "expert", "width", "accelerators", "goodput", "reported")}
    for _, run in runs.iterrows():
        active = float(run["params"]) if pd.isna(run["active_params"]) else float(run["active_params"])
        layers = None if pd.isna(run.get("layers")) else float(run["layers"])
        d_model = None if pd.isna(run.get("d_model")) else float(run["d_model"])
        tokens = float(run["tokens"]) if not pd.isna(run["tokens"]) else catalog.value("defaults", "compute.run_tokens")
        accelerator = str(run["accelerator"])
        out["flops"].append(float(training_flops(run["params"], tokens, active, run["seq_tokens"], aspect,
                                                 layers, d_model)))
        out["peak"].append(peak_tflops(catalog, accelerator, str(run["precision"])))
        out["hbm"].append(catalog.value("accelerators", accelerator, "hbm_tb_per_s"))
        out["domain"].append(scale_up_domain(catalog, accelerator))
        out["network"].append(float(run["network_gbps"]))
        out["expert"].append(float(active < float(run["params"])))
        out["width"].append(float(model_depth_width(active, aspect, layers, d_model)[1]))
        out["accelerators"].append(float(run["accelerators"]))
        out["goodput"].append(float(job_reliability(catalog, float(run["accelerators"]))["goodput"]))
        out["reported"].append(float(run["gpu_hours"]) if not pd.isna(run["gpu_hours"]) else float(run["mfu"]))
    arrays = {key: np.asarray(values, dtype=float) for key, values in out.items()}
    arrays["is_hours"] = runs["gpu_hours"].notna().to_numpy()
    return arrays


def predict(catalog: Catalog, runs: pd.DataFrame, coefficients: dict[str, float],
            arrays: dict[str, np.ndarray] | None = None) -> pd.DataFrame:
    """Predicted against reported (GPU-hours where given, else MFU) for each run, with the log error."""
    a = run_arrays(catalog, runs) if arrays is None else arrays
    utilisation = mfu(a["peak"], a["hbm"], a["accelerators"], a["domain"], a["network"], a["expert"],
                      coefficients, a["width"])
    hours = a["flops"] / (a["accelerators"] * a["peak"] * 1e12 * utilisation) / SECONDS_PER_HOUR / a["goodput"]
    predicted = np.where(a["is_hours"], hours * a["accelerators"], utilisation)
    frame = pd.DataFrame({"metric": np.where(a["is_hours"], "gpu_hours", "mfu"), "predicted": predicted,
                          "reported": a["reported"]}, index=runs.index)
    frame.index.name = "id"
    frame["log_error"] = np.log(frame["predicted"] / frame["reported"])
    return frame


def calibrate(catalog: Catalog, runs: pd.DataFrame | None = None) -> dict[str, float]:
    """Least-squares fit of the MFU coefficients to the runs (log errors of GPU-hours or MFU), all at once."""
    runs = calibration_runs(catalog) if runs is None else runs
    has_experts = bool(((runs["active_params"] < runs["params"]) & runs["active_params"].notna()).any())

    arrays = run_arrays(catalog, runs)

    def residuals(logs: np.ndarray) -> np.ndarray:
        values = np.exp(logs)
        coefficients = dict(zip(FITTED, [*values[:3], values[3] if has_experts else 0.0], strict=True))
        return predict(catalog, runs, coefficients, arrays)["log_error"].to_numpy()

    start = np.log([coefficients_of(catalog)[name] or 1e-3 for name in FITTED])
    fit = optimize.least_squares(
        residuals, start, bounds=(np.log([0.05, 1e-3, 1e-6, 1e-6]), np.log([1.0, 1e4, 1.0, 10.0]))
    )
    values = np.exp(fit.x)
    return dict(zip(FITTED, [*values[:3], values[3] if has_experts else 0.0], strict=True))


def leave_one_out(catalog: Catalog) -> pd.DataFrame:
    """Each run predicted by coefficients fitted to the others (its error is out of sample)."""
    runs = calibration_runs(catalog)
    rows = []
    for run_id in runs.index:
        coefficients = calibrate(catalog, runs.drop(index=run_id))
        rows.append(predict(catalog, runs.loc[[run_id]], coefficients))
    return pd.concat(rows)


def decode_tokens_per_s(
    catalog: Catalog,
    accelerator: str,
    params: Any,
    active_params: Any,
    bytes_per_param: Any,
    kv_bytes_per_token: Any,
    context_tokens: Any,
) -> np.ndarray:
    """Decode tokens/s per accelerator of a served model: the lesser of the memory and compute bounds.

    Weights are sharded over the fewest accelerators whose usable HBM holds them with room for at least
    one sequence; the batch fills the rest with KV cache. A step reads the weights and every sequence's
    KV cache once: ``tokens/s = batch / (bytes / (shards * bandwidth))`` per shard group, capped by
    ``efficiency * peak / (2 * active params)``.
    """
    row = catalog.row("accelerators", accelerator, field="accelerator")
    usable = float(row["hbm_gb"]) * 1e9 * parameter(catalog, "hbm_usable_frac")
    bandwidth = float(row["hbm_tb_per_s"]) * 1e12 * parameter(catalog, "hbm_bandwidth_efficiency")
    precision = "fp8" if not pd.isna(row.get("fp8_tflops")) else "bf16"
    peak = float(row[PRECISION_COLUMN[precision]]) * 1e12 * parameter(catalog, "decode_compute_efficiency")
    weights = np.asarray(params, dtype=float) * np.asarray(bytes_per_param, dtype=float)
    sequence = np.asarray(kv_bytes_per_token, dtype=float) * np.asarray(context_tokens, dtype=float)
    shards = np.ceil((weights + sequence) / usable)
    batch = np.maximum(np.floor((shards * usable - weights) / np.maximum(sequence, 1.0)), 1.0)
    step_seconds = (weights + batch * sequence) / (shards * bandwidth)
    memory_bound = batch / step_seconds / shards
    active = np.asarray(params if active_params is None else active_params, dtype=float)
    compute_bound = peak / (2.0 * active)
    return np.minimum(memory_bound, compute_bound)


def _phase_values(scenario: Realised, catalog: Catalog, column: str) -> np.ndarray:
    values = []
    for phase in scenario.campus.phases:
        accelerator = str(catalog.row("systems", phase.system)["accelerator"])
        value = catalog.table("accelerators").loc[accelerator].get(column)
        values.append(0.0 if value is None or pd.isna(value) else float(value))
    return np.asarray(values)


def _summary(values: Any, units: str) -> xr.DataArray:
    array = xr.DataArray(np.asarray(values, dtype=float), dims="draw")
    array.attrs.update(summary=1, units=units)
    return array


def _share_online(upstream: xr.Dataset) -> xr.DataArray:
    """The share of the campus's accelerators online, by draw and month (0 where the campus has none)."""
    share_online = upstream["accelerators_online"] / upstream["accelerators"].where(upstream["accelerators"] > 0)
    return share_online.fillna(0).transpose("draw", "month")


def _by_month(upstream: xr.Dataset, unread: bool, make: Callable[[], xr.DataArray]) -> xr.DataArray:
    """A (draw, month) variable: ``make()``, or where the run drops it ``unread`` a stand-in of its dims."""
    if unread:
        return xr.DataArray(stand_in((upstream.sizes["draw"], upstream.sizes["month"])), dims=("draw", "month"))
    return make()


def campus_network_gbps(scenario: Realised, catalog: Catalog) -> float:
    """Scale-out bandwidth per accelerator (Gb/s) of the campus's fabric, or the catalog's default."""
    fabrics = catalog.table("fabric_bandwidth")
    if scenario.campus.network in fabrics.index:
        return float(fabrics.loc[scenario.campus.network, "gbps_per_accelerator"])
    return parameter(catalog, "network_gbps")


# Upstream variables the stage reads (the pipeline checks them against the variables registry).
READS = ("phase_accelerators", "accelerators", "accelerators_online", "job_accelerators", "reference_job_goodput")


def compute(scenario: Realised, catalog: Catalog, upstream: xr.Dataset) -> xr.Dataset:
    """Peak PFLOP/s by precision, delivered PFLOP/s by month, the reference run's days, decode tokens/s.

    The reference run spans the reliability stage's ``job_accelerators`` at its ``reference_job_goodput``.
    """
    phase_accelerators = upstream["phase_accelerators"]
    out = xr.Dataset()
    for precision, column in PRECISION_COLUMN.items():
        per_phase = phase_accelerators * xr.DataArray(_phase_values(scenario, catalog, column), dims="phase")
        out[f"peak_{precision}_pflops"] = _summary(
            (per_phase.sum("phase") / TFLOP_PER_PFLOP).values, "PFLOP/s"
        )
    unread = dropped()  # what the run drops unread is made as stand-ins (along draw and month)
    out["bf16_pflops_online"] = _by_month(
        upstream, {"bf16_pflops_online", "delivered_bf16_pflops"} <= unread,  # delivered is made from it
        lambda: _share_online(upstream) * out["peak_bf16_pflops"],
    )
    out["bf16_pflops_online"].attrs["units"] = "PFLOP/s"
    # the reference run on the campus's main accelerator (the phase with the most accelerators)
    work = scenario.workload
    main = int(np.argmax(phase_accelerators.isel(draw=0).values))
    phase = scenario.campus.phases[main]
    accelerator = str(catalog.row("systems", phase.system)["accelerator"])
    campus_size = np.asarray(upstream["accelerators"].values, dtype=float)
    job_size = np.asarray(upstream["job_accelerators"].values, dtype=float)
    goodput = np.asarray(upstream["reference_job_goodput"].values, dtype=float)
    network = campus_network_gbps(scenario, catalog)
    peak = peak_tflops(catalog, accelerator, work.precision)
    expert = float(work.active_params is not None and work.active_params < work.params)
    utilisation = mfu(
        peak,
        catalog.value("accelerators", accelerator, "hbm_tb_per_s"),
        job_size,
        scale_up_domain(catalog, accelerator),
        network,
        expert,
        coefficients_of(catalog),
        model_depth_width(work.active_params or work.params, parameter(catalog, "aspect_ratio"))[1],
    )
    flops = training_flops(
        work.params,
        work.tokens,
        work.active_params,
        parameter(catalog, "seq_tokens"),
        parameter(catalog, "aspect_ratio"),
    )
    ideal_hours = flops / (job_size * peak * 1e12 * utilisation) / SECONDS_PER_HOUR
    hours = ideal_hours / np.maximum(goodput, 1e-12)
    out["reference_run_mfu"] = _summary(utilisation, "fraction")
    out["reference_run_goodput"] = _summary(goodput, "fraction")
    out["reference_run_days"] = _summary(hours / HOURS_PER_DAY, "days")
    out["reference_run_gpu_hours"] = _summary(hours * job_size, "GPU-hours")
    # delivered: model FLOP/s at the reference run's MFU and goodput
    achieved = xr.DataArray(utilisation * goodput, dims="draw")
    out["delivered_bf16_pflops"] = _by_month(
        upstream, "delivered_bf16_pflops" in unread,
        lambda: (out["bf16_pflops_online"] * achieved).transpose("draw", "month"),
    )
    out["delivered_bf16_pflops"].attrs["units"] = "PFLOP/s"
    per_accelerator = decode_tokens_per_s(
        catalog,
        accelerator,
        work.serve_params,
        work.serve_active_params,
        work.serve_bytes_per_param,
        work.serve_kv_bytes_per_token,
        work.serve_context_tokens,
    )
    out["decode_tokens_per_s_per_accelerator"] = _summary(
        np.full(campus_size.shape, float(per_accelerator)), "tokens/s"
    )
    out["decode_tokens_per_s"] = _by_month(
        upstream, "decode_tokens_per_s" in unread,
        lambda: upstream["accelerators_online"].transpose("draw", "month") * float(per_accelerator),
    )
    out["decode_tokens_per_s"].attrs["units"] = "tokens/s"
    return out
