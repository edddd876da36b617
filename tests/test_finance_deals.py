"""Finance stage against the deals in the news: contracts, opex by cost class, debt sized to a DSCR, residual
values, and the seed campuses' figures set against public terms."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import numpy_financial as npf
import pytest
import xarray as xr
from hypothesis import given, settings
from hypothesis import strategies as st

from neocloud import ScenarioError, run
from neocloud.calendar import months_between
from neocloud.catalog import Catalog
from neocloud.finance import finance
from neocloud.finance.debt import debt_schedule
from neocloud.finance.revenue import fleet_value, resale_frac
from neocloud.finance.statements import cash_trap
from neocloud.programme import load_programme, run_programme
from neocloud.realise import realise
from neocloud.scenario import Finance
from neocloud.uncertainty import base_case

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


@pytest.fixture(scope="module")
def seeds() -> dict[str, Any]:
    """The seed campuses and the IREN deal, each run once at its base case."""
    names = ("loughton", "stargate-norway", "abilene", "colossus-memphis", "iren-childress")
    return {name: run(EXAMPLES / f"{name}.yaml") for name in names}


def figure(results: Any, key: str) -> float:
    return float(np.median(results.dataset[key].values))


def refinance(results: Any, catalog: Catalog, **changes: Any) -> xr.Dataset:
    """The finance stage alone on a run's upstream, with finance fields changed."""
    scenario = base_case(results.scenario)
    fields = {**scenario.finance.model_dump(exclude_none=True), **changes}
    scenario = scenario.model_copy(update={"finance": Finance.model_validate(fields)})
    return finance(realise(scenario, 1, 0), catalog, results.dataset)


# --- the seed campuses on their contracts, set against public deals ---------------------------------------


@pytest.mark.parametrize("name", ["loughton", "stargate-norway", "iren-childress"])
def test_contracted_gpu_clouds_sit_in_the_public_range(seeds: dict[str, Any], name: str) -> None:
    # project EBITDA margins: CoreWeave 62% adjusted (with colocation rent and overheads), IREN 85% (project)
    results = seeds[name]
    assert 0.62 <= figure(results, "ebitda_margin") <= 0.92
    assert 0.08 <= figure(results, "project_irr") <= 0.40
    assert 0.10 <= figure(results, "equity_irr") <= 0.45
    assert figure(results, "contracted_revenue_usd") > 0


def test_iren_deal_is_reproduced_from_its_public_terms(seeds: dict[str, Any]) -> None:
    iren = seeds["iren-childress"]
    assert figure(iren, "revenue_usd_per_year") == pytest.approx(1.94e9, rel=0.02)  # management's ARR
    assert figure(iren, "ebitda_margin") == pytest.approx(0.85, abs=0.04)  # management's 85%
    # lenders' sizing on the contract lands near the 2.5 billion USD of GPU financing IREN targets
    assert 1.8e9 <= figure(iren, "debt_usd") <= 3.4e9
    # the 20% prepayment arrives in cash and is credited back within the term
    deferred = iren.dataset["prepayment_net_usd"].values[0]
    assert deferred.max() == pytest.approx(0.2 * 9.7e9, rel=1e-6)
    assert deferred.sum() == pytest.approx(0.0, abs=1.0)


def test_lease_campus_rent_is_near_public_leases(seeds: dict[str, Any]) -> None:
    # Applied Digital 139-156 and Core Scientific 121 USD per kW-month averaged over their terms
    abilene = seeds["abilene"]
    assert 115 <= figure(abilene, "rent_usd_per_kw_month") <= 185
    assert 0.70 <= figure(abilene, "ebitda_margin") <= 0.95
    assert figure(abilene, "residual_value_usd") == 0.0  # the tenant owns the IT


def test_owner_operator_is_valued_at_rent_or_cost(seeds: dict[str, Any], catalog: Catalog) -> None:
    colossus = seeds["colossus-memphis"]
    assert colossus.scenario.finance.business_model == "owner_operator"
    assert figure(colossus, "revenue_contract_usd") == 0.0
    at_cost = refinance(colossus, catalog, owner_value="cost")
    assert float(at_cost["revenue_usd"].values.sum()) == 0.0
    assert float(at_cost["cost_usd_per_gpu_hour"].values[0]) == pytest.approx(
        figure(colossus, "cost_usd_per_gpu_hour"), rel=1e-12
    )


@pytest.mark.parametrize("name", ["loughton", "stargate-norway", "abilene", "iren-childress"])
def test_sized_debt_keeps_its_covenant(seeds: dict[str, Any], name: str) -> None:
    data = seeds[name].dataset
    covenant = data["tranche_covenant_dscr"].values.max() if "tranche_covenant_dscr" in data else 1.2
    assert figure(seeds[name], "min_dscr") >= covenant - 1e-9
    assert figure(seeds[name], "dscr_breach_months") == 0
    assert figure(seeds[name], "debt_usd") <= figure(seeds[name], "debt_capacity_usd") + 1.0


def test_unfinanceable_debt_is_told_with_the_numbers(seeds: dict[str, Any], catalog: Catalog) -> None:
    loughton = seeds["loughton"]
    greedy = [{"name": "all of it", "kind": "gpu", "share": 1.0, "tenor_years": 3, "size_to_dscr": False}]
    with pytest.raises(ScenarioError, match=r"finance\.debt\.0: the debt is unfinanceable: .*DSCR is \d"):
        refinance(loughton, catalog, debt=greedy)


def test_portfolio_prints_cost_per_gpu_hour_and_margin() -> None:
    results = run_programme(load_programme(EXAMPLES / "nscale-portfolio.yaml"))
    summary = results.summary()
    assert 1.0 < summary["cost_usd_per_gpu_hour"] < 6.0
    assert 0.5 < summary["ebitda_margin"] < 0.95
    assert summary["debt_usd"] > 0


# --- contracts, opex, residual value -----------------------------------------------------------------------


def test_expiry_options_change_the_tail(seeds: dict[str, Any], catalog: Catalog) -> None:
    loughton = seeds["loughton"]
    contract = loughton.scenario.finance.contracts[0].model_dump(exclude_none=True)
    contract["value_usd"] = 3.0e9
    outcomes = {
        option: refinance(loughton, catalog, contracts=[{**contract, "at_expiry": option}], debt=[])
        for option in ("spot", "recontract", "sell")
    }
    sold = outcomes["sell"]
    assert float(sold["asset_sale_usd"].values.sum()) > 0
    assert float(sold["residual_value_usd"].values[0]) == 0.0  # nothing left to sell at the horizon
    months = sold.sizes["month"]
    end = int(np.argmax(sold["asset_sale_usd"].values[0] > 0))
    assert float(sold["revenue_usd"].values[0, end:].sum()) == 0.0
    assert end < months
    spot, again = outcomes["spot"], outcomes["recontract"]
    assert float(again["revenue_contract_usd"].values.sum()) > float(spot["revenue_contract_usd"].values.sum())


def test_opex_classes_follow_the_region(seeds: dict[str, Any], catalog: Catalog) -> None:
    loughton = seeds["loughton"].dataset
    # the UK does not tax servers as property; Texas does
    assert float(loughton["opex_property_tax_usd"].values.sum()) > 0
    iren = seeds["iren-childress"].dataset
    uk_servers = catalog.value("opex_rates", "uk", "property_tax_servers_frac_per_year")
    tx_servers = catalog.value("opex_rates", "ercot-tx", "property_tax_servers_frac_per_year")
    assert uk_servers == 0 < tx_servers
    non_energy = float(iren["opex_usd"].values[0, -12:].sum() - iren["opex_energy_usd"].values[0, -12:].sum())
    it_capex = float(iren["capex_it_usd"].values[0])
    # all non-power costs a year come to a few per cent of the hardware, as IREN's 85% margin implies
    assert 0.02 <= non_energy / it_capex <= 0.06


def test_leased_land_pays_ground_rent_instead(seeds: dict[str, Any], catalog: Catalog) -> None:
    abilene = seeds["abilene"]
    owned = refinance(abilene, catalog)
    leased = refinance(abilene, catalog, land="leased")
    assert float(leased["capex_land_usd"].values[0]) == 0.0 < float(owned["capex_land_usd"].values[0])
    assert float(leased["opex_ground_rent_usd"].values.sum()) > 0.0


@settings(max_examples=80, deadline=None)
@given(
    accelerator=st.sampled_from(["a100-sxm", "h100-sxm", "h200-sxm", "b200", "gb200", "gb300", "mi300x"]),
    ages=st.lists(st.floats(0.0, 40.0), min_size=1, max_size=12),
)
def test_residual_value_never_exceeds_the_purchase_price(catalog: Catalog, accelerator: str, ages: list[float]) -> None:
    fracs = resale_frac(catalog, accelerator, np.array(ages))
    assert np.all((fracs > 0) & (fracs <= 1.0))
    order = np.argsort(ages)
    assert np.all(np.diff(fracs[order]) <= 1e-15)  # never rises with age


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 10_000), at=st.integers(0, 59))
def test_fleet_value_is_at_most_what_was_paid(catalog: Catalog, seed: int, at: int) -> None:
    spend = np.random.default_rng(seed).uniform(0, 1e8, (3, 60)) * (np.arange(60) < 24)
    value = fleet_value(catalog, "gb300", spend, np.full(3, float(at)))
    paid = (spend * (np.arange(60) <= at)).sum(axis=1)
    assert np.all(value <= paid + 1e-6)


# --- debt sized jointly ------------------------------------------------------------------------------------


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    target=st.floats(1.05, 2.0),
    shares=st.lists(st.floats(0.1, 1.0), min_size=1, max_size=3),
    sculpted=st.lists(st.booleans(), min_size=3, max_size=3),
)
def test_total_service_never_exceeds_cfads_over_the_target(
    catalog: Catalog, seed: int, target: float, shares: list[float], sculpted: list[bool]
) -> None:
    rng = np.random.default_rng(seed)
    draws, months = 4, 120
    spend = np.zeros((draws, months))
    spend[:, :18] = rng.uniform(1e7, 5e7, (draws, 18))
    cfads = rng.uniform(-2e6, 2.5e7, (draws, months)) * (np.arange(months) >= 18)
    tranches = [
        {
            "name": f"t{index}",
            "kind": "construction",
            "finances": "facility",
            "share": share,
            "tenor_years": 4 + 2 * index,
            "target_dscr": target,
            "amortisation": "sculpted" if sculpted[index] else "level",
        }
        for index, share in enumerate(shares)
    ]
    debt_terms = Finance.model_validate({"debt": tranches}).debt
    scenario = SimpleNamespace(finance=SimpleNamespace(debt=debt_terms, contracts=[]))
    debt = debt_schedule(scenario, catalog, {"facility": spend, "it": np.zeros_like(spend)}, cfads)
    service = debt.service
    assert np.all(service <= np.maximum(cfads, 0.0) / target * (1 + 1e-9) + 1e-3)
    assert np.all(debt.amount_usd <= debt.requested_usd + 1e-6)


def test_cash_trap_holds_distributions_until_the_cover_recovers() -> None:
    before = np.array([[-5.0, 10.0, 10.0, 10.0, 10.0, 10.0]])
    cover = np.array([[np.nan, 1.5, 1.0, 1.0, 1.4, 1.5]])
    distributions, equity_in, trapped = cash_trap(before, cover, np.array([1.2]))
    assert trapped[0].tolist() == [0.0, 0.0, 10.0, 10.0, 0.0, 0.0]
    assert distributions[0].tolist() == [0.0, 10.0, 0.0, 0.0, 30.0, 10.0]
    assert equity_in[0, 0] == 5.0
    assert distributions.sum() == np.maximum(before, 0).sum()


def test_interest_during_construction_and_fees_join_the_tax_basis(seeds: dict[str, Any]) -> None:
    data = seeds["abilene"].dataset
    deductions = float(data["financing_deductions_usd"].values[0].sum())
    capitalised = float(data["capitalised_interest_usd"].values[0].sum())
    fees = float(data["debt_fees_usd"].values[0].sum())
    assert 0 < deductions < capitalised + fees
    # a 12-year loan's fees are spread over its tenor, not deducted when paid
    assert float(data["financing_deductions_usd"].values[0].max()) < fees


# --- cross-check against numpy-financial on a simple lease -------------------------------------------------


def test_lease_case_matches_numpy_financial(seeds: dict[str, Any], catalog: Catalog) -> None:
    """A lease campus with one level loan: the loan's payments and balances, the project NPV and IRR, rebuilt
    with numpy-financial from the twin's own monthly flows and terms."""
    abilene = seeds["abilene"]
    loan = {"name": "term loan", "kind": "construction", "share": 0.3, "tenor_years": 10,
            "amortisation": "level", "size_to_dscr": False, "rate_per_year": 0.072}
    out = refinance(abilene, catalog, debt=[loan], lease={"rate_usd_per_kw_month": 140.0, "term_years": 15})
    conversion = int(out["tranche_conversion_month"].values[0, 0])
    balance = out["tranche_balance_usd"].values[0, :, 0]
    rate, periods = 0.072 / 12, 120
    principal_at_conversion = balance[conversion - 1]
    payment = -npf.pmt(rate, periods, principal_at_conversion)
    service = out["debt_service_usd"].values[0]
    assert service[conversion : conversion + 24] == pytest.approx(np.full(24, payment), rel=1e-10)
    months = np.arange(1, 25)
    expected = npf.fv(rate, months, payment, -principal_at_conversion)
    assert balance[conversion : conversion + 24] == pytest.approx(expected, rel=1e-9)
    interest = -npf.ipmt(rate, months, periods, principal_at_conversion)
    assert out["interest_usd"].values[0, conversion : conversion + 24] == pytest.approx(interest, rel=1e-9)
    flows = out["project_cash_flow_usd"].values[0] + out["terminal_value_usd"].values[0]
    monthly = (1 + float(out["discount_rate"].values[0])) ** (1 / 12) - 1
    assert float(out["npv_usd"].values[0]) == pytest.approx(npf.npv(monthly, flows), rel=1e-9)
    assert float(out["project_irr"].values[0]) == pytest.approx((1 + npf.irr(flows)) ** 12 - 1, abs=1e-9)


def test_company_example_prints_cost_per_gpu_hour_and_margin() -> None:
    results = run_programme(load_programme(EXAMPLES / "neocloud-company.yaml"))
    summary = results.summary()
    assert 1.0 < summary["cost_usd_per_gpu_hour"] < 5.0
    assert 0.5 < summary["ebitda_margin"] < 0.95
    assert summary["contracted_revenue_usd"] > 1e10


def test_report_shows_contracted_revenue_apart_from_the_tail(seeds: dict[str, Any]) -> None:
    from neocloud.report.finance import section

    html = section(seeds["loughton"])
    assert "Contracted" in html and "Spot or merchant" in html and "public benchmark" in html


def test_unfinanceable_debt_exits_2_naming_the_file(tmp_path: Path) -> None:
    text = (EXAMPLES / "loughton.yaml").read_text(encoding="utf-8").replace(
        "{name: GPU-backed delayed-draw loan, kind: gpu, share: 0.7}",
        "{name: GPU-backed delayed-draw loan, kind: gpu, share: 1.0, tenor_years: 3, size_to_dscr: false}",
    )
    path = tmp_path / "greedy.yaml"
    path.write_text(text, encoding="utf-8")
    done = subprocess.run(
        [sys.executable, "-m", "neocloud.cli", "run", str(path)],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1] / "src")},
    )
    assert done.returncode == 2
    assert "greedy.yaml: finance.debt.0: the debt is unfinanceable" in done.stderr + done.stdout
    assert "Traceback" not in done.stderr


def test_gpu_loan_spread_follows_the_offtakers_credit(seeds: dict[str, Any], catalog: Catalog) -> None:
    loughton = seeds["loughton"]
    contract = loughton.scenario.finance.contracts[0].model_dump(exclude_none=True)
    contract["value_usd"] = 3.0e9
    rates = {}
    for credit in ("investment_grade", "non_investment_grade"):
        out = refinance(loughton, catalog, contracts=[{**contract, "credit": credit}])
        rates[credit] = float(out["tranche_rate_per_year"].values[0, 0])
    base = catalog.value("finance_defaults", "base_rate_per_year")
    assert rates["investment_grade"] == pytest.approx(base + 0.06)
    assert rates["non_investment_grade"] == pytest.approx(base + 0.13)


@settings(max_examples=12, deadline=None)
@given(
    prepaid=st.floats(0.0, 0.4),
    expiry=st.sampled_from(["spot", "recontract", "sell"]),
    share=st.floats(0.2, 1.0),
    sculpted=st.booleans(),
)
def test_sources_equal_uses_for_any_deal(
    seeds: dict[str, Any], catalog: Catalog, prepaid: float, expiry: str, share: float, sculpted: bool
) -> None:
    loughton = seeds["loughton"]
    contract = {"name": "offtaker", "share": 0.8, "value_usd": 2.5e9, "term_months": 48,
                "prepayment_frac": prepaid, "at_expiry": expiry}
    debt = [{"name": "gpu", "kind": "gpu", "share": share},
            {"name": "facility", "kind": "construction", "share": share, "tenor_years": 8,
             "amortisation": "sculpted" if sculpted else "level"}]
    out = refinance(loughton, catalog, contracts=[contract], debt=debt)
    assert np.allclose(out["sources_usd"], out["uses_usd"], rtol=1e-9, atol=1e-3)
    assert float(out["min_dscr"].values[0]) >= float(out["tranche_covenant_dscr"].values.max()) - 1e-9
    assert float(out["residual_value_usd"].values[0]) <= float(out["capex_it_usd"].values[0])


def test_refresh_replaces_the_fleet_and_a_new_contract_takes_it(seeds: dict[str, Any], catalog: Catalog) -> None:
    loughton = seeds["loughton"]
    first = {"name": "first", "share": 1.0, "value_usd": 3.0e9, "term_months": 60}
    second = {"name": "second", "share": 1.0, "price_usd_per_gpu_hour": 3.0, "term_months": 60,
              "start": "2032-03"}
    aged = refinance(loughton, catalog, contracts=[first])
    refreshed = refinance(loughton, catalog, contracts=[first, second], refresh_after_years=5)
    it_capex = float(aged["capex_it_usd"].values[0])
    spent = float(refreshed["capex_it_spend_usd"].values[0].sum())
    assert spent == pytest.approx(3 * it_capex, rel=1e-6)  # the first fleet and two replacements in 12 years
    sales = refreshed["asset_sale_usd"].values[0]
    assert sales.sum() == pytest.approx(2 * it_capex * float(resale_frac(catalog, "gb300", np.array(5.0))), rel=1e-6)
    # the second contract takes the whole fleet once the first has expired
    start = months_between(loughton.scenario.start, "2032-03")
    assert 0 < start < refreshed.sizes["month"]
    online = float(loughton.dataset["accelerators_online"].values[0, start + 1])
    billed = float(refreshed["revenue_contract_usd"].values[0, start + 1])
    assert billed == pytest.approx(online * 730.0 * 3.0, rel=1e-9)  # take-or-pay on the whole fleet
    assert float(refreshed["revenue_contract_usd"].values[0, start:].sum()) > 0
    assert float(refreshed["residual_value_usd"].values[0]) > float(aged["residual_value_usd"].values[0])
    assert np.allclose(refreshed["sources_usd"], refreshed["uses_usd"], rtol=1e-9, atol=1e-3)
    # the GPU loan is drawn against the first fleet only
    drawn = float(refreshed["debt_draw_usd"].values.sum())
    assert drawn == pytest.approx(float(aged["debt_draw_usd"].values.sum()), rel=0.05)
