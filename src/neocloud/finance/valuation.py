"""What the project's monthly flows are worth at a uniform price, and the break-even price that makes the
project NPV zero.

The project NPV is piecewise linear in the price: revenue is linear in it, tax on income with losses carried
forward is a running maximum of linear functions, and the terminal value is the larger of an exit multiple
on the last year's EBITDA and a floor. Its exact slope is therefore known at every price, and Newton's
method reaches the root of the linear piece it stands on in one step: a handful of evaluations in all
(whatever the horizon), each one pass over the months, with bisection whenever a step leaves the bracket.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from neocloud.blocks import blocks
from neocloud.compiled import cumsum
from neocloud.finance.kernels import discount_factors, trailing_sum
from neocloud.finance.loops import priced_tax_rows, tax_rows
from neocloud.units import MONTHS_PER_YEAR

BREAK_EVEN_BLOCK_DRAWS = 512  # rows solved together: their (row, month) terms stay in cache
BREAK_EVEN_TOLERANCE = 1e-12  # relative step at which a price counts as found
EXPANSIONS = 40  # doublings of the price above four times the reference before a draw is left NaN


def tax_paid(taxable: np.ndarray, rate: np.ndarray) -> np.ndarray:
    """Tax (draw, month) on monthly taxable income with losses carried forward without limit.

    Income taxed to date is the highest cumulative income reached so far (a loss after a profit is carried
    forward against later profit, never back), so the tax to date is ``rate * max(0, max_{k<=m} C(k))``.
    One compiled pass per row (``loops.tax_rows``): the same bits as ``increments`` of that running maximum
    (of ``np.cumsum``, clipped at 0) times the rate.
    """
    draws = taxable.shape[0]
    tax = np.empty(taxable.shape)
    tax_rows(np.ascontiguousarray(taxable, dtype=float),
             np.ascontiguousarray(np.broadcast_to(np.asarray(rate, dtype=float), (draws,))), tax)
    return tax


@dataclass(frozen=True)
class Valuation:
    """What the monthly project flows are worth: the pieces that a uniform price changes."""

    fixed_ebitda: np.ndarray  # EBITDA without the price-driven revenue
    volume: np.ndarray  # units the uniform price multiplies
    deductions: np.ndarray  # depreciation (tax)
    capex: np.ndarray
    tax_rate: np.ndarray
    multiple: np.ndarray
    discount_monthly: np.ndarray
    floor: np.ndarray  # (draw,) the least the assets fetch at the horizon: the IT's resale value
    other_cash: np.ndarray  # cash outside EBITDA and capex: prepayments less their credits, asset sales

    def project_flows(
        self, ebitda: np.ndarray, tax: np.ndarray | None = None, yearly: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Unlevered after-tax cash flow (draw, month) without and with the terminal value: the larger of the
        exit multiple on the last year's EBITDA and the resale value of the IT. ``tax``: the unlevered tax
        ``tax_paid(ebitda - deductions, tax_rate)``, and ``yearly``: ``trailing_sum(ebitda, 12)``, where
        already known (debt sizing and the run rate compute them too)."""
        yearly = trailing_sum(ebitda, MONTHS_PER_YEAR) if yearly is None else yearly
        tax = tax_paid(ebitda - self.deductions, self.tax_rate) if tax is None else tax
        flows = ebitda - tax - self.capex + self.other_cash
        terminal = np.maximum(
            self.multiple * np.maximum(yearly[:, -1], 0.0), self.floor
        )
        # ``flows`` plus a terminal value that is 0 but in the last month: the same sums, no array of zeros
        with_terminal = np.add(flows, 0.0)
        with_terminal[:, -1] = flows[:, -1] + terminal
        return flows, with_terminal

    def block(self, rows: slice | np.ndarray) -> Valuation:
        """The same valuation for the draws ``rows`` only."""
        return Valuation(*(getattr(self, name)[rows] for name in self.__dataclass_fields__))


def price_free(valuation: Valuation) -> dict[str, np.ndarray]:
    """What a ``PricedNpv`` needs that no price and no volume moves, for one block of draws: the discount
    factors, the tax weights ``g``, the cumulative taxable income and the discounted flows at a zero price,
    the last year's EBITDA at a zero price and the terminal value's multiple and floor. The same for every
    volume a price multiplies (GPU-hours and kW-months), so computed once for both."""
    v = valuation
    draws, months = v.volume.shape
    factors = discount_factors(v.discount_monthly, months)
    weights = factors.copy()
    weights[:, :-1] -= factors[:, 1:]
    weights *= v.tax_rate[:, None]
    return {
        "factors": factors,
        "tax_weights": weights,
        "cumulative_base": cumsum(v.fixed_ebitda - v.deductions, axis=1),
        "base_value": np.einsum("ij,ij->i", v.fixed_ebitda - v.capex + v.other_cash, factors),
        "last_factor": factors[:, -1].copy(),
        "last_year_base": v.fixed_ebitda[:, -MONTHS_PER_YEAR:].sum(axis=1),
        "multiple": np.broadcast_to(v.multiple, (draws,)),
        "floor": np.broadcast_to(v.floor, (draws,)),
    }


class PricedNpv:
    """Project NPV (draw,) of one block of draws as a function of a uniform price, and its exact slope.

    Everything that does not move with the price is summed once: the discounted flows other than tax and
    the terminal value, the cumulative taxable income at a price of zero and the cumulative volume. The
    tax discounted is ``sum_m T(m) g(m)`` with ``T`` the tax to date and ``g(m) = rate (f(m) - f(m+1))``
    (summation by parts of the monthly tax against the discount factors ``f``), so one evaluation takes
    one running maximum for the value and one for the slope, and no other pass along the months.
    """

    def __init__(self, valuation: Valuation, fixed: dict[str, np.ndarray] | None = None) -> None:
        v = valuation
        fixed = price_free(v) if fixed is None else fixed
        self.arrays = {
            **{name: values for name, values in fixed.items() if name != "factors"},
            "cumulative_volume": cumsum(v.volume, axis=1),
            "volume_value": np.einsum("ij,ij->i", v.volume, fixed["factors"]),
            "last_year_volume": v.volume[:, -MONTHS_PER_YEAR:].sum(axis=1),
        }
        self.rising = bool(np.all(v.volume >= 0))

    @property
    def draws(self) -> int:
        """Rows in the block."""
        return int(self.arrays["last_factor"].shape[0])

    def rows(self, index: np.ndarray) -> PricedNpv:
        """The same function for the draws ``index`` of the block only."""
        part = PricedNpv.__new__(PricedNpv)
        part.arrays = {name: values[index] for name, values in self.arrays.items()}
        part.rising = self.rising
        return part

    def __call__(self, price: np.ndarray, with_slope: bool = True) -> tuple[np.ndarray, np.ndarray]:
        """NPV (draw,) at ``price`` (draw,) and its derivative with respect to the price (NaN without
        ``with_slope``).

        One compiled pass per row (``loops.priced_tax_rows``) gives the taxed income to date and, for the
        slope, the cumulative volume at the last month where the running maximum of cumulative taxable
        income was reached, where that maximum is positive: the tax to date moves with it. With no negative
        volume the cumulative volume never falls, so that volume is itself a running maximum."""
        a = self.arrays
        volume = a["cumulative_volume"]
        positive = np.empty(volume.shape)
        reached = np.empty(volume.shape) if with_slope else positive
        priced_tax_rows(np.ascontiguousarray(price, dtype=float), volume, a["cumulative_base"], self.rising,
                        with_slope, positive, reached)
        tax = np.einsum("ij,ij->i", positive, a["tax_weights"])
        tax_slope = (
            np.einsum("ij,ij->i", reached, a["tax_weights"]) if with_slope else np.full(price.shape, np.nan)
        )
        last_year = a["last_year_base"] + price * a["last_year_volume"]
        exit_value = a["multiple"] * np.maximum(last_year, 0.0)
        terminal = np.maximum(exit_value, a["floor"])
        terminal_slope = np.where(
            (exit_value > a["floor"]) & (last_year > 0), a["multiple"] * a["last_year_volume"], 0.0
        )
        value = a["base_value"] + price * a["volume_value"] - tax + terminal * a["last_factor"]
        slope = a["volume_value"] - tax_slope + terminal_slope * a["last_factor"]
        return value, slope


def newton_increasing(
    function: PricedNpv, start: np.ndarray, ceiling: np.ndarray, iterations: int = 100
) -> np.ndarray:
    """Root above zero (draw,) of an increasing piecewise-linear function that is negative at zero, by Newton
    steps on its exact slope inside a bracket [low, high] (false position between its ends when a step leaves
    it; doubling while no point above the root is known); NaN where it stays negative up to ``ceiling``. Once
    few draws are left only they are evaluated; a draw's price is its own step's."""
    draws = start.shape[0]
    low, high = np.zeros(draws), np.full(draws, np.inf)
    f_low, f_high = np.full(draws, -np.inf), np.full(draws, np.inf)
    price = start.copy()
    found = np.full(draws, np.nan)
    active = np.arange(draws)
    part, members = function, np.arange(draws)
    for _ in range(iterations):
        if active.size == 0:
            break
        if active.size < members.size // 4:
            part, members = function.rows(active), active.copy()
        value, slope = part(price[members])
        where = np.searchsorted(members, active)
        value, slope, now = value[where], slope[where], price[active]
        below = value < 0
        low[active] = np.where(below, now, low[active])
        f_low[active] = np.where(below, value, f_low[active])
        high[active] = np.where(below, high[active], now)
        f_high[active] = np.where(below, f_high[active], value)
        a, b, fa, fb = low[active], high[active], f_low[active], f_high[active]
        with np.errstate(divide="ignore", invalid="ignore"):
            step = now - value / slope
            secant = a - fa * (b - a) / (fb - fa)
        secant = np.where(np.isfinite(secant) & (secant > a) & (secant < b), secant, 0.5 * (a + b))
        # a step too small to move the price (a residual of rounding size) stays put, even on a bracket end
        inside = np.isfinite(step) & (((step > a) & (step < b)) | (step == now))
        step = np.where(inside, step, np.where(np.isfinite(b), secant, 2 * now))
        done = (value == 0) | (np.abs(step - now) <= BREAK_EVEN_TOLERANCE * np.maximum(1.0, np.abs(now)))
        found[active[done]] = np.where(value == 0, now, step)[done]
        lost = ~done & ~np.isfinite(b) & (now > ceiling[active])
        price[active] = step
        active = active[~done & ~lost]
    return found


def break_even(valuation: Valuation, reference: np.ndarray) -> np.ndarray:
    """The uniform price (draw,) at which project NPV is zero: 0 where the project pays at a price of zero,
    NaN where no price up to ``4 * 2**EXPANSIONS`` times the reference makes it so.

    Newton from the reference price on the exact slope of the piecewise-linear NPV (see the module), in
    blocks of ``BREAK_EVEN_BLOCK_DRAWS`` draws; each draw stops on its own step, so its price is the same
    alone or among others."""
    return break_evens(valuation, [valuation.volume], [reference])[0]


def break_evens(
    valuation: Valuation, volumes: list[np.ndarray], references: list[np.ndarray]
) -> list[np.ndarray]:
    """``break_even`` of the valuation with each of ``volumes`` (draw, month) in turn as the volume the
    price multiplies, from the matching reference price (draw,); what no volume moves is summed once per
    block (``price_free``)."""
    draws = valuation.volume.shape[0]
    starts = [np.maximum(np.abs(reference), 1e-6) for reference in references]
    prices = [np.empty(draws) for _ in volumes]
    for rows in blocks(draws, BREAK_EVEN_BLOCK_DRAWS):
        part = valuation.block(rows)
        fixed = price_free(part)
        for volume, start, price in zip(volumes, starts, prices, strict=True):
            function = PricedNpv(replace(part, volume=volume[rows]), fixed)
            at_zero, _ = function(np.zeros(start[rows].size), with_slope=False)
            found = newton_increasing(function, start[rows], 4 * start[rows] * 2.0**EXPANSIONS)
            price[rows] = np.where(at_zero >= 0, 0.0, found)
    return prices
