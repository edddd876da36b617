"""Hourly energy simulation of one site: 8,760 hours x 10,000 draws, against a plain Python hourly loop.

Run: python benchmarks/bench_energy.py [--quick]. The vectorised side is ``simulate``, what the energy
stage runs: the hourly dispatch of every draw reduced to months, the typical week and the peaks. The loop
evaluates the same hourly model (load, PUE, battery, solar, grid and gas dispatch) one draw and one hour at
a time; it is checked against the hourly dispatch, and its monthly grid and gas energy against
``simulate``, on the draws it runs.
"""

from __future__ import annotations

import argparse
import math
import time
from dataclasses import replace

import numpy as np

from neocloud import Scenario, load_catalog
from neocloud.energy import Site, dispatch, simulate, site_model
from neocloud.energy.hourly import CHUNK_DRAWS, HOUR_OF_DAY, MONTH_START_HOUR
from neocloud.realise import realise

# bytes read and written by the ufunc passes of ``simulate`` per hour and draw (the operand count by stage
# is in docs/methods/energy.md, "Speed"); nearly all of it stays in cache
BYTES_PER_HOUR_DRAW = 1_700
REPEATS = 3


def site(draws: int) -> Site:
    """Abilene's climate and region with grid, gas turbines, a battery and solar, uncertain per draw."""
    scenario = Scenario.model_validate(
        {
            "name": "bench",
            "site": {"location": "-", "climate": "abilene-tx", "region": "ercot-tx"},
            "campus": {"phases": [{"name": "all", "system": "gb200-nvl72", "systems_per_building": 1000}]},
            "workload": {"kind": "inference"},
        }
    )
    rng = np.random.default_rng(0)
    base = site_model(realise(scenario, draws), load_catalog(), draws)
    hour_angle = np.radians(15.0) * (HOUR_OF_DAY + 0.5 - 12)
    return replace(
        base,
        it_mw=rng.uniform(100, 140, draws),
        grid_mw=rng.uniform(60, 120, draws),
        gas_mw=np.full(draws, 70.0),
        gas_unit_mw=35.0,
        gas_min_load_frac=0.25,
        gas_min_up_hours=2,
        gas_derate_per_c=0.007,
        gas_availability=0.97,
        gas_cost_usd_per_mwh=rng.uniform(25, 80, draws),
        gas_mmbtu_per_mwh=9.1,
        battery_mw=rng.uniform(20, 60, draws),
        battery_mwh=rng.uniform(40, 240, draws),
        battery_efficiency=0.85,
        solar_mw=rng.uniform(0, 50, draws),
        solar_cf=np.maximum(np.cos(hour_angle), 0) * 0.6,
    )


def requests(model: Site, draw: int) -> list[tuple[float, float, float, float, float, bool]]:
    """Per hour, before the battery: demand, solar, gas available, unit output, price, and whether gas is
    cheaper than the grid."""
    hours = []
    for hour in range(len(model.pue)):
        hod = hour % 24
        utilisation = model.utilisation[draw] * (
            1 + model.amplitude_frac * math.cos(2 * math.pi * (hod - model.peak_hour) / 24)
        )
        utilisation = min(max(utilisation, 0.0), 1.0)
        it = model.it_mw[draw] * (model.idle_frac + (model.busy_frac - model.idle_frac) * utilisation)
        derate = min(max(1 - model.gas_derate_per_c * max(model.temperature_c[hour] - 15.0, 0.0), 0.0), 1.0)
        price = model.price_usd_per_mwh[draw] * float(model.price_multiplier[hour])
        hours.append((it * model.pue[hour], model.solar_mw[draw] * model.solar_cf[hour],
                      model.gas_mw[draw] * derate * model.gas_availability, model.gas_unit_mw * derate, price,
                      model.gas_cost_usd_per_mwh[draw] < price))
    return hours


def marginal(load: float, available: float, grid_cap: float, price: float, gas_cost: float,
             gas_first: bool) -> tuple[float, float]:
    """Cost and share of the dearest source in use without the battery (merit order, the cheaper first)."""
    if load <= 0:
        return 0.0, 0.0
    beyond = load - (available if gas_first else grid_cap)
    if beyond > 0:
        return (price if gas_first else gas_cost), beyond
    return (gas_cost if gas_first else price), load


def loop(model: Site, draw: int) -> dict[str, list[float]]:
    """The same hourly model in plain Python, one hour at a time, for one draw."""
    out: dict[str, list[float]] = {key: [] for key in ("grid", "gas", "curtailed", "soc")}
    root = math.sqrt(model.battery_efficiency)
    hours = requests(model, draw)
    grid_cap, gas_cost, power = model.grid_mw[draw], model.gas_cost_usd_per_mwh[draw], model.battery_mw[draw]
    threshold = max(marginal(d - s, a, grid_cap, p, gas_cost, f)[0] for d, s, a, _, p, f in hours) * (1 - 1e-12)
    last_deficit = {}
    for hour, (demand, solar, available, _, _, _) in enumerate(hours):
        if demand - solar - grid_cap - available > 0:
            last_deficit[hour // 24] = hour
    soc = float(model.battery_mwh[draw])
    history: list[float] = []
    for hour, (demand, solar, available, unit, price, gas_first) in enumerate(hours):
        residual = demand - solar
        load = max(residual, 0.0)
        deficit = residual - grid_cap - available
        value, share = marginal(residual, available, grid_cap, price, gas_cost, gas_first)
        reserve = hour <= last_deficit.get(hour // 24, -1)
        grid_spare = grid_cap - (max(load - available, 0.0) if gas_first else min(load, grid_cap))
        gas_spare = available - (min(load, available) if gas_first else max(load - grid_cap, 0.0))
        worth = threshold * model.battery_efficiency
        if reserve:
            headroom = max(grid_spare, 0.0) + max(gas_spare, 0.0) + max(-residual, 0.0)
        else:
            headroom = max(-residual, 0.0) + (grid_spare if price < worth else 0.0) + (
                gas_spare if gas_cost < worth else 0.0)
        economic = value >= threshold and not reserve
        if deficit > 0:
            charge_request, discharge_request = 0.0, min(deficit, power)
        elif economic:
            charge_request, discharge_request = 0.0, min(share, power)
        else:
            charge_request, discharge_request = min(headroom, power), 0.0
        new = min(max(soc + charge_request * root - discharge_request / root, 0.0), model.battery_mwh[draw])
        stored, soc = new - soc, new
        net = residual - max(-stored, 0.0) * root + max(stored, 0.0) / root
        net = max(net, 0.0)
        gas = min(available, net) if gas_first else min(available, max(net - grid_cap, 0.0))
        needed = math.ceil(gas / unit - 1e-9) if unit > 0 else 0.0
        history.append(needed)
        recent = max(history[-model.gas_min_up_hours :])
        keepable = math.floor(net / (model.gas_min_load_frac * unit) + 1e-9) if unit > 0 else 0.0
        fleet = math.floor(model.gas_mw[draw] / model.gas_unit_mw + 1e-9)
        committed = max(needed, min(recent, keepable, fleet))
        gas = min(max(gas, committed * model.gas_min_load_frac * unit), min(net, available))
        grid = min(grid_cap, net - gas)
        out["grid"].append(grid)
        out["gas"].append(gas)
        out["curtailed"].append(max(net - gas - grid, 0.0))
        out["soc"].append(soc)
    return out


def streaming_gb_per_s(elements: int, repeats: int) -> float:
    """Throughput of np.add on warm float64 arrays of ``elements`` (two reads and a write), GB/s."""
    first, second, out = np.ones(elements), np.ones(elements), np.empty(elements)
    np.add(first, second, out=out)
    best = math.inf
    for _ in range(repeats):
        start = time.perf_counter()
        np.add(first, second, out=out)
        best = min(best, time.perf_counter() - start)
    return 3 * out.nbytes / best / 1e9


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="1,000 draws and 2 loop draws (seconds)")
    args = parser.parse_args()
    draws = 1_000 if args.quick else 10_000
    loop_draws = 2 if args.quick else 5
    model = site(draws)
    hours = len(model.pue)
    simulate(model.take(slice(0, 8)))  # warm up
    vector_s = loop_s = math.inf
    for _ in range(REPEATS):  # the best of a few runs of each side: the machine is shared
        start = time.perf_counter()
        year = simulate(model)
        vector_s = min(vector_s, time.perf_counter() - start)
        start = time.perf_counter()
        reference = [loop(model, draw) for draw in range(loop_draws)]
        loop_s = min(loop_s, time.perf_counter() - start)
    hourly = dispatch(model.take(slice(0, loop_draws)))
    worst = max(
        float(np.max(np.abs(hourly[key][draw] - np.array(reference[draw][key]))))
        for draw in range(loop_draws)
        for key in ("grid", "gas", "curtailed", "soc")
    )
    monthly = max(
        float(
            np.max(
                np.abs(year[f"{key}_mwh"][draw] - np.add.reduceat(reference[draw][key], MONTH_START_HOUR))
                / np.maximum(year[f"{key}_mwh"][draw], 1.0)
            )
        )
        for draw in range(loop_draws)
        for key in ("grid", "gas")
    )
    vector_rate = draws * hours / vector_s
    loop_rate = loop_draws * hours / loop_s
    print(
        f"vectorised: {draws:,} draws x {hours:,} hours in {vector_s:.2f} s "
        f"({vector_s / draws / hours * 1e9:.1f} ns per hour-draw); loop: {loop_draws} draws in {loop_s:.2f} s; "
        f"largest hourly difference {worst:.2e} MW, monthly {monthly:.1e} relative"
    )
    in_cache = streaming_gb_per_s(CHUNK_DRAWS * hours, 200)
    in_memory = streaming_gb_per_s(2**23, 5)
    achieved = BYTES_PER_HOUR_DRAW * vector_rate / 1e9
    print(
        f"bound: {BYTES_PER_HOUR_DRAW:,} bytes touched per hour-draw -> {achieved:.0f} GB/s; np.add streams "
        f"{in_cache:.0f} GB/s on warm chunk-sized buffers ({achieved / in_cache:.0%} of it), "
        f"{in_memory:.0f} GB/s on 64 MB arrays ({achieved / in_memory:.0%})"
    )
    print(
        f"energy: {vector_rate:.2e} hours/s, per-hour loop {loop_rate:.2e} hours/s, "
        f"ratio {vector_rate / loop_rate:.0f}x"
    )


if __name__ == "__main__":
    main()
