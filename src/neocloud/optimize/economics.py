"""Unit economics of one building of each design at each site, taken from the pipeline.

Each (site, design) pair becomes a one-building campus scenario that runs through ``neocloud.run``; the
optimiser's coefficients are that run's figures, so the optimiser and the pipeline never disagree. The
same builder turns a chosen plan into campus scenarios (``campus_scenario``) for the realised figures.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from neocloud.calendar import MONTHS_PER_QUARTER, QUARTERS_PER_YEAR, add_months
from neocloud.catalog import Catalog
from neocloud.errors import ScenarioError
from neocloud.finance import capital_recovery_factor
from neocloud.optimize.portfolio import (
    CandidateDesign,
    CandidateSite,
    Portfolio,
    portfolio_catalog,
)
from neocloud.pipeline import run
from neocloud.scenario import Scenario
from neocloud.units import HOURS_PER_YEAR

EXTRA_HORIZON_YEARS = 10
MAX_HORIZON_YEARS = 40


@dataclass(frozen=True)
class UnitEconomics:
    """What one building of a design at a site is and costs, from one pipeline run (USD, MW, counts)."""

    site: str
    design: str
    accelerators: float
    it_power_mw: float
    facility_power_mw: float
    utility_power_mw: float
    capex_usd: float
    capex_it_usd: float
    capex_facility_usd: float
    opex_usd_per_year: float
    annualised_capex_usd_per_year: float
    revenue_usd_per_accelerator_quarter: float
    construction_quarters: int
    utilisation: float


@dataclass(frozen=True)
class PlannedPhase:
    """One entry of a plan: ``buildings`` of ``design`` at ``site``, construction from quarter ``start``."""

    site: str
    design: str
    buildings: int
    start: int


def horizon_years(portfolio: Portfolio) -> int:
    """Years the campus scenarios model: the plan plus ten years of operation, at most 40."""
    return min(MAX_HORIZON_YEARS, math.ceil(portfolio.quarters / QUARTERS_PER_YEAR) + EXTRA_HORIZON_YEARS)


def _region_row(site: CandidateSite) -> dict[str, Any]:
    row: dict[str, Any] = {"id": site.region}
    if site.land_usd_per_acre is not None:
        row["land_usd_per_acre"] = site.land_usd_per_acre
    if site.carbon_g_per_kwh is not None:
        row["carbon_g_per_kwh"] = site.carbon_g_per_kwh
    return row


def campus_scenario(
    portfolio: Portfolio,
    site: CandidateSite,
    phases: list[tuple[CandidateDesign, int, int]],
    name: str | None = None,
) -> Scenario:
    """A campus scenario at ``site``: one phase per (design, buildings, start quarter), one cooling."""
    coolings = {design.cooling for design, _, _ in phases}
    if len(coolings) != 1:
        raise ScenarioError(
            f"a campus has one cooling technology; got {', '.join(sorted(coolings))}", field="designs"
        )
    catalog_rows = {table: list(rows) for table, rows in portfolio.catalog.items()}
    region = _region_row(site)
    if len(region) > 1:
        catalog_rows["regions"] = [*catalog_rows.get("regions", []), region]
    first = phases[0][0]
    campus: dict[str, Any] = {
        "cooling": first.cooling,
        "phases": [
            {
                "name": f"{design.id}-q{start}",
                "buildings": buildings,
                "system": design.system,
                "systems_per_building": design.systems_per_building,
                "schedule": {
                    "construction_start": _month(portfolio, start),
                    "construction_months": design.construction_months,
                },
            }
            for design, buildings, start in phases
        ],
    }
    if first.network is not None:
        campus["network"] = first.network
    site_fields: dict[str, Any] = {
        "location": site.location or site.id,
        "climate": site.climate,
        "region": site.region,
    }
    if site.power_price_usd_per_mwh is not None:
        site_fields["power_price_usd_per_mwh"] = site.power_price_usd_per_mwh
    finance: dict[str, Any] = {
        "discount_rate": portfolio.discount_rate,
        "horizon_years": horizon_years(portfolio),
    }
    if portfolio.utilisation is not None:
        finance["utilisation"] = portfolio.utilisation
    data = {
        "name": name or f"{portfolio.name}: {site.id}",
        "start": portfolio.start_month,
        "site": site_fields,
        "campus": campus,
        "finance": finance,
        "catalog": catalog_rows,
    }
    return Scenario.model_validate(data)


def _month(portfolio: Portfolio, quarter: int) -> str:
    return add_months(portfolio.start_month, quarter * MONTHS_PER_QUARTER)


def _value(dataset: Any, key: str) -> float | None:
    if key not in dataset:
        return None
    return float(np.asarray(dataset[key].values, dtype=float).reshape(-1)[0])


def building_economics(
    portfolio: Portfolio, site: CandidateSite, design: CandidateDesign, catalog: Catalog
) -> UnitEconomics:
    """Run one building of ``design`` at ``site`` through the pipeline and read its unit figures."""
    scenario = campus_scenario(portfolio, site, [(design, 1, 0)])
    results = run(scenario, catalog=catalog.with_rows(scenario.catalog) if scenario.catalog else catalog)
    data = results.dataset
    capex_it, capex_facility = _value(data, "capex_it_usd") or 0.0, _value(data, "capex_facility_usd") or 0.0
    annualised = _value(data, "annualised_capex_usd_per_year")
    fin = results.scenario.finance
    if annualised is None:  # a finance stage without the figure: the same capital recovery it uses
        annualised = float(
            capex_it * capital_recovery_factor(fin.discount_rate, fin.it_life_years)
            + capex_facility * capital_recovery_factor(fin.discount_rate, fin.facility_life_years)
        )
    facility_mw = _value(data, "facility_power_mw") or 0.0
    price = portfolio.price_usd_per_gpu_hour or 0.0
    return UnitEconomics(
        site=site.id,
        design=design.id,
        accelerators=_value(data, "accelerators") or 0.0,
        it_power_mw=_value(data, "it_power_mw") or 0.0,
        facility_power_mw=facility_mw,
        utility_power_mw=_value(data, "utility_capacity_mw") or facility_mw,
        capex_usd=_value(data, "capex_usd") or capex_it + capex_facility,
        capex_it_usd=capex_it,
        capex_facility_usd=capex_facility,
        opex_usd_per_year=_value(data, "opex_usd_per_year") or 0.0,
        annualised_capex_usd_per_year=annualised,
        revenue_usd_per_accelerator_quarter=price
        * HOURS_PER_YEAR
        / QUARTERS_PER_YEAR
        * float(fin.utilisation),
        construction_quarters=math.ceil(design.construction_months / MONTHS_PER_QUARTER - 1e-9),
        utilisation=float(fin.utilisation),
    )


def unit_economics(
    portfolio: Portfolio, catalog: Catalog | None = None
) -> dict[tuple[str, str], UnitEconomics]:
    """Unit economics of every (site id, design id) pair; identical building scenarios run once.

    Raises
    ------
    ScenarioError
        When the pipeline rejects a pair (a system the cooling cannot cool), naming the design and site.
    """
    catalog = catalog or portfolio_catalog(portfolio)
    out: dict[tuple[str, str], UnitEconomics] = {}
    cache: dict[str, UnitEconomics] = {}
    for site in portfolio.sites:
        for design_index, design in enumerate(portfolio.designs):
            key = json.dumps(
                [
                    site.model_dump(
                        exclude={
                            "id",
                            "location",
                            "latency_group",
                            "power_mw_by_date",
                            "interconnect_lead_months",
                            "max_buildings",
                            "fixed_cost_usd",
                        }
                    ),
                    design.model_dump(exclude={"id"}),
                ],
                sort_keys=True,
            )
            if key not in cache:
                try:
                    cache[key] = building_economics(portfolio, site, design, catalog)
                except ScenarioError as err:
                    raise ScenarioError(
                        f"design '{design.id}' at site '{site.id}': {err.message}",
                        field=f"designs.{design_index}",
                        value=design.id,
                        allowed=err.allowed,
                    ) from None
            found = cache[key]
            out[(site.id, design.id)] = UnitEconomics(
                **{**found.__dict__, "site": site.id, "design": design.id}
            )
    return out
