"""Finance: what the campus costs to build and run, and its levelised cost per GPU-hour."""

from __future__ import annotations

from typing import Any

import numpy as np
import xarray as xr

from neocloud.catalog import Catalog
from neocloud.units import HOURS_PER_YEAR


def capital_recovery_factor(rate: np.ndarray | float, years: np.ndarray | float) -> np.ndarray:
    """Annual payment per dollar of capital repaid over ``years`` at ``rate`` (1/years at a zero rate)."""
    rate = np.asarray(rate, dtype=float)
    years = np.asarray(years, dtype=float)
    safe = np.where(np.abs(rate) < 1e-12, 1.0, rate)
    growth = (1 + safe) ** years
    return np.where(np.abs(rate) < 1e-12, 1 / years, safe * growth / (growth - 1))


def finance(scenario: Any, catalog: Catalog, upstream: xr.Dataset) -> xr.Dataset:
    """Capex by class, opex per year, and the levelised cost per GPU-hour at the given utilisation."""
    campus, fin = scenario.campus, scenario.finance
    cost = catalog.table("cost_items")["value"]
    network = catalog.row("fabrics", campus.network)
    fabric_capex = float(network["capex_usd_per_accelerator"])
    if campus.storage:
        fabric_capex += float(catalog.row("fabrics", campus.storage)["capex_usd_per_accelerator"])
    prices = []
    for phase in campus.phases:
        catalog_price = catalog.value("systems", phase.system, "price_usd")
        prices.append(np.broadcast_to(catalog_price if phase.system_price_usd is None else phase.system_price_usd,
                                      upstream.sizes["draw"]))
    system_price = xr.DataArray(np.stack(prices, axis=1), dims=("draw", "phase"))
    capex_it = (upstream["phase_systems"] * system_price).sum("phase") + upstream["accelerators"] * fabric_capex

    cooling = catalog.row("cooling", campus.cooling)
    building = upstream["it_power_mw"] * float(cooling["facility_capex_usd_per_mw_it"])
    acres = (xr.DataArray(np.asarray(scenario.site.land_acres), dims="draw") if scenario.site.land_acres is not None
             else upstream["facility_power_mw"] * cost["land_acres_per_mw"])
    land = acres * catalog.value("regions", scenario.site.region, "land_usd_per_acre")
    capex_facility = (building * (1 + cost["soft_cost_frac"]) + upstream["racks"] * cost["fitout_usd_per_rack"]
                      + land)
    capex = capex_it + capex_facility

    opex = (upstream["energy_cost_usd_per_year"]
            + capex_it * cost["it_maintenance_frac_per_year"]
            + capex_facility * cost["facility_maintenance_frac_per_year"]
            + upstream["it_power_mw"] * cost["staff_usd_per_mw_it_year"]
            + capex * (cost["insurance_frac_per_year"] + cost["property_tax_frac_per_year"]))

    rate = xr.DataArray(fin.discount_rate, dims="draw")
    annualised = (capex_it * capital_recovery_factor(rate, xr.DataArray(fin.it_life_years, dims="draw"))
                  + capex_facility * capital_recovery_factor(rate, xr.DataArray(fin.facility_life_years, dims="draw")))
    gpu_hours = upstream["accelerators"] * HOURS_PER_YEAR * xr.DataArray(fin.utilisation, dims="draw")
    out = xr.Dataset({
        "capex_usd": capex,
        "capex_it_usd": capex_it,
        "capex_facility_usd": capex_facility,
        "capex_land_usd": land,
        "opex_usd_per_year": opex,
        "annualised_capex_usd_per_year": annualised,
        "cost_usd_per_gpu_hour": (annualised + opex) / gpu_hours.where(gpu_hours > 0),
    })
    for key in ("capex_usd", "capex_it_usd", "capex_facility_usd", "opex_usd_per_year", "cost_usd_per_gpu_hour"):
        out[key].attrs.update(summary=1, units="USD")
    out["cost_usd_per_gpu_hour"].attrs["units"] = "USD/GPU-hour"
    out["opex_usd_per_year"].attrs["units"] = "USD/year"
    return out
