"""The hourly dispatch written for any array namespace: NumPy, CuPy or JAX (``jax.numpy``).

The same model as ``hourly.dispatch_chunk`` (merit order of grid and gas per time-of-use level, the
battery's economic threshold and reserve, whole turbine units with minimum load and minimum up-time),
written without in-place updates: no ``out=``, no assignment into slices, no ``reduceat`` or
``accumulate``. Masked updates are ``xp.where``; the battery's day reserve comes from each day's last
deficit hour; the state of charge is a parallel scan (recursive doubling of clamp maps over the whole
year, log2(8,760) = 14 passes); monthly sums are a product with a (hour, month) indicator. Every draw is
one row, so a device runs a chunk of thousands of draws per call.

The exact CPU path stays ``hourly`` (bit-identical results for a seed); this path agrees with it to
rounding (the scan sums in another order), which ``tests/test_energy_portable.py`` checks. Method:
docs/methods/performance.md.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from neocloud.energy.hourly import DAYS_PER_YEAR, MONTH_START_HOUR, UNIT_ROUNDING, Site, profiles
from neocloud.units import HOURS_PER_DAY, HOURS_PER_YEAR, MONTHS_PER_YEAR

Array = Any  # an array of the namespace in use


def clamp(values: Array, low: Array, high: Array, xp: Any) -> Array:
    """``min(max(values, low), high)``, as ``np.clip`` computes it."""
    return xp.minimum(xp.maximum(values, low), high)


def scan_state(step: Array, capacity: Array, initial: Array, xp: Any) -> Array:
    """States s[:, t] = clip(s[:, t-1] + step[:, t], 0, capacity) from s[:, -1] = initial (draw, hour), MWh.

    A parallel scan: each hour is the map s -> clip(s + shift, low, high); after the pass with span k each
    position holds the composition of the (up to) 2k maps ending there, using
    clip(clip(s + a, l1, h1) + b, l2, h2) = clip(s + a + b, clip(l1 + b, l2, h2), clip(h1 + b, l2, h2)).
    """
    length = step.shape[1]
    shift = step
    low = xp.zeros_like(step)
    high = low + capacity[:, None]
    span = 1
    while span < length:
        later, low_later, high_later = shift[:, span:], low[:, span:], high[:, span:]
        composed_low = clamp(low[:, :-span] + later, low_later, high_later, xp)
        composed_high = clamp(high[:, :-span] + later, low_later, high_later, xp)
        low = xp.concatenate([low[:, :span], composed_low], axis=1)
        high = xp.concatenate([high[:, :span], composed_high], axis=1)
        shift = xp.concatenate([shift[:, :span], shift[:, :-span] + later], axis=1)
        span *= 2
    return clamp(initial[:, None] + shift, low, high, xp)


def day_reserve(deficit: Array, xp: Any) -> Array:
    """Per hour, whether a deficit hour of the same day is still to come (or is this hour), (draw, hour)."""
    draws = deficit.shape[0]
    by_day = deficit.reshape(draws, DAYS_PER_YEAR, HOURS_PER_DAY)
    hour = xp.arange(HOURS_PER_DAY)
    last = xp.max(xp.where(by_day, hour, -1), axis=-1)
    return (hour <= last[:, :, None]).reshape(draws, HOURS_PER_YEAR)


def battery_requests(site: Site, hours: dict[str, Array], xp: Any) -> tuple[Array, Array]:
    """The battery's economic requests before the state-of-charge clamp, MWh per hour: (charge into the
    store, discharge out of it); the rules are ``hourly.battery_requests``'s."""
    residual, excess, available = hours["residual"], hours["excess"], hours["available"]
    power, grid_mw = hours["battery_mw"][:, None], hours["grid_mw"][:, None]
    gas_cost = hours["gas_cost"][:, None]
    price = hours["price"][:, None] * hours["multiplier"]
    gas_first = gas_cost < price
    load = xp.maximum(residual, 0.0)
    share = xp.where(gas_first, load - available, load - grid_mw)  # the dearer source's share
    value = xp.where((share > 0.0) == gas_first, price, gas_cost)  # the marginal source's price
    share = xp.where(share <= 0.0, load, share)
    value = xp.where(load <= 0.0, 0.0, value)
    threshold = xp.max(value, axis=1, keepdims=True) * (1 - 1e-12)
    worth = threshold * site.battery_efficiency
    deficit = excess > 0.0
    headroom = xp.maximum(-residual, 0.0)
    spare = grid_mw - clamp(xp.where(gas_first, load - available, load), 0.0, grid_mw, xp)
    anything = headroom + spare  # the reserve charges from all headroom, whatever it costs
    headroom = xp.where(price < worth, headroom + spare, headroom)
    if np.any(site.gas_mw > 0):
        spare = available - clamp(xp.where(gas_first, load, load - grid_mw), 0.0, available, xp)
        headroom = xp.where(gas_cost < worth, headroom + spare, headroom)
        anything = anything + spare
    reserve = day_reserve(deficit, xp)
    headroom = xp.where(reserve, anything, headroom)
    economic = (value >= threshold) & ~reserve
    charge = xp.where(deficit | economic, 0.0, xp.minimum(headroom, power) * np.sqrt(site.battery_efficiency))
    discharge = xp.where(deficit, xp.minimum(excess, power), xp.minimum(share, power) * economic)
    return charge, discharge * (1 / np.sqrt(site.battery_efficiency))


def battery_flow(site: Site, hours: dict[str, Array], xp: Any) -> tuple[Array, Array]:
    """The battery hour by hour: (MW out of it, < 0 into it; state of charge, MWh)."""
    capacity = hours["battery_mwh"]
    if not np.any((site.battery_mw > 0) & (site.battery_mwh > 0)):
        return xp.zeros_like(hours["residual"]), xp.zeros_like(hours["residual"]) + capacity[:, None]
    charge, discharge = battery_requests(site, hours, xp)
    soc = scan_state(charge - discharge, capacity, capacity, xp)
    stored = xp.concatenate([soc[:, :1] - capacity[:, None], soc[:, 1:] - soc[:, :-1]], axis=1)
    root = np.sqrt(site.battery_efficiency)
    return xp.where(stored > 0.0, stored * (-1 / root), stored * -root), soc


def gas_output(site: Site, hours: dict[str, Array], net: Array, xp: Any) -> tuple[Array, Array]:
    """The turbines hour by hour (MW) and their starts per draw; the rules are ``hourly.commit_gas``'s."""
    if not np.any(site.gas_mw > 0):
        return xp.zeros_like(net), xp.zeros(net.shape[0])
    shape, available = hours["shape"], hours["available"]
    prices = hours["price"][:, None] * xp.asarray(shape.multiplier_levels)
    grid_first = xp.where(hours["gas_cost"][:, None] < prices, 0.0, hours["grid_mw"][:, None])
    target = xp.take(grid_first, xp.asarray(shape.multiplier_level), axis=1)
    gas = xp.minimum(available, xp.maximum(net - target, 0.0))
    needed = xp.ceil(gas * xp.asarray(shape.gas_units_per_mw) - UNIT_ROUNDING)
    committed = needed
    if site.gas_min_up_hours > 1:  # units needed in the last min_up_hours stay on where load keeps them
        before = xp.full((net.shape[0], site.gas_min_up_hours), -np.inf)
        padded = xp.concatenate([before, needed], axis=1)
        for lag in range(1, site.gas_min_up_hours):
            committed = xp.maximum(committed, padded[:, site.gas_min_up_hours - lag : -lag])
        keepable = xp.floor(net * xp.asarray(shape.gas_keep_per_mw) + UNIT_ROUNDING)
        fleet = np.floor(site.gas_mw / site.gas_unit_mw + UNIT_ROUNDING) if site.gas_unit_mw > 0 else np.zeros(1)
        committed = xp.minimum(xp.minimum(committed, keepable), xp.asarray(fleet)[:, None])
        committed = xp.maximum(committed, needed)
    gas = xp.minimum(xp.maximum(gas, committed * xp.asarray(shape.gas_floor_mw)), xp.minimum(net, available))
    starts = xp.sum(xp.maximum(committed[:, 1:] - committed[:, :-1], 0.0), axis=1)
    return gas, starts


def dispatch_portable(site: Site, xp: Any = np) -> dict[str, Array]:
    """Hour by hour supply of a typical year in the namespace ``xp``, (draw, hour) MW: the keys of
    ``hourly.dispatch`` but ``price`` (demand, it_demand, solar, solar_spilled, charge, discharge, soc,
    grid, gas, curtailed; starts per draw)."""
    shape = profiles(site)
    draws = len(site.it_mw)
    per_draw = {
        name: xp.asarray(getattr(site, field))
        for name, field in (
            ("it_mw", "it_mw"), ("utilisation", "utilisation"), ("price", "price_usd_per_mwh"),
            ("grid_mw", "grid_mw"), ("gas_mw", "gas_mw"), ("gas_cost", "gas_cost_usd_per_mwh"),
            ("battery_mw", "battery_mw"), ("battery_mwh", "battery_mwh"), ("solar_mw", "solar_mw"),
        )
    }
    cycle = clamp(per_draw["utilisation"][:, None] * xp.asarray(shape.daily_cycle), 0.0, 1.0, xp)
    it_by_hour = per_draw["it_mw"][:, None] * (site.idle_frac + (site.busy_frac - site.idle_frac) * cycle)
    demand = (it_by_hour[:, None, :] * xp.asarray(shape.pue_by_day)).reshape(draws, HOURS_PER_YEAR)
    solar = per_draw["solar_mw"][:, None] * xp.asarray(site.solar_cf)
    residual = demand - solar
    available = per_draw["gas_mw"][:, None] * xp.asarray(shape.gas_available_frac)
    excess = residual - per_draw["grid_mw"][:, None] - available  # > 0: the deficit; < 0: the headroom
    hours = {**per_draw, "shape": shape, "multiplier": xp.asarray(site.price_multiplier),
             "residual": residual, "available": available, "excess": excess}
    battery, soc = battery_flow(site, hours, xp)
    net = residual - battery
    spilled_negated = xp.minimum(net, 0.0)  # solar and discharge beyond the demand are spilled
    net = xp.maximum(net, 0.0)
    gas, starts = gas_output(site, hours, net, xp)
    remainder = net - gas
    grid = xp.minimum(remainder, per_draw["grid_mw"][:, None])
    return {
        "demand": demand,
        "it_demand": xp.tile(it_by_hour, (1, DAYS_PER_YEAR)),
        "solar": solar + spilled_negated,
        "solar_spilled": -spilled_negated,
        "charge": xp.maximum(-battery, 0.0),
        "discharge": xp.maximum(battery, 0.0),
        "soc": soc,
        "grid": grid,
        "gas": gas,
        "curtailed": xp.maximum(remainder - grid, 0.0),
        "starts": starts,
    }


def month_indicator(xp: Any) -> Array:
    """The (hour, month) matrix of ones where an hour of the typical year falls in a calendar month."""
    month = np.searchsorted(MONTH_START_HOUR, np.arange(HOURS_PER_YEAR), side="right") - 1
    return xp.asarray((month[:, None] == np.arange(MONTHS_PER_YEAR)).astype(float))


def monthly_supply_mwh(hourly: dict[str, Array], xp: Any) -> dict[str, Array]:
    """Per draw and calendar month (draw, 12), MWh of grid, gas, solar used, battery (out less in) and
    curtailed, from ``dispatch_portable``'s hours."""
    months = month_indicator(xp)
    flows = {
        "grid_mwh": hourly["grid"],
        "gas_mwh": hourly["gas"],
        "solar_mwh": hourly["solar"],
        "battery_mwh": hourly["discharge"] - hourly["charge"],
        "curtailed_mwh": hourly["curtailed"],
    }
    return {key: xp.matmul(value, months) for key, value in flows.items()}
