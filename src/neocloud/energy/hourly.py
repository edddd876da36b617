"""The typical year hour by hour: dispatch of one supply configuration, vectorised over draws.

A few draws at a time (``CHUNK_DRAWS``) go through a fixed sequence of in-place ufuncs on preallocated
(draw, hour) float64 buffers that are reused chunk after chunk, so the working set stays in cache and no
(draw, hour) array is allocated per chunk. What depends on the hour only (PUE, derating, time of use,
solar shape) is computed once per site (``Profiles``); what depends on the hour of day only (the
workload's cycle) on (draw, 24). The battery's state of charge, a chain of clamped sums, comes from a
blocked scan: each day's clamp maps compose into one clamp map, the days' maps are scanned by recursive
doubling, and the hours of all days then follow from the states at the start of their days, hour of day by
hour of day. Monthly sums, the typical week and the peaks are taken from the buffers before they are
reused. The battery's requests and the scan run as compiled loops per draw (numba, ``energy.compiled``) that
do numpy's operations in numpy's order, so the same bits; their numpy versions (``battery_requests_numpy``,
``hourly_scan_numpy``) are kept and the tests hold the loops to them. Method: docs/methods/energy.md.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from neocloud import calendar
from neocloud.catalog import world_default
from neocloud.energy.compiled import requests_kernel, scan_kernel
from neocloud.units import (
    DAYS_PER_WEEK,
    DAYS_PER_YEAR,
    HOURS_PER_DAY,
    HOURS_PER_WEEK,
    HOURS_PER_YEAR,
    KG_PER_T,
    MONTHS_PER_YEAR,
)

SOURCES = ("grid", "gas", "solar", "battery", "curtailed")
DAYS_IN_MONTH = np.array(calendar.DAYS_IN_MONTH)
HOUR = np.arange(HOURS_PER_YEAR)
HOUR_OF_DAY = HOUR % HOURS_PER_DAY
DAY_OF_YEAR = HOUR // HOURS_PER_DAY
MONTH_START_DAY = np.concatenate([[0], np.cumsum(DAYS_IN_MONTH)[:-1]])
MONTH_START_HOUR = MONTH_START_DAY * HOURS_PER_DAY
TYPICAL_WEEK_START_DAY = 195  # a week in mid-July
CHUNK_DRAWS = 8  # draws simulated together: each (draw, hour) buffer is 0.56 MB (measured fastest)
SCAN_BLOCK = HOURS_PER_DAY  # hourly clamp maps composed into one per block (a day) by the scan
UNIT_ROUNDING = 1e-9  # slack when counting whole turbine units
GAS_RATING_C = world_default("power.gas_rating_temperature_c")  # ISO rating conditions
MONTHLY_KEYS = (
    "facility_mwh",
    "it_mwh",
    "cost_usd",
    "co2_t",
    "water_m3",
    "curtailed_it_mwh",
    *(f"{source}_mwh" for source in SOURCES),
)
# hourly buffers of a chunk; the first seven are summed by month in one call, in this order
REDUCED = ("grid", "gas", "curtailed", "battery", "spilled_negated", "weighted_grid", "curtailed_it")
BUFFERS = (
    *REDUCED,
    "demand",
    "solar",
    "available",
    "residual",
    "excess",
    "charge",
    "discharge",
    "net",
    "soc",
    "needed",
    "keepable",
    "committed",
    "value",
    "share",
)


@dataclass(frozen=True)
class Site:
    """Everything the hourly model needs for one site and one supply configuration; arrays are per draw."""

    it_mw: np.ndarray  # (draw,) maximum IT power online
    utilisation: np.ndarray  # (draw,)
    busy_frac: float
    idle_frac: float
    amplitude_frac: float
    peak_hour: float
    temperature_c: np.ndarray  # (hour,)
    pue: np.ndarray  # (hour,)
    price_usd_per_mwh: np.ndarray  # (draw,) mean grid price
    price_multiplier: np.ndarray  # (hour,) time of use, mean 1 over a day
    peak: np.ndarray  # (hour,) bool, time-of-use peak window
    grid_mw: np.ndarray  # (draw,)
    carbon_g_per_kwh: float
    gas_mw: np.ndarray  # (draw,) ISO nameplate of the running turbines
    gas_unit_mw: float
    gas_min_load_frac: float
    gas_min_up_hours: int
    gas_derate_per_c: float
    gas_availability: float
    gas_cost_usd_per_mwh: np.ndarray  # (draw,) fuel plus variable O&M
    gas_mmbtu_per_mwh: float
    gas_start_usd_per_mw: float
    gas_co2_kg_per_mmbtu: float
    battery_mw: np.ndarray  # (draw,)
    battery_mwh: np.ndarray  # (draw,)
    battery_efficiency: float
    solar_mw: np.ndarray  # (draw,)
    solar_cf: np.ndarray  # (hour,)
    wue_l_per_kwh: float

    def take(self, index: slice | np.ndarray) -> Site:
        """The same site for a slice of draws."""
        return replace(self, **{name: getattr(self, name)[index] for name in PER_DRAW})


PER_DRAW = (
    "it_mw",
    "utilisation",
    "price_usd_per_mwh",
    "grid_mw",
    "gas_mw",
    "gas_cost_usd_per_mwh",
    "battery_mw",
    "battery_mwh",
    "solar_mw",
)


@dataclass(frozen=True)
class Profiles:
    """What the hourly model needs that depends on the hour only: computed once per site, shared by draws."""

    daily_cycle: np.ndarray  # (24,) utilisation multiplier by hour of day
    pue_by_day: np.ndarray  # (day, 24)
    pue_peak_by_hour: np.ndarray  # (24,) highest PUE at each hour of day
    pue_by_month: np.ndarray  # (12, 24) PUE summed over the days of each month
    solar_cf_by_month: np.ndarray  # (12,) capacity factor summed over each month's hours
    gas_available_frac: np.ndarray  # (hour,) derating x availability
    gas_units_per_mw: np.ndarray  # (hour,) 1 / output of one running unit; 0 where a unit gives nothing
    gas_keep_per_mw: np.ndarray  # (hour,) 1 / minimum load of one unit; 0 where a unit gives nothing
    gas_floor_mw: np.ndarray  # (hour,) minimum load of one unit
    multiplier_levels: np.ndarray  # (level,) distinct time-of-use multipliers
    multiplier_level: np.ndarray  # (hour,) index into multiplier_levels
    weighted: bool  # prices vary by hour: grid energy is also summed weighted by the multiplier


def profiles(site: Site) -> Profiles:
    """The hour-only arrays of a site (see ``Profiles``)."""
    hour_of_day = np.arange(HOURS_PER_DAY)
    cycle = 1 + site.amplitude_frac * np.cos(2 * np.pi * (hour_of_day - site.peak_hour) / HOURS_PER_DAY)
    pue_by_day = site.pue.reshape(DAYS_PER_YEAR, HOURS_PER_DAY)
    derate = np.clip(1 - site.gas_derate_per_c * np.maximum(site.temperature_c - GAS_RATING_C, 0.0), 0.0, 1.0)
    unit = site.gas_unit_mw * derate
    running = unit > 0
    multiplier = site.price_multiplier
    levels, level = np.unique(multiplier, return_inverse=True)
    with np.errstate(divide="ignore"):  # a zero minimum load keeps every unit (as dividing by it would)
        keep_per_mw = np.where(running, 1 / np.where(running, site.gas_min_load_frac * unit, 1.0), 0.0)
    return Profiles(
        daily_cycle=cycle,
        pue_by_day=pue_by_day,
        pue_peak_by_hour=pue_by_day.max(axis=0),
        pue_by_month=np.add.reduceat(pue_by_day, MONTH_START_DAY, axis=0),
        solar_cf_by_month=np.add.reduceat(site.solar_cf, MONTH_START_HOUR),
        gas_available_frac=derate * site.gas_availability,
        gas_units_per_mw=np.where(running, 1 / np.where(running, unit, 1.0), 0.0),
        gas_keep_per_mw=keep_per_mw,
        gas_floor_mw=site.gas_min_load_frac * unit,
        multiplier_levels=levels,
        multiplier_level=level.reshape(-1),
        weighted=bool(np.any(multiplier != 1.0)),
    )


class Workspace:
    """Preallocated (draw, hour) buffers for up to ``draws`` draws, reused from chunk to chunk."""

    def __init__(self, draws: int) -> None:
        self.hourly = np.empty((len(BUFFERS), draws, HOURS_PER_YEAR))
        self.mask = np.empty((2, draws, HOURS_PER_YEAR), dtype=bool)

    def view(self, draws: int) -> dict[str, np.ndarray]:
        """The buffers for the first ``draws`` draws by name; also ``reduced`` (7, draw, hour) and
        ``mask`` and ``reserve`` (bool)."""
        hourly = self.hourly[:, :draws]
        named = {name: hourly[index] for index, name in enumerate(BUFFERS)}
        named["reduced"] = hourly[: len(REDUCED)]
        named["mask"], named["reserve"] = self.mask[0, :draws], self.mask[1, :draws]
        return named


def _compose_scan(shift: np.ndarray, low: np.ndarray, high: np.ndarray, initial: np.ndarray) -> np.ndarray:
    """States after each of the maps s -> clip(s + shift, low, high) (draw, length), from ``initial``.

    Recursive doubling on the small arrays of composed daily maps: after the pass with span k, each
    position holds the composition of the (up to) 2k maps ending there; clip(clip(s + a, l1, h1) + b, l2,
    h2) = clip(s + a + b, clip(l1 + b, l2, h2), clip(h1 + b, l2, h2)).
    """
    length = shift.shape[1]
    shift = np.array(shift, dtype=float)
    bounds = np.stack([low, high])
    span = 1
    while span < length:
        combined = bounds[:, :, :-span] + shift[:, span:]
        np.maximum(combined, bounds[0, :, span:], out=combined)
        np.minimum(combined, bounds[1, :, span:], out=combined)
        bounds[:, :, span:] = combined
        shift[:, span:] += shift[:, :-span].copy()
        span *= 2
    states = initial[:, None] + shift
    np.maximum(states, bounds[0], out=states)
    np.minimum(states, bounds[1], out=states)
    return states


def hourly_scan(
    step: np.ndarray, capacity: np.ndarray, initial: np.ndarray, states: np.ndarray, transposed: np.ndarray
) -> np.ndarray:
    """``hourly_scan_numpy``'s states into ``states``, the same bits, compiled (``compiled.scan_kernel``);
    ``transposed`` is not used."""
    length = step.shape[1]
    if length % SCAN_BLOCK or not states.flags.c_contiguous:
        return hourly_scan_numpy(step, capacity, initial, states, transposed)
    scan_kernel(np.ascontiguousarray(step, dtype=float), np.ascontiguousarray(capacity, dtype=float),
                np.ascontiguousarray(initial, dtype=float), states, np.empty((3, length // SCAN_BLOCK)))
    return states


def hourly_scan_numpy(
    step: np.ndarray, capacity: np.ndarray, initial: np.ndarray, states: np.ndarray, transposed: np.ndarray
) -> np.ndarray:
    """States s[:, t] = clip(s[:, t-1] + step[:, t], 0, capacity) from s[:, -1] = initial, into ``states``.

    ``step`` and ``states`` are (draw, hour) with hours a multiple of ``SCAN_BLOCK``; ``capacity`` and
    ``initial`` (draw,); ``transposed`` (draw, hour) is scratch, used as (hour of day, draw, day). All days
    at once, hour of day by hour of day: the day's maps run from 0 and from the capacity give its
    composed map ``s -> clip(s + sum, from_0, from_capacity)`` on [0, capacity]; the days' maps give the
    state at the start of each day (``_compose_scan``); the hours of every day then follow from it by the
    recursion itself.
    """
    draws, length = step.shape
    blocks = length // SCAN_BLOCK
    transposed = transposed.reshape(SCAN_BLOCK, draws, blocks)
    np.copyto(transposed, step.reshape(draws, blocks, SCAN_BLOCK).transpose(2, 0, 1))
    ceiling = np.repeat(capacity[:, None], blocks, axis=1)
    bounds = np.empty((2, draws, blocks))  # each day's maps from 0 and from the capacity
    bounds[0], bounds[1] = 0.0, ceiling
    for hour in range(SCAN_BLOCK):
        np.add(bounds, transposed[hour], out=bounds)
        np.maximum(bounds, 0.0, out=bounds)
        np.minimum(bounds, ceiling, out=bounds)
    ends = _compose_scan(transposed.sum(axis=0), bounds[0], bounds[1], initial)
    previous = np.concatenate([initial[:, None], ends[:, :-1]], axis=1)
    for hour in range(SCAN_BLOCK):
        target = transposed[hour]
        np.add(previous, target, out=target)
        np.maximum(target, 0.0, out=target)
        np.minimum(target, ceiling, out=target)
        previous = target
    np.copyto(states.reshape(draws, blocks, SCAN_BLOCK), transposed.transpose(1, 2, 0))
    return states


def state_of_charge(step_mwh: np.ndarray, capacity_mwh: np.ndarray, initial_mwh: np.ndarray) -> np.ndarray:
    """Stored energy after each hour, s[t] = clip(s[t-1] + step[t], 0, capacity), for all hours at once.

    ``step_mwh`` is (draw, hour); ``capacity_mwh`` and ``initial_mwh`` are (draw,). MWh.
    """
    step_mwh = np.asarray(step_mwh, dtype=float)
    draws, length = step_mwh.shape
    capacity = np.asarray(capacity_mwh, dtype=float)
    initial = np.asarray(initial_mwh, dtype=float)
    padded = -(-length // SCAN_BLOCK) * SCAN_BLOCK  # zero steps leave the state as it is
    step = np.concatenate([step_mwh, np.zeros((draws, padded - length))], axis=1)
    states = np.empty((draws, padded))
    hourly_scan(step, capacity, initial, states, np.empty_like(states))
    return states[:, :length]


def battery_requests(site: Site, work: dict[str, np.ndarray]) -> None:
    """``battery_requests_numpy``'s ``charge`` and ``discharge`` (MWh per hour), the same bits, compiled
    (``compiled.requests_kernel``); its scratch buffers are left as they are."""
    if work["residual"].shape[1] % HOURS_PER_DAY:
        battery_requests_numpy(site, work)
        return
    root = np.sqrt(site.battery_efficiency)
    requests_kernel(work["residual"], work["excess"], work["available"], site.price_usd_per_mwh,
                    np.ascontiguousarray(site.price_multiplier, dtype=float), site.gas_cost_usd_per_mwh,
                    site.grid_mw, site.battery_mw, float(site.battery_efficiency), float(root), float(1 / root),
                    bool(np.any(work["excess"] > 0.0)), bool(np.any(site.gas_mw > 0)), work["charge"],
                    work["discharge"])


def battery_requests_numpy(site: Site, work: dict[str, np.ndarray]) -> None:
    """The battery's economic requests, before the state-of-charge clamp: ``charge`` (MWh into the store) and
    ``discharge`` (MWh out of it) per hour, from ``residual`` (demand less solar), ``excess`` (its deficit
    over grid and gas, > 0, or their headroom, < 0) and ``available`` (gas).

    Without the battery, grid and gas serve the residual in merit order (the cheaper first); the last source
    used sets the value of a MWh discharged, and the cheapest source with headroom (spilled solar at 0) the
    cost of a MWh charged. With one threshold per draw, the highest value of the year, the battery
    discharges only where the marginal source is worth it, and only that source's share; it charges only
    where the cost after round-trip losses is below it, so no stored MWh costs more than it displaces.
    A deficit is always discharged. On a day with a deficit the battery keeps what it holds until the
    day's last deficit hour and charges from any headroom before it (a reserve against curtailment).
    """
    residual, excess, available = work["residual"], work["excess"], work["available"]
    charge, discharge, load, value, share = (work[name] for name in ("charge", "discharge", "net", "value", "share"))
    price, headroom, spare = work["needed"], work["keepable"], work["committed"]
    gas_first, reserve = work["mask"], work["reserve"]
    power, grid_mw, gas_cost = site.battery_mw[:, None], site.grid_mw[:, None], site.gas_cost_usd_per_mwh[:, None]
    np.multiply(site.price_usd_per_mwh[:, None], site.price_multiplier, out=price)
    np.less(gas_cost, price, out=gas_first)
    np.maximum(residual, 0.0, out=load)
    # the dearer source's share: the load beyond gas where gas is cheaper, beyond the grid where not
    np.subtract(load, grid_mw, out=share)
    np.subtract(load, available, out=share, where=gas_first)
    np.greater(share, 0.0, out=reserve)  # scratch: the dearer source is in use
    np.equal(reserve, gas_first, out=reserve)  # the marginal source is the grid
    np.copyto(value, gas_cost)
    np.copyto(value, price, where=reserve)
    np.less_equal(share, 0.0, out=reserve)  # only the cheaper source in use: it is marginal for all
    np.copyto(share, load, where=reserve)
    np.less_equal(load, 0.0, out=reserve)
    np.copyto(value, 0.0, where=reserve)
    threshold = value.max(axis=1, keepdims=True) * (1 - 1e-12)
    worth = threshold * site.battery_efficiency
    deficit = excess > 0.0
    short = bool(deficit.any())
    # headroom charged at a cost below the threshold after losses: spilled solar, then grid and gas spare
    np.negative(residual, out=headroom)
    np.maximum(headroom, 0.0, out=headroom)
    if short:
        np.copyto(discharge, headroom)  # scratch: all headroom, whatever it costs (the reserve's)
    np.copyto(spare, load)  # the grid's spare after the merit order
    np.subtract(spare, available, out=spare, where=gas_first)
    np.clip(spare, 0.0, grid_mw, out=spare)
    np.subtract(grid_mw, spare, out=spare)
    np.add(headroom, spare, out=headroom, where=price < worth)
    if short:
        np.add(discharge, spare, out=discharge)
    if np.any(site.gas_mw > 0):
        np.subtract(load, grid_mw, out=spare)  # the turbines' spare after the merit order
        np.copyto(spare, load, where=gas_first)
        np.clip(spare, 0.0, available, out=spare)
        np.subtract(available, spare, out=spare)
        np.add(headroom, spare, out=headroom, where=np.broadcast_to(gas_cost < worth, spare.shape))
        if short:
            np.add(discharge, spare, out=discharge)
    reserve[:] = False
    if short:  # the hours of a day up to its last deficit hour
        days = deficit.reshape(len(deficit), DAYS_PER_YEAR, HOURS_PER_DAY)[:, :, ::-1]
        np.copyto(reserve.reshape(days.shape)[:, :, ::-1], np.logical_or.accumulate(days, axis=-1))
        np.copyto(headroom, discharge, where=reserve)
    economic = value >= threshold
    economic &= ~reserve
    np.minimum(headroom, power, out=charge)
    np.multiply(charge, np.sqrt(site.battery_efficiency), out=charge)
    np.copyto(charge, 0.0, where=deficit | economic)
    np.minimum(share, power, out=discharge)
    np.multiply(discharge, economic, out=discharge)
    np.minimum(excess, power, out=discharge, where=deficit)
    np.multiply(discharge, 1 / np.sqrt(site.battery_efficiency), out=discharge)


def dispatch_chunk(site: Site, shape: Profiles, work: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Dispatch the draws of ``site`` hour by hour into the buffers ``work`` (see ``Workspace.view``), MW.

    Fills demand, solar (produced), spilled_negated (minus the spilled solar), battery (discharge -
    charge), soc (MWh), net (after solar and battery), gas, grid, curtailed; uses the rest as scratch.
    Returns the gas starts (draw,) and the IT power by hour of day (draw, 24). Balance each hour:
    demand = (solar + spilled_negated) + battery + grid + gas + curtailed.
    """
    draws = len(site.it_mw)
    demand, solar, available, residual, excess = (
        work[name] for name in ("demand", "solar", "available", "residual", "excess")
    )
    net, spilled_negated, gas, grid, curtailed = (
        work[name] for name in ("net", "spilled_negated", "gas", "grid", "curtailed")
    )
    utilisation = np.clip(site.utilisation[:, None] * shape.daily_cycle, 0.0, 1.0)
    it_by_hour = site.it_mw[:, None] * (site.idle_frac + (site.busy_frac - site.idle_frac) * utilisation)
    np.multiply(it_by_hour[:, None, :], shape.pue_by_day, out=demand.reshape(draws, DAYS_PER_YEAR, -1))
    np.multiply(site.solar_mw[:, None], site.solar_cf, out=solar)
    np.subtract(demand, solar, out=residual)
    np.multiply(site.gas_mw[:, None], shape.gas_available_frac, out=available)
    np.subtract(residual, site.grid_mw[:, None], out=excess)
    np.subtract(excess, available, out=excess)  # > 0: the deficit; < 0: the headroom

    battery_dispatch(site, work)
    np.minimum(net, 0.0, out=spilled_negated)  # solar and discharge beyond the demand are spilled
    np.maximum(net, 0.0, out=net)

    starts = commit_gas(site, shape, work)
    remainder = excess
    np.subtract(net, gas, out=remainder)
    np.minimum(remainder, site.grid_mw[:, None], out=grid)
    np.subtract(remainder, grid, out=curtailed)
    np.maximum(curtailed, 0.0, out=curtailed)
    return starts, it_by_hour


def battery_dispatch(site: Site, work: dict[str, np.ndarray]) -> None:
    """The battery's hour by hour, into ``work``: ``soc`` (MWh), ``battery`` (MW discharged, < 0 charged)
    and ``net`` (the residual demand after it), from ``residual``, ``excess`` and ``available``."""
    residual, charge, discharge, net, soc, mask, battery = (
        work[name] for name in ("residual", "charge", "discharge", "net", "soc", "mask", "battery")
    )
    capacity = site.battery_mwh
    if np.any((site.battery_mw > 0) & (capacity > 0)):
        root = np.sqrt(site.battery_efficiency)
        battery_requests(site, work)
        step = np.subtract(charge, discharge, out=charge)
        hourly_scan(step, capacity, capacity, soc, discharge)
        stored = discharge
        np.subtract(soc[:, 1:], soc[:, :-1], out=stored[:, 1:])
        np.subtract(soc[:, 0], capacity, out=stored[:, 0])
        np.greater(stored, 0.0, out=mask)
        np.multiply(stored, -root, out=battery)  # discharged: what left the store, after losses
        np.multiply(stored, -1 / root, out=battery, where=mask)  # charged: what the store took, before losses
        np.subtract(residual, battery, out=net)
    else:
        soc[:] = capacity[:, None]
        battery[:] = 0.0
        np.copyto(net, residual)


def commit_gas(site: Site, shape: Profiles, work: dict[str, np.ndarray]) -> np.ndarray:
    """The turbines hour by hour into ``work["gas"]`` (MW): merit order against the grid at each
    time-of-use level, whole units committed with minimum load and minimum up-time, derated output; from
    ``net`` (demand after solar and battery) and ``available``, with ``excess`` as scratch. Returns the
    starts per draw (units started in the year)."""
    net, available, excess, gas = (work[name] for name in ("net", "available", "excess", "gas"))
    if not np.any(site.gas_mw > 0):
        gas[:] = 0.0
        return np.zeros(len(site.it_mw))
    # grid before gas where gas costs at least the hour's price: gas then serves what exceeds the grid
    target, first = excess, grid_first(site, shape)
    np.copyto(target, first[:, :1])
    for level in range(1, len(shape.multiplier_levels)):
        np.copyto(target, first[:, level : level + 1], where=shape.multiplier_level == level)
    needed, keepable, committed = work["needed"], work["keepable"], work["committed"]
    units_needed(net, available, target, shape.gas_units_per_mw, shape.gas_keep_per_mw, site.gas_min_up_hours,
                 gas, needed, keepable)
    if site.gas_min_up_hours > 1:  # units needed in the last min_up_hours stay on where load keeps them
        np.maximum(needed[:, 1:], needed[:, :-1], out=committed[:, 1:])
        committed[:, 0] = needed[:, 0]
        for lag in range(2, site.gas_min_up_hours):
            np.maximum(committed[:, lag:], needed[:, :-lag], out=committed[:, lag:])
        kept_on(committed, needed, keepable, gas_fleet(site))
    else:
        committed = needed
    floor = keepable
    np.multiply(committed, shape.gas_floor_mw, out=floor)
    np.maximum(gas, floor, out=gas)
    np.minimum(net, available, out=floor)
    np.minimum(gas, floor, out=gas)
    rises = available[:, 1:]
    np.subtract(committed[:, 1:], committed[:, :-1], out=rises)
    np.maximum(rises, 0.0, out=rises)
    return rises.sum(axis=-1)


def grid_first(site: Site, shape: Profiles) -> np.ndarray:
    """Per draw and time-of-use level (draw, level), the grid MW served before the turbines: all of it where
    gas costs at least the hour's price, none where gas is cheaper."""
    prices = site.price_usd_per_mwh[:, None] * shape.multiplier_levels
    return np.where(site.gas_cost_usd_per_mwh[:, None] < prices, 0.0, site.grid_mw[:, None])


def gas_fleet(site: Site) -> np.ndarray | float:
    """Whole turbine units installed per draw (draw, 1)."""
    if site.gas_unit_mw <= 0:
        return 0.0
    return np.reshape(np.floor(site.gas_mw / site.gas_unit_mw + UNIT_ROUNDING), (-1, 1))


def units_needed(net: np.ndarray, available: np.ndarray, target: np.ndarray, units_per_mw: np.ndarray,
                 keep_per_mw: np.ndarray, min_up_hours: int, gas: np.ndarray, needed: np.ndarray,
                 keepable: np.ndarray) -> None:
    """Elementwise, hour by hour: the turbines' output before minimum load into ``gas`` (MW), the whole units
    it needs into ``needed`` and, with a minimum up-time, the units the load could keep on into ``keepable``;
    ``target`` (the grid served first) is overwritten. Each is a nondecreasing function of ``net``."""
    np.subtract(net, target, out=target)
    np.maximum(target, 0.0, out=target)
    np.minimum(available, target, out=gas)
    with np.errstate(divide="ignore", invalid="ignore"):
        np.multiply(gas, units_per_mw, out=needed)
        np.subtract(needed, UNIT_ROUNDING, out=needed)
        np.ceil(needed, out=needed)
        if min_up_hours > 1:
            np.multiply(net, keep_per_mw, out=keepable)
            np.add(keepable, UNIT_ROUNDING, out=keepable)
            np.floor(keepable, out=keepable)


def kept_on(committed: np.ndarray, needed: np.ndarray, keepable: np.ndarray, fleet: np.ndarray | float) -> None:
    """Units committed (in place): those needed within the minimum up-time (``committed`` on entry), as far as
    the load keeps them on and the fleet has them, and never fewer than needed now."""
    np.minimum(committed, keepable, out=committed)
    np.minimum(committed, fleet, out=committed)
    np.maximum(committed, needed, out=committed)


def dispatch(site: Site) -> dict[str, np.ndarray]:
    """Hour-by-hour supply of a typical year, (draw, hour) arrays in MW (= MWh per hour).

    Keys: demand (facility), it_demand, solar (used), solar_spilled, charge, discharge, soc (MWh), grid,
    gas, curtailed (facility), price; and starts (draw,). Balance each hour:
    demand = solar + discharge - charge + grid + gas + curtailed.
    """
    draws = len(site.it_mw)
    work = Workspace(draws).view(draws)
    starts, it_by_hour = dispatch_chunk(site, profiles(site), work)
    battery = work["battery"]
    return {
        "demand": work["demand"],
        "it_demand": np.tile(it_by_hour, DAYS_PER_YEAR),
        "solar": work["solar"] + work["spilled_negated"],
        "solar_spilled": -work["spilled_negated"],
        "charge": np.maximum(-battery, 0.0),
        "discharge": np.maximum(battery, 0.0),
        "soc": work["soc"],
        "grid": work["grid"],
        "gas": work["gas"],
        "curtailed": work["curtailed"],
        "price": site.price_usd_per_mwh[:, None] * site.price_multiplier,
        "starts": starts,
    }


def simulate(site: Site) -> dict[str, np.ndarray]:
    """The typical year reduced: per draw and calendar month (draw, 12) energy by source (MWh), cost (USD),
    CO2 (t), water (m3), IT energy and curtailment (MWh); the typical week (draw, hour_of_week, source) and
    its demand (MW); peaks (draw,) MW."""
    draws = len(site.it_mw)
    shape = profiles(site)
    monthly = {key: np.zeros((draws, MONTHS_PER_YEAR)) for key in MONTHLY_KEYS}
    week = np.zeros((draws, HOURS_PER_WEEK, len(SOURCES)))
    week_demand = np.zeros((draws, HOURS_PER_WEEK))
    peak_grid = np.zeros(draws)
    peak_demand = np.zeros(draws)
    span = slice(TYPICAL_WEEK_START_DAY * HOURS_PER_DAY, (TYPICAL_WEEK_START_DAY + DAYS_PER_WEEK) * HOURS_PER_DAY)
    workspace = Workspace(min(CHUNK_DRAWS, draws))
    summed = REDUCED.index("weighted_grid") + shape.weighted  # the buffers summed by month
    start_cost_usd = site.gas_unit_mw * site.gas_start_usd_per_mw
    for first in range(0, draws, CHUNK_DRAWS):
        chunk = slice(first, min(first + CHUNK_DRAWS, draws))
        part = site.take(chunk)
        work = workspace.view(chunk.stop - chunk.start)
        starts, it_by_hour = dispatch_chunk(part, shape, work)
        if shape.weighted:
            np.multiply(work["grid"], site.price_multiplier, out=work["weighted_grid"])
        monthly_sums = np.add.reduceat(work["reduced"][:summed], MONTH_START_HOUR, axis=-1)
        sums = dict(zip(REDUCED, monthly_sums, strict=False))
        sums["curtailed_it"] = np.zeros_like(sums["grid"])
        if np.any(sums["curtailed"] > 0):  # IT energy curtailed: the facility's curtailment over the PUE
            np.divide(work["curtailed"], site.pue, out=work["curtailed_it"])
            sums["curtailed_it"] = np.add.reduceat(work["curtailed_it"], MONTH_START_HOUR, axis=-1)
        grid_cost = sums["weighted_grid"] if shape.weighted else sums["grid"]
        it_mwh = it_by_hour.sum(axis=-1)[:, None] * DAYS_IN_MONTH
        # summed per draw, so a draw gives the same bits whichever draws share its chunk (a matrix product
        # would not)
        facility_mwh = (it_by_hour[:, None, :] * shape.pue_by_month).sum(axis=-1) - sums["curtailed"]
        it_served = it_mwh - sums["curtailed_it"]
        values = {
            "facility_mwh": facility_mwh,
            "it_mwh": it_served,
            "cost_usd": grid_cost * part.price_usd_per_mwh[:, None]
            + sums["gas"] * part.gas_cost_usd_per_mwh[:, None]
            + (starts * start_cost_usd)[:, None] / MONTHS_PER_YEAR,  # start-ups fall evenly over the months
            "co2_t": (
                sums["grid"] * site.carbon_g_per_kwh + sums["gas"] * site.gas_mmbtu_per_mwh * site.gas_co2_kg_per_mmbtu
            )
            / KG_PER_T,
            "water_m3": it_served * site.wue_l_per_kwh,
            "curtailed_it_mwh": sums["curtailed_it"],
            "grid_mwh": sums["grid"],
            "gas_mwh": sums["gas"],
            "solar_mwh": part.solar_mw[:, None] * shape.solar_cf_by_month + sums["spilled_negated"],
            "battery_mwh": sums["battery"],
            "curtailed_mwh": sums["curtailed"],
        }
        for key, value in values.items():
            monthly[key][chunk] = value
        for index, name in enumerate(("grid", "gas", "solar", "battery", "curtailed")):
            week[chunk, :, index] = work[name][:, span]
        week[chunk, :, SOURCES.index("solar")] += work["spilled_negated"][:, span]
        week_demand[chunk] = work["demand"][:, span]
        peak_grid[chunk] = work["grid"].max(axis=-1)
        peak_demand[chunk] = (it_by_hour * shape.pue_peak_by_hour).max(axis=-1)
    return {
        **monthly,
        "week": week,
        "week_demand": week_demand,
        "peak_grid_mw": peak_grid,
        "peak_demand_mw": peak_demand,
    }
