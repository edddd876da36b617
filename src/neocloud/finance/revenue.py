"""What the campus earns each month: a lease per kW-month of critical IT, or GPU-hours sold under committed
contracts and on demand."""

from __future__ import annotations

from dataclasses import dataclass, replace
from functools import cached_property
from typing import Any

import numpy as np
import xarray as xr

from neocloud.calendar import months_between
from neocloud.catalog import Catalog, world_default
from neocloud.compiled import cumsum
from neocloud.errors import ScenarioError
from neocloud.finance.kernels import first_month, lagged
from neocloud.scenario import Realised
from neocloud.units import HOURS_PER_MONTH, KW_PER_MW, MONTHS_PER_YEAR


@dataclass(frozen=True)
class Revenue:
    """Monthly revenue (draw, month) in USD, by stream, and the volumes a uniform price is applied to."""

    total: np.ndarray
    contract: np.ndarray  # committed GPU-cloud contracts
    spot: np.ndarray  # on-demand GPU-hours (an owner-operator's: what renting them would have cost)
    rent: np.ndarray  # lease rent
    pass_through: np.ndarray  # energy reimbursed by a tenant
    gpu_hours_sold: np.ndarray  # GPU-hours billed (contracts and on demand), or used by the tenant
    kw_months: np.ndarray  # kW of critical IT let (lease), or online (GPU cloud), per month
    contract_price_usd_per_gpu_hour: np.ndarray  # (contract, draw) price in the first month of each term
    contracted: np.ndarray  # revenue under a contract or a lease term (what GPU-backed lenders count)
    deferred: np.ndarray  # cash received less revenue recognised: prepayments in, their credits out
    retained_frac: np.ndarray  # share of the fleet still owned (contracts whose GPUs are sold at expiry)
    sale_usd: np.ndarray  # proceeds of GPUs sold at a contract's expiry
    contract_value_usd: np.ndarray  # (draw,) revenue contracted over the contracts' or lease's terms

    @cached_property
    def net(self) -> np.ndarray:
        """Revenue (draw, month) net of the energy passed through, USD: computed once, then kept (the debt
        sizing, the valuation, the run rate and the break-evens' reference prices all read it)."""
        return self.total - self.pass_through

    @cached_property
    def net_sum(self) -> np.ndarray:
        """``net`` summed over the months (draw,), USD."""
        return self.net.sum(axis=1)


def default(catalog: Catalog, name: str) -> float:
    """A finance default from the catalog (``finance_defaults.value``)."""
    return catalog.value("finance_defaults", name, "value")


def or_default(value: Any, fallback: float, draws: int) -> np.ndarray:
    """A realised scenario value as an array (draw,), or the fallback where the scenario leaves it unset."""
    return np.broadcast_to(np.asarray(fallback if value is None else value, dtype=float), (draws,)).copy()


def accelerator_of(scenario: Realised, catalog: Catalog) -> str:
    """The accelerator of the campus's first phase (the rental price list is per accelerator)."""
    return str(catalog.row("systems", scenario.campus.phases[0].system)["accelerator"])


def escalation(rate_per_year: np.ndarray, months_since: np.ndarray, stepped: bool) -> np.ndarray:
    """Growth factor (draw, month) after ``months_since`` at ``rate_per_year``: annual steps, or smooth."""
    years = np.maximum(months_since, 0.0) / MONTHS_PER_YEAR
    if stepped:
        years = np.floor(years)
    return np.exp(np.log1p(rate_per_year)[:, None] * years)


def resale_frac(catalog: Catalog, accelerator: str, age_years: np.ndarray) -> np.ndarray:
    """Resale value over the purchase price after ``age_years`` of service (catalog ``residual_values``):
    falling linearly to ``first_year_frac`` over the first year, then by ``decline_per_year`` a year, never
    below ``floor_frac`` nor above 1."""
    row = catalog.row("residual_values", accelerator)
    first, decline, floor = (float(row[name]) for name in ("first_year_frac", "decline_per_year", "floor_frac"))
    age = np.maximum(np.asarray(age_years, dtype=float), 0.0)
    curve = np.where(age < 1.0, 1.0 - (1.0 - first) * age, first * (1.0 - decline) ** (age - 1.0))
    return np.clip(curve, floor, 1.0)


def fleet_value(catalog: Catalog, accelerator: str, it_spend: np.ndarray, at_month: np.ndarray) -> np.ndarray:
    """Resale value (draw,) at ``at_month`` (draw,) of the IT bought by then (``it_spend`` (draw, month))."""
    at = np.asarray(at_month, dtype=float)
    if not it_spend.any() and not np.signbit(it_spend).any() and np.isfinite(at).all():
        catalog.row("residual_values", accelerator)  # the same error for an accelerator without a curve
        return np.zeros(it_spend.shape[0])  # no IT owned (a lease): the same zeros, without the resale curve
    month = np.arange(it_spend.shape[1])[None, :]
    age = (at[:, None] - month) / MONTHS_PER_YEAR
    bought = month <= at[:, None]
    return (it_spend * bought * resale_frac(catalog, accelerator, age)).sum(axis=1)


@dataclass(frozen=True)
class Term:
    """One contract's term on the month axis: start and end months (draw,) and the months it is active."""

    start: np.ndarray
    end: np.ndarray
    active: np.ndarray  # (draw, month)


def contract_term(scenario: Realised, contract: Any, first: np.ndarray, months: int, offset: np.ndarray) -> Term:
    """The months a contract runs: from its start (or the first month online) for its term, shifted by
    ``offset`` months (a re-contracted second term)."""
    draws = first.shape[0]
    start = (
        first
        if contract.start is None
        else np.full(draws, float(months_between(scenario.start, contract.start)))
    ) + offset
    end = start + np.asarray(contract.term_months, dtype=float)
    month = np.arange(months)[None, :]
    return Term(start, end, (month >= start[:, None]) & (month < end[:, None]))


def prepayment(
    contract: Any, catalog: Catalog, term: Term, value: np.ndarray, months: int
) -> np.ndarray:
    """Cash received less revenue recognised (draw, month): the prepayment at the start of the term, then
    credited evenly against the bills from the credit start to the end of the term."""
    frac = np.asarray(contract.prepayment_frac, dtype=float)
    out = np.zeros((term.start.shape[0], months))
    if not np.any(frac > 0):
        return out
    credit_start = or_default(
        contract.prepayment_credit_start_years, default(catalog, "prepayment_credit_start_years"), 1
    )[0] * MONTHS_PER_YEAR
    month = np.arange(months)[None, :]
    first_credit = term.start + np.minimum(credit_start, term.end - term.start - 1.0)
    crediting = (month >= first_credit[:, None]) & (month < term.end[:, None])
    received = frac * value
    out -= crediting * (received / np.maximum(term.end - first_credit, 1.0))[:, None]
    rows = np.nonzero((term.start >= 0) & (term.start < months))[0]
    out[rows, term.start[rows].astype(np.int64)] += received[rows]
    return out


def refresh_months(scenario: Realised, draws: int) -> np.ndarray | None:
    """Months after which each cohort of GPUs is replaced (draw,), or None when the fleet is not refreshed."""
    after = scenario.finance.refresh_after_years
    if after is None:
        return None
    return np.maximum(np.broadcast_to(np.asarray(after, dtype=float), (draws,)) * MONTHS_PER_YEAR, 1.0)


def price_change(scenario: Realised, catalog: Catalog, draws: int) -> np.ndarray:
    """Yearly change of the on-demand price (draw,): the scenario's, else the catalog's for its accelerator."""
    row = catalog.row("gpu_rental_prices", accelerator_of(scenario, catalog), field="finance.price_usd_per_gpu_hour")
    return or_default(scenario.finance.price_change_per_year, float(row["price_change_per_year"]), draws)


def spot_price_path(scenario: Realised, catalog: Catalog, first: np.ndarray, months: int) -> np.ndarray:
    """On-demand price (draw, month): from the first month online it changes each year by the catalog's (or
    the scenario's) rate; a refreshed fleet starts again from the launch price at each refresh."""
    fin = scenario.finance
    draws = first.shape[0]
    row = catalog.row("gpu_rental_prices", accelerator_of(scenario, catalog), field="finance.price_usd_per_gpu_hour")
    spot_price = or_default(fin.price_usd_per_gpu_hour, float(row["price_usd_per_gpu_hour"]), draws)
    change = price_change(scenario, catalog, draws)
    age = np.arange(months)[None, :] - first[:, None]
    cycle = refresh_months(scenario, draws)
    if cycle is not None:
        age = np.where(age > 0, np.mod(age, cycle[:, None]), age)
    return spot_price[:, None] * escalation(change, age, stepped=False)


def one_contract(
    scenario: Realised, catalog: Catalog, index: int, online: np.ndarray, taken: np.ndarray, it_spend: np.ndarray
) -> dict[str, Any]:
    """One contract's revenue, reserved and billed GPU-hours, prepayment cash and GPU sales (draw, month),
    given the share of the fleet that earlier contracts hold in each month (``taken``)."""
    fin, contract = scenario.finance, scenario.finance.contracts[index]
    draws, months = online.shape
    month = np.arange(months)[None, :]
    first = first_month(online > 0)
    utilisation = or_default(fin.utilisation, world_default("finance.utilisation"), draws)
    term = contract_term(scenario, contract, first, months, np.zeros(draws))
    again = contract_term(scenario, contract, first, months, term.end - term.start)
    renewed = again.active if contract.at_expiry == "recontract" else np.zeros_like(again.active)
    asked = np.broadcast_to(np.asarray(contract.share, dtype=float), (draws,))[:, None]
    share = np.minimum(asked, np.maximum(1.0 - taken, 0.0)) * (term.active | renewed)
    billed_rate = share * online * HOURS_PER_MONTH * np.maximum(
        np.asarray(contract.take_or_pay_frac, dtype=float), utilisation
    )[:, None]
    growth = escalation(np.asarray(contract.escalator_per_year, dtype=float), month - term.start[:, None], True)
    price = contract_price(contract, f"finance.contracts.{index}", billed_rate * term.active, growth, term)
    value = (billed_rate * term.active * growth).sum(axis=1) * price
    value += np.maximum(term.end - months, 0.0) * (billed_rate * growth)[:, -1] * price * (term.end > months)
    # a second term at the price the market has fallen (or risen) to over the first
    change = price_change(scenario, catalog, draws)
    renewal_price = price * np.exp(np.log1p(change) * (term.end - term.start) / MONTHS_PER_YEAR)
    revenue = billed_rate * (term.active * price[:, None] * growth + renewed * renewal_price[:, None])
    sold = np.zeros((draws, months))
    sale = np.zeros((draws, months))
    if contract.at_expiry == "sell":
        last = np.clip(term.end - 1, 0, months - 1).astype(np.int64)
        held = np.take_along_axis(np.minimum(asked, 1.0 - taken), last[:, None], 1)
        sold = (month >= term.end[:, None]) * np.maximum(held, 0.0)
        at = np.where(term.end < months, term.end, np.nan)
        proceeds = sold[:, -1] * fleet_value(
            catalog, accelerator_of(scenario, catalog), it_spend, np.nan_to_num(at, nan=-1.0)
        )
        rows = np.nonzero(np.isfinite(at))[0]
        sale[rows, at[rows].astype(np.int64)] += proceeds[rows]
    return {
        "share": share,
        "revenue": revenue,
        "reserved": share * online,
        "billed": billed_rate,
        "price": price,
        "value": value,
        "deferred": prepayment(contract, catalog, term, value, months),
        "sold": sold,
        "sale": sale,
    }


def gpu_cloud(scenario: Realised, catalog: Catalog, upstream: xr.Dataset, it_spend: np.ndarray) -> Revenue:
    """Contracts take their share of the accelerators online, in order, for their term (a later contract can
    take the share an earlier one has left), and are billed at least their take-or-pay share of the reserved
    hours; at expiry their GPUs go to spot, a second term at the price the market has fallen to, or are sold
    at their resale value. The rest sells on demand at the utilisation and an on-demand price that changes
    each year from the first month online (or from the last refresh of the fleet)."""
    fin = scenario.finance
    online = np.asarray(upstream["accelerators_online"].values, dtype=float)
    draws, months = online.shape
    first = first_month(online > 0)
    utilisation = or_default(fin.utilisation, world_default("finance.utilisation"), draws)
    zeros = np.zeros((draws, months))
    totals = {key: zeros.copy() for key in ("revenue", "reserved", "billed", "deferred", "sold", "sale")}
    taken, value_total, prices = zeros.copy(), np.zeros(draws), []
    for index in range(len(fin.contracts)):
        flows = one_contract(scenario, catalog, index, online, taken, it_spend)
        taken = taken + flows["share"]
        for key in totals:
            totals[key] += flows[key]
        value_total += flows["value"]
        prices.append(flows["price"])
    retained = np.maximum(1.0 - totals["sold"], 0.0)
    spot_hours = np.maximum(online * retained - totals["reserved"], 0.0) * HOURS_PER_MONTH * utilisation[:, None]
    spot = spot_hours * spot_price_path(scenario, catalog, first, months)
    contract_revenue = totals["revenue"]
    return Revenue(
        total=contract_revenue + spot,
        contract=contract_revenue,
        spot=spot,
        rent=zeros,
        pass_through=zeros,
        gpu_hours_sold=totals["billed"] + spot_hours,
        kw_months=np.asarray(upstream["it_power_online_mw"].values, dtype=float) * KW_PER_MW * retained,
        contract_price_usd_per_gpu_hour=np.array(prices).reshape(len(prices), draws),
        contracted=contract_revenue,
        deferred=totals["deferred"],
        retained_frac=retained,
        sale_usd=totals["sale"],
        contract_value_usd=value_total,
    )


def contract_price(contract: Any, field: str, billed: np.ndarray, growth: np.ndarray, term: Term) -> np.ndarray:
    """Price per GPU-hour (draw,) in the first year of a contract: its own, or its value over the GPU-hours
    billed in the term (months past the horizon bill as the last)."""
    draws, months = billed.shape
    if contract.price_usd_per_gpu_hour is not None:
        return np.broadcast_to(np.asarray(contract.price_usd_per_gpu_hour, dtype=float), (draws,)).copy()
    beyond = np.maximum(term.end - months, 0.0)
    hours = (billed * growth).sum(axis=1) + beyond * (billed * growth)[:, -1]
    if np.any(hours <= 0):
        raise ScenarioError(
            "the contract reserves no GPU-hours in its term, so its value has no price",
            field=f"{field}.value_usd",
            value=float(np.asarray(contract.value_usd).flat[0]),
            allowed="a term that overlaps months with accelerators online",
        )
    return np.broadcast_to(np.asarray(contract.value_usd, dtype=float) / hours, (draws,)).copy()


def owner_operator(scenario: Realised, catalog: Catalog, upstream: xr.Dataset, it_spend: np.ndarray) -> Revenue:
    """An in-house cluster: the GPU-hours it uses valued at what renting them would cost (the on-demand
    path, as spot), or no revenue at all when it is counted at cost."""
    imputed = gpu_cloud(scenario, catalog, upstream, it_spend)
    if scenario.finance.owner_value == "rent":
        return imputed
    zeros = np.zeros_like(imputed.total)
    return replace(imputed, total=zeros, spot=zeros)


def lease(scenario: Realised, catalog: Catalog, upstream: xr.Dataset, energy_cost: np.ndarray) -> Revenue:
    """Rent per kW of critical IT online (ramped in over ``ramp_months``) from commencement, escalated in
    annual steps; after the term the renewal share stays let. The tenant reimburses energy when passed
    through."""
    terms = scenario.finance.lease
    it_kw = np.asarray(upstream["it_power_online_mw"].values, dtype=float) * KW_PER_MW
    draws, months = it_kw.shape
    month = np.arange(months)[None, :]
    rate = or_default(terms.rate_usd_per_kw_month, default(catalog, "lease_rate_usd_per_kw_month"), draws)
    term = or_default(terms.term_years, default(catalog, "lease_term_years"), draws) * MONTHS_PER_YEAR
    escalator = or_default(terms.escalator_per_year, default(catalog, "lease_escalator_per_year"), draws)
    renewal = or_default(terms.renewal_frac, default(catalog, "lease_renewal_frac"), draws)
    ramp = or_default(terms.ramp_months, 0.0, draws)
    start = (
        first_month(it_kw > 0)
        if terms.start is None
        else np.full(draws, float(months_between(scenario.start, terms.start)))
    )
    # capacity delivered ramps in linearly over the ramp: the mean of the last R months of capacity online
    total = cumsum(it_kw, axis=1)
    window = np.maximum(ramp, 1.0)
    ramped = np.where(ramp[:, None] > 1.0, (total - lagged(total, window)) / window[:, None], it_kw)
    let = np.where(
        month >= start[:, None], np.where(month < (start + term)[:, None], 1.0, renewal[:, None]), 0.0
    )
    kw_months = ramped * let
    in_term = (month >= start[:, None]) & (month < (start + term)[:, None])
    rent = kw_months * rate[:, None] * escalation(escalator, month - start[:, None], stepped=True)
    contracted = rent * in_term
    pass_through = energy_cost if terms.power_pass_through else np.zeros_like(energy_cost)
    utilisation = or_default(scenario.finance.utilisation, 0.8, draws)
    gpu_hours = np.asarray(upstream["accelerators_online"].values, dtype=float) * HOURS_PER_MONTH
    zeros = np.zeros((draws, months))
    return Revenue(
        total=rent + pass_through,
        contract=zeros,
        spot=zeros,
        rent=rent,
        pass_through=pass_through,
        gpu_hours_sold=gpu_hours * utilisation[:, None],
        kw_months=kw_months,
        contract_price_usd_per_gpu_hour=np.zeros((0, draws)),
        contracted=contracted,
        deferred=zeros,
        retained_frac=np.ones((draws, months)),
        sale_usd=zeros,
        contract_value_usd=contracted.sum(axis=1) + np.maximum(start + term - months, 0.0) * rent[:, -1],
    )
