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
  the draws take the exact path. What was done is reported in ``Reuse``. Method: docs/methods/performance.md.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field, fields, replace

import numpy as np

from neocloud.energy.hourly import PER_DRAW, Site, simulate

GRID_POINTS = 33  # utilisation points per merit class (and 32 midpoints that check them)
INTERPOLATION_MIN_DRAWS = 1_024  # fewer draws in a class: simulate them exactly (the grid costs ~130 draws)
INTERPOLATION_TOLERANCE = 1e-6  # largest relative difference of the grid at its check points
PRICE_KEYS = ("cost_usd",)  # outputs that depend on the grid price once the dispatch is fixed


@dataclass
class Reuse:
    """What the reuse did: years simulated, draws simulated exactly, draws interpolated, the largest error."""

    years_simulated: int = 0
    years_reused: int = 0
    draws_exact: int = 0
    draws_interpolated: int = 0
    classes_interpolated: int = 0
    classes_rejected: int = 0
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


def _grid_year(site: Site, rows: np.ndarray, tolerance: float) -> tuple[dict[str, np.ndarray] | None, float]:
    """The year of the draws ``rows`` (same inputs but utilisation and price) from a utilisation grid, or
    None where the grid's error at its check points exceeds ``tolerance``; and that error."""
    utilisation, price = site.utilisation[rows], site.price_usd_per_mwh[rows]
    points = np.linspace(utilisation.min(), utilisation.max(), GRID_POINTS)
    mids = (points[1:] + points[:-1]) / 2
    low, high = float(price.min()), float(price.max())
    probes = np.concatenate([points, mids, points])
    prices = np.concatenate([np.full(2 * GRID_POINTS - 1, low), np.full(GRID_POINTS, high)])
    probe = site.take(np.full(len(probes), rows[0]))
    year = simulate(replace(probe, utilisation=probes, price_usd_per_mwh=prices))
    at = {key: value[:GRID_POINTS] for key, value in year.items()}
    error = 0.0
    for key, value in year.items():
        middle = (at[key][:-1] + at[key][1:]) / 2
        error = max(error, _relative_error(middle, value[GRID_POINTS : 2 * GRID_POINTS - 1], at[key]))
        if key not in PRICE_KEYS:  # the dispatch does not move with price inside the class
            error = max(error, _relative_error(value[2 * GRID_POINTS - 1 :], at[key], at[key]))
    if error > tolerance:
        return None, error
    position = np.clip(np.searchsorted(points, utilisation, side="right") - 1, 0, GRID_POINTS - 2)
    width = points[position + 1] - points[position]
    weight = np.divide(utilisation - points[position], width, out=np.zeros_like(width), where=width > 0)
    slope = (price - low) / (high - low) if high > low else np.zeros_like(price)
    shape = (-1,) + (1,) * (at["cost_usd"].ndim - 1)

    def along(grid: np.ndarray) -> np.ndarray:
        left = grid[position]
        return left + (grid[position + 1] - left) * weight.reshape((-1,) + (1,) * (grid.ndim - 1))

    out = {key: along(value) for key, value in at.items()}
    for key in PRICE_KEYS:  # affine in price between the class's lowest and highest
        out[key] += (along(year[key][2 * GRID_POINTS - 1 :]) - out[key]) * slope.reshape(shape)
    return out, error


def simulate_reused(
    site: Site, report: Reuse, tolerance: float = INTERPOLATION_TOLERANCE, min_draws: int = INTERPOLATION_MIN_DRAWS
) -> dict[str, np.ndarray]:
    """``simulate(site)``, with identical draws simulated once and merit classes of at least ``min_draws``
    draws that differ only in utilisation and price taken from a checked utilisation grid."""
    draws = len(site.it_mw)
    others = [name for name in PER_DRAW if name not in ("utilisation", "price_usd_per_mwh")]
    columns = np.stack([getattr(site, name) for name in others] + [_merit_class(site).astype(float)], axis=1)
    _, group = np.unique(columns, axis=0, return_inverse=True)
    group = group.reshape(-1)
    sizes = np.bincount(group)
    large = np.nonzero(sizes >= min_draws)[0] if tolerance > 0 else np.zeros(0, dtype=np.intp)
    parts: list[tuple[np.ndarray, dict[str, np.ndarray]]] = []
    exact = np.ones(draws, dtype=bool)
    for index in large:  # at most draws / min_draws classes of supply and merit order, never one per draw
        rows = np.nonzero(group == index)[0]
        year, error = _grid_year(site, rows, tolerance)
        report.errors.append(error)
        if year is None:
            report.classes_rejected += 1
            continue
        parts.append((rows, year))
        exact[rows] = False
        report.draws_interpolated += len(rows)
        report.classes_interpolated += 1
        report.largest_error = max(report.largest_error, error)
    if exact.any():
        rows = np.nonzero(exact)[0]
        values = np.stack([getattr(site, name)[rows] for name in PER_DRAW], axis=1)
        unique = np.sort(np.unique(values, axis=0, return_index=True)[1])
        if len(unique) < len(rows):
            year = _expand(simulate(site.take(rows[unique])), _map_rows(values, unique))
        else:
            year = simulate(site) if len(rows) == draws else simulate(site.take(rows))
        parts.append((rows, year))
        report.draws_exact += len(unique)
    if len(parts) == 1 and len(parts[0][0]) == draws:
        return parts[0][1]
    out = {key: np.empty((draws, *value.shape[1:])) for key, value in parts[0][1].items()}
    for rows, year in parts:
        for key, value in year.items():
            out[key][rows] = value
    return out


def _map_rows(values: np.ndarray, unique: np.ndarray) -> np.ndarray:
    """For each row of ``values``, the position in ``unique`` (row indices of values) of an identical row."""
    _, inverse = np.unique(values, axis=0, return_inverse=True)
    inverse = inverse.reshape(-1)
    position = np.empty(inverse.max() + 1, dtype=np.intp)
    position[inverse[unique]] = np.arange(len(unique))
    return position[inverse]


class YearCache:
    """Typical years by the digest of their site: an epoch identical to one already simulated reuses it."""

    def __init__(self, tolerance: float = INTERPOLATION_TOLERANCE, min_draws: int = INTERPOLATION_MIN_DRAWS) -> None:
        self.tolerance, self.min_draws = tolerance, min_draws
        self.report = Reuse()
        self._years: dict[bytes, dict[str, np.ndarray]] = {}

    def __call__(self, site: Site) -> dict[str, np.ndarray]:
        """The reduced typical year of ``site`` (see ``simulate``)."""
        key = site_key(site)
        if key in self._years:
            self.report.years_reused += 1
            return self._years[key]
        self.report.years_simulated += 1
        year = simulate_reused(site, self.report, self.tolerance, self.min_draws)
        self._years[key] = year
        return year
