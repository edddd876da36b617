"""Benchmark the build-out MILP: 200 candidate sites x 3 designs x 40 quarters on 2 threads, 60 s limit.

Prints the model size, the solve time, the gap by time and the gap reached, against a greedy baseline (cheapest
building per unit of capacity first, quarter by quarter; the MILP starts from it) on the same unit economics.
``--quick``: 30 sites x 16 quarters.
"""

from __future__ import annotations

import argparse
import time
from typing import Any

import numpy as np

from neocloud.optimize import optimize, unit_economics, validate_portfolio
from neocloud.optimize.greedy import greedy_builds, plan_cost_usd
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
    """Baseline: the greedy plan's objective (``neocloud.optimize.greedy``, also the MILP's warm start)."""
    return plan_cost_usd(inputs, greedy_builds(inputs))


def progress_line(progress: list[list[float]], marks: tuple[float, ...]) -> str:
    """The gap reached by each of ``marks`` seconds, from the solver's progress."""
    parts = []
    for mark in marks:
        reached = [gap for seconds, gap in progress if seconds <= mark]
        parts.append(f"{mark:.0f} s {reached[-1]:.2%}" if reached else f"{mark:.0f} s none")
    return ", ".join(parts)


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
    marks = (5.0, 10.0, 20.0) if arguments.quick else (10.0, 20.0, 40.0, 60.0)
    print(f"gap by time (the greedy plan is the first incumbent): {progress_line(result['gap_progress'], marks)}")
    print(f"greedy baseline: objective {baseline:.4e} USD in {greedy_seconds:.2f} s")
    print(
        f"optimize: {sites}x3x{quarters} MILP objective {result['objective_usd']:.4e} USD, gap "
        f"{'n/a' if gap is None else f'{gap:.2%}'} in {result['solve_seconds']:.0f} s; greedy baseline "
        f"{baseline:.4e} USD; ratio {result['objective_usd'] / baseline:.3f}x"
    )


if __name__ == "__main__":
    main()
