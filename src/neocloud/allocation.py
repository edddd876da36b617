"""Sharing a supply of accelerators among the phases of several campuses, on one calendar of months.

Phases are served in order of priority and need month from the cumulative supply; a phase that is short or
late is passed back through its campus scenario (fewer systems, GPU deliveries by quarter). Method:
docs/methods/programme.md.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import xarray as xr

from neocloud.calendar import (
    MONTHS_PER_QUARTER,
    QUARTERS_PER_YEAR,
    add_months,
    months_between,
    quarter_first_month,
    quarter_of,
    quarter_of_year,
)
from neocloud.catalog import Catalog
from neocloud.pipeline import Results
from neocloud.scenario import Scenario
from neocloud.scenario.programme import ProgrammeSpec
from neocloud.supply import supply
from neocloud.units import MONTHS_PER_YEAR

DEFAULT_VENDOR_SHARE_ROW = "nvidia-ai-accelerators-2024"


def constrained_scenario(
    scenario: Scenario, dataset: xr.Dataset, delivered: list[float], deliveries: list[dict[str, Any]]
) -> Scenario | None:
    """The campus with each phase cut to its delivered accelerators and its systems delivered by quarter.

    A phase keeps ``ceil(delivered systems / systems per building)`` buildings sharing the delivered systems;
    a phase that gets no whole system is dropped; None when no phase is left. ``deliveries`` (system,
    quarter, systems) replace the campus's own ``buildout.gpu_deliveries`` for the system types it installs.
    """
    data = scenario.model_dump(mode="python", exclude_none=True)
    systems = dataset["phase_systems"].values[0]
    per_system = dataset["phase_accelerators"].values[0] / np.maximum(systems, 1)
    phases = []
    for index, phase in enumerate(data["campus"]["phases"]):
        buildings = int(phase.get("buildings", 1))
        systems_per_building = round(float(systems[index]) / buildings)
        delivered_systems = int(np.floor(delivered[index] / per_system[index] + 1e-9))
        if delivered_systems < 1:
            continue
        if delivered_systems < systems[index]:
            buildings = min(buildings, int(np.ceil(delivered_systems / systems_per_building)))
            systems_per_building = delivered_systems // buildings
        phase = {**phase, "buildings": buildings, "systems_per_building": systems_per_building}
        phase.pop("power_envelope_mw", None)
        phases.append(phase)
    if not phases:
        return None
    data["campus"]["phases"] = phases
    kept = {phase["system"] for phase in phases}
    buildout = dict(data.get("buildout", {}))
    own = [row for row in buildout.get("gpu_deliveries", []) if row["system"] not in kept]
    buildout["gpu_deliveries"] = own + [row for row in deliveries if row["system"] in kept]
    data["buildout"] = buildout
    return Scenario.model_validate(data)


def campus_deliveries(
    mine: list[dict[str, Any]],
    systems_per_phase: np.ndarray,
    accelerators_per_system: np.ndarray,
    system_ids: list[str],
    cumulative_supply: np.ndarray,
    calendar_start: str,
) -> list[dict[str, Any]]:
    """Systems delivered to one campus by quarter: what was made by the end of a quarter arrives in the next.

    Phase ``i`` receives the accelerators made between ``C_{i-1}`` and ``C_{i-1} + delivered_i`` of the
    cumulative supply; whole systems only.
    """
    months = cumulative_supply.shape[0]
    dates = [add_months(calendar_start, month) for month in range(months)]
    quarter_ends = [month for month in range(months) if int(dates[month][5:]) % MONTHS_PER_QUARTER == 0]
    rows = []
    for system in sorted(set(system_ids)):
        cumulative = np.zeros(len(quarter_ends))
        for need in mine:
            if system_ids[need["phase"]] != system:
                continue
            received = np.clip(cumulative_supply[quarter_ends] - need["start"], 0.0, need["delivered"])
            cumulative += np.floor(received / accelerators_per_system[need["phase"]] + 1e-9)
        per_quarter = np.diff(cumulative, prepend=0.0)
        for position, count in enumerate(per_quarter):
            if count > 0:
                arrival = add_months(dates[quarter_ends[position]], 1)
                rows.append({"system": system, "quarter": quarter_of(arrival), "systems": float(count)})
    return rows


def monthly_supply(
    catalog: Catalog, realised: Any, calendar_start: str, months: int, draws: int
) -> tuple[np.ndarray, xr.Dataset | None]:
    """Accelerators supplied to the programme per calendar month, shape (draw, month); and the fab stage."""
    plan = realised.supply
    dates = [add_months(calendar_start, month) for month in range(months)]
    years = np.array([int(date[:4]) for date in dates])
    month_of_year = np.array([int(date[5:]) for date in dates])
    per_month = np.zeros((draws, months))
    fab_stage = None
    if plan.schedule is not None and plan.schedule.accelerators_per_year is not None:
        for year, count in plan.schedule.accelerators_per_year.items():
            per_month[:, years == year] += count / MONTHS_PER_YEAR
    elif plan.schedule is not None:
        for quarter, count in plan.schedule.accelerators_per_quarter.items():
            in_quarter = (years == int(quarter[:4])) & (
                quarter_of_year(month_of_year) == int(quarter[-1])
            )
            per_month[:, in_quarter] += count / MONTHS_PER_QUARTER
    else:
        fab_stage = supply(plan.fabs, catalog)
        first_year = int(fab_stage["year"].values[0])
        quarter = (years - first_year) * QUARTERS_PER_YEAR + quarter_of_year(month_of_year) - 1
        inside = (quarter >= 0) & (quarter < fab_stage.sizes["quarter"])
        made = fab_stage["accelerators_made_per_quarter"].values
        per_month[:, inside] = made[:, quarter[inside]] / MONTHS_PER_QUARTER
        vendor = (
            plan.fabs.vendor_share
            if plan.fabs.vendor_share is not None
            else catalog.value("market_shares", DEFAULT_VENDOR_SHARE_ROW, "share_frac")
        )
        per_month *= np.broadcast_to(np.asarray(vendor, dtype=float), (draws,))[:, None]
    return per_month * np.asarray(plan.buyer_share, dtype=float)[:, None], fab_stage


def allocate_phases(needs: list[dict[str, Any]], cumulative_supply: np.ndarray) -> None:
    """Serve phases in order of (priority, need month, file order) from a cumulative supply by month.

    Sets ``delivered`` (accelerators) and ``ready`` (first month the cumulative supply covers every
    phase served before it and itself) on each need; ``ready`` is None for a phase that gets nothing.
    """
    total = float(cumulative_supply[-1])
    before = 0.0
    for need in sorted(needs, key=lambda item: (item["priority"], item["need"], item["order"])):
        delivered = float(np.clip(total - before, 0.0, need["demand"]))
        need["delivered"] = delivered
        need["start"] = before
        target = before + delivered
        need["ready"] = (
            int(np.searchsorted(cumulative_supply, target - 1e-6 * max(target, 1.0)))
            if delivered > 0
            else None
        )
        before += need["demand"]


def to_calendar(values: np.ndarray, offset: int, months: int, hold: bool) -> np.ndarray:
    """A campus's (draw, local month) array on the programme calendar; ``hold`` keeps the last value."""
    out = np.zeros((values.shape[0], months))
    local = np.arange(months) - offset
    inside = (local >= 0) & (local < values.shape[1])
    out[:, inside] = values[:, local[inside]]
    if hold:
        out[:, local >= values.shape[1]] = values[:, -1:]
    return out


def capex_by_month(results: Results, offset: int, months: int) -> np.ndarray:
    """Campus capex (USD) by calendar month: IT capex of a phase when it comes online, the rest of its
    capex (facility, power) evenly over its construction months. Shares by accelerators and by IT MW."""
    data, scenario = results.dataset, results.scenario
    online = data["phase_online_month"].values
    if "phase_construction_ready_month" in data:  # a phase never online within the horizon pays when built
        online = np.where(np.isfinite(online), online, data["phase_construction_ready_month"].values)
    online = np.where(np.isfinite(online), online, data.sizes["month"])
    starts = np.array(
        [
            months_between(scenario.start, phase.schedule.construction_start or scenario.start)
            for phase in scenario.campus.phases
        ],
        dtype=float,
    )
    first = np.minimum(starts[None, :], online - 1)
    it_share = data["phase_accelerators"].values / np.maximum(data["accelerators"].values[:, None], 1e-12)
    build_share = data["phase_it_power_mw"].values / np.maximum(data["it_power_mw"].values[:, None], 1e-12)
    capex_it = data["capex_it_usd"].values[:, None]
    capex_rest = (data["capex_usd"].values - data["capex_it_usd"].values)[:, None]
    local = (np.arange(months) - offset)[None, None, :]
    at_online = local == online[:, :, None]
    building = (local >= first[:, :, None]) & (local < online[:, :, None])
    per_month = (capex_it * it_share)[:, :, None] * at_online + (
        (capex_rest * build_share) / (online - first)
    )[:, :, None] * building
    return per_month.sum(axis=1)


def supply_start(spec: ProgrammeSpec) -> str | None:
    """The first month (``YYYY-MM``) of the programme's supply; None without a supply."""
    if spec.supply is None:
        return None
    if spec.supply.fabs is not None:
        return f"{min(spec.supply.fabs.capital_usd_by_year)}-01"
    schedule = spec.supply.schedule
    if schedule is None:  # a supply has fabs or a schedule (the format checks it)
        return None
    if schedule.accelerators_per_year is not None:
        return f"{min(schedule.accelerators_per_year)}-01"
    quarters = schedule.accelerators_per_quarter
    return quarter_first_month(min(quarters)) if quarters else None
