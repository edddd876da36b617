"""The site's power plant over time: grid import by month, on-site gas turbine blocks, storage, and the
plant's capex and fixed O&M. Build-out, energy and finance read it. Method: docs/methods/buildout.md and
docs/methods/energy.md.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from neocloud.calendar import months_between
from neocloud.catalog import Catalog, world_default
from neocloud.errors import ScenarioError, require_non_negative
from neocloud.scenario import Realised
from neocloud.units import KW_PER_MW, MONTHS_PER_YEAR

ISO_TEMPERATURE_C = world_default("power.gas_rating_temperature_c")  # gas turbine ratings: ISO conditions


@dataclass(frozen=True)
class GasBlock:
    """One block of on-site gas turbines as the stages see it."""

    row: Any  # catalog generation row
    units: int
    start_month: np.ndarray  # (draw,) first month it runs, months from the scenario start
    end_month: float  # first month it no longer runs (inf when permanent)
    gas_price_usd_per_mmbtu: np.ndarray | None  # (draw,) or None for the region's price
    field: str


def lead_months(scenario: Realised, catalog: Catalog, equipment: str, draws: int) -> np.ndarray:
    """Lead time (months, per draw) of one kind of equipment: the scenario's override, else the catalog's."""
    for index, override in enumerate(scenario.buildout.equipment_leads):
        if override.equipment == equipment:
            value = np.asarray(override.lead_months, dtype=float)
            require_non_negative(value, f"buildout.equipment_leads.{index}.lead_months")
            return np.broadcast_to(value, (draws,)).copy()
    return np.full(draws, catalog.value("equipment", equipment, "lead_months"))


def derate(row: Any, temperature_c: np.ndarray | float) -> np.ndarray:
    """Share of a gas turbine's ISO output available at ambient temperatures (°C)."""
    excess = np.maximum(0.0, np.asarray(temperature_c, dtype=float) - ISO_TEMPERATURE_C)
    return np.clip(1.0 - float(row["derate_frac_per_c"]) * excess, 0.0, 1.0)


def grid_capacity_mw(scenario: Realised, catalog: Catalog, months: int, draws: int) -> np.ndarray:
    """Firm grid import capacity (MW) per draw and month: the steps of ``power.grid``, else the site's."""
    return grid_by_month(*grid_steps(scenario, catalog, draws), months)


def grid_steps(scenario: Realised, catalog: Catalog, draws: int) -> tuple[np.ndarray, np.ndarray]:
    """The grid import steps per draw: the month each takes effect (from start) and its MW, (draw, step).
    Without ``power.grid``, one step from month 0: the site's ``grid_capacity_mw`` (unlimited when unset)."""
    supply = scenario.power
    if not supply.grid:
        if scenario.site.grid_capacity_mw is None:
            return np.zeros((draws, 1)), np.full((draws, 1), np.inf)
        value = np.asarray(scenario.site.grid_capacity_mw, dtype=float)
        require_non_negative(value, "site.grid_capacity_mw")
        return np.zeros((draws, 1)), np.broadcast_to(value[:, None], (draws, 1)).copy()
    effective = []
    for index, step in enumerate(supply.grid):
        field = f"power.grid.{index}"
        require_non_negative(step.mw, f"{field}.mw")
        start = np.full(draws, float(months_between(scenario.start, step.month)))
        if step.substation_ordered is not None:
            ordered = months_between(scenario.start, step.substation_ordered)
            start = np.maximum(
                start, ordered + np.ceil(lead_months(scenario, catalog, "power-transformer", draws))
            )
        effective.append((start, np.broadcast_to(np.asarray(step.mw, dtype=float), (draws,))))
    return np.stack([start for start, _ in effective], axis=1), np.stack([value for _, value in effective], axis=1)


def grid_by_month(starts: np.ndarray, values: np.ndarray, months: int) -> np.ndarray:
    """Grid import capacity (MW) per draw and month from its steps (``starts``, ``values``: (draw, step)):
    later steps, by the month each takes effect in that draw, replace earlier ones."""
    month = np.arange(months)
    capacity = np.zeros((len(starts), months))
    order = np.argsort(starts, axis=1, kind="stable")
    for rank in range(starts.shape[1]):
        pick = order[:, rank]
        start = np.take_along_axis(starts, pick[:, None], axis=1)
        value = np.take_along_axis(values, pick[:, None], axis=1)
        capacity = np.where(month[None, :] >= start, value, capacity)
    return capacity


def gas_blocks(scenario: Realised, catalog: Catalog, draws: int) -> list[GasBlock]:
    """The gas turbine blocks with the month each starts and stops running."""
    blocks = []
    for index, block in enumerate(scenario.power.gas_turbines):
        field = f"power.gas_turbines.{index}"
        row = catalog.row("generation", block.type, field=f"{field}.type")
        if row["kind"] != "gas-turbine":
            raise ScenarioError(
                f"'{block.type}' is a {row['kind']}, not a gas turbine",
                field=f"{field}.type",
                value=block.type,
            )
        start = np.zeros(draws)
        if block.ordered is not None:
            lead = np.ceil(lead_months(scenario, catalog, str(row["equipment"]), draws))
            earliest = months_between(scenario.start, block.ordered) + lead
            start = earliest
            if block.commissioning is not None:
                wanted = months_between(scenario.start, block.commissioning)
                if np.any(wanted < earliest):
                    raise ScenarioError(
                        f"commissioning {block.commissioning} is before the order ({block.ordered}) plus the "
                        f"{float(np.max(lead)):g}-month lead time of {row['equipment']}",
                        field=f"{field}.commissioning",
                        value=block.commissioning,
                    )
                start = np.full(draws, float(wanted))
        elif block.commissioning is not None:
            start = np.full(draws, float(months_between(scenario.start, block.commissioning)))
        end = np.inf
        if block.decommissioned is not None:
            end = float(months_between(scenario.start, block.decommissioned))
            if np.any(end <= start):
                raise ScenarioError(
                    f"decommissioned {block.decommissioned} is not after it starts running",
                    field=f"{field}.decommissioned",
                    value=block.decommissioned,
                )
        price = (
            None
            if block.gas_price_usd_per_mmbtu is None
            else np.asarray(block.gas_price_usd_per_mmbtu, float)
        )
        blocks.append(GasBlock(row, block.units, start, end, price, field))
    return blocks


@dataclass(frozen=True)
class PlantItem:
    """One block of on-site generation or storage as finance and energy cost it."""

    row: Any  # catalog generation row
    kw: np.ndarray  # (draw,) nameplate power
    kwh: np.ndarray  # (draw,) storage energy (0 for generators)
    start_month: np.ndarray  # (draw,) commissioning, months from the scenario start
    end_month: float  # first month it has left the site (inf when permanent)

    @property
    def temporary(self) -> bool:
        """A block that leaves the site (a hired, trailer-mounted fleet): it carries no capital cost."""
        return bool(np.isfinite(self.end_month))


def plant_items(scenario: Realised, catalog: Catalog, draws: int) -> list[PlantItem]:
    """Every gas turbine block, battery and solar plant of the site, with its size and commissioning."""
    items = []
    zeros = np.zeros(draws)
    for block in gas_blocks(scenario, catalog, draws):
        kw = np.full(draws, block.units * float(block.row["unit_mw"]) * KW_PER_MW)
        items.append(PlantItem(block.row, kw, zeros, block.start_month, block.end_month))
    for index, battery in enumerate(scenario.power.batteries):
        row = catalog.row("generation", battery.type, field=f"power.batteries.{index}.type")
        kw = np.broadcast_to(np.asarray(battery.power_mw, dtype=float) * KW_PER_MW, (draws,))
        kwh = np.broadcast_to(np.asarray(battery.energy_mwh, dtype=float) * KW_PER_MW, (draws,))
        start = np.full(draws, commissioning_month(scenario, battery.commissioning))
        items.append(PlantItem(row, kw, kwh, start, np.inf))
    for index, plant in enumerate(scenario.power.solar):
        row = catalog.row("generation", plant.type, field=f"power.solar.{index}.type")
        kw = np.broadcast_to(np.asarray(plant.capacity_mw, dtype=float) * KW_PER_MW, (draws,))
        start = np.full(draws, commissioning_month(scenario, plant.commissioning))
        items.append(PlantItem(row, kw, zeros, start, np.inf))
    return items


def _cost(row: Any, column: str) -> float:
    value = float(row[column])
    return 0.0 if np.isnan(value) else value


def plant_capex_usd(item: PlantItem) -> np.ndarray:
    """Capital cost (draw,) of an owned plant item: per kW of nameplate plus per kWh of storage."""
    if item.temporary:
        return np.zeros_like(item.kw)
    return item.kw * _cost(item.row, "capex_usd_per_kw") + item.kwh * _cost(item.row, "capex_usd_per_kwh")


def plant_fixed_om_usd(items: list[PlantItem], months: int, draws: int) -> np.ndarray:
    """Fixed operation and maintenance (draw, month) of the plant on site each month, in USD."""
    month = np.arange(months)[None, :]
    out = np.zeros((draws, months))
    for item in items:
        on_site = (month >= item.start_month[:, None]) & (month < item.end_month)
        out += on_site * (item.kw * _cost(item.row, "fixed_om_usd_per_kw_year") / MONTHS_PER_YEAR)[:, None]
    return out


def gas_by_month(starts: np.ndarray, blocks: tuple[tuple[float, int, float, float], ...],
                 months: int) -> np.ndarray:
    """Gas turbine capacity (MW) per draw and month: ``starts`` (draw, block) the month each block starts
    running; ``blocks`` per block its end month, units, unit MW and derating share at the design day."""
    month = np.arange(months)[None, :]
    capacity = np.zeros((len(starts), months))
    for index, (end, units, unit_mw, share) in enumerate(blocks):
        running = (month >= starts[:, index][:, None]) & (month < end)
        capacity += running * units * unit_mw * share
    return capacity


def storage_sustained_mw(scenario: Realised, catalog: Catalog, draws: int) -> np.ndarray:
    """Power (MW, (draw, battery)) each battery can hold through the design day's afternoon peak: its
    power limit, or less where its energy cannot last ``design_day_peak_hours``."""
    hours = catalog.value("parameters", "design_day_peak_hours")
    sustained = [np.zeros(draws)]  # a column that stays out of every sum: (draw, 0) arrays are avoided
    for battery in scenario.power.batteries:
        power = np.broadcast_to(np.asarray(battery.power_mw, dtype=float), (draws,))
        energy = np.broadcast_to(np.asarray(battery.energy_mwh, dtype=float), (draws,))
        sustained.append(np.maximum(np.minimum(power, energy / hours), 0.0))
    return np.stack(sustained[1:] or sustained, axis=1)


def storage_by_month(sustained: np.ndarray, commissioned: tuple[float, ...], months: int) -> np.ndarray:
    """Battery power (MW) per draw and month held through the design day's peak: each battery's
    ``sustained`` (draw, battery) from the month it is ``commissioned``."""
    month = np.arange(months)[None, :]
    capacity = np.zeros((len(sustained), months))
    for index, first in enumerate(commissioned):
        capacity += (month >= first) * sustained[:, index][:, None]
    return capacity


def commissioning_month(scenario: Realised, month: str | None) -> float:
    """Months from the scenario start to a commissioning month (0 when none is given)."""
    return 0.0 if month is None else float(months_between(scenario.start, month))
