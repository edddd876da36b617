"""Capital cost of the campus by asset class, and when it is paid: facility by phase on payment milestones
before the phase is online, IT as it is delivered, land at the first construction start, and on-site
generation and storage at each block's commissioning (its own depreciation class, over its catalog life)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import xarray as xr

from neocloud.calendar import months_between
from neocloud.catalog import Catalog
from neocloud.compiled import running_max
from neocloud.finance.kernels import increments
from neocloud.plant import plant_capex_usd, plant_items
from neocloud.scenario import Realised
from neocloud.units import MONTHS_PER_YEAR

MILESTONES = ("notice_to_proceed", "one_third", "two_thirds", "completion", "retention")


@dataclass(frozen=True)
class Capex:
    """Capital cost totals (draw,) and monthly spend (draw, month), in USD."""

    it_usd: np.ndarray
    facility_usd: np.ndarray  # building, fit-out, soft costs and land (owned)
    land_usd: np.ndarray
    power_usd: np.ndarray  # on-site generation and storage (owned; hired temporary fleets carry none)
    it_spend: np.ndarray
    facility_spend: np.ndarray  # land and on-site power included
    facility_in_service: np.ndarray  # depreciable facility cost placed in service (phase online)
    milestone_fracs: np.ndarray  # (milestone,)
    power_depreciation: np.ndarray  # (draw, month) straight line from commissioning over each plant's life
    power_life_years: np.ndarray  # (draw,) capex-weighted mean life of the on-site plant
    mechanical_electrical_usd: np.ndarray  # (draw,) facility power and cooling plant, before soft costs
    shell_usd: np.ndarray  # (draw,) building shell and site works, before soft costs
    land_value_usd: np.ndarray  # (draw,) the site's value, owned or leased (ground rent is a share of it)

    @property
    def total_usd(self) -> np.ndarray:
        """Campus capex (draw,): IT, facility (with land) and on-site power."""
        return self.it_usd + self.facility_usd + self.power_usd


def system_price_usd(catalog: Catalog, system: str) -> float:
    """Price of one system (USD): its accelerators at the accelerator's ``price_usd`` plus the rest of the
    server (``systems.platform_usd``), so that a changed accelerator price changes the IT capex."""
    row = catalog.row("systems", system)
    accelerator = catalog.value("accelerators", str(row["accelerator"]), "price_usd")
    return float(row["accelerators_per_system"]) * accelerator + float(row["platform_usd"])


def campus_capex(scenario: Realised, catalog: Catalog, upstream: xr.Dataset) -> dict[str, np.ndarray]:
    """Capex totals per draw (USD): IT (systems, fabric, storage), facility (the mechanical and electrical plant
    and the shell per MW of IT, a retrofit paying part of the shell; soft costs, fit-out, land) and on-site
    power; the facility's mechanical and electrical plant and its shell also on their own, before soft costs."""
    campus = scenario.campus
    draws = upstream.sizes["draw"]
    cost = catalog.table("cost_items")["value"]
    fabric = float(catalog.row("fabrics", campus.network)["capex_usd_per_accelerator"])
    if campus.storage:
        fabric += float(catalog.row("fabrics", campus.storage)["capex_usd_per_accelerator"])
    prices = np.stack(
        [
            np.broadcast_to(
                np.asarray(
                    system_price_usd(catalog, phase.system)
                    if phase.system_price_usd is None
                    else phase.system_price_usd,
                    dtype=float,
                ),
                (draws,),
            )
            for phase in campus.phases
        ],
        axis=1,
    )
    it = (upstream["phase_systems"].values * prices).sum(axis=1) + upstream["accelerators"].values * fabric
    cooling = catalog.row("cooling", campus.cooling)
    shell_frac = float(cost["retrofit_shell_frac"]) if campus.building == "retrofit" else 1.0
    it_mw = upstream["it_power_mw"].values
    mechanical_electrical = it_mw * float(cooling["mechanical_electrical_usd_per_mw_it"])
    shell = it_mw * float(cooling["shell_usd_per_mw_it"]) * shell_frac
    building = mechanical_electrical + shell
    acres = (
        np.broadcast_to(np.asarray(scenario.site.land_acres, dtype=float), (draws,))
        if scenario.site.land_acres is not None
        else upstream["facility_peak_power_mw"].values * float(cost["land_acres_per_mw"])
    )
    land_value = acres * catalog.value("regions", scenario.site.region, "land_usd_per_acre")
    fin = scenario.finance
    colocated = fin.colocation is not None and fin.business_model != "lease"
    # a leased site pays ground rent instead; a colocated tenant owns neither land nor building
    land = land_value * (fin.land == "owned") * (not colocated)
    fitout_owned: np.ndarray | float
    if colocated:
        fitout_owned = np.asarray(fin.colocation.tenant_fitout_frac, dtype=float)
    elif fin.business_model == "lease":
        fitout_owned = 1.0 - np.asarray(fin.lease.tenant_fitout_frac, dtype=float)
    else:
        fitout_owned = 1.0
    power = sum((plant_capex_usd(item) for item in plant_items(scenario, catalog, draws)), np.zeros(draws))
    facility = (
        building * (1 + float(cost["soft_cost_frac"])) * (not colocated)
        + upstream["racks"].values * float(cost["fitout_usd_per_rack"]) * fitout_owned
        + land
    )
    return {
        "it": np.asarray(it, dtype=float),
        "facility": np.asarray(facility, dtype=float),
        "land": np.asarray(land, dtype=float),
        "land_value": np.asarray(land_value, dtype=float),
        "power": np.asarray(power, dtype=float),
        "mechanical_electrical": np.asarray(mechanical_electrical * (not colocated), dtype=float),
        "shell": np.asarray(shell * (not colocated), dtype=float),
    }


def power_plant_schedule(scenario: Realised, catalog: Catalog, draws: int, months: int) -> dict[str, np.ndarray]:
    """On-site plant capex paid at each block's commissioning (draw, month), its straight-line depreciation
    over the block's catalog ``life_years`` (draw, month), and the capex-weighted mean life (draw,)."""
    spend = np.zeros((draws, months))
    deduction = np.zeros((draws, months))
    weighted_life = np.zeros(draws)
    month = np.arange(months)[None, :]
    for item in plant_items(scenario, catalog, draws):
        amount = plant_capex_usd(item)
        start = np.maximum(item.start_month, 0.0)
        scatter_add(spend, start, amount)
        life_months = max(float(item.row["life_years"]) * MONTHS_PER_YEAR, 1.0)
        running = (month >= np.floor(start)[:, None]) & (month < np.floor(start)[:, None] + life_months)
        deduction += running * (amount / life_months)[:, None]
        weighted_life += amount * float(item.row["life_years"])
    total = spend.sum(axis=1)
    life = np.where(total > 0, weighted_life / np.where(total > 0, total, 1.0), 1.0)
    return {"spend": spend, "depreciation": deduction, "life_years": life}


def milestone_fractions(catalog: Catalog) -> np.ndarray:
    """Shares of a phase's facility cost paid at each payment milestone (summing to 1)."""
    fracs = np.array(
        [catalog.value("finance_defaults", f"milestone_frac_{name}", "value") for name in MILESTONES]
    )
    return fracs / fracs.sum()


def scatter_add(out: np.ndarray, month: np.ndarray, amount: np.ndarray) -> None:
    """Add ``amount`` (draw,) into ``out`` (draw, month) at ``month`` (draw,); months outside are dropped."""
    finite = np.isfinite(month)
    index = np.floor(np.where(finite, month, -1)).astype(np.int64)  # NaN: never, so dropped
    keep = (index >= 0) & (index < out.shape[1]) & finite
    rows = np.nonzero(keep)[0]
    np.add.at(out, (rows, index[keep]), amount[keep])


def capex_schedule(scenario: Realised, catalog: Catalog, upstream: xr.Dataset) -> Capex:
    """Capex totals and the month each dollar is paid.

    Facility (building, fit-out, soft costs) is split over phases by IT MW and paid at five milestones of
    each phase's construction window, from its ``construction_start`` to ``phase_online_month``: notice to
    proceed, one third, two thirds, completion (the month before online) and retention (online). Land is
    paid at the first phase's notice to proceed, each on-site plant block at its commissioning. IT is paid
    as ``accelerators_online`` rises. A phase not online within the horizon pays only the milestones that
    fall inside it.
    """
    totals = campus_capex(scenario, catalog, upstream)
    draws, months = upstream.sizes["draw"], upstream.sizes["month"]
    phases = scenario.campus.phases
    online = np.asarray(upstream["phase_online_month"].values, dtype=float)  # (draw, phase)
    online = np.where(np.isfinite(online), online, np.inf)
    phase_mw = np.asarray(upstream["phase_it_power_mw"].values, dtype=float)
    share = phase_mw / np.maximum(phase_mw.sum(axis=1, keepdims=True), 1e-12)
    depreciable = totals["facility"] - totals["land"]
    fracs = milestone_fractions(catalog)
    facility_spend = np.zeros((draws, months))
    in_service = np.zeros((draws, months))
    starts = []
    for index, phase in enumerate(phases):
        start = float(months_between(scenario.start, phase.schedule.construction_start or scenario.start))
        start = np.minimum(np.full(draws, max(start, 0.0)), online[:, index])
        starts.append(start)
        finish = online[:, index]
        window = np.where(np.isfinite(finish), finish - start, months - start)
        amount = depreciable * share[:, index]
        when = (start, start + window / 3, start + 2 * window / 3, np.maximum(start, finish - 1), finish)
        for frac, month in zip(fracs, when, strict=True):
            scatter_add(facility_spend, month, amount * frac)
        scatter_add(in_service, finish, amount)
    first_start = np.min(np.stack(starts, axis=1), axis=1)
    scatter_add(facility_spend, first_start, totals["land"])
    plant = power_plant_schedule(scenario, catalog, draws, months)
    facility_spend += plant["spend"]

    online_accelerators = np.asarray(upstream["accelerators_online"].values, dtype=float)
    delivered = increments(running_max(online_accelerators, axis=1))
    per_accelerator = totals["it"] / np.maximum(
        np.asarray(upstream["accelerators"].values, dtype=float), 1e-12
    )
    it_spend = np.minimum(delivered, np.asarray(upstream["accelerators"].values, dtype=float)[:, None])
    it_spend = it_spend * per_accelerator[:, None]
    return Capex(
        it_usd=totals["it"],
        facility_usd=totals["facility"],
        land_usd=totals["land"],
        power_usd=totals["power"],
        it_spend=it_spend,
        facility_spend=facility_spend,
        facility_in_service=in_service,
        milestone_fracs=fracs,
        power_depreciation=plant["depreciation"],
        power_life_years=plant["life_years"],
        mechanical_electrical_usd=totals["mechanical_electrical"],
        shell_usd=totals["shell"],
        land_value_usd=totals["land_value"],
    )
