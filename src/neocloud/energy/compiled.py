"""Compiled kernels of the energy stage (:func:`neocloud.compiled.kernel`: compiled on first use, without
fast-math, so each floating-point operation rounds as numpy's does, in the order written, and the results are
numpy's bits; cached on disk, so a later process loads them)."""

from __future__ import annotations

import numpy as np

from neocloud.compiled import kernel


@kernel
def requests_kernel(residual: np.ndarray, excess: np.ndarray, available: np.ndarray, price_mean: np.ndarray,
                    multiplier: np.ndarray, gas_cost: np.ndarray, grid_mw: np.ndarray, power: np.ndarray,
                    efficiency: float, root: float, inverse_root: float, short: bool, any_gas: bool,
                    charge: np.ndarray, discharge: np.ndarray) -> None:  # pragma: no cover (compiled)
    """``hourly.battery_requests_numpy`` per draw: a pass for the year's highest marginal value, then one per day
    (its last deficit hour first, for the reserve). ``short`` and ``any_gas`` are the chunk's, as there.
    Maxima, minima and clips take numpy's operand where two compare equal (its sign of a zero)."""
    draws, hours = residual.shape
    for draw in range(draws):
        grid, cost, cap = grid_mw[draw], gas_cost[draw], power[draw]
        top = -np.inf
        for hour in range(hours):
            price = price_mean[draw] * multiplier[hour]
            gas_first = cost < price
            here = residual[draw, hour]
            load = here if here > 0.0 or here != here else 0.0
            share = load - available[draw, hour] if gas_first else load - grid
            value = price if (share > 0.0) == gas_first else cost
            if load <= 0.0:
                value = 0.0
            top = value if value > top or hour == 0 else top
        threshold = top * (1 - 1e-12)
        worth = threshold * efficiency
        for day in range(hours // 24):
            last = -1  # the day's last deficit hour
            if short:
                for hour in range(day * 24 + 23, day * 24 - 1, -1):
                    if excess[draw, hour] > 0.0:
                        last = hour
                        break
            for hour in range(day * 24, day * 24 + 24):
                price = price_mean[draw] * multiplier[hour]
                gas_first = cost < price
                here, gas = residual[draw, hour], available[draw, hour]
                load = here if here > 0.0 or here != here else 0.0
                share = load - gas if gas_first else load - grid
                value = price if (share > 0.0) == gas_first else cost
                if share <= 0.0:
                    share = load
                if load <= 0.0:
                    value = 0.0
                deficit = excess[draw, hour] > 0.0
                headroom = -here if -here > 0.0 or here != here else 0.0
                everything = headroom
                spare = load - gas if gas_first else load
                spare = 0.0 if spare < 0.0 else spare
                spare = grid - (grid if spare > grid else spare)
                if price < worth:
                    headroom = headroom + spare
                everything = everything + spare
                if any_gas:
                    spare = load if gas_first else load - grid
                    spare = 0.0 if spare < 0.0 else spare
                    spare = gas - (gas if spare > gas else spare)
                    if cost < worth:
                        headroom = headroom + spare
                    everything = everything + spare
                reserve = hour <= last
                if reserve:
                    headroom = everything
                economic = value >= threshold and not reserve
                stored = (headroom if headroom < cap or headroom != headroom else cap) * root
                charge[draw, hour] = 0.0 if deficit or economic else stored
                out = (share if share < cap or share != share else cap) * (1.0 if economic else 0.0)
                if deficit:
                    short_by = excess[draw, hour]
                    out = short_by if short_by < cap or short_by != short_by else cap
                discharge[draw, hour] = out * inverse_root


@kernel
def scan_kernel(step: np.ndarray, capacity: np.ndarray, initial: np.ndarray, states: np.ndarray,
                scratch: np.ndarray) -> None:  # pragma: no cover (compiled)
    """``hourly.hourly_scan_numpy`` per draw, days of 24 hours: each day's maps from 0 and from the capacity and
    its summed step (hour by hour, as numpy's sum over the first axis adds), the recursive doubling over days
    (each pass from the highest day down, so every day reads the pass's old values, as numpy's whole-array
    operations do), the states at the days' ends, then each hour from the day's start. Maxima and minima take
    numpy's operand where two compare equal."""
    draws, length = step.shape
    days = length // 24
    low, high, shift = scratch[0], scratch[1], scratch[2]
    for draw in range(draws):
        cap = capacity[draw]
        for day in range(days):
            floor, ceiling, total = 0.0, cap, step[draw, day * 24]
            for hour in range(24):
                value = step[draw, day * 24 + hour]
                if hour:
                    total = total + value
                floor = floor + value
                floor = floor if floor > 0.0 or floor != floor else 0.0
                floor = floor if floor < cap or floor != floor else cap
                ceiling = ceiling + value
                ceiling = ceiling if ceiling > 0.0 or ceiling != ceiling else 0.0
                ceiling = ceiling if ceiling < cap or ceiling != ceiling else cap
            low[day], high[day], shift[day] = floor, ceiling, total
        span = 1
        while span < days:
            for day in range(days - 1, span - 1, -1):
                before, bottom, top = low[day - span], low[day], high[day]
                for side in range(2):
                    combined = (before if side == 0 else high[day - span]) + shift[day]
                    combined = combined if combined > bottom or combined != combined else bottom
                    combined = combined if combined < top or combined != combined else top
                    if side == 0:
                        low[day] = combined
                    else:
                        high[day] = combined
                shift[day] = shift[day] + shift[day - span]
            span *= 2
        previous = initial[draw]
        for day in range(days):
            end = initial[draw] + shift[day]
            end = end if end > low[day] or end != end else low[day]
            end = end if end < high[day] or end != end else high[day]
            for hour in range(24):
                value = previous + step[draw, day * 24 + hour]
                value = value if value > 0.0 or value != value else 0.0
                value = value if value < cap or value != value else cap
                states[draw, day * 24 + hour] = value
                previous = value
            previous = end


@kernel
def along_kernel(grid: np.ndarray, rises: np.ndarray, position: np.ndarray, weight: np.ndarray, out: np.ndarray,
                 rows: np.ndarray) -> None:  # pragma: no cover (compiled; tests call it through ``reuse._along``)
    """out[rows[i], j] = grid[position[i], j] + rises[position[i], j] x weight[i], for every draw i and column j:
    one pass, written once. The same two roundings as numpy's ``take``, multiply and add (no fused multiply-add:
    numba compiles without fast-math, so LLVM does not contract them; ``tests/test_energy_reuse.py`` checks the
    bits against numpy's)."""
    for draw in range(position.shape[0]):
        point, share, row = position[draw], weight[draw], rows[draw]
        for column in range(grid.shape[1]):
            out[row, column] = grid[point, column] + rises[point, column] * share
