"""Finance stage: kernels against numpy-financial, statement identities, debt, and monotonicity."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import numpy_financial as npf
import pytest
import xarray as xr
from hypothesis import given, settings
from hypothesis import strategies as st

from neocloud import load, run
from neocloud.catalog import Catalog
from neocloud.finance import finance
from neocloud.finance.capex import campus_capex
from neocloud.finance.debt import drawdown
from neocloud.finance.kernels import (
    IRR_FOUND,
    IRR_NO_SIGN_CHANGE,
    annual_rate,
    increments,
    irr,
    lagged,
    monthly_rate,
    npv,
    pmt,
    running_total,
    solve_increasing,
)
from neocloud.finance.portfolio import roll_up
from neocloud.finance.statements import tax_paid
from neocloud.finance.valuation import PricedNpv, Valuation, break_even
from neocloud.realise import realise
from neocloud.scenario import Finance
from neocloud.uncertainty import base_case

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def conventional_flows(rng: np.random.Generator, draws: int, periods: int) -> np.ndarray:
    """Outlays in the first quarter of the periods, then inflows: one sign change, so one IRR."""
    flows = rng.uniform(0.5, 2.0, (draws, periods))
    build = max(1, periods // 4)
    flows[:, :build] *= -rng.uniform(3.0, 6.0, (draws, 1))
    return flows


def test_npv_irr_pmt_match_numpy_financial() -> None:
    rng = np.random.default_rng(7)
    flows = conventional_flows(rng, 40, 30)
    rates = rng.uniform(-0.05, 0.3, 40)
    vectorised = npv(rates, flows)
    found, reason = irr(flows)
    assert np.all(reason == IRR_FOUND)
    for row in range(40):
        assert vectorised[row] == pytest.approx(npf.npv(rates[row], flows[row]), rel=1e-9, abs=1e-9)
        assert found[row] == pytest.approx(npf.irr(flows[row]), rel=1e-9, abs=1e-9)
    periods = rng.integers(1, 400, 40)
    principal = rng.uniform(1e3, 1e9, 40)
    assert np.allclose(
        pmt(rates / 12, periods, principal), -npf.pmt(rates / 12, periods, principal), rtol=1e-9
    )
    assert pmt(0.0, 4, 100.0) == pytest.approx(25.0)


def test_irr_of_monthly_project_matches_numpy_financial() -> None:
    rng = np.random.default_rng(3)
    flows = conventional_flows(rng, 5, 240)
    found, _ = irr(flows)
    for row in range(5):
        assert found[row] == pytest.approx(npf.irr(flows[row]), rel=1e-9, abs=1e-12)


def test_irr_reports_why_there_is_none() -> None:
    rate, reason = irr(np.array([[1.0, 2.0, 3.0], [-1.0, -2.0, -3.0], [-100.0, 60.0, 60.0]]))
    assert np.isnan(rate[:2]).all() and list(reason[:2]) == [IRR_NO_SIGN_CHANGE, IRR_NO_SIGN_CHANGE]
    assert reason[2] == IRR_FOUND and rate[2] == pytest.approx(npf.irr([-100.0, 60.0, 60.0]), rel=1e-9)


@settings(max_examples=60, deadline=None)
@given(
    outlay=st.floats(1e3, 1e10),
    inflow_frac=st.floats(0.02, 0.5),
    periods=st.integers(3, 300),
    build=st.integers(1, 24),
)
def test_npv_at_the_irr_is_zero_to_a_cent_per_dollar(
    outlay: float, inflow_frac: float, periods: int, build: int
) -> None:
    build = min(build, periods - 1)
    flows = np.full((1, periods), outlay * inflow_frac)
    flows[0, :build] = -outlay / build
    rate, reason = irr(flows)
    if reason[0] == IRR_FOUND:
        assert abs(npv(rate, flows)[0]) <= 0.01 * outlay
    else:  # no IRR only when the inflows never repay the outlay at any rate above -99%
        assert flows[0, build:].sum() < outlay or reason[0] != IRR_NO_SIGN_CHANGE


def test_rates_convert_both_ways() -> None:
    assert annual_rate(monthly_rate(0.08)) == pytest.approx(0.08, rel=1e-12)


def test_solve_increasing_finds_roots_for_every_draw() -> None:
    targets = np.array([0.5, 3.0, 250.0])
    roots = solve_increasing(lambda x: x**3 - targets, np.zeros(3), np.ones(3))
    assert np.allclose(roots, np.cbrt(targets), rtol=1e-9)


def test_tax_carries_losses_forward() -> None:
    taxable = np.array([[-100.0, 60.0, 60.0, 10.0]])
    paid = tax_paid(taxable, np.array([0.25]))
    assert np.allclose(paid, [[0.0, 0.0, 5.0, 2.5]])


@pytest.fixture(scope="module")
def loughton_run() -> Any:
    """The Loughton GPU cloud through the pipeline once (its upstream stages are reused)."""
    return run(EXAMPLES / "loughton.yaml")


def refinance(results: Any, catalog: Catalog, draws: int = 1, **changes: Any) -> xr.Dataset:
    """The finance stage alone on a run's upstream, with finance fields changed."""
    scenario = base_case(results.scenario)
    fields = {**scenario.finance.model_dump(exclude_none=True), **changes}
    scenario = scenario.model_copy(update={"finance": Finance.model_validate(fields)})
    upstream = results.dataset
    if draws > 1:
        upstream = upstream.isel(draw=np.zeros(draws, dtype=int)).assign_coords(draw=np.arange(draws))
    return finance(realise(scenario, draws, 0), catalog, upstream)


def test_sources_equal_uses_every_month(loughton_run: Any) -> None:
    data = loughton_run.dataset
    assert np.allclose(data["sources_usd"], data["uses_usd"], rtol=1e-9, atol=1e-3)
    net = data["cash_flow_operating_usd"] + data["cash_flow_investing_usd"] + data["cash_flow_financing_usd"]
    assert np.allclose(net, 0.0, atol=1e-3)


def test_debt_never_negative_and_repaid_by_maturity(loughton_run: Any) -> None:
    data = loughton_run.dataset
    balance = data["tranche_balance_usd"].values  # (draw, month, tranche)
    assert (balance >= 0).all()
    maturity = data["tranche_maturity_month"].values  # (draw, tranche)
    months = data.sizes["month"]
    for tranche in range(balance.shape[-1]):
        due = int(maturity[0, tranche])
        assert data["tranche_amount_usd"].values[0, tranche] > 0
        if due <= months:
            assert balance[0, due - 1 :, tranche] == pytest.approx(0.0, abs=1e-3)
    drawn = data["debt_draw_usd"].values[0].sum() + data["capitalised_interest_usd"].values[0].sum()
    assert data["principal_usd"].values[0].sum() == pytest.approx(
        drawn - data["debt_balance_usd"].values[0, -1], rel=1e-9
    )


def test_sculpted_debt_keeps_its_target_dscr(loughton_run: Any, catalog: Catalog) -> None:
    out = refinance(
        loughton_run,
        catalog,
        contracts=[],
        debt=[
            {
                "name": "sculpted",
                "kind": "construction",
                "finances": "all",
                "amortisation": "sculpted",
                "target_dscr": 1.5,
                "tenor_years": 6,
            }
        ],
    )
    assert float(out["min_dscr"].values[0]) >= 1.5 - 1e-6
    assert int(out["dscr_breach_months"].values[0]) == 0


@settings(max_examples=8, deadline=None)
@given(price=st.floats(1.0, 8.0), rise=st.floats(0.05, 2.0))
def test_raising_the_price_raises_npv(loughton_run: Any, catalog: Catalog, price: float, rise: float) -> None:
    low = refinance(loughton_run, catalog, contracts=[], price_usd_per_gpu_hour=price)
    high = refinance(loughton_run, catalog, contracts=[], price_usd_per_gpu_hour=price + rise)
    assert float(high["npv_usd"].values[0]) > float(low["npv_usd"].values[0])


def test_break_even_price_gives_zero_npv(loughton_run: Any, catalog: Catalog) -> None:
    base = refinance(loughton_run, catalog, contracts=[], price_change_per_year=0.0)
    price = float(base["breakeven_usd_per_gpu_hour"].values[0])
    at = refinance(
        loughton_run, catalog, contracts=[], price_change_per_year=0.0, price_usd_per_gpu_hour=price
    )
    assert abs(float(at["npv_usd"].values[0])) <= 1e-6 * float(at["project_capex_usd"].values[0])


def test_lease_rent_raises_npv_and_leaves_it_to_the_tenant(loughton_run: Any, catalog: Catalog) -> None:
    low = refinance(loughton_run, catalog, business_model="lease", lease={"rate_usd_per_kw_month": 120.0})
    high = refinance(loughton_run, catalog, business_model="lease", lease={"rate_usd_per_kw_month": 180.0})
    assert float(high["npv_usd"].values[0]) > float(low["npv_usd"].values[0])
    assert float(high["capex_it_spend_usd"].values.sum()) == 0.0
    assert float(high["project_capex_usd"].values[0]) < float(high["capex_usd"].values[0])


def test_many_draws_match_one_draw(loughton_run: Any, catalog: Catalog) -> None:
    one = refinance(loughton_run, catalog)
    many = refinance(loughton_run, catalog, draws=4)
    for key in ("npv_usd", "equity_irr", "min_dscr", "breakeven_usd_per_gpu_hour"):
        assert np.allclose(many[key].values, one[key].values[0], rtol=1e-9, equal_nan=True)


def test_contract_value_sets_its_price(catalog: Catalog) -> None:
    results = run(EXAMPLES / "stargate-norway.yaml")
    data = results.dataset
    assert float(data["revenue_contract_usd"].values[0].sum()) == pytest.approx(6.2e9, rel=0.02)


def test_roll_up_sums_campuses_by_calendar_month(loughton_run: Any) -> None:
    company = roll_up([loughton_run, loughton_run], valuation_usd=1e10)
    campus = loughton_run.dataset
    assert company.sizes["month"] == campus.sizes["month"]
    assert np.allclose(company["revenue_usd"], 2 * campus["revenue_usd"].values)
    assert float(company["npv_usd"].values[0]) == pytest.approx(
        2 * float(campus["npv_usd"].values[0]), rel=1e-9
    )
    assert float(company["valuation_usd"].values[0]) == 1e10


def test_bad_contract_is_a_scenario_error() -> None:
    scenario = load(EXAMPLES / "loughton.yaml")
    with pytest.raises(ValueError, match="exactly one of price_usd_per_gpu_hour or value_usd"):
        scenario.finance.model_validate({"contracts": [{"name": "x", "share": 0.5}]})


def test_the_shipped_system_prices_are_their_accelerators_and_platform(catalog: Catalog) -> None:
    systems, accelerators = catalog.table("systems"), catalog.table("accelerators")
    for system_id, row in systems.iterrows():
        parts = row["accelerators_per_system"] * accelerators.loc[row["accelerator"], "price_usd"]
        assert parts + row["platform_usd"] == row["price_usd"], system_id


def test_a_dearer_accelerator_raises_the_it_capex(loughton_run: Any, catalog: Catalog) -> None:
    scenario = base_case(loughton_run.scenario)
    phases = [phase.model_copy(update={"system_price_usd": None}) for phase in scenario.campus.phases]
    scenario = scenario.model_copy(update={"campus": scenario.campus.model_copy(update={"phases": phases})})
    system = scenario.campus.phases[0].system
    accelerator = str(catalog.row("systems", system)["accelerator"])
    price = catalog.value("accelerators", accelerator, "price_usd")
    dearer = catalog.with_rows({"accelerators": [{"id": accelerator, "price_usd": price + 1000.0}]})
    upstream = loughton_run.dataset
    before = campus_capex(realise(scenario, 1, 0), catalog, upstream)["it"]
    after = campus_capex(realise(scenario, 1, 0), dearer, upstream)["it"]
    systems = upstream["phase_systems"].values.sum()
    per_system = float(catalog.row("systems", system)["accelerators_per_system"])
    assert after[0] - before[0] == pytest.approx(1000.0 * per_system * systems, rel=1e-9)


def random_valuation(rng: np.random.Generator, draws: int, months: int, lowest_volume: float,
                     building_months: int) -> Valuation:
    """Random monthly flows to price: capex over the first ``building_months``, volumes from
    ``lowest_volume`` (negative: the cumulative volume can fall) to 2."""
    return Valuation(
        fixed_ebitda=rng.normal(-2.0, 3.0, (draws, months)),
        volume=rng.uniform(lowest_volume, 2.0, (draws, months)),
        deductions=rng.uniform(0.0, 2.0, (draws, months)),
        capex=np.where(np.arange(months) < building_months, rng.uniform(5.0, 10.0, (draws, months)), 0.0),
        tax_rate=np.full(draws, 0.25),
        multiple=np.full(draws, 6.0),
        discount_monthly=np.full(draws, 0.006),
        floor=rng.uniform(0.0, 50.0, draws),
        other_cash=np.zeros((draws, months)),
    )


@settings(max_examples=20, deadline=None)
@given(seed=st.integers(0, 2**16), months=st.integers(24, 240))
def test_break_even_slope_is_exact_and_the_price_zeroes_npv(seed: int, months: int) -> None:
    rng = np.random.default_rng(seed)
    draws = 6
    valuation = random_valuation(rng, draws, months, lowest_volume=0.5, building_months=months // 4)
    function = PricedNpv(valuation)
    price = rng.uniform(1.0, 8.0, draws)
    value, slope = function(price)
    step = 1e-6 * price
    # one side of the price is free of kinks (a kink within a step of it bends a central difference)
    forward = (function(price + step)[0] - value) / step
    backward = (value - function(price - step)[0]) / step
    close = {"rtol": 1e-5, "atol": 1e-6}
    assert np.all(np.isclose(slope, forward, **close) | np.isclose(slope, backward, **close))
    found = break_even(valuation, np.full(draws, 3.0))
    scale = np.abs(valuation.capex).sum(axis=1) + 1.0
    value, _ = function(np.nan_to_num(found))
    assert np.all(np.isnan(found) | (found == 0) | (np.abs(value) <= 1e-9 * scale))


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**16), zero=st.booleans())
def test_pass_saving_kernels_keep_numpys_bits(seed: int, zero: bool) -> None:
    rng = np.random.default_rng(seed)
    values = np.where(rng.uniform(size=(5, 30)) < 0.3, 0.0, rng.normal(size=(5, 30)))
    if zero:
        values = np.zeros((5, 30))
    assert running_total(values).tobytes() == np.cumsum(values, axis=1).tobytes()
    assert increments(values).tobytes() == np.diff(values, axis=1, prepend=0.0).tobytes()
    signed = -np.zeros((2, 4))  # -0.0 sums to -0.0: the running total must not take the zeros shortcut
    assert running_total(signed).tobytes() == np.cumsum(signed, axis=1).tobytes()
    # an interpolated lag per draw reads the same as take_along_axis on the padded rows
    lag = rng.uniform(-2.0, 40.0, 5)
    cumulative = np.cumsum(np.abs(values), axis=1)
    position = np.arange(30)[None, :] - lag[:, None]
    floor = np.floor(position)
    padded = np.concatenate([np.zeros((5, 1)), cumulative], axis=1)
    below = np.take_along_axis(padded, np.clip(floor + 1, 0, 30).astype(np.int64), axis=1)
    above = np.take_along_axis(padded, np.clip(floor + 2, 0, 30).astype(np.int64), axis=1)
    expected = (1 - (position - floor)) * below + (position - floor) * above
    assert lagged(cumulative, lag).tobytes() == expected.tobytes()


def test_break_even_slope_is_exact_with_negative_volume() -> None:
    # a negative volume makes the cumulative volume fall: the slope then gathers it at the month reached
    rng = np.random.default_rng(7)
    draws, months = 5, 60
    valuation = random_valuation(rng, draws, months, lowest_volume=-0.5, building_months=12)
    function = PricedNpv(valuation)
    assert not function.rising
    price = rng.uniform(1.0, 8.0, draws)
    _, slope = function(price)
    step = 1e-6 * price
    finite = (function(price + step)[0] - function(price - step)[0]) / (2 * step)
    assert np.allclose(slope, finite, rtol=1e-5, atol=1e-6)
    value, _ = function(price)
    flows = valuation.project_flows(valuation.fixed_ebitda + price[:, None] * valuation.volume)[1]
    assert np.allclose(value, npv(valuation.discount_monthly, flows), rtol=1e-10, atol=1e-9)


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**16), months=st.integers(2, 60))
def test_shortcut_schedules_keep_the_full_formulas_bits(seed: int, months: int) -> None:
    # the drawdown over the months before the latest conversion only, the tranche balance chosen once, the tax
    # in place and the terminal value without zeros: each the same bits as the written-out formula
    rng = np.random.default_rng(seed)
    draws = 6
    month = np.arange(months)[None, :].astype(float)
    conversion = rng.integers(0, months + 1, draws).astype(float)
    drawing = month < conversion[:, None]
    drawn = np.where(drawing, rng.uniform(0.0, 5.0, (draws, months)), 0.0)
    log_growth = np.log1p(rng.uniform(0.0, 0.01, draws))[:, None]
    discounted = np.cumsum(drawn * np.exp(-log_growth * month), axis=1)
    full = np.where(drawing, discounted * np.exp(log_growth * (month + 1)), 0.0)
    previous = np.concatenate([np.zeros((draws, 1)), full[:, :-1]], axis=1)
    capitalised = np.where(drawing, full - previous - drawn, 0.0)
    balance, interest = drawdown(drawn, log_growth, month, drawing, conversion)
    assert balance.tobytes() == full.tobytes() and interest.tobytes() == capitalised.tobytes()
    # repayment months after conversion, disjoint from the drawing ones
    maturity = conversion + rng.integers(1, 30, draws)
    repaying = (month >= conversion[:, None]) & (month < maturity[:, None])
    owed = rng.normal(0.0, 3.0, (draws, months))
    written = np.where(repaying, owed, 0.0)
    written = np.where(month >= maturity[:, None], 0.0, np.maximum(written, 0.0))
    written = np.where(drawing, full, written)
    assert np.where(repaying, np.maximum(owed, 0.0), full).tobytes() == written.tobytes()
    taxable, rate = rng.normal(0.0, 2.0, (draws, months)), rng.uniform(0.0, 0.4, draws)
    expected = rate[:, None] * np.diff(
        np.maximum(np.maximum.accumulate(np.cumsum(taxable, axis=1), axis=1), 0.0), axis=1, prepend=0.0
    )
    assert tax_paid(taxable, rate).tobytes() == expected.tobytes()
    flows = np.where(rng.uniform(size=(draws, months)) < 0.2, -0.0, taxable)
    terminal = np.zeros_like(flows)
    terminal[:, -1] = rate
    with_terminal = np.add(flows, 0.0)
    with_terminal[:, -1] = flows[:, -1] + rate
    assert with_terminal.tobytes() == (flows + terminal).tobytes()
