"""Vectorised financial kernels: NPV, IRR, payments, monotone root finding and month-axis helpers.

Every function works on all draws at once: cash flows are arrays of shape (draw, period), rates of shape
(draw,) or scalars. Periods are counted from 0 and the first cash flow is not discounted (numpy-financial's
convention), so ``npv(rate, flows)[i] == numpy_financial.npv(rate, flows[i])``.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache

import numpy as np

from neocloud.blocks import blocks
from neocloud.compiled import cumsum
from neocloud.finance.loops import dscr_rows, lagged_rows, trailing_rows
from neocloud.units import MONTHS_PER_YEAR

# IRR reason codes (variable attrs carry them as flag_values / flag_meanings)
IRR_FOUND, IRR_NO_SIGN_CHANGE, IRR_NO_ROOT_IN_RANGE, IRR_NOT_CONVERGED = range(4)
IRR_REASONS = ("found", "no_sign_change", "no_root_in_range", "not_converged")
IRR_REASON_ATTRS = {
    "flag_values": list(range(len(IRR_REASONS))),
    "flag_meanings": " ".join(IRR_REASONS),
    "long_name": "why the IRR is NaN (0: an IRR was found)",
}
_LARGEST_DISCOUNT_EXPONENT = (
    460.0  # exp(460) ~ 1e200: the steepest discount growth evaluated without overflow
)


BLOCK_DRAWS = 256  # rows per pass of a blocked kernel: a few (row, month) temporaries stay in the L2 cache


def monthly_rate(annual_rate: np.ndarray | float) -> np.ndarray:
    """The monthly rate equivalent to an effective annual rate: ``(1 + r) ** (1/12) - 1``."""
    return np.expm1(np.log1p(np.asarray(annual_rate, dtype=float)) / MONTHS_PER_YEAR)


def annual_rate(monthly: np.ndarray | float) -> np.ndarray:
    """The effective annual rate of a monthly rate: ``(1 + r) ** 12 - 1``."""
    return np.expm1(np.log1p(np.asarray(monthly, dtype=float)) * MONTHS_PER_YEAR)


def discount_factors(rate: np.ndarray | float, periods: int) -> np.ndarray:
    """``(1 + rate) ** -t`` for t = 0..periods-1: shape (draw, periods) from a rate of shape (draw,)."""
    log_growth = np.log1p(np.atleast_1d(np.asarray(rate, dtype=float)))
    return np.exp(-log_growth[:, None] * np.arange(periods)[None, :])


def npv(rate: np.ndarray | float, cash_flows: np.ndarray) -> np.ndarray:
    """Net present value per draw of cash flows (draw, period) at a rate per period (draw,) or scalar.

    Rows are discounted in blocks of ``BLOCK_DRAWS`` so that the discount factors stay in cache (each row's
    arithmetic is the same in any block). Example: ``npv(0.1, np.array([[-100.0, 110.0]]))`` is
    ``array([0.])``.
    """
    flows = np.atleast_2d(np.asarray(cash_flows, dtype=float))
    rates = np.broadcast_to(np.asarray(rate, dtype=float), flows.shape[:1])
    out = np.empty(flows.shape[0])
    for rows in blocks(flows.shape[0], BLOCK_DRAWS):
        out[rows] = np.einsum("ij,ij->i", flows[rows], discount_factors(rates[rows], flows.shape[1]))
    return out


def pmt(
    rate: np.ndarray | float, periods: np.ndarray | float, present_value: np.ndarray | float
) -> np.ndarray:
    """Level payment per period that repays ``present_value`` over ``periods`` at ``rate`` per period.

    Positive for a positive loan (numpy-financial's ``-pmt(rate, periods, present_value)``); ``pv / n``
    at a zero rate. Example: ``pmt(0.0, 4, 100.0)`` is 25.
    """
    rate = np.asarray(rate, dtype=float)
    periods = np.asarray(periods, dtype=float)
    present_value = np.asarray(present_value, dtype=float)
    small = np.abs(rate) < 1e-12
    safe = np.where(small, 1.0, rate)
    with np.errstate(divide="ignore", invalid="ignore"):
        annuity = safe / -np.expm1(-periods * np.log1p(safe))
        return present_value * np.where(small, 1.0 / periods, annuity)




def irr(
    cash_flows: np.ndarray, tolerance: float = 1e-13, iterations: int = 100
) -> tuple[np.ndarray, np.ndarray]:
    """Internal rate of return per period of every row of ``cash_flows`` (draw, period), solved at once.

    The NPV of every row is first evaluated on a fixed grid of rates (one matrix product); the sign change
    nearest a zero rate brackets the root, inverse cubic interpolation through the four grid values around
    it starts the search (false position if that leaves the bracket), and safeguarded Halley iteration on
    ``t = log(1 + r)`` polishes it (bisection whenever a step leaves the bracket). From that start Halley's
    cubic convergence needs two or three evaluations whatever the horizon. The grid runs from the lowest rate
    whose discounting stays finite (at most -99% per period) to 1000% per period. Rows are solved in blocks
    of ``BLOCK_DRAWS``.

    Returns
    -------
    rate : (draw,) the IRR per period; NaN where none was found.
    reason : (draw,) int8 code, ``IRR_REASONS[code]``: found, no_sign_change (all flows of one sign),
        no_root_in_range, not_converged.
    """
    flows = np.atleast_2d(np.asarray(cash_flows, dtype=float))
    rate = np.empty(flows.shape[0])
    reason = np.empty(flows.shape[0], dtype=np.int8)
    grid, powers = _rate_grid(flows.shape[1])
    for rows in blocks(flows.shape[0], BLOCK_DRAWS):
        rate[rows], reason[rows] = _irr_block(flows[rows], grid, powers, tolerance, iterations)
    return rate, reason


@lru_cache(maxsize=16)
def _rate_grid(periods: int) -> tuple[np.ndarray, np.ndarray]:
    """Values of ``t = log(1 + r)`` on which every row's NPV is evaluated to bracket its IRR (dense near
    zero, out to the edges of the search), and the discount factors (period, grid) at them."""
    low = max(np.log(0.01), -_LARGEST_DISCOUNT_EXPONENT / max(periods - 1, 1))
    high = np.log(11.0)
    grid = np.unique(np.concatenate([-np.geomspace(-low, 1e-5, 48), [0.0], np.geomspace(1e-5, high, 48)]))
    powers = np.exp(-np.arange(periods, dtype=float)[:, None] * grid[None, :])
    grid.flags.writeable = False
    powers.flags.writeable = False
    return grid, powers


def discount_powers(factor: np.ndarray, periods: int) -> np.ndarray:
    """``factor ** t`` for t = 0..periods-1, shape (row, periods), from ``factor`` (row,), by repeated
    doubling: log2(periods) vectorised products instead of an exponential per element (relative error of a
    few units in the last place)."""
    out = np.empty((factor.shape[0], periods))
    out[:, 0] = 1.0
    if periods > 1:
        out[:, 1] = factor
    power = factor
    span = 2
    while span < periods:
        power = power * power  # factor ** span
        width = min(span, periods - span)
        np.multiply(out[:, :width], power[:, None], out=out[:, span : span + width])
        span *= 2
    return out


GEMM_ROWS = 32  # rows per matrix product: small enough that BLAS keeps to one thread


def grid_values(flows: np.ndarray, powers: np.ndarray) -> np.ndarray:
    """``flows @ powers`` in products of ``GEMM_ROWS`` rows: a larger product makes OpenBLAS start threads,
    which on a loaded machine take up to 10 times longer than the one-thread product."""
    out = np.empty((flows.shape[0], powers.shape[1]))
    for start in range(0, flows.shape[0], GEMM_ROWS):
        np.matmul(flows[start : start + GEMM_ROWS], powers, out=out[start : start + GEMM_ROWS])
    return out


def _irr_start(
    grid: np.ndarray, values: np.ndarray, pick: np.ndarray, low_t: np.ndarray, high_t: np.ndarray
) -> np.ndarray:
    """A first estimate of the root inside each bracket [low_t, high_t]: inverse cubic (Lagrange)
    interpolation of t against the NPV through the grid points pick-1 .. pick+2, else false position."""
    every = np.arange(values.shape[0])
    last = grid.shape[0] - 1
    index = np.clip(pick[:, None] + np.arange(-1, 3)[None, :], 0, last)
    index = index - np.minimum(index[:, :1], 0) + np.minimum(last - index[:, 3:], 0)
    f = values[every[:, None], index]
    t = grid[index]
    f_low, f_high = values[every, pick], values[every, pick + 1]
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        cubic = np.zeros(values.shape[0])
        for i in range(4):
            term = t[:, i].copy()
            for j in range(4):
                if j != i:
                    term *= f[:, j] / (f[:, j] - f[:, i])
            cubic += term
        secant = np.where(f_high != f_low, low_t - f_low * (high_t - low_t) / (f_high - f_low), low_t)
    secant = np.where(np.isfinite(secant), np.clip(secant, low_t, high_t), 0.5 * (low_t + high_t))
    start = np.where(np.isfinite(cubic) & (cubic > low_t) & (cubic < high_t), cubic, secant)
    return np.where(f_low == 0, low_t, np.where(f_high == 0, high_t, start))


def _irr_block(
    flows: np.ndarray, grid: np.ndarray, powers: np.ndarray, tolerance: float, iterations: int
) -> tuple[np.ndarray, np.ndarray]:
    """The IRR and its reason code for one block of rows (see ``irr``)."""
    draws, periods = flows.shape
    halley_final = (tolerance / max(periods, 1) ** 2) ** (1 / 3)
    period = np.arange(periods, dtype=float)
    moments = np.stack([-period, period * period], axis=1)  # d/dt and d2/dt2 of exp(-t k), over exp(-t k)
    sign_change = (flows.min(axis=1) < 0) & (flows.max(axis=1) > 0)
    values = grid_values(flows, powers)  # NPV of every row at every grid rate
    signs = np.sign(values)
    change = signs[:, :-1] * signs[:, 1:] <= 0
    distance = np.where(change, np.minimum(np.abs(grid[:-1]), np.abs(grid[1:]))[None, :], np.inf)
    pick = distance.argmin(axis=1)
    every = np.arange(draws)
    bracketed = sign_change & np.isfinite(distance[every, pick])
    low_t, high_t = grid[pick], grid[pick + 1]
    rising = values[every, pick + 1] > values[every, pick]  # so the sign of f says which side the root lies
    t = _irr_start(grid, values, pick, low_t, high_t)
    done = ~bracketed
    converged = np.zeros(draws, dtype=bool)
    for _ in range(iterations):
        rows = np.nonzero(~done)[0]
        if rows.size == 0:
            break
        now = t[rows]
        terms = (flows if rows.size == draws else flows[rows]) * discount_powers(np.exp(-now), periods)
        f = terms.sum(axis=1)
        slope, bend = (terms @ moments).T  # d NPV / dt and d2 NPV / dt2
        above = (f > 0) == rising[rows]  # root lies below t
        high_t[rows] = np.where(above, now, high_t[rows])
        low_t[rows] = np.where(above, low_t[rows], now)
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            halley = now - 2 * f * slope / (2 * slope * slope - f * bend)
        inside = np.isfinite(halley) & (halley > low_t[rows]) & (halley < high_t[rows])
        step = np.where(inside, halley, 0.5 * (low_t[rows] + high_t[rows]))
        step = np.where(f == 0, now, step)  # an exact root: stay on it
        scale = np.maximum(1.0, np.abs(now))
        # Halley's error after a step of size s is about (f''/2f')^2 s^3 <= (periods s)^2 s: a step below
        # (tolerance / periods^2)^(1/3) lands within the tolerance, so no further evaluation is needed
        final = inside & (np.abs(step - now) <= halley_final * scale)
        finished = (np.abs(step - now) <= tolerance * scale) | final | (f == 0)
        t[rows] = step
        converged[rows] |= finished
        done[rows] |= finished
    reason = np.where(
        ~sign_change,
        IRR_NO_SIGN_CHANGE,
        np.where(~bracketed, IRR_NO_ROOT_IN_RANGE, np.where(converged, IRR_FOUND, IRR_NOT_CONVERGED)),
    ).astype(np.int8)
    return np.where(reason == IRR_FOUND, np.expm1(t), np.nan), reason


def solve_increasing(
    function: Callable[[np.ndarray], np.ndarray],
    low: np.ndarray,
    high: np.ndarray,
    tolerance: float = 1e-10,
    iterations: int = 200,
) -> np.ndarray:
    """Root per draw of an increasing function of shape (draw,) -> (draw,) in [low, high] (Illinois method).

    The bracket's upper end doubles (up to 40 times) until the function is non-negative there. Returns NaN
    where the function is positive at ``low`` (no root above it) or negative however high the bracket.
    """
    low = np.asarray(low, dtype=float).copy()
    high = np.asarray(high, dtype=float).copy()
    f_low, f_high = function(low), function(high)
    for _ in range(40):
        short = f_high < 0
        if not short.any():
            break
        high = np.where(short, 2 * high - low, high)
        f_high = np.where(short, function(high), f_high)
    valid = (f_low <= 0) & (f_high >= 0)
    side = np.zeros_like(low)  # which end was kept last: Illinois halves the stale end's value
    x = np.where(f_low == 0, low, high)
    for _ in range(iterations):
        width = high - low
        if not np.any(valid & (width > tolerance * np.maximum(1.0, np.abs(high)))):
            break
        previous = x
        with np.errstate(divide="ignore", invalid="ignore"):
            x = np.where(f_high != f_low, high - f_high * width / (f_high - f_low), 0.5 * (low + high))
        x = np.where(np.isfinite(x) & (x > low) & (x < high), x, 0.5 * (low + high))
        if not np.any(valid & (np.abs(x - previous) > tolerance * np.maximum(1.0, np.abs(x)))):
            low, high = np.where(valid, x, low), np.where(valid, x, high)  # every draw has stopped moving
            break
        f_x = function(x)
        below = f_x < 0
        low, f_low = np.where(below, x, low), np.where(below, f_x, f_low)
        high, f_high = np.where(below, high, x), np.where(below, f_high, f_x)
        f_high = np.where(below & (side == 1), 0.5 * f_high, f_high)
        f_low = np.where(~below & (side == -1), 0.5 * f_low, f_low)
        side = np.where(below, 1, -1)
    root = np.where(np.abs(f_low) < np.abs(f_high), low, high)
    return np.where(valid, root, np.nan)


def lagged(cumulative: np.ndarray, lag: np.ndarray) -> np.ndarray:
    """``cumulative`` (draw, month) read ``lag`` months earlier (draw,), interpolated; 0 before month 0.

    For a running total, ``cumulative - lagged(cumulative, L)`` is the total of the last L months.
    """
    draws, months = cumulative.shape
    lag = np.asarray(lag, dtype=float)
    shift = float(lag.flat[0]) if lag.size else -1.0
    if shift >= 0 and shift.is_integer() and np.all(lag == shift):
        # one whole lag for every draw: a shift, the same numbers as the interpolation with no fraction
        out = np.empty_like(cumulative)
        whole = min(int(shift), months)
        out[:, :whole] = 0.0
        out[:, whole:] = cumulative[:, : months - whole]
        return out
    lag = np.broadcast_to(lag, (draws,))
    if cumulative.dtype == np.float64 and not np.isnan(lag).any():
        out = np.empty((draws, months))
        lagged_rows(np.ascontiguousarray(cumulative), np.ascontiguousarray(lag), out)
        return out
    position = np.arange(months)[None, :] - lag[:, None]
    floor = np.floor(position)
    fraction = position - floor
    padded = np.concatenate([np.zeros((draws, 1)), cumulative], axis=1)  # index 0 stands for "before month 0"
    # flat indices into the padded rows: one gather each, without take_along_axis's broadcast index arrays
    row_start = (np.arange(draws) * (months + 1))[:, None]
    below = np.minimum(np.maximum(floor + 1, 0.0), months).astype(np.int64) + row_start  # clip, without its
    above = np.minimum(np.maximum(floor + 2, 0.0), months).astype(np.int64) + row_start  # dispatch overhead
    flat = padded.ravel()
    return (1 - fraction) * np.take(flat, below) + fraction * np.take(flat, above)


def running_total(values: np.ndarray) -> np.ndarray:
    """``np.cumsum(values, axis=1)``, the same bits; zeros without the pass where every value is +0.0 (the
    IT a lease's owner never buys)."""
    if not values.any() and not np.signbit(values).any():
        return np.zeros_like(values)
    return cumsum(values, axis=1)


def increments(values: np.ndarray) -> np.ndarray:
    """Month-on-month change (draw, month) of ``values``, the first month's from zero: ``np.diff(values,
    axis=1, prepend=0.0)`` without its padded copy."""
    out = np.empty_like(values)
    out[:, :1] = values[:, :1]
    np.subtract(values[:, 1:], values[:, :-1], out=out[:, 1:])
    return out


def trailing_sum(values: np.ndarray, window: int) -> np.ndarray:
    """Sum of the last ``window`` months (the current one included) along the month axis: one compiled pass
    per row for float64 (``neocloud.finance.loops.trailing_rows``), the same bits as below."""
    if values.dtype == np.float64 and values.ndim == 2 and window >= 1:
        out = np.empty(values.shape)
        trailing_rows(np.ascontiguousarray(values), window, out)
        return out
    total = np.add.accumulate(values, axis=1)
    if window >= total.shape[1]:
        return total
    out = np.empty_like(total)
    out[:, :window] = total[:, :window]
    np.subtract(total[:, window:], total[:, :-window], out=out[:, window:])
    return out


def dscr(cfads: np.ndarray, service: np.ndarray) -> np.ndarray:
    """Trailing-twelve-month DSCR (draw, month) over the months with debt service; NaN where none is due.

    One compiled pass per row (``neocloud.finance.loops.dscr_rows``): the same bits as ``trailing_sum`` of
    the service and of the CFADS in months with service, divided where any service was paid."""
    shape = np.broadcast_shapes(cfads.shape, service.shape)
    out = np.empty(shape)
    flows = [np.ascontiguousarray(np.broadcast_to(np.asarray(a, dtype=float), shape)) for a in (cfads, service)]
    dscr_rows(flows[0], flows[1], MONTHS_PER_YEAR, out)
    return out


def first_month(mask: np.ndarray) -> np.ndarray:
    """First month (draw,) where ``mask`` (draw, month) is true; the number of months where it never is."""
    return np.where(mask.any(axis=1), mask.argmax(axis=1), mask.shape[1]).astype(float)


def last_month(mask: np.ndarray) -> np.ndarray:
    """Last month (draw,) where ``mask`` (draw, month) is true; -1 where it never is."""
    months = mask.shape[1]
    return np.where(mask.any(axis=1), months - 1 - mask[:, ::-1].argmax(axis=1), -1).astype(float)
