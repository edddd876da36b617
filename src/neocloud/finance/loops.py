"""Compiled row loops of finance's month recurrences: each one the same arithmetic, in the same order, as the
numpy passes it replaces (see ``neocloud.compiled``), fused into one pass over a row's months.

Every kernel takes C-contiguous float64 rows (draw, month) and writes into arrays the caller allocated; the
wrappers that prepare them live beside their numpy counterparts (``kernels``, ``valuation``, ``statements``,
``debt``). Exponentials and logarithms stay in numpy (its ``exp`` and a compiled one may differ in the last
place); these loops only add, subtract, multiply, divide, compare and choose.
"""

from __future__ import annotations

import numpy as np

from neocloud.compiled import kernel, maximum


@kernel
def minimum(a: float, b: float) -> float:
    """``np.minimum(a, b)`` of two scalars: ``a`` where it is smaller or NaN, else ``b``."""
    return a if (a < b or np.isnan(a)) else b


@kernel
def tax_rows(taxable: np.ndarray, rate: np.ndarray, out: np.ndarray) -> None:
    """Tax (draw, month) with losses carried forward: ``increments(max(running max of cumsum, 0)) * rate``."""
    rows, months = taxable.shape
    for i in range(rows):
        total = 0.0
        highest = 0.0
        taxed_before = 0.0
        for j in range(months):
            if j == 0:
                total = taxable[i, 0]
                highest = total
            else:
                total = total + taxable[i, j]
                highest = maximum(highest, total)
            taxed = maximum(highest, 0.0)
            out[i, j] = (taxed if j == 0 else taxed - taxed_before) * rate[i]
            taxed_before = taxed


@kernel
def priced_tax_rows(
    price: np.ndarray, volume: np.ndarray, base: np.ndarray, rising: bool, with_slope: bool,
    positive: np.ndarray, reached: np.ndarray,
) -> None:
    """For ``PricedNpv``: the taxed income to date ``max(running max of price * volume + base, 0)`` and, with
    ``with_slope``, the cumulative volume where that running maximum was last reached (0 where it is not
    positive). ``volume`` and ``base`` are cumulative (draw, month); ``rising``: ``volume`` never falls."""
    rows, months = volume.shape
    for i in range(rows):
        p = price[i]
        highest = 0.0
        reached_volume = 0.0
        at = 0
        for j in range(months):
            cumulative = p * volume[i, j] + base[i, j]
            highest = cumulative if j == 0 else maximum(highest, cumulative)
            positive[i, j] = maximum(highest, 0.0)
            if not with_slope:
                continue
            if rising:
                candidate = volume[i, j] if cumulative == highest else 0.0
                reached_volume = candidate if j == 0 else maximum(reached_volume, candidate)
            else:
                month = j if cumulative == highest else 0
                at = month if j == 0 else max(at, month)
                reached_volume = volume[i, at]
            reached[i, j] = reached_volume if highest > 0 else 0.0


@kernel
def cash_trap_rows(
    before_equity: np.ndarray, cover: np.ndarray, covenant: np.ndarray,
    distributions: np.ndarray, equity_in: np.ndarray, trapped: np.ndarray,
) -> None:
    """``statements.cash_trap`` row by row: surplus withheld in months whose finite DSCR is below the
    covenant (never the last), released in the next month that is not, and the equity that cures a deficit."""
    rows, months = before_equity.shape
    for i in range(rows):
        covenant_i = covenant[i]
        total = 0.0
        released_to_date = 0.0
        released_before = 0.0
        for j in range(months):
            flow = before_equity[i, j]
            surplus = maximum(flow, 0.0)
            level = cover[i, j]
            held = np.isfinite(level) and level < covenant_i and j != months - 1
            kept = surplus if held else 0.0
            total = kept if j == 0 else total + kept
            if not held:
                released_to_date = total  # the running total of cash trapped, as of the last free month
            released = released_to_date if j == 0 else released_to_date - released_before
            released_before = released_to_date
            distributions[i, j] = surplus - kept + released
            equity_in[i, j] = maximum(-flow, 0.0)
            trapped[i, j] = kept


@kernel
def amortise_rows(
    payment: np.ndarray, discount: np.ndarray, growth: np.ndarray, at_conversion: np.ndarray,
    repaying: np.ndarray, build_balance: np.ndarray, monthly: np.ndarray,
    balance: np.ndarray, interest: np.ndarray, principal: np.ndarray,
) -> None:
    """``debt.amortise``'s repayment row by row: the balance owed ``growth * (at_conversion - cumsum(payment *
    discount))`` (never below 0) while repaying, else the build balance; interest on and principal out of the
    opening balance (the last month's closing one) while repaying."""
    rows, months = payment.shape
    for i in range(rows):
        repaid = 0.0
        opening = 0.0
        rate = monthly[i]
        for j in range(months):
            valued = payment[i, j] * discount[i, j]
            repaid = valued if j == 0 else repaid + valued
            owed = maximum(growth[i, j] * (at_conversion[i] - repaid), 0.0)
            now = repaying[i, j]
            closing = owed if now else build_balance[i, j]
            interest[i, j] = opening * rate if now else 0.0
            principal[i, j] = opening - closing if now else 0.0
            balance[i, j] = closing
            opening = closing


@kernel
def trailing_rows(values: np.ndarray, window: int, out: np.ndarray) -> None:
    """Sum of the last ``window`` months of every row: ``cumsum[j] - cumsum[j - window]`` once
    ``j >= window``, the running sum before."""
    rows, months = values.shape
    total = np.empty(months)
    for i in range(rows):
        for j in range(months):
            total[j] = values[i, j] if j == 0 else total[j - 1] + values[i, j]
            out[i, j] = total[j] if j < window else total[j] - total[j - window]


@kernel
def dscr_rows(cfads: np.ndarray, service: np.ndarray, window: int, out: np.ndarray) -> None:
    """Trailing-``window`` DSCR: the CFADS of the months with service over the service, both summed over
    the last ``window`` months (``trailing_rows``); NaN in months with no service or none paid."""
    rows, months = cfads.shape
    paid = np.empty(months)
    earned = np.empty(months)
    for i in range(rows):
        for j in range(months):
            due = service[i, j]
            serving = due > 0
            income = cfads[i, j] if serving else 0.0
            paid[j] = due if j == 0 else paid[j - 1] + due
            earned[j] = income if j == 0 else earned[j - 1] + income
            paid_window = paid[j] if j < window else paid[j] - paid[j - window]
            earned_window = earned[j] if j < window else earned[j] - earned[j - window]
            out[i, j] = earned_window / paid_window if serving and paid_window > 0 else np.nan


@kernel
def lagged_rows(cumulative: np.ndarray, lag: np.ndarray, out: np.ndarray) -> None:
    """``cumulative`` read ``lag[i]`` months earlier, interpolated linearly, 0 before month 0 (``lag`` has no
    NaN: positions are clipped to [0, months] as floats before they become indices)."""
    rows, months = cumulative.shape
    for i in range(rows):
        for j in range(months):
            position = j - lag[i]
            floor = np.floor(position)
            fraction = position - floor
            below = int(minimum(maximum(floor + 1, 0.0), months))
            above = int(minimum(maximum(floor + 2, 0.0), months))
            low = cumulative[i, below - 1] if below > 0 else 0.0
            high = cumulative[i, above - 1] if above > 0 else 0.0
            out[i, j] = (1 - fraction) * low + fraction * high


@kernel
def cash_lines_rows(inputs: tuple[np.ndarray, ...], outputs: tuple[np.ndarray, ...]) -> None:
    """The levered cash lines from the flows ``inputs`` (cfads, owned capex, asset sales, debt drawn, fees,
    interest, principal, cash before equity, distributions, equity in, debt service), each (draw, month), into
    ``outputs``: equity flow, equity that cures a debt-service shortfall, investing and financing cash flow,
    sources and uses; each sum left to right, as the numpy expressions in ``statements.levered`` add them."""
    cfads, capex, sale, drawn, fees, interest, principal, before, distributions, equity_in, service = inputs
    equity_flow, cure, investing, financing, sources, uses = outputs
    rows, months = cfads.shape
    for i in range(rows):
        for j in range(months):
            flow, paid_out, put_in = cfads[i, j], distributions[i, j], equity_in[i, j]
            owned, fee, due, repaid = capex[i, j], fees[i, j], interest[i, j], principal[i, j]
            equity_flow[i, j] = paid_out - put_in
            cure[i, j] = put_in if service[i, j] > 0 else 0.0
            investing[i, j] = sale[i, j] - owned
            financing[i, j] = drawn[i, j] - fee - due - repaid + put_in - paid_out
            sources[i, j] = drawn[i, j] + put_in + maximum(flow, 0.0) + sale[i, j]
            uses[i, j] = (
                owned + fee + due + repaid + paid_out + (maximum(before[i, j], 0.0) - paid_out)
                + maximum(-flow, 0.0)
            )
