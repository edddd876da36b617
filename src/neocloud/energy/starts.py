"""Turbine starts of draws whose hourly net demand is interpolated on a utilisation grid, exactly.

A draw in grid interval p has the hourly net demand ``left + (right - left) x weight`` (MW): linear in its
weight, hour by hour, and so (in floating point too: each operation rounds monotonically) between the
demands at the interval's smallest and largest weights. The units an hour needs and the units its load can
keep on are nondecreasing in that demand (``hourly.units_needed``), so an hour whose counts are equal at both
ends is the same for every draw of the interval. Only the hours where they differ, with the minimum up-time
either side, are committed per draw; every other hour's rise is the interval's own. Starts are sums of
whole units, exact in float64, so the result equals committing every hour of every draw, bit for bit
(``tests/test_energy_reuse.py`` checks it against ``starts_dense``). Method: docs/methods/energy.md.
"""

from __future__ import annotations

import numpy as np

from neocloud.energy.hourly import (
    Profiles,
    Site,
    commit_gas,
    gas_fleet,
    grid_first,
    kept_on,
    profiles,
    units_needed,
)

DENSE_BLOCK = 16  # draws committed together on every hour (the dense path)
DENSE_BUFFERS = ("net", "available", "excess", "gas", "needed", "keepable", "committed")
SPARSE_BLOCK = 64  # draws committed together on the hours near a change (the sparse path)


def interpolated_demand(net_grid: np.ndarray, rises: np.ndarray, position: np.ndarray, weight: np.ndarray,
                        out: np.ndarray, scratch: np.ndarray) -> np.ndarray:
    """The hourly net demand (draw, hour) MW of draws at ``position`` and ``weight`` on the grid ``net_grid``
    (point, hour), into ``out``: left + (right - left) x weight, ``rises`` holding right - left."""
    np.take(net_grid, position, axis=0, out=out)
    np.take(rises, position, axis=0, out=scratch)
    np.multiply(scratch, weight[:, None], out=scratch)
    return np.add(out, scratch, out=out)


def starts_dense(site: Site, net_grid: np.ndarray, position: np.ndarray, weight: np.ndarray) -> np.ndarray:
    """The starts per draw of ``site`` with its hourly net demand interpolated on ``net_grid`` (point, hour):
    whole units committed on every hour (``commit_gas``), a block of draws at a time."""
    shape = profiles(site)
    draws = len(site.it_mw)
    starts = np.empty(draws)
    rises = net_grid[1:] - net_grid[:-1]
    buffers = np.empty((len(DENSE_BUFFERS), min(DENSE_BLOCK, draws), net_grid.shape[1]))
    for first in range(0, draws, DENSE_BLOCK):
        block = slice(first, min(first + DENSE_BLOCK, draws))
        part = site.take(block)
        work = dict(zip(DENSE_BUFFERS, buffers[:, : block.stop - block.start], strict=True))
        interpolated_demand(net_grid, rises, position[block], weight[block], work["net"], work["gas"])
        np.multiply(part.gas_mw[:, None], shape.gas_available_frac, out=work["available"])
        starts[block] = commit_gas(part, shape, work)
    return starts


def starts_on_grid(site: Site, net_grid: np.ndarray, position: np.ndarray, weight: np.ndarray) -> np.ndarray:
    """``starts_dense``'s starts, the same bits, committing per draw only the hours where the interval's two
    ends differ. Falls back to ``starts_dense`` where the draws differ in what commitment reads but the
    demand (the turbines, or the grid served before them), or a count is not finite."""
    draws = len(site.it_mw)
    if draws == 0 or not np.any(site.gas_mw > 0):
        return np.zeros(draws)
    shape = profiles(site)
    served_first = grid_first(site, shape)
    if np.any(site.gas_mw != site.gas_mw[0]) or np.any(served_first != served_first[0]):
        return starts_dense(site, net_grid, position, weight)
    target, available = served_first[0, shape.multiplier_level], site.gas_mw[0] * shape.gas_available_frac
    commitment = Commitment(site, shape, target, available)
    rises = net_grid[1:] - net_grid[:-1]
    order = np.argsort(position, kind="stable")  # the draws interval by interval
    intervals, first = np.unique(position[order], return_index=True)
    bounds = np.append(first, draws)
    ends = np.empty((2, len(intervals), net_grid.shape[1]))
    low, high = np.minimum.reduceat(weight[order], first), np.maximum.reduceat(weight[order], first)
    for side, end in enumerate((low, high)):
        interpolated_demand(net_grid, rises, intervals, end, ends[side], np.empty_like(ends[side]))
    counts = commitment.counts(ends.reshape(2 * len(intervals), -1))
    if not all(np.all(np.isfinite(count)) for count in counts):
        return starts_dense(site, net_grid, position, weight)
    needed, keepable = (count.reshape(2, len(intervals), -1) for count in counts)
    starts = np.empty(draws)
    for index, interval in enumerate(intervals):
        rows = order[bounds[index] : bounds[index + 1]]
        changed = needed[0, index] != needed[1, index]
        if site.gas_min_up_hours > 1:
            changed |= keepable[0, index] != keepable[1, index]
        near, at, base = commitment.plan(np.nonzero(changed)[0], needed[0, index], keepable[0, index])
        left, rise = net_grid[interval, near], rises[interval, near]
        for block in range(0, len(rows), SPARSE_BLOCK):
            part = rows[block : block + SPARSE_BLOCK]
            starts[part] = commitment.starts(left + rise * weight[part, None], near, at, base)
    return starts


class Commitment:
    """Whole units committed hour by hour for draws that share everything commitment reads but the demand."""

    def __init__(self, site: Site, shape: Profiles, target: np.ndarray, available: np.ndarray) -> None:
        self.min_up = site.gas_min_up_hours
        self.fleet = gas_fleet(site.take(slice(0, 1)))
        self.shape, self.target, self.available = shape, target, available

    def counts(self, net: np.ndarray, hours: np.ndarray | slice = slice(None)) -> tuple[np.ndarray, np.ndarray]:
        """Units needed and units the load can keep on (row, hour) for the net demand ``net`` (row, hour) at
        ``hours`` of the year."""
        needed, keepable, gas = np.empty_like(net), np.zeros_like(net), np.empty_like(net)
        target = np.broadcast_to(self.target[hours], net.shape).copy()
        units_needed(net, self.available[hours], target, self.shape.gas_units_per_mw[hours],
                     self.shape.gas_keep_per_mw[hours], self.min_up, gas, needed, keepable)
        return needed, keepable

    def committed(self, needed: np.ndarray, keepable: np.ndarray, hours: np.ndarray) -> np.ndarray:
        """Units committed (row, len(hours)) at the sorted ``hours``, as ``commit_gas``; valid where the
        ``min_up - 1`` hours before an hour are in ``hours`` too."""
        if self.min_up <= 1:
            return needed
        committed = needed.copy()
        for lag in range(1, self.min_up):  # max is exact: the order of the lags does not matter
            present = hours[lag:] - hours[:-lag] == lag
            np.maximum(committed[:, lag:], needed[:, :-lag], out=committed[:, lag:], where=present)
        kept_on(committed, needed, keepable, self.fleet)
        return committed

    def plan(self, changed: np.ndarray, needed_end: np.ndarray, keepable_end: np.ndarray
             ) -> tuple[np.ndarray, np.ndarray, float]:
        """For an interval whose counts at one end are ``needed_end`` and ``keepable_end`` (hour,) and differ
        from the other end's at the hours ``changed``: the hours to commit per draw (sorted), the positions
        among them of the rises that may differ from the end's, and the sum of the end's other rises."""
        hours = len(needed_end)
        end = self.committed(needed_end[None], keepable_end[None], np.arange(hours))[0]
        end_rises = np.maximum(end[1:] - end[:-1], 0.0)  # rise of hour h at h - 1
        reach = self.min_up  # a count at hour c moves the commitment up to c + min_up - 1, rises to c + min_up
        touched = np.zeros(hours + 1, dtype=bool)
        window = np.zeros(hours + 1, dtype=bool)
        for offset in range(reach + 1):
            touched[np.minimum(changed + offset, hours)] = True
        for offset in range(-reach, reach + 1):
            window[np.clip(changed + offset, 0, hours)] = True
        touched, near = touched[1:hours], np.nonzero(window[:hours])[0]
        return near, np.searchsorted(near, np.nonzero(touched)[0] + 1), float(end_rises[~touched].sum())

    def starts(self, net: np.ndarray, near: np.ndarray, at: np.ndarray, base: float) -> np.ndarray:
        """Starts (draw,) from the net demand ``net`` (draw, len(near)) at the hours ``near`` of ``plan``."""
        committed = self.committed(*self.counts(net, near), near)
        rises = np.maximum(committed[:, at] - committed[:, at - 1], 0.0)
        return base + rises.sum(axis=-1)
