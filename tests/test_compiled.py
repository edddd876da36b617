"""Compiled row kernels against the numpy passes they replace, bit for bit: NaN, infinities, -0.0, empty
and one-column arrays, int and bool input, any axis and non-contiguous views."""

from __future__ import annotations

from typing import Any

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from neocloud.compiled import cumsum, running_max
from neocloud.finance.kernels import dscr, increments, lagged, trailing_sum
from neocloud.finance.loops import amortise_rows, cash_lines_rows
from neocloud.finance.statements import cash_trap
from neocloud.finance.valuation import PricedNpv, Valuation, tax_paid

SPECIAL = st.sampled_from([0.0, -0.0, 1.0, -1.0, np.inf, -np.inf, np.nan, -np.nan])
ANY_FLOAT = st.one_of(SPECIAL, st.floats(allow_nan=True, allow_infinity=True, width=64))
MONEY = st.one_of(
    st.floats(-1e6, 1e6, allow_nan=False, allow_infinity=False),
    SPECIAL,
)
SHAPE = hnp.array_shapes(min_dims=2, max_dims=2, min_side=0, max_side=14)
NONEMPTY = hnp.array_shapes(min_dims=2, max_dims=2, min_side=1, max_side=14)


def same_bits(got: np.ndarray, expected: np.ndarray) -> bool:
    """Same dtype, shape and bytes, the sign of zero included; a NaN matches any NaN. (Where two NaNs meet in
    one operation, which one's sign and payload an add or multiply returns depends on the operand order a
    compiler chooses, in numpy's loops as in these; from one NaN, or none, the bits are the same.)"""
    got, expected = np.asarray(got), np.asarray(expected)
    if got.dtype != expected.dtype or got.shape != expected.shape:
        return False
    if got.dtype.kind == "f":
        nan = np.isnan(got)
        if not np.array_equal(nan, np.isnan(expected)):
            return False
        got, expected = np.where(nan, np.nan, got), np.where(nan, np.nan, expected)
    return np.ascontiguousarray(got).tobytes() == np.ascontiguousarray(expected).tobytes()


def floats(shape: Any = SHAPE, elements: Any = ANY_FLOAT) -> Any:
    """Float64 arrays (draw, month) of ``elements``."""
    return hnp.arrays(np.float64, shape, elements=elements)


@st.composite
def any_array(draw: Any) -> np.ndarray:
    """float64, int64 or bool arrays of one to three dimensions, sometimes a transposed or strided view."""
    dtype = draw(st.sampled_from([np.float64, np.int64, np.bool_]))
    elements = {np.float64: ANY_FLOAT, np.int64: st.integers(-(2**40), 2**40), np.bool_: st.booleans()}[dtype]
    shape = draw(hnp.array_shapes(min_dims=1, max_dims=3, min_side=0, max_side=9))
    values = draw(hnp.arrays(dtype, shape, elements=elements))
    view = draw(st.sampled_from(["plain", "transposed", "strided"]))
    if view == "transposed":
        return values.T
    if view == "strided":
        return values[..., ::2]
    return values


@settings(max_examples=300, deadline=None)
@given(any_array(), st.data())
def test_running_operations_are_numpys_bits(values: np.ndarray, data: Any) -> None:
    axis = data.draw(st.integers(-values.ndim, values.ndim - 1))
    with np.errstate(all="ignore"):
        assert same_bits(cumsum(values, axis=axis), np.cumsum(values, axis=axis))
    assert same_bits(running_max(values, axis=axis), np.maximum.accumulate(values, axis=axis))


def test_running_max_keeps_numpys_ties_and_nans() -> None:
    values = np.array([[0.0, -0.0, 0.0], [-0.0, 0.0, -0.0], [1.0, np.nan, 2.0], [np.nan, -np.nan, 3.0]])
    assert same_bits(running_max(values, axis=1), np.maximum.accumulate(values, axis=1))
    assert np.signbit(running_max(values, axis=1)[0, 1])  # a tie keeps the later operand, as numpy's does


def reference_tax(taxable: np.ndarray, rate: np.ndarray) -> np.ndarray:
    """The numpy passes ``tax_paid`` replaced."""
    taxed = np.maximum.accumulate(np.cumsum(taxable, axis=1), axis=1)
    np.maximum(taxed, 0.0, out=taxed)
    tax = increments(taxed)
    tax *= rate[:, None]
    return tax


@settings(max_examples=200, deadline=None)
@given(floats(), st.data())
def test_tax_paid_is_the_numpy_passes(taxable: np.ndarray, data: Any) -> None:
    rate = data.draw(floats((taxable.shape[0],), MONEY))
    with np.errstate(all="ignore"):
        assert same_bits(tax_paid(taxable, rate), reference_tax(taxable, rate))


def reference_trailing(values: np.ndarray, window: int) -> np.ndarray:
    """Trailing sums from numpy's running sum."""
    total = np.add.accumulate(values, axis=1)
    out = total.copy()
    if window < total.shape[1]:
        np.subtract(total[:, window:], total[:, :-window], out=out[:, window:])
    return out


@settings(max_examples=200, deadline=None)
@given(floats(), st.integers(1, 16))
def test_trailing_sum_and_dscr_are_the_numpy_passes(values: np.ndarray, window: int) -> None:
    with np.errstate(all="ignore"):
        assert same_bits(trailing_sum(values, window), reference_trailing(values, window))
        service = np.where(np.arange(values.size).reshape(values.shape) % 3 == 0, 0.0, np.abs(values))
        serving = service > 0
        expected = np.full(values.shape, np.nan)
        np.divide(reference_trailing(np.where(serving, values, 0.0), 12), reference_trailing(service, 12),
                  out=expected, where=serving & (reference_trailing(service, 12) > 0))
        assert same_bits(dscr(values, service), expected)


def reference_lagged(cumulative: np.ndarray, lag: np.ndarray) -> np.ndarray:
    """``lagged`` before its compiled loop: a shift for one whole lag, else interpolation by numpy gathers."""
    draws, months = cumulative.shape
    if lag[0] >= 0 and float(lag[0]).is_integer() and np.all(lag == lag[0]):
        whole = min(int(lag[0]), months)
        return np.concatenate([np.zeros((draws, whole)), cumulative[:, : months - whole]], axis=1)
    position = np.arange(months)[None, :] - lag[:, None]
    floor = np.floor(position)
    fraction = position - floor
    padded = np.concatenate([np.zeros((draws, 1)), cumulative], axis=1)
    below = np.minimum(np.maximum(floor + 1, 0.0), months).astype(np.int64)
    above = np.minimum(np.maximum(floor + 2, 0.0), months).astype(np.int64)
    return (1 - fraction) * np.take_along_axis(padded, below, axis=1) + fraction * np.take_along_axis(
        padded, above, axis=1
    )


LAGS = st.one_of(st.floats(-3.0, 40.0), st.sampled_from([0.5, 12.0, 36.0, np.inf, -np.inf, 1e300]))


@settings(max_examples=200, deadline=None)
@given(floats(NONEMPTY, MONEY), st.data())
def test_lagged_is_the_numpy_gathers(cumulative: np.ndarray, data: Any) -> None:
    lag = data.draw(floats((cumulative.shape[0],), LAGS))
    with np.errstate(all="ignore"):
        assert same_bits(lagged(cumulative, lag), reference_lagged(cumulative, lag))


def reference_cash_trap(before: np.ndarray, cover: np.ndarray, covenant: np.ndarray) -> tuple[np.ndarray, ...]:
    """``cash_trap`` by numpy passes, as it was before its compiled loop."""
    months = before.shape[1]
    surplus = np.maximum(before, 0.0)
    trapped_month = np.isfinite(cover) & (cover < covenant[:, None])
    trapped_month[:, -1] = False
    trapped = np.where(trapped_month, surplus, 0.0)
    released = np.zeros_like(trapped)
    rows = np.nonzero(trapped_month.any(axis=1))[0]
    if rows.size:
        cumulative = np.cumsum(trapped[rows], axis=1)
        free = np.where(~trapped_month[rows], np.arange(months)[None, :], -1)
        last_free = np.maximum.accumulate(free, axis=1)
        released_to_date = np.where(
            last_free >= 0, np.take_along_axis(cumulative, np.maximum(last_free, 0), axis=1), 0.0
        )
        released[rows] = increments(released_to_date)
    return surplus - trapped + released, np.maximum(-before, 0.0), trapped


@settings(max_examples=200, deadline=None)
@given(floats(NONEMPTY, MONEY), st.data())
def test_cash_trap_is_the_numpy_passes(before: np.ndarray, data: Any) -> None:
    cover = data.draw(floats(before.shape, MONEY))
    covenant = data.draw(floats((before.shape[0],), st.sampled_from([1.0, 1.2, np.nan, 0.0])))
    with np.errstate(all="ignore"):
        got, expected = cash_trap(before, cover, covenant), reference_cash_trap(before, cover, covenant)
    assert all(same_bits(a, b) for a, b in zip(got, expected, strict=True))


@settings(max_examples=200, deadline=None)
@given(floats(NONEMPTY, MONEY), st.data())
def test_amortise_loop_is_the_numpy_passes(payment: np.ndarray, data: Any) -> None:
    draws = payment.shape[0]
    discount = data.draw(floats(payment.shape, st.floats(0.0, 2.0)))
    growth = data.draw(floats(payment.shape, st.floats(0.5, 3.0)))
    build = data.draw(floats(payment.shape, MONEY))
    at_conversion = data.draw(floats((draws,), MONEY))
    monthly = data.draw(floats((draws,), st.floats(-0.01, 0.05)))
    repaying = data.draw(hnp.arrays(np.bool_, payment.shape))
    with np.errstate(all="ignore"):
        owed = growth * (at_conversion[:, None] - np.cumsum(payment * discount, axis=1))
        np.maximum(owed, 0.0, out=owed)
        balance = np.where(repaying, owed, build)
        opening = np.concatenate([np.zeros((draws, 1)), balance[:, :-1]], axis=1)
        interest = np.where(repaying, opening * monthly[:, None], 0.0)
        principal = np.where(repaying, opening - balance, 0.0)
        out = [np.empty(payment.shape) for _ in range(3)]
        amortise_rows(payment, discount, growth, at_conversion, repaying, build, monthly, *out)
    assert all(same_bits(a, b) for a, b in zip(out, (balance, interest, principal), strict=True))


def reference_priced_tax(function: PricedNpv, price: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The discounted tax and its slope in the price, by the numpy passes ``PricedNpv`` used before."""
    a = function.arrays
    cumulative = price[:, None] * a["cumulative_volume"]
    cumulative += a["cumulative_base"]
    highest = np.maximum.accumulate(cumulative, axis=1)
    volume = a["cumulative_volume"]
    if function.rising:
        reached = np.where(cumulative == highest, volume, 0.0)
        np.maximum.accumulate(reached, axis=1, out=reached)
    else:
        at = np.maximum.accumulate(np.where(cumulative == highest, np.arange(cumulative.shape[1])[None, :], 0), axis=1)
        reached = np.take_along_axis(volume, at, axis=1)
    reached = np.where(highest > 0, reached, 0.0)
    tax = np.einsum("ij,ij->i", np.maximum(highest, 0.0), a["tax_weights"])
    return tax, np.einsum("ij,ij->i", reached, a["tax_weights"])


@settings(max_examples=200, deadline=None)
@given(floats(NONEMPTY, st.floats(-1e5, 1e5)), st.data())
def test_priced_npv_is_the_numpy_passes(ebitda: np.ndarray, data: Any) -> None:
    draws = ebitda.shape[0]
    volume = data.draw(floats(ebitda.shape, st.floats(-10.0, 100.0)))
    price = data.draw(floats((draws,), st.floats(0.0, 50.0)))
    zeros, ones = np.zeros(ebitda.shape), np.ones(draws)
    function = PricedNpv(Valuation(
        fixed_ebitda=ebitda, volume=volume, deductions=zeros, capex=zeros, tax_rate=0.25 * ones,
        multiple=8.0 * ones, discount_monthly=0.01 * ones, floor=zeros[:, 0], other_cash=zeros,
    ))
    value, slope = function(price)
    tax, tax_slope = reference_priced_tax(function, price)
    a = function.arrays
    last_year = a["last_year_base"] + price * a["last_year_volume"]
    exit_value = a["multiple"] * np.maximum(last_year, 0.0)
    terminal = np.maximum(exit_value, a["floor"])
    terminal_slope = np.where((exit_value > a["floor"]) & (last_year > 0), a["multiple"] * a["last_year_volume"], 0.0)
    assert same_bits(value, a["base_value"] + price * a["volume_value"] - tax + terminal * a["last_factor"])
    assert same_bits(slope, a["volume_value"] - tax_slope + terminal_slope * a["last_factor"])


@settings(max_examples=200, deadline=None)
@given(hnp.arrays(np.float64, st.tuples(st.just(11), st.integers(1, 6), st.integers(1, 14)), elements=MONEY))
def test_cash_lines_are_the_numpy_sums(flows: np.ndarray) -> None:
    cfads, capex, sale, drawn, fees, interest, principal, before, distributions, equity_in, service = flows
    with np.errstate(all="ignore"):
        expected = (
            distributions - equity_in,
            np.where(service > 0, equity_in, 0.0),
            sale - capex,
            drawn - fees - interest - principal + equity_in - distributions,
            drawn + equity_in + np.maximum(cfads, 0.0) + sale,
            capex + fees + interest + principal + distributions + (np.maximum(before, 0.0) - distributions)
            + np.maximum(-cfads, 0.0),
        )
        lines = tuple(np.empty(cfads.shape) for _ in range(6))
        cash_lines_rows(tuple(np.ascontiguousarray(a) for a in flows), lines)
    assert all(same_bits(a, b) for a, b in zip(lines, expected, strict=True))
