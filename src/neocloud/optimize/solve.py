"""Solve a portfolio: the plan, its cost, unmet demand, shadow prices, and the plan through the pipeline."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import numpy as np

from neocloud.catalog import Catalog
from neocloud.optimize.economics import PlannedPhase, campus_scenario, unit_economics
from neocloud.optimize.greedy import greedy_builds, unmet_of
from neocloud.optimize.model import (
    EARLIEST_TOLERANCE,
    Fixed,
    Inputs,
    Outcome,
    build_model,
    prepare,
    solve_model,
)
from neocloud.optimize.portfolio import Portfolio, portfolio_catalog
from neocloud.pipeline import ADDITIVE_KEYS, run
from neocloud.units import HOURS_PER_YEAR

SUM_KEYS = (*ADDITIVE_KEYS, "npv_usd")
TOLERANCE = 1e-6
UNIT_NAMES = {"accelerators": "accelerators", "it_mw": "MW of IT"}


def _solution(model: Any, name: str, shape: tuple[int, ...]) -> np.ndarray:
    if name not in model.variables:
        return np.zeros(shape)
    values = np.asarray(model.variables[name].solution.values, dtype=float)
    return np.nan_to_num(values, nan=0.0)


def _dual(model: Any, name: str) -> np.ndarray | None:
    if name not in model.constraints:
        return None
    try:
        return np.nan_to_num(np.asarray(model.constraints[name].dual.values, dtype=float), nan=0.0)
    except (AttributeError, KeyError, ValueError):
        return None


def plan_of(inputs: Inputs, builds: np.ndarray) -> list[PlannedPhase]:
    """The plan in a build array (site, design, online quarter): one phase per nonzero entry, by start."""
    phases = []
    for site, design, quarter in zip(*np.nonzero(np.round(builds) >= 1), strict=True):
        phases.append(
            PlannedPhase(
                site=inputs.sites[site],
                design=inputs.designs[design],
                buildings=round(builds[site, design, quarter]),
                start=int(quarter - inputs.lead_quarters[design]),
            )
        )
    return sorted(phases, key=lambda phase: (phase.start, phase.site, phase.design))


def greedy_start(inputs: Inputs) -> dict[str, np.ndarray]:
    """The greedy plan as values of the MILP's variables, a first incumbent for HiGHS."""
    builds = greedy_builds(inputs)
    return {
        "build": builds,
        "online": np.cumsum(builds, axis=2),
        "unmet": unmet_of(inputs, builds),
        **({"open": (builds.sum(axis=(1, 2)) > 0).astype(float)} if (inputs.fixed_cost_usd > 0).any() else {}),
    }


def _solve(
    inputs: Inputs, time_limit: float | None, gap: float | None, threads: int | None, verbose: bool = False,
    progress: Callable[[str], None] | None = None,
) -> tuple[Outcome, float | None]:
    say = progress or (lambda _: None)
    start = greedy_start(inputs)
    if inputs.portfolio.objective != "earliest_capacity":
        say("solving the plan (HiGHS MILP)")
        return solve_model(build_model(inputs), time_limit, gap, threads, start=start, verbose=verbose), None
    began = time.perf_counter()
    say("solving for the least unmet demand (HiGHS MILP, 1 of 2)")
    first = solve_model(build_model(inputs, stage="unmet"), time_limit, gap, threads, start=start, verbose=verbose)
    limit = first.objective * (1 + EARLIEST_TOLERANCE) + EARLIEST_TOLERANCE
    left = None if time_limit is None else max(1.0, time_limit - (time.perf_counter() - began))
    say("solving for the earliest capacity (HiGHS MILP, 2 of 2)")
    second = solve_model(build_model(inputs, unmet_limit=limit), left, gap, threads, verbose=verbose)
    second.seconds += first.seconds
    if first.status == "time_limit" and second.status == "optimal":
        second.status = "time_limit"
    second.extra["unmet_share_quarters"] = first.objective
    return second, limit


def _shadow_prices(
    inputs: Inputs, builds: np.ndarray, limit: float | None, threads: int | None
) -> dict[str, Any]:
    """Duals of the LP with the chosen phases fixed and building counts continuous (USD per unit)."""
    lp = build_model(inputs, Fixed(phase=(np.round(builds) >= 1).astype(float)), unmet_limit=limit)
    outcome = solve_model(lp, threads=threads)
    out: dict[str, Any] = {
        "method": "LP with the chosen phases fixed and building counts continuous",
        "status": outcome.status,
        "site_power_usd_per_mw": {},
        "binding": [],
    }
    if outcome.status != "optimal":
        return out
    label = inputs.portfolio.label
    power = _dual(lp, "site_power")
    if power is not None:  # a <= limit in a minimisation: the dual is <= 0; one more MW saves -dual
        for index, site in enumerate(inputs.sites):
            out["site_power_usd_per_mw"][site] = float(-power[index].sum())
    units = [f"{UNIT_NAMES[unit]} for one quarter" for unit in inputs.units]
    # constraint, sign of the value of one more unit, how its axes read, what one unit is
    listed = (
        ("site_power", -1, lambda site, quarter: {"site": inputs.sites[site], "quarter": label(int(quarter))},
         lambda *_: "MW for one quarter"),
        ("capital_budget", -1, lambda year: {"year": inputs.budget_years[year]}, lambda *_: "USD of capital"),
        ("gpu_supply", -1, lambda quarter: {"quarter": label(int(quarter))}, lambda *_: "accelerator"),
        ("max_buildings", -1, lambda site: {"site": inputs.sites[site]}, lambda *_: "building"),
        ("demand", 1, lambda group, quarter: {"region": inputs.groups[group], "quarter": label(int(quarter))},
         lambda group, _: units[group]),
    )
    for name, sign, where, per in listed:
        dual = _dual(lp, name)
        if dual is None:
            continue
        value = sign * dual
        for cell in zip(*np.nonzero(value > TOLERANCE), strict=True):
            out["binding"].append({"constraint": name, **where(*cell), "value_usd": float(value[cell]),
                                   "per": per(*cell)})
    return out


def _reasons(inputs: Inputs, builds: np.ndarray, online: np.ndarray, group: int, quarter: int) -> list[str]:
    """Why a region is short in a quarter: lead times, power, site limits, GPU supply, capital."""
    label = inputs.portfolio.label
    members = np.nonzero(inputs.group_of_site == inputs.groups[group])[0]
    reasons = []
    reachable = inputs.valid[members][:, :, : quarter + 1]
    if not reachable.any():
        first = np.nonzero(inputs.valid[members].any(axis=(0, 1)))[0]
        reasons.append(
            "no building can be online yet (construction and interconnect lead times)"
            + (
                f"; the first can be online in {label(int(first[0]))}"
                if first.size
                else "; none can be built within the plan"
            )
        )
        return reasons
    for site in members:
        used = float((online[site, :, quarter] * inputs.utility_mw_per_building[site]).sum())
        available = float(inputs.power_mw[site, quarter])
        room = available - used
        if room < inputs.utility_mw_per_building[site].min() - TOLERANCE:
            reasons.append(f"power at {inputs.sites[site]} ({used:,.0f} of {available:,.0f} MW used)")
        elif builds[site].sum() >= inputs.max_buildings[site] - TOLERANCE:
            reasons.append(f"max_buildings at {inputs.sites[site]} ({inputs.max_buildings[site]})")
    supply = np.nonzero(np.isfinite(inputs.supply[: quarter + 1]))[0]
    installed = (builds * inputs.accelerators_per_building[:, :, None]).sum(axis=(0, 1))
    full = [
        int(q) for q in supply if installed[q] >= inputs.supply[q] - inputs.accelerators_per_building.min()
    ]
    if full:
        reasons.append(
            "GPU supply in " + ", ".join(label(q) for q in full[:4]) + (" ..." if len(full) > 4 else "")
        )
    if inputs.budget_years:
        spent = np.zeros(len(inputs.budget_years))
        for index, year in enumerate(inputs.budget_years):
            spent[index] = (
                builds * inputs.capex_facility_usd[:, :, None] * (inputs.start_year == year)[None]
            ).sum() + (
                builds * inputs.capex_it_usd[:, :, None] * (inputs.online_year == year)[None, None]
            ).sum()
        cheapest = float((inputs.capex_facility_usd + inputs.capex_it_usd).min())
        tight = [
            year
            for index, year in enumerate(inputs.budget_years)
            if inputs.budget_usd[index] - spent[index] < cheapest and year <= int(inputs.online_year[quarter])
        ]
        if tight:
            reasons.append("capital budget in " + ", ".join(str(year) for year in tight))
    if inputs.portfolio.objective == "max_npv":
        return reasons or ["serving it earns less than the capacity costs at price_usd_per_gpu_hour"]
    return reasons or [
        "the penalty for unmet demand is below the cost of more capacity (raise unmet_penalty_multiple)"
    ]


def _unmet(
    inputs: Inputs, builds: np.ndarray, online: np.ndarray
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    capacity = np.zeros_like(inputs.demand)
    for group, name in enumerate(inputs.groups):
        members = inputs.group_of_site == name
        capacity[group] = (online[members] * inputs.capacity_per_building[members][:, :, None]).sum(
            axis=(0, 1)
        )
    short = np.maximum(inputs.demand - capacity, 0.0)
    label = inputs.portfolio.label
    rows = []
    for group, quarter in zip(*np.nonzero(short > TOLERANCE * np.maximum(inputs.demand, 1.0)), strict=True):
        rows.append(
            {
                "region": inputs.groups[group],
                "quarter": label(int(quarter)),
                "unit": inputs.units[group],
                "demand": float(inputs.demand[group, quarter]),
                "capacity": float(capacity[group, quarter]),
                "unmet": float(short[group, quarter]),
                "binding": _reasons(inputs, builds, online, int(group), int(quarter)),
            }
        )
    by_quarter = {
        "quarters": [label(quarter) for quarter in range(inputs.portfolio.quarters)],
        "regions": {
            name: {
                "unit": inputs.units[group],
                "demand": inputs.demand[group].tolist(),
                "capacity": capacity[group].tolist(),
            }
            for group, name in enumerate(inputs.groups)
        },
    }
    return rows, by_quarter


def _message(rows: list[dict[str, Any]]) -> str:
    if not rows:
        return "all demand is met"
    parts = []
    for region in dict.fromkeys(row["region"] for row in rows):
        mine = [row for row in rows if row["region"] == region]
        worst = max(mine, key=lambda row: row["unmet"])
        unit = UNIT_NAMES[worst["unit"]]
        reasons = list(dict.fromkeys(reason for row in mine for reason in row["binding"]))
        quarters = [row["quarter"] for row in mine]
        shown = ", ".join(quarters[:8]) + (f" and {len(quarters) - 8} more" if len(quarters) > 8 else "")
        parts.append(
            f"region '{region}' is short in {shown} (at most {worst['unmet']:,.0f} {unit}, in "
            f"{worst['quarter']}); binding: {'; '.join(reasons[:4])}"
        )
    return "demand cannot be met: " + " | ".join(parts)


def realise(portfolio: Portfolio, plan: list[PlannedPhase], catalog: Catalog) -> dict[str, Any]:
    """The plan through the pipeline: one campus scenario per site and cooling; key figures summed."""
    designs = {design.id: design for design in portfolio.designs}
    sites = {site.id: site for site in portfolio.sites}
    groups: dict[tuple[str, str], list[PlannedPhase]] = {}
    for phase in plan:
        groups.setdefault((phase.site, designs[phase.design].cooling), []).append(phase)
    campuses = []
    for (site, cooling), phases in groups.items():
        coolings = {designs[phase.design].cooling for phase in plan if phase.site == site}
        name = f"{portfolio.name}: {site}" + (f" ({cooling})" if len(coolings) > 1 else "")
        scenario = campus_scenario(
            portfolio,
            sites[site],
            [(designs[phase.design], phase.buildings, phase.start) for phase in phases],
            name,
        )
        campuses.append(
            run(scenario, catalog=catalog.with_rows(scenario.catalog) if scenario.catalog else catalog)
        )
    summaries = [results.summary() for results in campuses]
    out: dict[str, Any] = {"scenario": portfolio.name}
    for key in SUM_KEYS:
        values = [summary[key] for summary in summaries if summary.get(key) is not None]
        if values or not summaries:
            total = float(sum(values))
            out[key] = round(total) if key in ("accelerators", "systems", "racks") else total
    for key, pick in (("first_power_month", min), ("full_capacity_month", max)):
        values = [summary[key] for summary in summaries if summary.get(key) is not None]
        out[key] = pick(values) if values else None
    energy = [
        (summary["annual_energy_mwh"], summary["pue"])
        for summary in summaries
        if summary.get("annual_energy_mwh") and summary.get("pue")
    ]
    out["pue"] = sum(mwh for mwh, _ in energy) / sum(mwh / pue for mwh, pue in energy) if energy else None
    utilisation = [results.scenario.finance.utilisation for results in campuses]
    hours = sum(
        float(summary.get("accelerators") or 0) * HOURS_PER_YEAR * float(share)
        for summary, share in zip(summaries, utilisation, strict=True)
    )
    yearly = out.get("annualised_capex_usd_per_year", 0.0) + out.get("opex_usd_per_year", 0.0)
    out["cost_usd_per_gpu_hour"] = yearly / hours if hours > 0 and summaries else None
    out["campuses"] = summaries
    return out


def optimize(
    portfolio: Portfolio,
    time_limit: float | None = None,
    gap: float | None = None,
    threads: int | None = None,
    catalog: Catalog | None = None,
    realised: bool = True,
    verbose: bool = False,
    progress: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Choose sites, designs, buildings and start quarters for a portfolio; money in USD, time in quarters.

    Returns a dict with ``status`` (optimal, time_limit or infeasible: demand that cannot be met),
    ``objective_usd``, ``gap``, ``solve_seconds``, ``plan`` (site, design, buildings, start_quarter),
    ``unmet_demand``, ``shadow_prices``, ``realised`` (the plan's pipeline summary) and more.
    ``verbose`` writes HiGHS's log to standard error; ``progress`` is called with each step's name.
    """
    say = progress or (lambda _: None)
    catalog = catalog or portfolio_catalog(portfolio)
    began = time.perf_counter()
    say("unit economics of every site and design (pipeline)")
    economics = unit_economics(portfolio, catalog)
    inputs = prepare(portfolio, economics)
    economics_seconds = time.perf_counter() - began
    outcome, limit = _solve(inputs, time_limit, gap, threads, verbose, say)
    model = outcome.model
    shape = inputs.valid.shape
    builds, online = _solution(model, "build", shape), _solution(model, "online", shape)
    plan = plan_of(inputs, builds)
    rows, by_quarter = _unmet(inputs, builds, online)
    present_cost = float(
        (np.round(builds) * inputs.cost_usd).sum()
        + inputs.fixed_cost_usd[np.round(builds).sum(axis=(1, 2)) >= 1].sum()
    )
    status = outcome.status
    if rows and portfolio.objective != "max_npv" and status != "time_limit":
        status = "infeasible"
    result: dict[str, Any] = {
        "status": status,
        "objective": portfolio.objective,
        "objective_usd": None,
        "gap": outcome.gap if np.isfinite(outcome.gap) else None,
        "solve_seconds": outcome.seconds,
        "gap_progress": [[seconds, value] for seconds, value in outcome.extra.get("gap_progress", [])],
        "plan": plan_rows(portfolio, inputs, plan),
        "unmet_demand": rows,
        "message": _message(rows),
        "present_cost_usd": present_cost,
    }
    if np.isfinite(outcome.objective):
        if portfolio.objective == "max_npv":
            revenue = float((inputs.penalty * inputs.demand).sum())
            result["objective_usd"] = revenue - outcome.objective
            result["npv_usd"] = result["objective_usd"]
        else:
            result["objective_usd"] = outcome.objective
    say("shadow prices (LP with the plan fixed)")
    result["shadow_prices"] = (
        _shadow_prices(inputs, builds, limit, threads)
        if plan
        else {"method": "no plan to price", "site_power_usd_per_mw": {}, "binding": []}
    )
    result["capacity_by_quarter"] = by_quarter
    result["model_size"] = {
        "variables": int(model.nvars),
        "constraints": int(model.ncons),
        "integer_variables": int(model.integers.nvars + model.binaries.nvars),
    }
    result["economics_seconds"] = economics_seconds
    result["unit_economics"] = [
        economics[(site, design)].__dict__ for site in inputs.sites for design in inputs.designs
    ]
    if realised and plan:
        say("running the plan through the pipeline")
    result["realised"] = realise(portfolio, plan, catalog) if realised else None
    return plain(result)


def plan_rows(portfolio: Portfolio, inputs: Inputs, plan: list[PlannedPhase]) -> list[dict[str, Any]]:
    """The plan as rows: site, design, buildings, and the quarters it starts and comes online."""
    return [
        {
            "site": phase.site,
            "design": phase.design,
            "buildings": phase.buildings,
            "start_quarter": portfolio.label(phase.start),
            "online_quarter": portfolio.label(
                phase.start + int(inputs.lead_quarters[inputs.designs.index(phase.design)])
            ),
        }
        for phase in plan
    ]


def plain(value: Any) -> Any:
    """A result made JSON-safe: numpy numbers as Python numbers, NaN and infinities as None."""
    if isinstance(value, dict):
        return {str(key): plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [plain(item) for item in value]
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, float | np.floating):
        return float(value) if np.isfinite(value) else None
    return value
