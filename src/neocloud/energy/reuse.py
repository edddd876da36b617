"""Typical years simulated no more often than their inputs differ.

Three reuses, in order of exactness:
- a supply epoch whose site is identical, field by field, to one already simulated takes its year
  (``YearCache``; exact, the same arrays);
- draws whose per-draw inputs are identical are simulated once (exact: each draw's dispatch depends on its
  own inputs only);
- draws that share every input but utilisation and the grid price, and fall in the same merit class (which
  of grid and gas is cheaper in each time-of-use level), are mapped onto a grid of simulated utilisations:
  linear in utilisation between grid points and affine in price (cost only). The grid is checked where it
  is weakest: the midpoints between grid points and a second price are simulated exactly, and the grid is
  used only where the largest relative difference over every output stays within ``tolerance``; otherwise
  the draws take the exact path. Where only the cost fails the check and the turbines start, the start-up
  cost is taken apart: the hourly net demand is interpolated and whole units are committed on it exactly per
  draw, which follows the starts' steps (checked at the midpoints, bit for bit). What was done is reported
  in ``Reuse``. Method: docs/methods/performance.md.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, fields, replace

import numpy as np

from neocloud.blocks import distinct_rows
from neocloud.energy.compiled import along_kernel
from neocloud.energy.hourly import (
    CHUNK_DRAWS,
    PER_DRAW,
    Site,
    Workspace,
    dispatch_chunk,
    profiles,
    simulate,
)
from neocloud.energy.starts import starts_on_grid
from neocloud.units import HOURS_PER_YEAR, MONTHS_PER_YEAR

# utilisation points per merit class, tried in turn; each grid is checked at its midpoints (the first costs 26
# probe years with its midpoints and second price, the second 98)
GRID_POINTS = (9, 33)
INTERPOLATION_MIN_DRAWS = 1_024  # fewer draws in a class: simulate them exactly (a grid costs 26 to 124 draws)
INTERPOLATION_TOLERANCE = 1e-6  # largest relative difference of the grid at its check points
STARTS_POINTS = 65  # points of the demand's grid the starts are committed on (an interval's changed hours
# fall with its width, its fixed cost rises with their number)
PRICE_KEYS = ("cost_usd",)  # outputs that depend on the grid price once the dispatch is fixed
PROBE_CACHE_BYTES = 128 * 2**20  # probe years kept per process, least recently used out first (at Abilene a
# 9-point grid's 26 probe years take 0.24 MB, 2.1 MB with their hourly net demand; a 33-point grid's 98, 7.8 MB)


@dataclass
class Reuse:
    """What the reuse did: years simulated, draws simulated exactly, draws interpolated, the largest error."""

    years_simulated: int = 0
    years_reused: int = 0
    draws_exact: int = 0
    draws_interpolated: int = 0
    classes_interpolated: int = 0
    classes_rejected: int = 0
    classes_starts_committed: int = 0
    largest_error: float = 0.0
    errors: list[float] = field(default_factory=list)

    def describe(self, tolerance: float) -> str:
        """One line for the dataset's attributes."""
        text = (
            f"{self.years_simulated} typical years simulated, {self.years_reused} reused; "
            f"{self.draws_exact} draw-years exact, {self.draws_interpolated} on a utilisation grid"
        )
        if self.errors:
            text += (
                f" ({self.classes_interpolated} merit classes within {tolerance:g}, largest error "
                f"{self.largest_error:.2g}; {self.classes_rejected} above it, simulated exactly)"
            )
        if self.classes_starts_committed:
            text += (
                f"; in {self.classes_starts_committed} of them turbine units committed exactly per draw on "
                "the interpolated hourly demand"
            )
        return text


def site_key(site: Site) -> bytes:
    """A digest of every field of a site: equal digests mean identical inputs, bit for bit."""
    digest = hashlib.blake2b(digest_size=20)
    for item in fields(site):
        value = getattr(site, item.name)
        digest.update(item.name.encode())
        if isinstance(value, np.ndarray):
            digest.update(f"{value.dtype}{value.shape}".encode())
            digest.update(np.ascontiguousarray(value).tobytes())
        else:
            digest.update(repr(value).encode())
    return digest.digest()


def _expand(year: dict[str, np.ndarray], index: np.ndarray) -> dict[str, np.ndarray]:
    return {key: value[index] for key, value in year.items()}


def _merit_class(site: Site) -> np.ndarray:
    """Per draw, which of gas and grid is cheaper at each time-of-use level, as one integer code."""
    levels = np.unique(site.price_multiplier)
    cheaper = site.gas_cost_usd_per_mwh[:, None] < site.price_usd_per_mwh[:, None] * levels
    return cheaper @ (1 << np.arange(len(levels)))


def _relative_error(estimate: np.ndarray, exact: np.ndarray, scale: np.ndarray) -> float:
    if exact.size == 0:
        return 0.0
    return float(np.max(np.abs(estimate - exact)) / max(float(np.max(np.abs(scale))), 1e-300))


def _grid_position(points: np.ndarray, utilisation: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per draw, the grid interval it falls in and its weight towards the interval's right end."""
    position = np.clip(np.searchsorted(points, utilisation, side="right") - 1, 0, len(points) - 2)
    width = points[position + 1] - points[position]
    weight = np.divide(utilisation - points[position], width, out=np.zeros_like(width), where=width > 0)
    return position, weight


def _along(grid: np.ndarray, position: np.ndarray, weight: np.ndarray, out: np.ndarray | None = None,
           rows: np.ndarray | None = None) -> np.ndarray:
    """Values of the grid ``grid`` (point, ...) interpolated linearly at the draws' positions: left + (right -
    left) x weight (``compiled.along_kernel``); into ``out`` (a new array if None) at its ``rows`` where
    given, else at its first rows."""
    if out is None:
        out = np.empty((len(position), *grid.shape[1:]))
    flat = np.ascontiguousarray(grid, dtype=float).reshape(len(grid), -1)
    if out.dtype != np.float64 or not out.flags.c_contiguous:
        raise ValueError("_along writes into a C-contiguous float64 array")
    target = out.reshape(len(out), -1)  # a view, ``out`` being C-contiguous
    along_kernel(flat, flat[1:] - flat[:-1], np.asarray(position, dtype=np.intp),
                  np.asarray(weight, dtype=float), target,
                  np.arange(len(position), dtype=np.intp) if rows is None else np.asarray(rows, dtype=np.intp))
    return out


def _start_term(site: Site, starts: np.ndarray) -> np.ndarray:
    """The turbines' start-up cost per month (draw, 1), USD: the year's starts spread evenly (as ``simulate``)."""
    return (starts * (site.gas_unit_mw * site.gas_start_usd_per_mw))[:, None] / MONTHS_PER_YEAR


def _probe_hours(probe: Site) -> tuple[np.ndarray, np.ndarray]:
    """The hourly net demand on the turbines and grid (draw, hour) MW, and the starts (draw,), of ``probe``."""
    draws, shape = len(probe.it_mw), profiles(probe)
    net, starts = np.empty((draws, HOURS_PER_YEAR)), np.empty(draws)
    workspace = Workspace(min(CHUNK_DRAWS, draws))
    for first in range(0, draws, CHUNK_DRAWS):
        chunk = slice(first, min(first + CHUNK_DRAWS, draws))
        work = workspace.view(chunk.stop - chunk.start)
        starts[chunk] = dispatch_chunk(probe.take(chunk), shape, work)[0]
        net[chunk] = work["net"]
    return net, starts


def _frozen(value: np.ndarray) -> np.ndarray:
    value.flags.writeable = False
    return value


class ProbeCache:
    """The probe years of utilisation grids, kept across calls in this process by the digest of the probe site
    (``site_key``: every field, bit for bit), least recently used out first within ``max_bytes``.

    A probe year depends on its site only, so a hit gives the bits a simulation would. Its arrays are
    read-only: no caller can change what a later one gets. Hits need the same probe site: the same class of a
    scenario run again (a sweep's points that move only later stages share their draws, chunk by chunk). The
    chunks of one run do not share probe sites: a class's grid spans its draws' own utilisation and price.
    """

    def __init__(self, max_bytes: int = PROBE_CACHE_BYTES) -> None:
        self.max_bytes = max_bytes
        self.bytes = self.hits = self.misses = 0
        self._items: OrderedDict[bytes, tuple[tuple[np.ndarray, ...], tuple[str, ...]]] = OrderedDict()
        self._lock = threading.Lock()

    def year(self, probe: Site) -> dict[str, np.ndarray]:
        """``simulate(probe)``, read-only arrays in a new dict."""
        values, names = self._get(b"year", probe, lambda: _as_items(simulate(probe)))
        return dict(zip(names, values, strict=True))

    def hours(self, probe: Site) -> tuple[np.ndarray, np.ndarray]:
        """``_probe_hours(probe)``, read-only arrays."""
        (net, starts), _ = self._get(b"hours", probe, lambda: (_probe_hours(probe), ("net", "starts")))
        return net, starts

    def clear(self) -> None:
        """Forget every probe year."""
        with self._lock:
            self._items.clear()
            self.bytes = 0

    def _get(self, kind: bytes, probe: Site, compute: Callable[[], tuple[tuple[np.ndarray, ...], tuple[str, ...]]]
             ) -> tuple[tuple[np.ndarray, ...], tuple[str, ...]]:
        key = kind + site_key(probe)
        with self._lock:
            found = self._items.get(key)
            if found is not None:
                self._items.move_to_end(key)
                self.hits += 1
                return found
        values, names = compute()
        item = (tuple(_frozen(value) for value in values), names)
        size = sum(value.nbytes for value in values)
        with self._lock:
            self.misses += 1
            if size <= self.max_bytes and key not in self._items:
                self._items[key] = item
                self.bytes += size
                while self.bytes > self.max_bytes:
                    dropped = self._items.popitem(last=False)[1][0]
                    self.bytes -= sum(value.nbytes for value in dropped)
        return item


def _as_items(year: dict[str, np.ndarray]) -> tuple[tuple[np.ndarray, ...], tuple[str, ...]]:
    return tuple(year.values()), tuple(year)


PROBE_YEARS = ProbeCache()  # this process's probe years (``ProbeCache``)


@dataclass
class GridYear:
    """A merit class's year from its checked utilisation grid: the probe years, and per draw of the class its
    grid interval, weight towards the interval's right end and place between the class's lowest and highest
    price; the start-up cost per month (draw, 1) USD where the units are committed per draw, else None."""

    year: dict[str, np.ndarray]
    points_count: int
    position: np.ndarray
    weight: np.ndarray
    slope: np.ndarray
    start_cost: np.ndarray | None

    def fill(self, key: str, out: np.ndarray, rows: np.ndarray | None) -> None:
        """The class's values of output ``key`` into ``out`` at ``rows`` (at its first rows where None)."""
        low = self.year[key][: self.points_count]
        if key not in PRICE_KEYS and key != "cost_usd":  # straight into ``out``
            _along(low, self.position, self.weight, out, rows)
            return
        value = _along(low, self.position, self.weight)
        if key in PRICE_KEYS:  # affine in price between the class's lowest and highest
            high_price = _along(self.year[key][2 * self.points_count - 1 :], self.position, self.weight)
            value += (high_price - value) * self.slope.reshape((-1,) + (1,) * (value.ndim - 1))
        if key == "cost_usd" and self.start_cost is not None:
            value += self.start_cost
        out[slice(0, len(value)) if rows is None else rows] = value


def _grid_class(site: Site, rows: np.ndarray, tolerance: float, report: Reuse) -> tuple[GridYear | None, float]:
    """The year of the draws ``rows`` from the first grid of ``GRID_POINTS`` whose check passes
    (``_grid_year``), or None and the last grid's error."""
    error = np.inf
    for points_count in GRID_POINTS:
        year, error = _grid_year(site, rows, tolerance, report, points_count)
        if year is not None:
            return year, error
    return None, error


def _grid_year(
    site: Site, rows: np.ndarray, tolerance: float, report: Reuse, points_count: int
) -> tuple[GridYear | None, float]:
    """The year of the draws ``rows`` (same inputs but utilisation and price) from a utilisation grid, or
    None where the grid's error at its check points exceeds ``tolerance``; and that error.

    Where only the cost is above it and the turbines start, the grid is tried once more with the start-up
    cost apart: the hourly net demand is interpolated and the units committed on it exactly per draw
    (``starts.starts_on_grid``), checked at the midpoints (the same starts, bit for bit) and the cost less the
    start-ups checked like the other outputs. The probe years come from ``PROBE_YEARS``."""
    utilisation, price = site.utilisation[rows], site.price_usd_per_mwh[rows]
    points = np.linspace(utilisation.min(), utilisation.max(), points_count)
    mids = (points[1:] + points[:-1]) / 2
    low, high = float(price.min()), float(price.max())
    probes = np.concatenate([points, mids, points])
    prices = np.concatenate([np.full(2 * points_count - 1, low), np.full(points_count, high)])
    probe = replace(site.take(np.full(len(probes), rows[0])), utilisation=probes, price_usd_per_mwh=prices)
    year = PROBE_YEARS.year(probe)
    errors = _grid_errors(year, points_count)
    starts = None
    if max(errors.values()) > tolerance and _only_cost(errors, tolerance) and site.gas_start_usd_per_mw > 0:
        net, probe_starts = PROBE_YEARS.hours(probe)
        year = {**year, "cost_usd": year["cost_usd"] - _start_term(site, probe_starts)}
        errors = _grid_errors(year, points_count)
        errors["net"] = _relative_error((net[: points_count - 1] + net[1:points_count]) / 2,
                                        net[points_count : 2 * points_count - 1], net[:points_count])
        at_mids = starts_on_grid(probe.take(slice(points_count, 2 * points_count - 1)), net[:points_count],
                                  *_grid_position(points, mids))
        same = np.array_equal(at_mids, probe_starts[points_count : 2 * points_count - 1]) and np.array_equal(
            probe_starts[:points_count], probe_starts[2 * points_count - 1 :])
        errors["starts"] = 0.0 if same else np.inf
        starts = net[:points_count]
    error = max(errors.values())
    if error > tolerance:
        return None, error
    position, weight = _grid_position(points, utilisation)
    slope = (price - low) / (high - low) if high > low else np.zeros_like(price)
    start_cost = None
    if starts is not None:  # committed on a finer grid of the (linear, checked) demand: fewer hours change
        fine = np.linspace(points[0], points[-1], STARTS_POINTS)
        net = _along(starts, *_grid_position(points, fine))
        start_cost = _start_term(site, starts_on_grid(site.take(rows), net, *_grid_position(fine, utilisation)))
        report.classes_starts_committed += 1
    return GridYear(year, points_count, position, weight, slope, start_cost), error


def _grid_errors(year: dict[str, np.ndarray], points_count: int) -> dict[str, float]:
    """Per output, the largest relative error of the grid at its midpoints and, for all but the cost,
    between the class's two prices (the dispatch must not move with price inside a class)."""
    errors = {}
    for key, value in year.items():
        at = value[:points_count]
        middle = (at[:-1] + at[1:]) / 2
        errors[key] = _relative_error(middle, value[points_count : 2 * points_count - 1], at)
        if key not in PRICE_KEYS:
            errors[key] = max(errors[key], _relative_error(value[2 * points_count - 1 :], at, at))
    return errors


def _only_cost(errors: dict[str, float], tolerance: float) -> bool:
    """Whether every output but the cost is within ``tolerance``."""
    return all(error <= tolerance for key, error in errors.items() if key not in PRICE_KEYS)


def simulate_reused(
    site: Site, report: Reuse, tolerance: float = INTERPOLATION_TOLERANCE, min_draws: int = INTERPOLATION_MIN_DRAWS,
    keys: Iterable[str] | None = None,
) -> dict[str, np.ndarray]:
    """``simulate(site)`` (its outputs ``keys``, all where None), with identical draws simulated once and merit
    classes of at least ``min_draws`` draws that differ only in utilisation and price taken from a checked
    utilisation grid. Each output is written once, into its (draw, ...) array."""
    draws = len(site.it_mw)
    others = [name for name in PER_DRAW if name not in ("utilisation", "price_usd_per_mwh")]
    group = distinct_rows([getattr(site, name) for name in others] + [_merit_class(site)])[1]
    sizes = np.bincount(group)
    large = np.nonzero(sizes >= min_draws)[0] if tolerance > 0 else np.zeros(0, dtype=np.intp)
    grids: list[tuple[np.ndarray, GridYear]] = []
    exact = np.ones(draws, dtype=bool)
    for index in large:  # at most draws / min_draws classes of supply and merit order, never one per draw
        rows = np.nonzero(group == index)[0]
        year, error = _grid_class(site, rows, tolerance, report)
        report.errors.append(error)
        if year is None:
            report.classes_rejected += 1
            continue
        grids.append((rows, year))
        exact[rows] = False
        report.draws_interpolated += len(rows)
        report.classes_interpolated += 1
        report.largest_error = max(report.largest_error, error)
    rows = np.nonzero(exact)[0]
    exact_year: dict[str, np.ndarray] = {}
    if len(rows):
        unique, inverse = distinct_rows([getattr(site, name)[rows] for name in PER_DRAW])
        if len(unique) < len(rows):
            exact_year = _expand(simulate(site.take(rows[unique])), inverse)
        else:
            exact_year = simulate(site) if len(rows) == draws else simulate(site.take(rows))
        report.draws_exact += len(unique)
    template = grids[0][1].year if grids else exact_year
    chosen = None if keys is None else set(keys)
    wanted = [key for key in template if chosen is None or key in chosen]
    if len(rows) == draws:
        return {key: exact_year[key] for key in wanted}
    out = {key: np.empty((draws, *template[key].shape[1:])) for key in wanted}
    for key, values in out.items():
        for class_rows, year in grids:
            year.fill(key, values, None if len(class_rows) == draws else class_rows)
        if len(rows):
            values[rows] = exact_year[key]
    return out


class YearCache:
    """Typical years by the digest of their site: an epoch identical to one already simulated reuses it."""

    def __init__(self, tolerance: float = INTERPOLATION_TOLERANCE, min_draws: int = INTERPOLATION_MIN_DRAWS) -> None:
        self.tolerance, self.min_draws = tolerance, min_draws
        self.report = Reuse()
        self._years: dict[bytes, dict[str, np.ndarray]] = {}
        self._complete: set[bytes] = set()  # the years that hold every output

    def __call__(self, site: Site, keys: Iterable[str] | None = None) -> dict[str, np.ndarray]:
        """The reduced typical year of ``site`` (see ``simulate``): its outputs ``keys``, all where None.

        A year reused whose outputs lack some of ``keys`` has them made again, the same way (the same bits),
        and still counts as reused."""
        key = site_key(site)
        wanted = None if keys is None else list(keys)
        if key in self._years:
            self.report.years_reused += 1
            year = self._years[key]
            missing = key not in self._complete if wanted is None else any(name not in year for name in wanted)
            if missing:  # made again, not reported twice
                year.update({name: value for name, value in simulate_reused(
                    site, Reuse(), self.tolerance, self.min_draws, wanted).items() if name not in year})
                self._complete.update([key] if wanted is None else [])
            return year
        self.report.years_simulated += 1
        year = simulate_reused(site, self.report, self.tolerance, self.min_draws, wanted)
        self._years[key] = year
        self._complete.update([key] if wanted is None else [])
        return year
