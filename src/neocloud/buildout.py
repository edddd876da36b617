"""Build-out: when each phase is energised, when its systems run, and what holds it back, month by month.

A phase is ready for power when its construction is finished and its long-lead equipment has arrived.
It is energised in the first month from then on in which the firm power of the site (grid import by
date plus on-site gas turbines, derated to the design day) covers its facility load at the design day
together with that of every phase listed before it. Its systems then come online as GPU deliveries
(a quarterly supply schedule per system type, earlier phases served first) and the installation crews
(racks per week, campus-wide) allow. For every month the binding constraint of the first unfinished
phase is reported as a code. Method: docs/methods/buildout.md.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import xarray as xr

from neocloud.calendar import months_between, quarter_first_month
from neocloud.catalog import Catalog, world_default
from neocloud.errors import ScenarioError, unknown_id
from neocloud.scenario import Realised
from neocloud.units import KW_PER_MW, MONTHS_PER_YEAR, WEEKS_PER_MONTH

ISO_TEMPERATURE_C = world_default("power.gas_rating_temperature_c")  # gas turbine ratings: ISO conditions

COMPLETE, CONSTRUCTION, EQUIPMENT, POWER, GPUS, INSTALLATION, SEQUENCE = range(7)
CONSTRAINTS = ("complete", "construction", "equipment", "power", "gpus", "installation", "sequence")
BINDING_ATTRS = {
    "flag_values": list(range(len(CONSTRAINTS))),
    "flag_meanings": " ".join(CONSTRAINTS),
    "long_name": "what holds the build-out back this month (of the first unfinished phase)",
}


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


def require_non_negative(values: np.ndarray, field: str, strictly: bool = False) -> None:
    """Raise a ScenarioError when any draw of ``values`` is negative (or zero when ``strictly``)."""
    values = np.asarray(values, dtype=float)
    bad = values <= 0 if strictly else values < 0
    if np.any(bad):
        raise ScenarioError(
            f"must be {'positive' if strictly else 'zero or more'}; got {float(values[bad][0]):g}",
            field=field,
            value=float(values[bad][0]),
        )


def derate(row: Any, temperature_c: np.ndarray | float) -> np.ndarray:
    """Share of a gas turbine's ISO output available at ambient temperatures (°C)."""
    excess = np.maximum(0.0, np.asarray(temperature_c, dtype=float) - ISO_TEMPERATURE_C)
    return np.clip(1.0 - float(row["derate_frac_per_c"]) * excess, 0.0, 1.0)


def grid_capacity_mw(scenario: Realised, catalog: Catalog, months: int, draws: int) -> np.ndarray:
    """Firm grid import capacity (MW) per draw and month: the steps of ``power.grid``, else the site's."""
    supply = scenario.power
    if not supply.grid:
        if scenario.site.grid_capacity_mw is None:
            return np.full((draws, months), np.inf)
        value = np.asarray(scenario.site.grid_capacity_mw, dtype=float)
        require_non_negative(value, "site.grid_capacity_mw")
        return np.broadcast_to(value[:, None], (draws, months)).copy()
    capacity = np.zeros((draws, months))
    month = np.arange(months)
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
        effective.append((start, np.asarray(step.mw, dtype=float)))
    # later steps (by effective month per draw) replace earlier ones: apply in order of effective month
    starts = np.stack([start for start, _ in effective], axis=1)  # (draw, step)
    values = np.stack([value for _, value in effective], axis=1)
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


def gas_capacity_mw(blocks: list[GasBlock], months: int, draws: int, temperature_c: float) -> np.ndarray:
    """Nameplate gas turbine capacity (MW) per draw and month, derated to ``temperature_c``."""
    month = np.arange(months)[None, :]
    capacity = np.zeros((draws, months))
    for block in blocks:
        running = (month >= block.start_month[:, None]) & (month < block.end_month)
        capacity += running * block.units * float(block.row["unit_mw"]) * derate(block.row, temperature_c)
    return capacity


def storage_peak_mw(scenario: Realised, catalog: Catalog, months: int, draws: int) -> np.ndarray:
    """Power (MW) per draw and month that batteries can hold through the design day's afternoon peak: each
    battery's power limit, or less where its energy cannot last ``design_day_peak_hours``."""
    hours = catalog.value("parameters", "design_day_peak_hours")
    month = np.arange(months)[None, :]
    capacity = np.zeros((draws, months))
    for battery in scenario.power.batteries:
        power = np.broadcast_to(np.asarray(battery.power_mw, dtype=float), (draws,))
        energy = np.broadcast_to(np.asarray(battery.energy_mwh, dtype=float), (draws,))
        sustained = np.maximum(np.minimum(power, energy / hours), 0.0)
        capacity += (month >= commissioning_month(scenario, battery.commissioning)) * sustained[:, None]
    return capacity


def commissioning_month(scenario: Realised, month: str | None) -> float:
    """Months from the scenario start to a commissioning month (0 when none is given)."""
    return 0.0 if month is None else float(months_between(scenario.start, month))


def _first_true(mask: np.ndarray) -> np.ndarray:
    """Index of the first True along the last axis, NaN where there is none."""
    return np.where(mask.any(-1), mask.argmax(-1), np.nan)


def _future_minimum(values: np.ndarray) -> np.ndarray:
    """Along the last axis: at each position, the smallest value from there to the end."""
    return np.flip(np.minimum.accumulate(np.flip(values, -1), axis=-1), -1)


def _check_sequence(scenario: Realised) -> dict[int, int]:
    """The phase each phase must follow (index -> index); raise for an impossible order."""
    phases = scenario.campus.phases
    names = [phase.name for phase in phases]
    follows = {}
    for index, phase in enumerate(phases):
        after = phase.schedule.after
        if after is None:
            continue
        field = f"campus.phases.{index}.schedule.after"
        if after not in names[:index]:
            if after in names:
                raise ScenarioError(
                    f"'{after}' is listed after {phase.name}; a phase can only follow an earlier one",
                    field=field,
                    value=after,
                    allowed=", ".join(names[:index]) or "none",
                )
            raise unknown_id("phase", after, names[:index], field=field)
        before = names.index(after)
        mine = phase.schedule.construction_start or scenario.start
        theirs = phases[before].schedule.construction_start or scenario.start
        if months_between(theirs, mine) < 0:
            raise ScenarioError(
                f"{phase.name} starts construction {mine}, {months_between(mine, theirs)} months before its "
                f"predecessor {after} ({theirs})",
                field=f"campus.phases.{index}.schedule.construction_start",
                value=mine,
            )
        follows[index] = before
    return follows


def delivered_systems(scenario: Realised, months: int, draws: int) -> dict[str, np.ndarray]:
    """Cumulative systems delivered by the end of each month, per system type: (draw, month) arrays."""
    month = np.arange(months)[None, :]
    installed_types = {phase.system for phase in scenario.campus.phases}
    delivered: dict[str, np.ndarray] = {}
    for index, delivery in enumerate(scenario.buildout.gpu_deliveries):
        field = f"buildout.gpu_deliveries.{index}"
        if delivery.system not in installed_types:
            raise ScenarioError(
                f"'{delivery.system}' is delivered but no phase installs it",
                field=f"{field}.system",
                value=delivery.system,
                allowed=", ".join(sorted(installed_types)),
            )
        systems = np.asarray(delivery.systems, dtype=float)
        require_non_negative(systems, f"{field}.systems")
        first = months_between(scenario.start, quarter_first_month(delivery.quarter))
        share = np.clip((month - first + 1) / 3.0, 0.0, 1.0)  # a quarter's units arrive evenly over 3 months
        delivered[delivery.system] = delivered.get(delivery.system, 0.0) + systems[:, None] * share
    return delivered


def ready_months(scenario: Realised, catalog: Catalog, draws: int) -> tuple[np.ndarray, np.ndarray]:
    """Per phase, the month (from start) its construction is finished and its long-lead equipment is in,
    each (draw, phase)."""
    delay = np.asarray(scenario.buildout.delay_months, dtype=float)
    require_non_negative(delay, "buildout.delay_months")
    equipment = catalog.table("equipment")
    building_equipment = [str(name) for name in equipment.index[equipment["scope"] == "building"]]
    equipment_lead = np.max(
        [lead_months(scenario, catalog, name, draws) for name in building_equipment], axis=0
    )
    construction_ready, equipment_ready = [], []
    for index, phase in enumerate(scenario.campus.phases):
        schedule = phase.schedule
        duration = np.asarray(schedule.construction_months, dtype=float)
        require_non_negative(duration, f"campus.phases.{index}.schedule.construction_months")
        start = months_between(scenario.start, schedule.construction_start or scenario.start)
        ordered = months_between(
            scenario.start, schedule.equipment_ordered or schedule.construction_start or scenario.start
        )
        construction_ready.append(np.ceil(start + duration + delay))
        equipment_ready.append(ordered + np.ceil(equipment_lead))
    return np.stack(construction_ready, axis=1), np.stack(equipment_ready, axis=1)


def held_systems(scenario: Realised, systems_total: np.ndarray, is_energised: np.ndarray) -> np.ndarray:
    """Systems each phase holds, delivered and energised, (draw, month, phase): deliveries of a system
    type serve the phases listed first, and a phase never gives back what it holds."""
    draws, months, phases = is_energised.shape
    delivered = delivered_systems(scenario, months, draws)
    held = np.zeros((draws, months, phases))
    claimed = {system: np.zeros((draws, months)) for system in delivered}
    for index, phase in enumerate(scenario.campus.phases):
        total = systems_total[:, index][:, None]
        if phase.system in delivered:
            leftover = delivered[phase.system] - claimed[phase.system]
            take = np.minimum(total, _future_minimum(np.maximum(leftover, 0.0)))
            take = np.where(is_energised[:, :, index], take, 0.0)
            take = np.maximum.accumulate(take, axis=1)
            claimed[phase.system] = claimed[phase.system] + take
        else:
            take = np.where(is_energised[:, :, index], total, 0.0)
        held[:, :, index] = take
    return held


def installed_racks(scenario: Realised, arrived_racks: np.ndarray) -> np.ndarray:
    """Racks installed per phase (draw, month, phase) from the racks arrived, at the crews' rate
    (``buildout.install_racks_per_week``, campus-wide, phases in order); all of them when no rate is set."""
    rate = scenario.buildout.install_racks_per_week
    if rate is None:
        return arrived_racks
    month = np.arange(arrived_racks.shape[1])
    rate = np.asarray(rate, dtype=float)
    require_non_negative(rate, "buildout.install_racks_per_week", strictly=True)
    per_month = (rate * WEEKS_PER_MONTH)[:, None]
    arrived = arrived_racks.sum(-1)
    # a crew of fixed throughput: installed(m) = min over k <= m of arrived(k) + rate (m - k),
    # and at most rate (m + 1)
    installed = np.minimum(
        np.minimum.accumulate(arrived - per_month * month, axis=1) + per_month * month,
        per_month * (month + 1),
    )
    earlier = np.cumsum(arrived_racks, axis=-1) - arrived_racks  # racks of phases listed before, arrived
    share = np.clip(installed[:, :, None] - earlier, 0.0, arrived_racks)
    return np.moveaxis(_future_minimum(np.moveaxis(share, 1, -1)), -1, 1)


def binding_codes(
    complete: np.ndarray, ready: tuple[np.ndarray, np.ndarray], power_month: np.ndarray,
    is_energised: np.ndarray, installed: np.ndarray, arrived_racks: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """The binding constraint of each phase (draw, month, phase) and of the campus, that of its first
    unfinished phase (draw, month); ``ready`` is (construction ready, equipment ready) per phase."""
    construction_ready_month, equipment_ready_month = ready
    m = np.arange(complete.shape[1])[None, :, None]
    code = np.where(
        complete,
        COMPLETE,
        np.where(
            m < np.maximum(construction_ready_month, equipment_ready_month)[:, None, :],
            np.where(equipment_ready_month > construction_ready_month, EQUIPMENT, CONSTRUCTION)[:, None, :],
            np.where(
                m < np.nan_to_num(power_month, nan=np.inf)[:, None, :],
                POWER,
                np.where(
                    ~is_energised,
                    SEQUENCE,
                    np.where(installed >= arrived_racks - 1e-9, GPUS, INSTALLATION),
                ),
            ),
        ),
    )
    unfinished = code != COMPLETE
    first = unfinished.argmax(-1)
    campus_code = np.where(
        unfinished.any(-1), np.take_along_axis(code, first[..., None], -1)[..., 0], COMPLETE
    )
    return code, campus_code


# Upstream variables the stage reads (the pipeline checks them against the variables registry).
READS = ("phase_buildings", "phase_systems", "phase_accelerators", "phase_racks", "phase_it_power_mw",
         "phase_facility_power_mw", "phase_design_day_draw_mw")


def buildout(scenario: Realised, catalog: Catalog, upstream: xr.Dataset) -> xr.Dataset:
    """Month by month: phases energised, systems installed, accelerators, IT and facility MW online, and
    the binding constraint; per phase the months it is ready, energised and complete."""
    months, draws = upstream.sizes["month"], upstream.sizes["draw"]
    month = np.arange(months)
    follows = _check_sequence(scenario)
    climate = catalog.row("climates", scenario.site.climate, field="site.climate")
    design_day_c = float(climate["design_day_c"])
    construction_ready_month, equipment_ready_month = ready_months(scenario, catalog, draws)
    ready = np.maximum(construction_ready_month, equipment_ready_month)

    grid = grid_capacity_mw(scenario, catalog, months, draws)
    gas = gas_capacity_mw(gas_blocks(scenario, catalog, draws), months, draws, design_day_c)
    firm = grid + gas + storage_peak_mw(scenario, catalog, months, draws)
    draw_mw = upstream["phase_design_day_draw_mw"].values  # (draw, phase): design-day draw at training load
    need = np.cumsum(draw_mw, axis=1) * (1 - 1e-9)  # each phase reserves power for those listed before it
    powered = firm[:, None, :] >= need[:, :, None]
    power_month = _first_true(powered & (month[None, None, :] >= ready[:, :, None]))
    energised = power_month.copy()
    for index, before in follows.items():
        energised[:, index] = np.maximum(energised[:, index], energised[:, before])

    systems_total = upstream["phase_systems"].values
    racks_per_system = upstream["phase_racks"].values / np.maximum(systems_total, 1)
    is_energised = month[None, :, None] >= np.where(np.isnan(energised), np.inf, energised)[:, None, :]
    arrived_racks = held_systems(scenario, systems_total, is_energised) * racks_per_system[:, None, :]
    installed = installed_racks(scenario, arrived_racks)
    systems_online = np.minimum(
        np.floor(installed / racks_per_system[:, None, :] + 1e-9), systems_total[:, None, :]
    )
    complete = systems_online >= systems_total[:, None, :]
    code, campus_code = binding_codes(complete, (construction_ready_month, equipment_ready_month), power_month,
                                      is_energised, installed, arrived_racks)
    return _buildout_dataset(upstream, {
        "phase_construction_ready_month": construction_ready_month,
        "phase_equipment_ready_month": equipment_ready_month, "phase_energised_month": energised,
        "phase_online_month": _first_true(np.moveaxis(complete, 1, -1)), "phase_systems_online": systems_online,
        "phase_binding_constraint": code, "binding_constraint": campus_code, "grid_capacity_mw": grid,
        "firm_power_mw": firm, "is_energised": is_energised,
    })


def _buildout_dataset(upstream: xr.Dataset, parts: dict[str, np.ndarray]) -> xr.Dataset:
    """The build-out stage's Dataset from its arrays (``parts``) and the design's per-phase totals."""
    systems_total = upstream["phase_systems"].values
    systems_online, energised, phase_online = (parts[key] for key in (
        "phase_systems_online", "phase_energised_month", "phase_online_month"))
    per_system = {
        key: upstream[key].values / np.maximum(systems_total, 1)
        for key in ("phase_accelerators", "phase_it_power_mw", "phase_facility_power_mw")
    }
    buildings = upstream["phase_buildings"].values

    def by_month(values: np.ndarray) -> xr.DataArray:
        return xr.DataArray(values, dims=("draw", "month"))

    def by_phase(values: np.ndarray, **attrs: Any) -> xr.DataArray:
        return xr.DataArray(values, dims=("draw", "phase"), attrs=attrs)

    def online(key: str) -> xr.DataArray:
        return by_month((systems_online * per_system[key][:, None, :]).sum(-1))

    out = xr.Dataset(
        {
            "phase_construction_ready_month": by_phase(parts["phase_construction_ready_month"],
                                                       units="months from start"),
            "phase_equipment_ready_month": by_phase(parts["phase_equipment_ready_month"], units="months from start"),
            "phase_energised_month": by_phase(energised, units="months from start"),
            "phase_online_month": by_phase(
                phase_online, units="months from start", long_name="month every system of the phase is online"
            ),
            "phase_systems_online": xr.DataArray(systems_online, dims=("draw", "month", "phase")),
            "phase_binding_constraint": xr.DataArray(
                parts["phase_binding_constraint"].astype(np.int8), dims=("draw", "month", "phase"),
                attrs=BINDING_ATTRS
            ),
            "binding_constraint": xr.DataArray(
                parts["binding_constraint"].astype(np.int8), dims=("draw", "month"), attrs=BINDING_ATTRS
            ),
            "grid_capacity_mw": by_month(parts["grid_capacity_mw"]),
            "firm_power_mw": by_month(parts["firm_power_mw"]),
            "buildings_energised": by_month((parts["is_energised"] * buildings[:, None, :]).sum(-1)),
            "systems_installed": by_month(systems_online.sum(-1)),
            "accelerators_online": online("phase_accelerators"),
            "it_power_online_mw": online("phase_it_power_mw"),
            "facility_power_online_mw": online("phase_facility_power_mw"),
        }
    )
    out["firm_power_mw"].attrs.update(
        units="MW", long_name="grid import, gas turbines at the design day and batteries through its peak")
    with np.errstate(all="ignore"):
        out["first_power_month"] = xr.DataArray(
            np.nanmin(np.where(np.isnan(energised), np.inf, energised), 1), dims="draw"
        )
        out["first_power_month"] = out["first_power_month"].where(np.isfinite(out["first_power_month"]))
        out["full_capacity_month"] = xr.DataArray(np.max(phase_online, axis=1), dims="draw")
    for key in ("first_power_month", "full_capacity_month"):
        out[key].attrs.update(summary=1, units="months from start", integer=1)
    return out
