"""Energy: what the campus draws, what it costs and emits, month by month."""

from __future__ import annotations

from typing import Any

import numpy as np
import xarray as xr

from neocloud.catalog import Catalog
from neocloud.units import G_PER_T, HOURS_PER_MONTH, KWH_PER_MWH


def power_price_usd_per_mwh(scenario: Any, catalog: Catalog) -> np.ndarray:
    """The delivered power price per draw: the finance override, else the site's, else the region's."""
    for value in (scenario.finance.power_price_usd_per_mwh, scenario.site.power_price_usd_per_mwh):
        if value is not None:
            return np.asarray(value, dtype=float)
    return np.full(len(np.atleast_1d(scenario.finance.discount_rate)),
                   catalog.value("regions", scenario.site.region, "power_price_usd_per_mwh"))


def energy(scenario: Any, catalog: Catalog, upstream: xr.Dataset) -> xr.Dataset:
    """Monthly IT and facility energy (MWh), cost (USD) and CO2 (t); annual figures at full build-out."""
    load_frac = catalog.value("parameters", f"it_load_frac_{'inference' if scenario.workload.kind == 'inference' else 'training'}")
    month_of_year = upstream["date"].dt.month
    pue = upstream["pue_by_month_of_year"].sel(month_of_year=month_of_year).drop_vars("month_of_year")
    it_mwh = upstream["it_power_online_mw"] * load_frac * HOURS_PER_MONTH
    facility_mwh = it_mwh * pue
    price = xr.DataArray(power_price_usd_per_mwh(scenario, catalog), dims="draw")
    carbon_g_per_kwh = catalog.value("regions", scenario.site.region, "carbon_g_per_kwh")
    out = xr.Dataset({
        "it_energy_mwh": it_mwh,
        "facility_energy_mwh": facility_mwh,
        "energy_cost_usd": facility_mwh * price,
        "co2_t": facility_mwh * KWH_PER_MWH * carbon_g_per_kwh / G_PER_T,
        "power_price_usd_per_mwh": price,
    })
    typical_year_mwh = (upstream["it_power_mw"] * load_frac * HOURS_PER_MONTH
                        * upstream["pue_by_month_of_year"]).sum("month_of_year")
    out["annual_energy_mwh"] = typical_year_mwh
    out["energy_cost_usd_per_year"] = typical_year_mwh * price
    out["co2_t_per_year"] = typical_year_mwh * KWH_PER_MWH * carbon_g_per_kwh / G_PER_T
    out["realised_pue"] = typical_year_mwh / (upstream["it_power_mw"] * load_frac * HOURS_PER_MONTH * 12)
    for key, unit in (("annual_energy_mwh", "MWh"), ("energy_cost_usd_per_year", "USD"),
                      ("co2_t_per_year", "t"), ("realised_pue", "-")):
        out[key].attrs.update(summary=1, units=unit)
    return out
