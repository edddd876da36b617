"""Inference: how many tokens a served model gives per accelerator, at what latency, energy and cost.

A roofline model of a continuously batched serving engine. Each step decodes one token for every
sequence in the batch and prefills the prompts of the sequences that replace those that finished
(chunked prefill). A step reads the weights and every sequence's KV cache from HBM (memory-bound) and
does the matmuls of the decoded and prefilled tokens (compute-bound); it takes the longer of the two,
plus a fixed time per layer and the tensor-parallel all-reduces. The batch is bounded by the HBM left
after the weights, by the engine's maximum and by the latency targets; tensor and pipeline parallel
groups are chosen for throughput, tensor groups inside the scale-up (NVLink) domain. Seven
coefficients are fitted as a set on ``inference_results`` (:func:`calibrate`); :func:`inference` is the
campus stage (the serving share of a scenario). Method:
docs/methods/inference.md.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import xarray as xr
from scipy import optimize

from neocloud.blocks import stand_in
from neocloud.catalog import Catalog, load_catalog
from neocloud.errors import ScenarioError
from neocloud.registry import dropped
from neocloud.scenario import Realised
from neocloud.units import MS_PER_S, SECONDS_PER_HOUR, TOKENS_PER_MILLION, US_PER_S, W_PER_MW

PRECISIONS = ("bf16", "fp8", "fp4")
PRECISION_COLUMN = {"bf16": "bf16_tflops", "fp8": "fp8_tflops", "fp4": "fp4_tflops"}
FITTED = ("prefill_efficiency", "decode_efficiency", "bandwidth_efficiency", "layer_overhead_us",
          "expert_efficiency", "latency_margin", "bf16_share")
TENSOR_PARALLEL = (1, 2, 4, 8, 16, 32, 64)
PIPELINE_PARALLEL = (1, 2, 4, 8)
BATCH_GRID = np.unique(np.round(np.geomspace(1.0, 8192.0, 64)))
CONSTANTS = ("kv_bytes_per_element", "hbm_usable_frac", "max_batch_sequences", "allreduce_latency_us",
             "activation_bytes")
# bounds of the fit; no matmul kernel holds more than about 80% of dense peak through a whole model
LOWER = (0.05, 0.05, 0.1, 0.1, 0.02, 0.05, 0.001)
UPPER = (0.8, 0.8, 1.0, 500.0, 1.0, 1.0, 1.0)
# Upstream variables the stage reads (the pipeline checks them against the variables registry).
READS = ("phase_accelerators", "accelerators", "facility_power_mw", "accelerators_online", "cost_usd_per_gpu_hour")
LOO_EVALUATIONS = 200  # a leave-one-out refit starts from the full fit and moves little
BLOCK_ROWS = 1024  # rows (draws) evaluated at once: keeps the (row, group, batch) arrays cache-sized


def parameter(catalog: Catalog, name: str) -> float:
    """One value of the catalog's ``inference_parameters`` table."""
    return catalog.value("inference_parameters", name)


def coefficients_of(catalog: Catalog) -> dict[str, float]:
    """The shipped (fitted) efficiencies."""
    return {name: parameter(catalog, name) for name in FITTED}


def check_precision(catalog: Catalog, accelerator: str, precision: str) -> float:
    """Dense peak TFLOP/s at ``precision``; ScenarioError for an unknown precision or one the chip lacks."""
    if precision not in PRECISIONS:
        raise ScenarioError("unknown precision", field="precision", value=precision, allowed=", ".join(PRECISIONS))
    row = catalog.row("accelerators", accelerator, field="accelerator")
    value = row.get(PRECISION_COLUMN[precision])
    if value is None or pd.isna(value):
        has = [name for name in PRECISIONS if not pd.isna(row.get(PRECISION_COLUMN[name]))]
        raise ScenarioError(f"{accelerator} has no dense {precision} rate", field="precision", value=precision,
                            allowed=", ".join(has))
    return float(value)


def hardware(catalog: Catalog, accelerator: str, precision: str) -> dict[str, float]:
    """What the model needs of an accelerator: peak FLOP/s, HBM bytes and bytes/s, domain, link, power."""
    peak = check_precision(catalog, accelerator, precision)
    row = catalog.row("accelerators", accelerator, field="accelerator")
    systems = catalog.table("systems")
    own = systems[systems["accelerator"] == accelerator]
    domain = float(own["accelerators_per_system"].max()) if len(own) else 8.0
    power_w = (float((own["typical_power_kw"] / own["accelerators_per_system"]).min()) * 1e3
               if len(own) else float(row["tdp_w"]))
    scale_up = catalog.table("scale_up")
    link = catalog.value("scale_up", accelerator, "gb_per_s") if accelerator in scale_up.index else 450.0
    return {"peak_flops": peak * 1e12, "bf16_flops": float(row["bf16_tflops"]) * 1e12,
            "hbm_bytes": float(row["hbm_gb"]) * 1e9,
            "hbm_bytes_per_s": float(row["hbm_tb_per_s"]) * 1e12, "domain": domain,
            "link_bytes_per_s": link * 1e9, "power_w": power_w,
            "bytes_per_param": parameter(catalog, f"bytes_per_param_{precision}")}


def model_shape(catalog: Catalog, model: str | None = None, params: float | None = None,
                active_params: float | None = None) -> dict[str, float]:
    """A served model's shape: from the ``models`` table, or from a parameter count (dense, GQA, Llama-like)."""
    if model is not None:
        row = catalog.row("models", model, field="model")
        return {key: float(row[key]) for key in ("params", "active_params", "layers", "d_model", "attention_width",
                                                   "kv_elements_per_token_layer", "experts", "experts_active",
                                                   "expert_params")}
    if params is None or params <= 0:
        raise ScenarioError("give --model or a positive --params", field="params", value=params, allowed="> 0")
    active = params if active_params is None else active_params
    if not 0 < active <= params:
        raise ScenarioError("active params must lie in (0, params]", field="active_params", value=active,
                            allowed=f"(0, {params:g}]")
    aspect = catalog.value("training_parameters", "aspect_ratio")
    layers = float(np.cbrt(active / (12.0 * aspect**2)))
    width = aspect * layers
    moe = active < params
    return {"params": float(params), "active_params": float(active), "layers": max(round(layers), 1),
            "d_model": width, "attention_width": width,
            "kv_elements_per_token_layer": parameter(catalog, "default_kv_elements_per_token_layer"),
            # the parameters a token does not use are routed experts; each token touches a share A / P of them
            "experts": 64.0 if moe else 0.0, "experts_active": 64.0 * active / params if moe else 0.0,
            "expert_params": float(params - active)}


def _groups(domain: np.ndarray, fixed: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Candidate (tensor, pipeline) groups per row, shape (row, group); tensor groups fit in the domain.

    A row with a ``fixed`` tensor-parallel size (not NaN) runs that size without pipeline stages.
    """
    sizes = [size for size in TENSOR_PARALLEL if size <= max(float(np.max(domain)), 1.0)]
    tp_grid, pp_grid = np.meshgrid(sizes, PIPELINE_PARALLEL, indexing="ij")
    tp, pp = tp_grid.ravel().astype(float), pp_grid.ravel().astype(float)
    allowed = tp[None, :] <= domain[:, None]
    chosen = ~np.isnan(fixed)[:, None]
    allowed &= ~chosen | ((tp[None, :] == fixed[:, None]) & (pp[None, :] == 1))
    return tp[None, :], pp[None, :], allowed


def _block(hw: dict[str, np.ndarray], shape: dict[str, np.ndarray], work: dict[str, np.ndarray],
           constants: dict[str, float], coefficients: dict[str, float]) -> dict[str, np.ndarray]:
    """Every (group, batch) of a block of rows; the best feasible one per row."""
    col = {key: value[:, None, None] for key, value in {**hw, **shape, **work}.items()}
    tp, pp, allowed = _groups(hw["domain"], work["tensor_parallel"])
    tp, pp, allowed = tp[:, :, None], pp[:, :, None], allowed[:, :, None]
    batch = BATCH_GRID[None, None, :]
    gpus = tp * pp
    weights = col["params"] * col["bytes_per_param"]
    kv_token = col["layers"] * col["kv_elements_per_token_layer"] * constants["kv_bytes_per_element"]
    inputs, outputs = col["input_tokens"], col["output_tokens"]
    context = inputs + outputs / 2.0
    room = gpus * col["hbm_bytes"] * constants["hbm_usable_frac"] - weights
    fits = (batch * kv_token * context <= room) & (batch <= constants["max_batch_sequences"]) & allowed
    # tokens through the experts in a step: decoded ones plus the prefilled prompts of B / O new sequences
    step_tokens = batch * (1.0 + inputs / outputs)
    share = np.where(col["experts"] > 0, col["experts_active"] / np.maximum(col["experts"], 1.0), 1.0)
    touched = 1.0 - (1.0 - share) ** step_tokens
    expert_bytes = col["expert_params"] * col["bytes_per_param"]
    # routed-expert layers reach a smaller share of the roofline (routing, all-to-all, uneven expert load)
    moe = coefficients["expert_efficiency"]
    dense_bytes = weights - expert_bytes
    read = dense_bytes + expert_bytes * touched / moe + batch * kv_token * context / pp
    memory_s = read / (tp * col["hbm_bytes_per_s"] * coefficients["bandwidth_efficiency"])
    attention = 4.0 * col["layers"] * col["attention_width"]
    expert_active = col["expert_params"] * share
    matmul = 2.0 * (col["active_params"] - expert_active) + 2.0 * expert_active / moe
    decode_flops = matmul + attention * context
    prefill_flops = matmul * inputs + attention * inputs**2 / 2.0
    # Amdahl: a share of the step's work (attention, norms, quantisation) runs at the BF16 rate
    slow = coefficients["bf16_share"]
    realised = 1.0 / ((1.0 - slow) / col["peak_flops"] + slow / col["bf16_flops"])
    # prefill multiplies thousands of tokens at once; decode only the batch's one token each
    prefill_rate = coefficients["prefill_efficiency"] * realised
    decode_rate = coefficients["decode_efficiency"] * realised
    compute_s = batch * (decode_flops / decode_rate + prefill_flops / outputs / prefill_rate) / gpus
    reduce_s = np.where(tp > 1, 2.0 * constants["allreduce_latency_us"] / US_PER_S
                        + 2.0 * (batch / pp) * col["d_model"] * constants["activation_bytes"]
                        * 2.0 * (tp - 1.0) / tp / col["link_bytes_per_s"], 0.0)
    overhead_s = col["layers"] * (coefficients["layer_overhead_us"] / US_PER_S + reduce_s)
    tpot = np.maximum(memory_s, compute_s) + overhead_s
    ttft = prefill_flops / (tp * prefill_rate) + tpot
    # the targets are tail (P99) latencies; the model's are means
    margin = coefficients["latency_margin"]
    ok = fits & (tpot <= margin * col["tpot_s"]) & (ttft <= margin * col["ttft_s"])
    rate = np.where(ok, batch / (tpot * gpus), -1.0).reshape(len(hw["domain"]), -1)
    best = np.argmax(rate, axis=1)
    pick = np.arange(len(best))

    def chosen(values: np.ndarray) -> np.ndarray:
        return np.broadcast_to(values, ok.shape).reshape(len(best), -1)[pick, best]

    feasible = rate[pick, best] > 0
    nan = np.where(feasible, 1.0, np.nan)
    return {"tokens_per_s_per_accelerator": rate[pick, best] * nan, "tpot_ms": chosen(tpot) * MS_PER_S * nan,
            "ttft_ms": chosen(ttft) * MS_PER_S * nan, "batch_sequences": chosen(batch) * nan,
            "tensor_parallel": chosen(tp) * nan, "pipeline_parallel": chosen(pp) * nan}


def serve(hw: dict[str, Any], shape: dict[str, Any], input_tokens: Any, output_tokens: Any,
          ttft_ms: Any = np.inf, tpot_ms: Any = np.inf, constants: dict[str, float] | None = None,
          coefficients: dict[str, float] | None = None, catalog: Catalog | None = None,
          tensor_parallel: Any = np.nan) -> dict[str, np.ndarray]:
    """Best serving configuration per row (draw): throughput per accelerator and its latencies.

    Every input broadcasts along one leading axis (rows or draws). Returns arrays of that length:
    ``tokens_per_s_per_accelerator`` (output tokens), ``ttft_ms``, ``tpot_ms``, ``batch_sequences``,
    ``tensor_parallel``, ``pipeline_parallel``; NaN where no configuration holds the model within the
    latency targets. ``tensor_parallel`` (NaN: choose) fixes the group size, as a published table states it.
    """
    if constants is None or coefficients is None:
        catalog = catalog or load_catalog()
        constants = constants or {name: parameter(catalog, name) for name in CONSTANTS}
        coefficients = coefficients or coefficients_of(catalog)
    work = {"input_tokens": input_tokens, "output_tokens": output_tokens,
            "ttft_s": np.asarray(ttft_ms, dtype=float) / MS_PER_S,
            "tpot_s": np.asarray(tpot_ms, dtype=float) / MS_PER_S,
            "tensor_parallel": np.asarray(tensor_parallel, dtype=float)}
    arrays = [np.asarray(value, dtype=float) for value in (*hw.values(), *shape.values(), *work.values())]
    rows = np.broadcast_shapes(*(array.shape for array in arrays), (1,))[0]
    flat = {name: np.broadcast_to(np.asarray(value, dtype=float), (rows,))
            for name, value in {**hw, **shape, **work}.items()}
    hw_keys, shape_keys = list(hw), list(shape)
    parts = []
    for start in range(0, rows, BLOCK_ROWS):
        part = {name: value[start:start + BLOCK_ROWS] for name, value in flat.items()}
        parts.append(_block({key: part[key] for key in hw_keys}, {key: part[key] for key in shape_keys},
                            {key: part[key] for key in work}, constants, coefficients))
    return {key: np.concatenate([part[key] for part in parts]) for key in parts[0]}


def economics(tokens_per_s: Any, power_w: Any, usd_per_gpu_hour: Any) -> dict[str, np.ndarray]:
    """Tokens per MWh of accelerator power and US dollars per million output tokens."""
    tokens_per_hour = np.asarray(tokens_per_s, dtype=float) * SECONDS_PER_HOUR
    return {"tokens_per_mwh": tokens_per_hour / (np.asarray(power_w, dtype=float) / W_PER_MW),
            "usd_per_million_tokens": np.asarray(usd_per_gpu_hour, dtype=float) / tokens_per_hour
            * TOKENS_PER_MILLION}


def infer(accelerator: str, input_tokens: float, output_tokens: float, model: str | None = None,
          params: float | None = None, active_params: float | None = None, precision: str = "fp8",
          ttft_ms: float | None = None, tpot_ms: float | None = None, usd_per_gpu_hour: float | None = None,
          catalog: Catalog | None = None) -> dict[str, float]:
    """One served model on one kind of accelerator: throughput, latencies, tokens per MWh, cost per token.

    The price per GPU-hour defaults to the catalog's rental price for the accelerator.

    >>> result = infer("h100-sxm", 2048, 128, params=70e9)
    >>> 500 < result["tokens_per_s_per_accelerator"] < 5000
    True
    """
    catalog = catalog or load_catalog()
    for name, value in (("input_tokens", input_tokens), ("output_tokens", output_tokens), ("ttft_ms", ttft_ms),
                        ("tpot_ms", tpot_ms), ("usd_per_gpu_hour", usd_per_gpu_hour)):
        if value is not None and not (np.isfinite(value) and value > 0):
            raise ScenarioError("must be a positive number", field=name, value=value, allowed="> 0")
    hw = hardware(catalog, accelerator, precision)
    shape = model_shape(catalog, model, params, active_params)
    result = serve(hw, shape, input_tokens, output_tokens, ttft_ms or np.inf, tpot_ms or np.inf, catalog=catalog)
    if not np.isfinite(result["tokens_per_s_per_accelerator"][0]):
        raise ScenarioError(f"no tensor or pipeline group of {accelerator} holds the model within the latency "
                            "targets", field="tpot_ms" if tpot_ms or ttft_ms else "params",
                            value=tpot_ms or shape["params"], allowed="a looser target or a smaller model")
    if usd_per_gpu_hour is None:
        prices = catalog.table("gpu_rental_prices")
        usd_per_gpu_hour = (catalog.value("gpu_rental_prices", accelerator, "price_usd_per_gpu_hour")
                            if accelerator in prices.index else float("nan"))
    money = economics(result["tokens_per_s_per_accelerator"], hw["power_w"], usd_per_gpu_hour)
    out = {key: float(value[0]) for key, value in {**result, **money}.items()}
    out["accelerator_power_w"] = hw["power_w"]
    out["usd_per_gpu_hour"] = float(usd_per_gpu_hour)
    return out


def reference_inputs(catalog: Catalog, rows: pd.DataFrame) -> tuple[dict[str, np.ndarray], ...]:
    """Hardware, model shape and work arrays (one entry per row of ``inference_results``)."""
    hws = [hardware(catalog, str(row["accelerator"]), str(row["precision"])) for _, row in rows.iterrows()]
    shapes = [model_shape(catalog, str(row["model"])) for _, row in rows.iterrows()]
    hw = {key: np.array([item[key] for item in hws]) for key in hws[0]}
    shape = {key: np.array([item[key] for item in shapes]) for key in shapes[0]}
    work = {"input_tokens": rows["input_tokens"].to_numpy(float),
            "output_tokens": rows["output_tokens"].to_numpy(float),
            "ttft_ms": rows["ttft_ms"].fillna(np.inf).to_numpy(float),
            "tpot_ms": rows["tpot_ms"].fillna(np.inf).to_numpy(float),
            "tensor_parallel": rows["tensor_parallel"].to_numpy(float)}
    return hw, shape, work


def predict(catalog: Catalog, rows: pd.DataFrame, coefficients: dict[str, float]) -> pd.DataFrame:
    """Predicted against reported tokens/s per accelerator for each row, with the log error."""
    hw, shape, work = reference_inputs(catalog, rows)
    result = serve(hw, shape, work["input_tokens"], work["output_tokens"], work["ttft_ms"], work["tpot_ms"],
                   coefficients=coefficients, catalog=catalog, tensor_parallel=work["tensor_parallel"])
    frame = pd.DataFrame({"predicted": result["tokens_per_s_per_accelerator"],
                          "reported": rows["tokens_per_s_per_accelerator"].to_numpy(float)}, index=rows.index)
    frame["log_error"] = np.log(frame["predicted"] / frame["reported"])
    return frame


def fitted_rows(catalog: Catalog) -> pd.DataFrame:
    """Rows of ``inference_results`` the efficiencies are fitted on (the others are held out)."""
    rows = catalog.table("inference_results")
    return rows[rows["fitted"].astype(str).str.lower() == "true"]


def calibrate(catalog: Catalog, rows: pd.DataFrame | None = None, start: dict[str, float] | None = None,
              evaluations: int = 1500) -> dict[str, float]:
    """The efficiencies that minimise the squared log errors of ``rows`` (default: the fitted rows).

    Nelder-Mead on the logarithms from ``start`` (default: the shipped values), at most ``evaluations``
    model evaluations; a row no configuration can serve counts as a log error of 3.
    """
    rows = fitted_rows(catalog) if rows is None else rows
    hw, shape, work = reference_inputs(catalog, rows)
    reported = np.log(rows["tokens_per_s_per_accelerator"].to_numpy(float))
    lower, upper = np.log(LOWER), np.log(UPPER)
    constants = {name: parameter(catalog, name) for name in CONSTANTS}

    def loss(logs: np.ndarray) -> float:
        coefficients = dict(zip(FITTED, np.exp(np.clip(logs, lower, upper)), strict=True))
        result = serve(hw, shape, work["input_tokens"], work["output_tokens"], work["ttft_ms"], work["tpot_ms"],
                       constants=constants, coefficients=coefficients, tensor_parallel=work["tensor_parallel"])
        error = np.log(result["tokens_per_s_per_accelerator"]) - reported
        return float(np.mean(np.where(np.isfinite(error), error, 3.0) ** 2))

    first = np.log([(start or coefficients_of(catalog))[name] for name in FITTED])
    fit = optimize.minimize(loss, first, method="Nelder-Mead",
                            options={"xatol": 1e-2, "fatol": 1e-5, "maxfev": evaluations})
    return dict(zip(FITTED, np.exp(np.clip(fit.x, lower, upper)).tolist(), strict=True))


def leave_one_out(catalog: Catalog) -> pd.DataFrame:
    """Each fitted row predicted by efficiencies fitted to the others; held-out rows by the full fit."""
    rows = fitted_rows(catalog)
    full = calibrate(catalog, rows)
    parts = [predict(catalog, rows.loc[[row_id]], calibrate(catalog, rows.drop(index=row_id), full, LOO_EVALUATIONS))
             for row_id in rows.index]
    held = catalog.table("inference_results").drop(index=rows.index)
    if len(held):
        parts.append(predict(catalog, held, full))
    return pd.concat(parts)


def _summary(values: Any, units: str) -> xr.Variable:
    return xr.Variable("draw", np.asarray(values, dtype=float), attrs={"summary": 1, "units": units})


def serving_share(workload: Any) -> float:
    """Share of the campus's accelerators that serve: the scenario's, else by the kind of workload."""
    if workload.serving_share is not None:
        return float(workload.serving_share)
    return {"training": 0.0, "inference": 1.0, "mixed": 0.5}[workload.kind]


def campus_serving(scenario: Realised, catalog: Catalog, accelerator: str) -> dict[str, float]:
    """The scenario's served model on the campus's main accelerator: the best configuration's figures."""
    work = scenario.workload
    row = catalog.row("accelerators", accelerator, field="accelerator")
    precision = work.serve_precision or ("fp8" if not pd.isna(row.get("fp8_tflops")) else "bf16")
    if pd.isna(row.get(PRECISION_COLUMN[precision])):
        check_precision(catalog, accelerator, precision)  # raises with the precisions the chip has
    if work.serve_model is not None:
        catalog.row("models", work.serve_model, field="workload.serve_model")
    shape = model_shape(catalog, work.serve_model, work.serve_params, work.serve_active_params)
    inputs = work.serve_input_tokens or parameter(catalog, "default_input_tokens")
    outputs = work.serve_output_tokens or parameter(catalog, "default_output_tokens")
    result = serve(hardware(catalog, accelerator, precision), shape, inputs, outputs,
                   work.serve_ttft_ms or np.inf, work.serve_tpot_ms or np.inf, catalog=catalog)
    if not np.isfinite(result["tokens_per_s_per_accelerator"][0]):
        raise ScenarioError(f"no group of {accelerator} serves the model within the latency targets",
                            field="workload.serve_tpot_ms", value=work.serve_tpot_ms,
                            allowed="a looser target, a smaller model or a lower precision")
    return {key: float(value[0]) for key, value in result.items()}


def inference(scenario: Realised, catalog: Catalog, upstream: xr.Dataset) -> xr.Dataset:
    """The campus's serving share: tokens/s, tokens per MWh of facility energy, US dollars per million tokens.

    Runs after finance: the cost per million tokens uses the campus's own cost per GPU-hour.
    """
    read = upstream.variables  # Variables, not DataArrays: no coordinates built
    phase_accelerators = read["phase_accelerators"].isel(draw=0).values
    phase = scenario.campus.phases[int(np.argmax(phase_accelerators))]
    accelerator = str(catalog.row("systems", phase.system)["accelerator"])
    share = serving_share(scenario.workload)
    served = campus_serving(scenario, catalog, accelerator)
    per_accelerator = served["tokens_per_s_per_accelerator"]
    accelerators = np.asarray(read["accelerators"].values, dtype=float)
    facility_w = np.asarray(read["facility_power_mw"].values, dtype=float) * W_PER_MW / accelerators
    cost = np.asarray(read["cost_usd_per_gpu_hour"].values, dtype=float)
    if "serving_tokens_per_s" in dropped():  # the run drops it unread: a stand-in of its dims
        serving = stand_in(read["accelerators_online"].transpose("draw", "month").shape)
    else:
        serving = read["accelerators_online"].transpose("draw", "month").values * share
        serving *= per_accelerator  # in place: the same bits as a second product
    # the variables are gathered first and the Dataset built once (a Dataset aligns on every assignment)
    return xr.Dataset({
        "serving_accelerators": _summary(accelerators * share, "accelerators"),
        "tokens_per_s": _summary(accelerators * share * per_accelerator, "tokens/s"),
        "tokens_per_s_per_accelerator": _summary(np.full(accelerators.shape, per_accelerator), "tokens/s"),
        "serve_ttft_ms": _summary(np.full(accelerators.shape, served["ttft_ms"]), "ms"),
        "serve_tpot_ms": _summary(np.full(accelerators.shape, served["tpot_ms"]), "ms"),
        "tokens_per_mwh": _summary(per_accelerator * SECONDS_PER_HOUR / (facility_w / W_PER_MW), "tokens/MWh"),
        "usd_per_million_tokens": _summary(cost / (per_accelerator * SECONDS_PER_HOUR) * TOKENS_PER_MILLION,
                                           "USD/Mtoken"),
        "serving_tokens_per_s": xr.Variable(("draw", "month"), serving, attrs={"units": "tokens/s"}),
    })
