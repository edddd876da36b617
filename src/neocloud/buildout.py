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

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import xarray as xr

from neocloud.blocks import per_distinct_draw
from neocloud.calendar import months_between, quarter_first_month
from neocloud.catalog import Catalog
from neocloud.errors import ScenarioError, require_non_negative, unknown_id
from neocloud.plant import (
    commissioning_month,
    derate,
    gas_blocks,
    gas_by_month,
    grid_by_month,
    grid_steps,
    lead_months,
    storage_by_month,
    storage_sustained_mw,
)
from neocloud.registry import dropped
from neocloud.scenario import Realised
from neocloud.units import WEEKS_PER_MONTH

COMPLETE, CONSTRUCTION, EQUIPMENT, POWER, GPUS, INSTALLATION, SEQUENCE = range(7)
CONSTRAINTS = ("complete", "construction", "equipment", "power", "gpus", "installation", "sequence")
BINDING_ATTRS = {
    "flag_values": list(range(len(CONSTRAINTS))),
    "flag_meanings": " ".join(CONSTRAINTS),
    "long_name": "what holds the build-out back this month (of the first unfinished phase)",
}


def _first_true(mask: np.ndarray) -> np.ndarray:
    """Index of the first True along the last axis, NaN where there is none."""
    return np.where(mask.any(-1), mask.argmax(-1), np.nan)


def _future_minimum(values: np.ndarray) -> np.ndarray:
    """Along the last axis: at each position, the smallest value from there to the end (a new array)."""
    out = np.empty_like(values)
    np.minimum.accumulate(values[..., ::-1], axis=-1, out=out[..., ::-1])
    return out


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


def deliveries(scenario: Realised, draws: int) -> tuple[tuple[tuple[str, int], ...], np.ndarray]:
    """The GPU deliveries: per delivery its system type and first month (from start), and the systems
    of each per draw, (draw, delivery)."""
    installed_types = {phase.system for phase in scenario.campus.phases}
    static, systems = [], [np.zeros(draws)]
    for index, delivery in enumerate(scenario.buildout.gpu_deliveries):
        field = f"buildout.gpu_deliveries.{index}"
        if delivery.system not in installed_types:
            raise ScenarioError(
                f"'{delivery.system}' is delivered but no phase installs it",
                field=f"{field}.system",
                value=delivery.system,
                allowed=", ".join(sorted(installed_types)),
            )
        count = np.asarray(delivery.systems, dtype=float)
        require_non_negative(count, f"{field}.systems")
        static.append((delivery.system, months_between(scenario.start, quarter_first_month(delivery.quarter))))
        systems.append(np.broadcast_to(count, (draws,)))
    return tuple(static), np.stack(systems[1:] or systems, axis=1)


def delivered_systems(static: tuple[tuple[str, int], ...], systems: np.ndarray,
                      months: int) -> dict[str, np.ndarray]:
    """Cumulative systems delivered by the end of each month, per system type: (draw, month) arrays, from
    the deliveries (:func:`deliveries`)."""
    month = np.arange(months)[None, :]
    delivered: dict[str, np.ndarray] = {}
    for index, (system, first) in enumerate(static):
        share = np.clip((month - first + 1) / 3.0, 0.0, 1.0)  # a quarter's units arrive evenly over 3 months
        delivered[system] = delivered.get(system, 0.0) + systems[:, index][:, None] * share
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


def held_systems(phase_systems: list[str], delivered: dict[str, np.ndarray], systems_total: np.ndarray,
                 is_energised: np.ndarray) -> np.ndarray:
    """Systems each phase holds, delivered and energised, (draw, phase, month): deliveries of a system
    type (``delivered``: cumulative per type, (draw, month)) serve the phases listed first (whose system
    types are ``phase_systems``), and a phase never gives back what it holds."""
    draws, phases, months = is_energised.shape
    held = np.zeros((draws, phases, months))
    claimed = {system: np.zeros((draws, months)) for system in delivered}
    for index, system in enumerate(phase_systems):
        total = systems_total[:, index][:, None]
        if system in delivered:
            leftover = delivered[system] - claimed[system]
            take = np.minimum(total, _future_minimum(np.maximum(leftover, 0.0)))
            take = np.where(is_energised[:, index], take, 0.0)
            take = np.maximum.accumulate(take, axis=1)
            claimed[system] = claimed[system] + take
        else:
            take = np.where(is_energised[:, index], total, 0.0)
        held[:, index] = take
    return held


def install_rate_per_month(scenario: Realised, draws: int) -> np.ndarray | None:
    """The crews' racks installed per month (``buildout.install_racks_per_week``, per draw), None if unset."""
    rate = scenario.buildout.install_racks_per_week
    if rate is None:
        return None
    rate = np.asarray(rate, dtype=float)
    require_non_negative(rate, "buildout.install_racks_per_week", strictly=True)
    return np.broadcast_to(rate * WEEKS_PER_MONTH, (draws,))


def phase_sum(values: np.ndarray) -> np.ndarray:
    """The sum over phases of a (draw, phase, month) array, (draw, month), with the bits of numpy's sum
    along a last (phase) axis: for fewer than 8 phases that is 0 plus each phase in turn."""
    phases = values.shape[1]
    if not 0 < phases < 8:  # numpy sums 8 or more in pairs: let it
        return np.ascontiguousarray(np.moveaxis(values, 1, -1)).sum(-1)
    total = values[:, 0] + 0.0
    for index in range(1, phases):
        total += values[:, index]
    return total


def installed_racks(per_month: np.ndarray | None, arrived_racks: np.ndarray) -> np.ndarray:
    """Racks installed per phase (draw, phase, month) from the racks arrived, at the crews' rate
    (``per_month``, per draw: campus-wide, phases in order); all of them when no rate is set (None)."""
    if per_month is None:
        return arrived_racks
    month = np.arange(arrived_racks.shape[2])
    per_month = per_month[:, None]
    arrived = phase_sum(arrived_racks)
    # a crew of fixed throughput: installed(m) = min over k <= m of arrived(k) + rate (m - k),
    # and at most rate (m + 1)
    installed = np.minimum(
        np.minimum.accumulate(arrived - per_month * month, axis=1) + per_month * month,
        per_month * (month + 1),
    )
    earlier = _arrived_before(arrived_racks)
    share = np.clip(installed[:, None, :] - earlier, 0.0, arrived_racks)
    return _future_minimum(share)


def _arrived_before(arrived_racks: np.ndarray) -> np.ndarray:
    """Racks of the phases listed before each phase, arrived, (draw, phase, month): the running sum over
    phases less the phase's own, ``cumsum(arrived, axis=phase) - arrived``, a phase at a time."""
    earlier = np.empty_like(arrived_racks)
    running = arrived_racks[:, 0].copy()
    np.subtract(running, arrived_racks[:, 0], out=earlier[:, 0])
    for index in range(1, arrived_racks.shape[1]):
        running += arrived_racks[:, index]
        np.subtract(running, arrived_racks[:, index], out=earlier[:, index])
    return earlier


def binding_codes(
    complete: np.ndarray, ready: tuple[np.ndarray, np.ndarray], power_month: np.ndarray,
    is_energised: np.ndarray, installed: np.ndarray, arrived_racks: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """The binding constraint (int8) of each phase (draw, phase, month) and of the campus, that of its first
    unfinished phase (draw, month); ``ready`` is (construction ready, equipment ready) per phase. Each code
    is written where it applies, the weakest first, so that the stronger ones overwrite it."""
    construction_ready_month, equipment_ready_month = ready
    m = np.arange(complete.shape[2])[None, None, :]
    code = np.where(installed >= arrived_racks - 1e-9, np.int8(GPUS), np.int8(INSTALLATION))
    np.copyto(code, np.int8(SEQUENCE), where=~is_energised)
    np.copyto(code, np.int8(POWER), where=m < np.nan_to_num(power_month, nan=np.inf)[:, :, None])
    waiting = np.where(equipment_ready_month > construction_ready_month, np.int8(EQUIPMENT), np.int8(CONSTRUCTION))
    np.copyto(code, waiting[:, :, None],
              where=m < np.maximum(construction_ready_month, equipment_ready_month)[:, :, None])
    np.copyto(code, np.int8(COMPLETE), where=complete)
    unfinished = ~complete
    first = unfinished.argmax(1)
    campus_code = np.where(
        unfinished.any(1), np.take_along_axis(code, first[:, None, :], 1)[:, 0, :], np.int8(COMPLETE)
    )
    return code, campus_code


# Upstream variables the stage reads (the pipeline checks them against the variables registry).
READS = ("phase_buildings", "phase_systems", "phase_accelerators", "phase_racks", "phase_it_power_mw",
         "phase_facility_power_mw", "phase_design_day_draw_mw")


def buildout(scenario: Realised, catalog: Catalog, upstream: xr.Dataset) -> xr.Dataset:
    """Month by month: phases energised, systems installed, accelerators, IT and facility MW online, and
    the binding constraint; per phase the months it is ready, energised and complete.

    The month-by-month arithmetic (:func:`month_by_month`) sees only per-draw arrays of a few values each
    and is computed once per distinct draw of them (:func:`neocloud.blocks.per_distinct_draw`): the same
    bits, fewer draws. What the run drops unread (:func:`neocloud.registry.dropped`) is not copied back to
    every draw but made as stand-ins of its dims.
    """
    months, draws = upstream.sizes["month"], upstream.sizes["draw"]
    follows = _check_sequence(scenario)
    climate = catalog.row("climates", scenario.site.climate, field="site.climate")
    construction_ready_month, equipment_ready_month = ready_months(scenario, catalog, draws)
    grid_start, grid_mw = grid_steps(scenario, catalog, draws)
    blocks = gas_blocks(scenario, catalog, draws)
    arrays = {key: upstream[key].values for key in READS}
    arrays.update(construction_ready=construction_ready_month, equipment_ready=equipment_ready_month,
                  grid_start=grid_start, grid_mw=grid_mw,
                  gas_start=np.stack([block.start_month for block in blocks] or [np.zeros(draws)], axis=1),
                  storage_mw=storage_sustained_mw(scenario, catalog, draws))
    delivery_plan, arrays["delivered_systems"] = deliveries(scenario, draws)
    rate = install_rate_per_month(scenario, draws)
    arrays["install_per_month"] = np.zeros(draws) if rate is None else rate
    plan = Plan(
        months, [phase.system for phase in scenario.campus.phases], follows, rate is not None,
        tuple((block.end_month, block.units, float(block.row["unit_mw"]),
               float(derate(block.row, float(climate["design_day_c"])))) for block in blocks),
        tuple(commissioning_month(scenario, battery.commissioning) for battery in scenario.power.batteries),
        delivery_plan,
    )
    made = per_distinct_draw(lambda part: month_by_month(plan, part), arrays, unread=dropped())
    made.update(phase_construction_ready_month=construction_ready_month,
                phase_equipment_ready_month=equipment_ready_month)
    return _buildout_dataset(made)


@dataclass(frozen=True)
class Plan:
    """What the month-by-month arithmetic needs that is the same in every draw."""

    months: int
    phase_systems: list[str]  # system type of each phase
    follows: dict[int, int]  # phase index -> index of the phase it must follow
    crews: bool  # whether installation runs at the crews' rate (``install_per_month``)
    gas: tuple[tuple[float, int, float, float], ...]  # per block: end month, units, unit MW, design-day share
    batteries: tuple[float, ...]  # per battery: the month it is commissioned
    deliveries: tuple[tuple[str, int], ...]  # per GPU delivery: system type and first month


def firm_power(plan: Plan, arrays: Mapping[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Grid import and firm power (grid, gas turbines at the design day, batteries through its peak), MW
    per draw and month, from the per-draw steps, blocks and batteries."""
    grid = grid_by_month(arrays["grid_start"], arrays["grid_mw"], plan.months)
    gas = gas_by_month(arrays["gas_start"], plan.gas, plan.months)
    return grid, grid + gas + storage_by_month(arrays["storage_mw"], plan.batteries, plan.months)


def month_by_month(plan: Plan, arrays: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The build-out's arrays from per-draw inputs (``arrays``: the stage's ``READS``, the ready months per
    phase, grid steps, gas starts, battery power, GPU deliveries and the crews' rate); every operation is
    per draw, so any subset of draws gives the same bits. Works in (draw, phase, month) order, so that
    per-phase values broadcast along months; the (draw, month, phase) results are transposed at the end."""
    month = np.arange(plan.months)
    construction_ready_month, equipment_ready_month = arrays["construction_ready"], arrays["equipment_ready"]
    grid, firm = firm_power(plan, arrays)
    ready = np.maximum(construction_ready_month, equipment_ready_month)
    draw_mw = arrays["phase_design_day_draw_mw"]  # (draw, phase): design-day draw at training load
    need = np.cumsum(draw_mw, axis=1) * (1 - 1e-9)  # each phase reserves power for those listed before it
    powered = firm[:, None, :] >= need[:, :, None]
    power_month = _first_true(powered & (month[None, None, :] >= ready[:, :, None]))
    energised = power_month.copy()
    for index, before in plan.follows.items():
        energised[:, index] = np.maximum(energised[:, index], energised[:, before])

    systems_total = arrays["phase_systems"]
    racks_per_system = arrays["phase_racks"] / np.maximum(systems_total, 1)
    is_energised = month[None, None, :] >= np.where(np.isnan(energised), np.inf, energised)[:, :, None]
    delivered = delivered_systems(plan.deliveries, arrays["delivered_systems"], plan.months)
    arrived_racks = held_systems(plan.phase_systems, delivered, systems_total, is_energised)
    arrived_racks *= racks_per_system[:, :, None]
    installed = installed_racks(arrays["install_per_month"] if plan.crews else None, arrived_racks)
    systems_online = np.floor(installed / racks_per_system[:, :, None] + 1e-9)
    np.minimum(systems_online, systems_total[:, :, None], out=systems_online)
    complete = systems_online >= systems_total[:, :, None]
    code, campus_code = binding_codes(complete, (construction_ready_month, equipment_ready_month), power_month,
                                      is_energised, installed, arrived_racks)
    made = {
        "phase_energised_month": energised, "phase_online_month": _first_true(complete),
        "phase_systems_online": np.ascontiguousarray(np.moveaxis(systems_online, 1, -1)),
        "phase_binding_constraint": np.ascontiguousarray(np.moveaxis(code, 1, -1)),
        "binding_constraint": campus_code, "grid_capacity_mw": grid, "firm_power_mw": firm,
        "buildings_energised": phase_sum(is_energised * arrays["phase_buildings"][:, :, None]),
        "systems_installed": phase_sum(systems_online),
    }
    for key, name in (("phase_accelerators", "accelerators_online"), ("phase_it_power_mw", "it_power_online_mw"),
                      ("phase_facility_power_mw", "facility_power_online_mw")):
        per_system = arrays[key] / np.maximum(systems_total, 1)
        made[name] = phase_sum(systems_online * per_system[:, :, None])
    return made


def _buildout_dataset(parts: dict[str, np.ndarray]) -> xr.Dataset:
    """The build-out stage's Dataset from its arrays (``parts``), in the stage's order."""
    energised, phase_online = parts["phase_energised_month"], parts["phase_online_month"]

    def by_month(key: str) -> xr.DataArray:
        return xr.DataArray(parts[key], dims=("draw", "month"))

    def by_phase(key: str, **attrs: Any) -> xr.DataArray:
        return xr.DataArray(parts[key], dims=("draw", "phase"), attrs={"units": "months from start", **attrs})

    out = xr.Dataset(
        {
            "phase_construction_ready_month": by_phase("phase_construction_ready_month"),
            "phase_equipment_ready_month": by_phase("phase_equipment_ready_month"),
            "phase_energised_month": by_phase("phase_energised_month"),
            "phase_online_month": by_phase("phase_online_month",
                                           long_name="month every system of the phase is online"),
            "phase_systems_online": xr.DataArray(parts["phase_systems_online"], dims=("draw", "month", "phase")),
            "phase_binding_constraint": xr.DataArray(
                parts["phase_binding_constraint"], dims=("draw", "month", "phase"), attrs=BINDING_ATTRS
            ),
            "binding_constraint": xr.DataArray(
                parts["binding_constraint"], dims=("draw", "month"), attrs=BINDING_ATTRS
            ),
            "grid_capacity_mw": by_month("grid_capacity_mw"),
            "firm_power_mw": by_month("firm_power_mw"),
            **{key: by_month(key) for key in ("buildings_energised", "systems_installed", "accelerators_online",
                                              "it_power_online_mw", "facility_power_online_mw")},
        }
    )
    out["firm_power_mw"].attrs.update(
        units="MW", long_name="grid import, gas turbines at the design day and batteries through its peak")
    with np.errstate(all="ignore"):
        first = np.nanmin(np.where(np.isnan(energised), np.inf, energised), 1)
        out["first_power_month"] = xr.DataArray(np.where(np.isfinite(first), first, np.nan), dims="draw")
        out["full_capacity_month"] = xr.DataArray(np.max(phase_online, axis=1), dims="draw")
    for key in ("first_power_month", "full_capacity_month"):
        out[key].attrs.update(summary=1, units="months from start", integer=1)
    return out
