"""What the campus earns each month: a lease per kW-month of critical IT, or GPU-hours sold under committed
contracts and on demand."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import xarray as xr

from neocloud.catalog import Catalog
from neocloud.errors import ScenarioError
from neocloud.finance.kernels import first_month, lagged
from neocloud.scenario import months_between
from neocloud.units import HOURS_PER_MONTH, MONTHS_PER_YEAR

KW_PER_MW = 1000.0


@dataclass(frozen=True)
class Revenue:
    """Monthly revenue (draw, month) in USD, by stream, and the volumes a uniform price is applied to."""

    total: np.ndarray
    contract: np.ndarray  # committed GPU-cloud contracts
    spot: np.ndarray  # on-demand GPU-hours
    rent: np.ndarray  # lease rent
    pass_through: np.ndarray  # energy reimbursed by a tenant
    gpu_hours_sold: np.ndarray  # GPU-hours billed (contracts and on demand), or used by the tenant
    kw_months: np.ndarray  # kW of critical IT let (lease), or online (GPU cloud), per month
    contract_price_usd_per_gpu_hour: np.ndarray  # (contract, draw) price in the first month of each term


def default(catalog: Catalog, name: str) -> float:
    """A finance default from the catalog (``finance_defaults.value``)."""
    return catalog.value("finance_defaults", name, "value")


def or_default(value: Any, fallback: float, draws: int) -> np.ndarray:
    """A realised scenario value as an array (draw,), or the fallback where the scenario leaves it unset."""
    return np.broadcast_to(np.asarray(fallback if value is None else value, dtype=float), (draws,)).copy()


def accelerator_of(scenario: Any, catalog: Catalog) -> str:
    """The accelerator of the campus's first phase (the rental price list is per accelerator)."""
    return str(catalog.row("systems", scenario.campus.phases[0].system)["accelerator"])


def escalation(rate_per_year: np.ndarray, months_since: np.ndarray, stepped: bool) -> np.ndarray:
    """Growth factor (draw, month) after ``months_since`` at ``rate_per_year``: annual steps, or smooth."""
    years = np.maximum(months_since, 0.0) / MONTHS_PER_YEAR
    if stepped:
        years = np.floor(years)
    return np.exp(np.log1p(rate_per_year)[:, None] * years)


def gpu_cloud(scenario: Any, catalog: Catalog, upstream: xr.Dataset) -> Revenue:
    """Contracts take their share of the accelerators online, in order, for their term, and are billed at
    least their take-or-pay share of the reserved hours; the rest sells on demand at the utilisation and an
    on-demand price that changes each year from the first month online."""
    fin = scenario.finance
    online = np.asarray(upstream["accelerators_online"].values, dtype=float)
    draws, months = online.shape
    month = np.arange(months)[None, :]
    first = first_month(online > 0)
    utilisation = or_default(fin.utilisation, 0.8, draws)
    accelerator = accelerator_of(scenario, catalog)
    row = catalog.row("gpu_rental_prices", accelerator, field="finance.price_usd_per_gpu_hour")
    spot_price = or_default(fin.price_usd_per_gpu_hour, float(row["price_usd_per_gpu_hour"]), draws)
    change = or_default(fin.price_change_per_year, float(row["price_change_per_year"]), draws)
    spot_path = spot_price[:, None] * escalation(change, month - first[:, None], stepped=False)

    taken = np.zeros(draws)
    reserved_total = np.zeros((draws, months))
    contract_revenue = np.zeros((draws, months))
    billed_total = np.zeros((draws, months))
    prices = []
    for index, contract in enumerate(fin.contracts):
        field = f"finance.contracts.{index}"
        share = np.minimum(np.asarray(contract.share, dtype=float), np.maximum(1.0 - taken, 0.0))
        taken = taken + share
        start = (
            first
            if contract.start is None
            else np.full(draws, float(months_between(scenario.start, contract.start)))
        )
        term = np.asarray(contract.term_months, dtype=float)
        active = (month >= start[:, None]) & (month < (start + term)[:, None])
        reserved = share[:, None] * online * active
        billed = (
            reserved
            * HOURS_PER_MONTH
            * np.maximum(np.asarray(contract.take_or_pay_frac, dtype=float), utilisation)[:, None]
        )
        growth = escalation(
            np.asarray(contract.escalator_per_year, dtype=float), month - start[:, None], True
        )
        if contract.price_usd_per_gpu_hour is not None:
            price = np.asarray(contract.price_usd_per_gpu_hour, dtype=float)
        else:
            # the value buys the whole term's reserved hours; months past the horizon bill as the last
            beyond = np.maximum(start + term - months, 0.0)
            hours = (billed * growth).sum(axis=1) + beyond * (billed * growth)[:, -1]
            if np.any(hours <= 0):
                raise ScenarioError(
                    "the contract reserves no GPU-hours in its term, so its value has no price",
                    field=f"{field}.value_usd",
                    value=float(np.asarray(contract.value_usd).flat[0]),
                    allowed="a term that overlaps months with accelerators online",
                )
            price = np.asarray(contract.value_usd, dtype=float) / hours
        price = np.broadcast_to(price, (draws,))
        prices.append(price)
        contract_revenue += billed * price[:, None] * growth
        reserved_total += reserved
        billed_total += billed
    spot_hours = np.maximum(online - reserved_total, 0.0) * HOURS_PER_MONTH * utilisation[:, None]
    spot = spot_hours * spot_path
    zeros = np.zeros((draws, months))
    it_kw = np.asarray(upstream["it_power_online_mw"].values, dtype=float) * KW_PER_MW
    return Revenue(
        total=contract_revenue + spot,
        contract=contract_revenue,
        spot=spot,
        rent=zeros,
        pass_through=zeros,
        gpu_hours_sold=billed_total + spot_hours,
        kw_months=it_kw,
        contract_price_usd_per_gpu_hour=np.array(prices).reshape(len(prices), draws),
    )


def lease(scenario: Any, catalog: Catalog, upstream: xr.Dataset, energy_cost: np.ndarray) -> Revenue:
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
    total = np.cumsum(it_kw, axis=1)
    window = np.maximum(ramp, 1.0)
    ramped = np.where(ramp[:, None] > 1.0, (total - lagged(total, window)) / window[:, None], it_kw)
    let = np.where(
        month >= start[:, None], np.where(month < (start + term)[:, None], 1.0, renewal[:, None]), 0.0
    )
    kw_months = ramped * let
    rent = kw_months * rate[:, None] * escalation(escalator, month - start[:, None], stepped=True)
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
    )
