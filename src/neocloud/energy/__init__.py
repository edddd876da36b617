"""Energy: what the campus draws hour by hour in a typical year, where the power comes from, what it costs.

A typical year of 8,760 hours per site, vectorised over draws: outdoor temperature from the climate's
monthly means with a daily cycle, PUE hour by hour from the cooling technology, IT load from utilisation
and the workload's daily shape, then a dispatch each hour across solar, a battery, grid import (with
time-of-use prices) and on-site gas turbines (merit order, minimum load, minimum up-time, ambient
derating). What cannot be supplied is curtailed IT load. The hourly model is in ``hourly``. Months of the
horizon take the typical year of their supply configuration, scaled by what is online. Method:
docs/methods/energy.md.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import replace
from typing import Any

import numpy as np
import xarray as xr

from neocloud.blocks import stand_in
from neocloud.catalog import Catalog, world_default
from neocloud.design import monthly_temperatures_c, pue_at
from neocloud.energy.hourly import (
    DAY_OF_YEAR,
    DAYS_IN_MONTH,
    HOUR_OF_DAY,
    MONTHLY_KEYS,
    SOURCES,
    Site,
    dispatch,
    simulate,
    state_of_charge,
)
from neocloud.energy.reuse import INTERPOLATION_MIN_DRAWS, INTERPOLATION_TOLERANCE, YearCache, site_key
from neocloud.errors import ScenarioError, require_non_negative
from neocloud.plant import commissioning_month, gas_blocks, grid_capacity_mw, plant_fixed_om_usd, plant_items
from neocloud.registry import dropped
from neocloud.scenario import Realised
from neocloud.units import DAYS_PER_YEAR, HOURS_PER_DAY, HOURS_PER_WEEK, HOURS_PER_YEAR, MONTHS_PER_YEAR

__all__ = [
    "SOURCES",
    "Site",
    "configure",
    "dispatch",
    "energy",
    "hourly_temperature_c",
    "simulate",
    "site_model",
    "solar_capacity_factor",
    "state_of_charge",
    "supply_changes",
    "time_of_use",
]
HOTTEST_HOUR = world_default("energy.hottest_hour")  # local hour of the daily temperature maximum
# Upstream variables the stage reads (the pipeline checks them against the variables registry).
READS = ("date", "it_power_mw", "it_power_online_mw")
MONTH_NAMES = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")


def monthly_daily_range_c(climate: Any) -> np.ndarray:
    """The twelve monthly diurnal ranges (°C): mean daily maximum less minimum where the climate row has
    both for a month, else its single ``daily_range_c``."""
    ranges = np.full(12, float(climate["daily_range_c"]))
    for index, month in enumerate(MONTH_NAMES):
        high, low = climate.get(f"{month}_max_c"), climate.get(f"{month}_min_c")
        if high is not None and low is not None and np.isfinite(float(high)) and np.isfinite(float(low)):
            ranges[index] = float(high) - float(low)
    return ranges


def hourly_temperature_c(climate: Any) -> np.ndarray:
    """Outdoor dry-bulb (°C) for 8,760 hours: monthly means interpolated by day plus a daily cosine whose
    amplitude is half the month's diurnal range (interpolated by day too)."""
    means = monthly_temperatures_c(climate)
    mid_month_day = np.cumsum(DAYS_IN_MONTH) - DAYS_IN_MONTH / 2
    daily = np.interp(DAY_OF_YEAR + 0.5, mid_month_day, means, period=DAYS_PER_YEAR)
    ranges = np.interp(DAY_OF_YEAR + 0.5, mid_month_day, monthly_daily_range_c(climate), period=DAYS_PER_YEAR)
    swing = ranges / 2 * np.cos(2 * np.pi * (HOUR_OF_DAY - HOTTEST_HOUR) / HOURS_PER_DAY)
    return daily + swing


def solar_capacity_factor(latitude_deg: float, annual_capacity_factor: float) -> np.ndarray:
    """Hourly AC capacity factor of tracking PV: sun elevation from latitude, scaled to the annual factor."""
    latitude = np.radians(latitude_deg)
    declination = np.radians(23.44) * np.sin(2 * np.pi * (284 + DAY_OF_YEAR + 1) / DAYS_PER_YEAR)
    hour_angle = np.radians(15.0) * (HOUR_OF_DAY + 0.5 - 12)
    sine = np.sin(latitude) * np.sin(declination) + np.cos(latitude) * np.cos(declination) * np.cos(hour_angle)
    shape = np.maximum(sine, 0.0) ** 0.6  # a tracker flattens the daily curve
    factor = np.minimum(shape * annual_capacity_factor / shape.mean(), 1.0)
    return factor * annual_capacity_factor / factor.mean()


def time_of_use(region: Any) -> tuple[np.ndarray, np.ndarray]:
    """Price multipliers by hour (peak window at the region's multiplier, the rest lower so a day averages
    1) and the peak-window mask."""
    start, end = int(region["tou_peak_start_h"]), int(region["tou_peak_end_h"])
    multiplier = float(region["tou_peak_multiplier"])
    peak = (start <= HOUR_OF_DAY) & (end > HOUR_OF_DAY)
    hours = end - start
    if hours <= 0 or multiplier == 1.0:
        return np.ones(HOURS_PER_YEAR), np.zeros(HOURS_PER_YEAR, dtype=bool)
    off_peak = (HOURS_PER_DAY - multiplier * hours) / (HOURS_PER_DAY - hours)
    return np.where(peak, multiplier, off_peak), peak


def power_price_usd_per_mwh(scenario: Realised, catalog: Catalog) -> np.ndarray:
    """The mean delivered grid price per draw: the finance override, else the site's, else the region's."""
    for value in (scenario.finance.power_price_usd_per_mwh, scenario.site.power_price_usd_per_mwh):
        if value is not None:
            return np.asarray(value, dtype=float)
    return np.full(
        len(np.atleast_1d(scenario.finance.discount_rate)),
        catalog.value("regions", scenario.site.region, "power_price_usd_per_mwh"),
    )


def site_model(scenario: Realised, catalog: Catalog, draws: int) -> Site:
    """The site with no load and no supply yet: climate, cooling, workload, prices (see ``configure``)."""
    site, campus = scenario.site, scenario.campus
    climate = catalog.row("climates", site.climate, field="site.climate")
    region = catalog.row("regions", site.region, field="site.region")
    cooling = catalog.row("cooling", campus.cooling, field="campus.cooling")
    kind = scenario.workload.kind
    profile = catalog.row("load_profiles", kind, field="workload.kind")
    busy = {name: catalog.value("parameters", f"it_load_frac_{name}") for name in ("training", "inference")}
    temperature = hourly_temperature_c(climate)
    multiplier, peak = time_of_use(region)
    zeros = np.zeros(draws)
    utilisation = np.broadcast_to(np.asarray(scenario.finance.utilisation, dtype=float), (draws,)).copy()
    return Site(
        it_mw=zeros,
        utilisation=utilisation,
        busy_frac=busy[kind] if kind in busy else float(np.mean(list(busy.values()))),
        idle_frac=float(profile["idle_frac"]),
        amplitude_frac=float(profile["daily_amplitude_frac"]),
        peak_hour=float(profile["peak_hour"]),
        temperature_c=temperature,
        pue=pue_at(cooling, temperature),
        price_usd_per_mwh=np.broadcast_to(power_price_usd_per_mwh(scenario, catalog), (draws,)).copy(),
        price_multiplier=multiplier,
        peak=peak,
        grid_mw=zeros,
        carbon_g_per_kwh=float(region["carbon_g_per_kwh"]),
        gas_mw=zeros,
        gas_unit_mw=0.0,
        gas_min_load_frac=1.0,
        gas_min_up_hours=1,
        gas_derate_per_c=0.0,
        gas_availability=1.0,
        gas_cost_usd_per_mwh=zeros,
        gas_mmbtu_per_mwh=0.0,
        gas_start_usd_per_mw=0.0,
        gas_co2_kg_per_mmbtu=0.0,
        battery_mw=zeros,
        battery_mwh=zeros,
        battery_efficiency=1.0,
        solar_mw=zeros,
        solar_cf=np.zeros(HOURS_PER_YEAR),
        wue_l_per_kwh=float(cooling["wue_l_per_kwh"]),
    )


def gas_supply(scenario: Realised, catalog: Catalog, month: int, draws: int) -> dict[str, Any]:
    """The turbines running in ``month``, as ``Site`` fields: capacity (MW) and cost (USD/MWh) per draw, the
    unit figures weighted by each block's nameplate."""
    region = catalog.row("regions", scenario.site.region)
    running = [
        block
        for block in gas_blocks(scenario, catalog, draws)
        if block.end_month > month and np.any(block.start_month <= month)
    ]
    gas: dict[str, Any] = {"gas_mw": np.zeros(draws), "gas_cost_usd_per_mwh": np.zeros(draws)}
    if running:
        weights = np.array([block.units * float(block.row["unit_mw"]) for block in running])
        weights = weights / weights.sum()

        def mean(column: str) -> float:
            return float(sum(w * float(block.row[column]) for w, block in zip(weights, running, strict=True)))

        capacity, cost = np.zeros(draws), np.zeros(draws)
        for block in running:
            price = block.gas_price_usd_per_mmbtu
            if price is None:
                price = np.full(draws, float(region["gas_price_usd_per_mmbtu"]))
            if np.any(~np.isfinite(price)):
                raise ScenarioError(
                    f"region {scenario.site.region} has no gas supply price; give gas_price_usd_per_mmbtu",
                    field=f"{block.field}.gas_price_usd_per_mmbtu",
                )
            require_non_negative(price, f"{block.field}.gas_price_usd_per_mmbtu")
            block_mw = (block.start_month <= month) * block.units * float(block.row["unit_mw"])
            capacity += block_mw
            cost += block_mw * (
                price * float(block.row["heat_rate_btu_per_kwh"]) / 1e3 + float(block.row["variable_om_usd_per_mwh"])
            )
        gas = {
            "gas_mw": capacity,
            "gas_cost_usd_per_mwh": cost / np.maximum(capacity, 1e-9),
            "gas_unit_mw": mean("unit_mw"),
            "gas_min_load_frac": mean("min_load_frac"),
            "gas_min_up_hours": round(max(float(block.row["min_up_hours"]) for block in running)),
            "gas_derate_per_c": mean("derate_frac_per_c"),
            "gas_availability": mean("availability_frac"),
            "gas_mmbtu_per_mwh": mean("heat_rate_btu_per_kwh") / 1e3,
            "gas_start_usd_per_mw": mean("start_cost_usd_per_mw"),
            "gas_co2_kg_per_mmbtu": mean("co2_kg_per_mmbtu"),
        }
    return gas


def configure(scenario: Realised, catalog: Catalog, base: Site, month: int, grid_mw: np.ndarray,
              it_mw: np.ndarray) -> Site:
    """The site with the IT load and the supply that runs in ``month`` (months from the start)."""
    draws = len(it_mw)
    gas = gas_supply(scenario, catalog, month, draws)
    battery_mw, battery_mwh, efficiency = np.zeros(draws), np.zeros(draws), 1.0
    for index, battery in enumerate(scenario.power.batteries):
        field = f"power.batteries.{index}"
        row = catalog.row("generation", battery.type, field=f"{field}.type")
        require_non_negative(battery.power_mw, f"{field}.power_mw")
        require_non_negative(battery.energy_mwh, f"{field}.energy_mwh")
        if commissioning_month(scenario, battery.commissioning) <= month:
            battery_mw = battery_mw + battery.power_mw
            battery_mwh = battery_mwh + battery.energy_mwh
            efficiency = float(row["round_trip_efficiency"])
    solar_mw = np.zeros(draws)
    for index, plant in enumerate(scenario.power.solar):
        require_non_negative(plant.capacity_mw, f"power.solar.{index}.capacity_mw")
        if commissioning_month(scenario, plant.commissioning) <= month:
            solar_mw = solar_mw + plant.capacity_mw
    solar_cf = base.solar_cf
    if scenario.power.solar:
        climate = catalog.row("climates", scenario.site.climate)
        if scenario.site.climate not in catalog.table("solar").index:
            raise ScenarioError(
                f"no solar capacity factor for climate {scenario.site.climate}; add a row to the solar table",
                field="power.solar",
                allowed=", ".join(catalog.ids("solar")),
            )
        solar_cf = solar_capacity_factor(
            float(climate["latitude"]), catalog.value("solar", scenario.site.climate, "capacity_factor")
        )
    grid_mw = np.where(np.isfinite(grid_mw), grid_mw, np.maximum(it_mw * base.pue.max() * 2, 1.0))
    return replace(
        base,
        it_mw=np.asarray(it_mw, dtype=float),
        grid_mw=grid_mw,
        battery_mw=battery_mw,
        battery_mwh=battery_mwh,
        battery_efficiency=efficiency,
        solar_mw=solar_mw,
        solar_cf=solar_cf,
        **gas,
    )


def supply_changes(scenario: Realised, catalog: Catalog, grid: np.ndarray, months: int) -> list[int]:
    """The months (from 0) in which the supply configuration changes for any draw."""
    draws = grid.shape[0]
    changes = {0}
    changes.update(int(m) for m in np.nonzero(np.any(grid[:, 1:] != grid[:, :-1], axis=0))[0] + 1)
    for block in gas_blocks(scenario, catalog, draws):
        changes.update(int(m) for m in np.unique(block.start_month))
        if np.isfinite(block.end_month):
            changes.add(int(block.end_month))
    for item in (*scenario.power.batteries, *scenario.power.solar):
        changes.add(int(commissioning_month(scenario, item.commissioning)))
    return sorted(m for m in changes if 0 <= m < months)


def energy(
    scenario: Realised,
    catalog: Catalog,
    upstream: xr.Dataset,
    tolerance: float = INTERPOLATION_TOLERANCE,
    min_draws: int = INTERPOLATION_MIN_DRAWS,
) -> xr.Dataset:
    """Monthly energy by source (MWh), cost (USD), CO2 (t) and water (m3); a typical week of dispatch;
    annual figures of the complete campus on its final supply.

    Each distinct supply epoch is simulated once; merit classes of at least ``min_draws`` draws that differ
    only in utilisation and price come from a utilisation grid whose checked error is within ``tolerance``
    (0: every draw exact). ``annual_energy_mwh.attrs["method"]`` says what was done (``energy.reuse``).
    """
    months, draws = upstream.sizes["month"], upstream.sizes["draw"]
    years = YearCache(tolerance, min_draws)
    base = site_model(scenario, catalog, draws)
    grid = grid_capacity_mw(scenario, catalog, months, draws)
    online = upstream["it_power_online_mw"].values
    starts = supply_changes(scenario, catalog, grid, months)
    ends = [*starts[1:], months]
    calendar = upstream["date"].dt.month.values - 1
    per_month, by_source = monthly_buffers(draws, months, dropped())
    final = configure(scenario, catalog, base, months - 1, grid[:, -1], upstream["it_power_mw"].values)
    final_key = site_key(final)
    for first, last in zip(starts, ends, strict=True):  # the epochs: months first..last - 1
        load = online[:, first:last].max(axis=1)
        filled = {key: values for key, values in per_month.items() if values.flags.writeable}  # not stand-ins
        if not np.any(load > 0):
            for values in filled.values():
                values[:, first:last] = 0.0
            continue
        site = configure(scenario, catalog, base, first, grid[:, first], load)
        year = years(site, None if site_key(site) == final_key else MONTHLY_KEYS)  # the final year's: all
        scale = np.where(load[:, None] > 0, online[:, first:last] / np.maximum(load[:, None], 1e-12), 0.0)
        for key, values in filled.items():  # the month's year, scaled in place: no (draw, month) temporary
            np.take(year[key], calendar[first:last], axis=1, out=values[:, first:last], mode="clip")
            np.multiply(values[:, first:last], scale, out=values[:, first:last])
    full = years(final)
    fixed_om = plant_fixed_om_usd(plant_items(scenario, catalog, draws), months, draws)
    np.add(per_month["cost_usd"], fixed_om, out=per_month["cost_usd"])
    fixed_om_per_year = fixed_om[:, -1] * MONTHS_PER_YEAR
    out = energy_dataset(per_month, full, base.price_usd_per_mwh, fixed_om_per_year, by_source)
    out["annual_energy_mwh"].attrs["method"] = years.report.describe(tolerance)
    return out


# The Dataset's variable of each monthly line but the lines by source (``energy_by_source_mwh``).
LINE_VARIABLES = {"facility_mwh": "facility_energy_mwh", "it_mwh": "it_energy_mwh", "cost_usd": "energy_cost_usd",
                  "co2_t": "co2_t", "water_m3": "water_m3", "curtailed_it_mwh": "curtailed_it_energy_mwh"}


def monthly_buffers(draws: int, months: int, unread: Collection[str] = ()) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Uninitialised (draw, month) arrays for the monthly lines (``MONTHLY_KEYS``), and the (source, draw,
    month) block whose rows are the lines by source: the Dataset's (draw, month, source) variable is a view of
    it, not a stacked copy (``energy_dataset``). The lines of variables in ``unread`` (the run drops them
    unread) are read-only stand-ins (``blocks.stand_in``), never filled."""
    shape = (len(SOURCES), draws, months)
    by_source = stand_in(shape) if "energy_by_source_mwh" in unread else np.empty(shape)
    lines = {f"{name}_mwh": by_source[index] for index, name in enumerate(SOURCES)}
    lines.update({key: stand_in((draws, months)) if name in unread else np.empty((draws, months))
                  for key, name in LINE_VARIABLES.items()})
    return {key: lines[key] for key in MONTHLY_KEYS}, by_source


def energy_dataset(
    per_month: dict[str, np.ndarray], full: dict[str, np.ndarray], price_usd_per_mwh: np.ndarray,
    fixed_om_per_year: np.ndarray, by_source: np.ndarray | None = None,
) -> xr.Dataset:
    """The energy stage's Dataset: monthly lines (draw, month), the typical week of the complete campus and
    its annual summary figures (draw,), with units. ``by_source``: a (source, draw, month) block whose rows
    are ``per_month``'s lines by source (``monthly_buffers``), else they are stacked."""
    keys = MONTHLY_KEYS

    def by_month(values: np.ndarray, units: str) -> xr.DataArray:
        return xr.DataArray(values, dims=("draw", "month"), attrs={"units": units})

    source = list(SOURCES)
    out = xr.Dataset(
        {
            "it_energy_mwh": by_month(per_month["it_mwh"], "MWh"),
            "facility_energy_mwh": by_month(per_month["facility_mwh"], "MWh"),
            "energy_cost_usd": by_month(per_month["cost_usd"], "USD"),
            "co2_t": by_month(per_month["co2_t"], "t"),
            "water_m3": by_month(per_month["water_m3"], "m3"),
            "curtailed_it_energy_mwh": by_month(per_month["curtailed_it_mwh"], "MWh"),
            "energy_by_source_mwh": xr.DataArray(
                np.stack([per_month[f"{name}_mwh"] for name in SOURCES], axis=-1) if by_source is None
                else np.moveaxis(by_source, 0, -1),
                dims=("draw", "month", "source"),
                attrs={"units": "MWh"},
            ),
            "power_price_usd_per_mwh": xr.DataArray(price_usd_per_mwh, dims="draw", attrs={"units": "USD/MWh"}),
            "typical_week_supply_mw": xr.DataArray(
                full["week"], dims=("draw", "hour_of_week", "source"), attrs={"units": "MW"}
            ),
            "typical_week_demand_mw": xr.DataArray(
                full["week_demand"], dims=("draw", "hour_of_week"), attrs={"units": "MW"}
            ),
            "annual_energy_by_source_mwh": xr.DataArray(
                np.stack([full[f"{name}_mwh"].sum(-1) for name in SOURCES], axis=-1),
                dims=("draw", "source"),
                attrs={"units": "MWh"},
            ),
        },
        coords={"source": source, "hour_of_week": np.arange(HOURS_PER_WEEK)},
    )
    annual = {key: full[key].sum(-1) for key in keys}
    summary = {
        "annual_energy_mwh": (annual["facility_mwh"], "MWh"),
        "energy_cost_usd_per_year": (annual["cost_usd"] + fixed_om_per_year, "USD"),
        "power_fixed_om_usd_per_year": (fixed_om_per_year, "USD"),
        "co2_t_per_year": (annual["co2_t"], "t"),
        "curtailed_mwh_per_year": (annual["curtailed_it_mwh"], "MWh"),
        "realised_pue": (
            annual["facility_mwh"] / np.where(annual["it_mwh"] > 0, annual["it_mwh"], np.nan),
            "-",
        ),
        "water_m3_per_year": (annual["water_m3"], "m3"),
        "grid_energy_mwh_per_year": (annual["grid_mwh"], "MWh"),
        "gas_energy_mwh_per_year": (annual["gas_mwh"], "MWh"),
        "solar_energy_mwh_per_year": (annual["solar_mwh"], "MWh"),
        "peak_facility_power_mw": (full["peak_demand_mw"], "MW"),
        "peak_grid_import_mw": (full["peak_grid_mw"], "MW"),
    }
    for key, (values, units) in summary.items():
        out[key] = xr.DataArray(values, dims="draw", attrs={"summary": 1, "units": units})
    out["curtailed_mwh_per_year"].attrs["long_name"] = "IT energy that could not be supplied"
    return out
