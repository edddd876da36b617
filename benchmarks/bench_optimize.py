"""Benchmark the build-out MILP: 200 candidate sites x 3 designs x 40 quarters on 2 threads, 60 s limit.

Prints the model size, the solve time and the gap reached, against a greedy baseline (cheapest building per
unit of capacity first, quarter by quarter) on the same unit economics. ``--quick``: 30 sites x 16 quarters.
"""

from __future__ import annotations

import argparse
import time
from typing import Any

import numpy as np

from neocloud.optimize import optimize, unit_economics, validate_portfolio
from neocloud.optimize.model import Inputs, prepare

PLACES = (  # catalog climate, catalog region, demand region
    ("abilene-tx", "ercot-tx", "us"),
    ("memphis-tn", "tva-tn", "us"),
    ("phoenix-az", "aps-az", "us"),
    ("new-carlisle-in", "miso", "us"),
    ("atlanta-ga", "serc-ga", "us"),
    ("columbus-oh", "pjm", "us"),
    ("dallas-tx", "ercot-tx", "us"),
    ("dona-ana-nm", "wecc-nm", "us"),
    ("mount-pleasant-wi", "miso", "us"),
    ("essex-uk", "uk", "eu"),
    ("narvik-no", "no4", "eu"),
    ("dublin-ie", "ie", "eu"),
    ("frankfurt-de", "de", "eu"),
    ("reykjavik-is", "is", "eu"),
    ("singapore", "sg", "asia"),
)
DESIGNS = [
    {
        "id": "gb200-dlc",
        "system": "gb200-nvl72",
        "cooling": "direct-liquid",
        "systems_per_building": 694,
        "construction_months": 12,
    },
    {
        "id": "gb300-dlc",
        "system": "gb300-nvl72",
        "cooling": "direct-liquid",
        "systems_per_building": 694,
        "construction_months": 15,
    },
    {
        "id": "gb300-hall",
        "system": "gb300-nvl72",
        "cooling": "direct-liquid",
        "systems_per_building": 160,
        "construction_months": 9,
    },
]


def portfolio_data(sites: int, quarters: int, seed: int = 0) -> dict[str, Any]:
    """A reproducible random portfolio: sites over the catalog's places, a demand ramp in three regions."""
    rng = np.random.default_rng(seed)
    start_year = 2026
    candidates = []
    for index in range(sites):
        climate, region, group = PLACES[index % len(PLACES)]
        first = int(rng.integers(0, quarters // 2))
        year, quarter = start_year + first // 4, first % 4
        candidates.append(
            {
                "id": f"site-{index:03d}",
                "climate": climate,
                "region": region,
                "latency_group": group,
                "power_mw_by_date": {
                    f"{year}-{3 * quarter + 1:02d}": float(rng.choice([150, 300, 600, 1000]))
                },
                "interconnect_lead_months": float(rng.choice([0, 6, 12])),
                "max_buildings": int(rng.integers(2, 9)),
                "fixed_cost_usd": float(rng.choice([0.0, 2e8, 5e8])),
            }
        )
    share = {"us": 0.7, "eu": 0.25, "asia": 0.05}
    total = 40_000 * sites  # accelerators at the end of the ramp: about a fifth of the candidates' room
    demand = []
    for group, fraction in share.items():
        levels = {}
        for quarter in range(4, quarters, 2):
            levels[f"{start_year + quarter // 4}-Q{quarter % 4 + 1}"] = round(
                total * fraction * quarter / quarters
            )
        demand.append({"tenant": "tenant", "region": group, "accelerators_by_quarter": levels})
    return {
        "kind": "portfolio",
        "name": f"bench {sites}x3x{quarters}",
        "start": f"{start_year}-Q1",
        "quarters": quarters,
        "sites": candidates,
        "designs": DESIGNS,
        "demand": demand,
        "gpu_supply_by_quarter": {
            f"{start_year + q // 4}-Q{q % 4 + 1}": 20_000.0 * sites for q in range(quarters)
        },
    }


def greedy(inputs: Inputs) -> float:
    """Baseline: each quarter, add the cheapest fitting building per unit of capacity until demand is met."""
    builds = np.zeros(inputs.valid.shape)
    per_unit = inputs.cost_usd / np.maximum(inputs.capacity_per_building, 1e-9)[:, :, None]
    for quarter in range(inputs.valid.shape[2]):
        for group_index, group in enumerate(inputs.groups):
            members = inputs.group_of_site == group
            while True:
                online = np.cumsum(builds, axis=2)[:, :, quarter]
                capacity = (online[members] * inputs.capacity_per_building[members]).sum()
                if capacity >= inputs.demand[group_index, quarter]:
                    break
                used = np.cumsum(builds, axis=2)
                room = inputs.power_mw - (used * inputs.utility_mw_per_building[:, :, None]).sum(axis=1)
                fits = (
                    inputs.valid[:, :, quarter]
                    & members[:, None]
                    & (room[:, quarter:].min(axis=1)[:, None] >= inputs.utility_mw_per_building)
                    & (builds.sum(axis=(1, 2)) < inputs.max_buildings)[:, None]
                )
                installed = (builds[:, :, quarter] * inputs.accelerators_per_building).sum()
                fits &= installed + inputs.accelerators_per_building <= inputs.supply[quarter]
                if not fits.any():
                    break
                choice = np.unravel_index(
                    np.where(fits, per_unit[:, :, quarter], np.inf).argmin(), fits.shape
                )
                builds[choice[0], choice[1], quarter] += 1
    online = np.cumsum(builds, axis=2)
    capacity = np.stack(
        [
            (
                online[inputs.group_of_site == group]
                * inputs.capacity_per_building[inputs.group_of_site == group][:, :, None]
            ).sum(axis=(0, 1))
            for group in inputs.groups
        ]
    )
    opened = builds.sum(axis=(1, 2)) > 0
    return float(
        (builds * inputs.cost_usd).sum()
        + inputs.fixed_cost_usd[opened].sum()
        + (inputs.penalty * np.maximum(inputs.demand - capacity, 0)).sum()
    )


def main() -> None:
    """Run the benchmark and print its summary line last."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="30 sites x 3 designs x 16 quarters, 20 s limit")
    arguments = parser.parse_args()
    sites, quarters, limit = (30, 16, 20.0) if arguments.quick else (200, 40, 60.0)
    portfolio = validate_portfolio(portfolio_data(sites, quarters))
    began = time.perf_counter()
    economics = unit_economics(portfolio)
    print(f"unit economics from the pipeline: {len(economics)} pairs in {time.perf_counter() - began:.1f} s")
    began = time.perf_counter()
    baseline = greedy(prepare(portfolio, economics))
    greedy_seconds = time.perf_counter() - began
    result = optimize(portfolio, time_limit=limit, threads=2, realised=False)
    size = result["model_size"]
    gap = result["gap"]
    print(
        f"model: {size['variables']:,} variables ({size['integer_variables']:,} integer), "
        f"{size['constraints']:,} constraints"
    )
    print(
        f"HiGHS: status {result['status']}, {result['solve_seconds']:.1f} s (limit {limit:.0f} s, 2 threads) "
        f"gap {'n/a' if gap is None else f'{gap:.3%}'}, objective {result['objective_usd']:.4e} USD"
    )
    print(f"greedy baseline: objective {baseline:.4e} USD in {greedy_seconds:.2f} s")
    print(
        f"optimize: {sites}x3x{quarters} MILP objective {result['objective_usd']:.4e} USD, gap "
        f"{'n/a' if gap is None else f'{gap:.2%}'} in {result['solve_seconds']:.0f} s; greedy baseline "
        f"{baseline:.4e} USD; ratio {result['objective_usd'] / baseline:.3f}x"
    )


if __name__ == "__main__":
    main()
