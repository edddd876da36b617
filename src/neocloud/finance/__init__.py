"""Finance: who pays for the campus, what it earns and what it is worth, month by month for every draw.

The capex schedule follows the build-out (facility by phase on payment milestones, IT at delivery); opex
follows the energy stage's monthly cost; revenue is a lease per kW-month of critical IT or GPU-hours sold
under contracts and on demand; debt tranches draw with the capex, capitalise interest until they convert
and are repaid level or sculpted; equity funds the rest. Results: NPV, project and equity IRR, DSCR,
payback, break-even prices, enterprise value and the levelised cost per GPU-hour. Method:
docs/methods/finance.md.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np
import xarray as xr

from neocloud.catalog import Catalog
from neocloud.compiled import cumsum
from neocloud.errors import ScenarioError
from neocloud.finance.capex import capex_schedule
from neocloud.finance.debt import debt_schedule
from neocloud.finance.kernels import IRR_REASON_ATTRS, first_month, increments, lagged, trailing_sum
from neocloud.finance.revenue import (
    accelerator_of,
    contract_term,
    default,
    fleet_value,
    gpu_cloud,
    lease,
    or_default,
    owner_operator,
    refresh_months,
    resale_frac,
)
from neocloud.finance.statements import (
    OPEX_ITEMS,
    booked_depreciation,
    operations,
    statements,
    tax_deductions,
    tax_paid,
)
from neocloud.scenario import Realised
from neocloud.units import HOURS_PER_YEAR, MONTHS_PER_YEAR

__all__ = ["capital_recovery_factor", "finance"]

SUMMARY_UNITS = {
    "capex_usd": "USD",
    "capex_it_usd": "USD",
    "capex_facility_usd": "USD",
    "capex_land_usd": "USD",
    "capex_power_usd": "USD",
    "capex_mechanical_electrical_usd": "USD",
    "capex_shell_usd": "USD",
    "opex_usd_per_year": "USD/year",
    "annualised_capex_usd_per_year": "USD/year",
    "cost_usd_per_gpu_hour": "USD/GPU-hour",
    "npv_usd": "USD",
    "equity_irr": "fraction/year",
    "project_irr": "fraction/year",
    "min_dscr": "ratio",
    "payback_month": "months from start",
    "breakeven_usd_per_gpu_hour": "USD/GPU-hour",
    "breakeven_usd_per_kw_month": "USD/(kW*month)",
    "enterprise_value_usd": "USD",
    "funding_usd": "USD",
    "debt_usd": "USD",
    "equity_usd": "USD",
    "dscr_breach_months": "months",
    "ebitda_margin": "fraction",
    "revenue_usd_per_year": "USD/year",
    "contracted_revenue_usd": "USD",
    "residual_value_usd": "USD",
    "payback_years": "years from first revenue",
    "rent_usd_per_kw_month": "USD/(kW*month)",
    "opex_non_energy_usd_per_mw_year": "USD/(MW*year)",
    "debt_capacity_usd": "USD",
    "debt_requested_usd": "USD",
}
# Upstream variables the stage reads (the pipeline checks them against the variables registry).
READS = ("phase_systems", "accelerators", "racks", "it_power_mw", "facility_peak_power_mw", "phase_it_power_mw",
         "phase_online_month", "accelerators_online", "it_power_online_mw", "energy_cost_usd")
INTEGER_KEYS = ("payback_month", "dscr_breach_months")
MONTHLY_UNITS = {"gpu_hours_sold": "GPU-hours", "leased_kw": "kW", "dscr": "ratio"}


def capital_recovery_factor(rate: np.ndarray | float, years: np.ndarray | float) -> np.ndarray:
    """Annual payment per dollar of capital repaid over ``years`` at ``rate`` (1/years at a zero rate)."""
    rate = np.asarray(rate, dtype=float)
    years = np.asarray(years, dtype=float)
    safe = np.where(np.abs(rate) < 1e-12, 1.0, rate)
    growth = (1 + safe) ** years
    return np.where(np.abs(rate) < 1e-12, 1 / years, safe * growth / (growth - 1))


def exit_multiple(fin: Any, catalog: Catalog, draws: int) -> np.ndarray:
    """Terminal value over the last year's EBITDA: the scenario's, else the catalog's."""
    return or_default(
        fin.exit_ebitda_multiple, default(catalog, f"exit_multiple_{fin.business_model}"), draws
    )


def levelised(
    fin: Any, upstream: xr.Dataset, capex: Any, steady_opex: dict[str, np.ndarray]
) -> dict[str, Any]:
    """Steady-state annual cost of the whole campus (whoever owns the IT) and its cost per GPU-hour sold."""
    rate = np.asarray(fin.discount_rate, dtype=float)
    annualised_it = capex.it_usd * capital_recovery_factor(rate, np.asarray(fin.it_life_years, dtype=float))
    annualised_facility = capex.facility_usd * capital_recovery_factor(
        rate, np.asarray(fin.facility_life_years, dtype=float)
    ) + capex.power_usd * capital_recovery_factor(rate, capex.power_life_years)
    gpu_hours = (
        np.asarray(upstream["accelerators"].values, dtype=float)
        * HOURS_PER_YEAR
        * np.asarray(fin.utilisation, dtype=float)
    )
    per_hour = np.where(gpu_hours > 0, 1.0 / np.where(gpu_hours > 0, gpu_hours, 1.0), np.nan)
    parts = {"it_capital": annualised_it, "facility_capital": annualised_facility, **steady_opex}
    opex = sum(steady_opex.values())
    return {
        "opex": opex,
        "annualised": annualised_it + annualised_facility,
        "cost_per_hour": (annualised_it + annualised_facility + opex) * per_hour,
        "breakdown": np.stack([value * per_hour for value in parts.values()], axis=1),
        "components": list(parts),
    }


def run_rate(
    revenue: Any, ebitda: np.ndarray, yearly_ebitda: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Revenue per year (draw,) net of energy passed through, in the twelve months when it peaks, and the
    EBITDA margin over those months; ``yearly_ebitda``: ``trailing_sum(ebitda, 12)`` where already known."""
    net = revenue.net
    yearly = trailing_sum(net, MONTHS_PER_YEAR)
    peak = yearly.argmax(axis=1)
    rows = np.arange(net.shape[0])
    best = yearly[rows, peak]
    if yearly_ebitda is None:
        yearly_ebitda = trailing_sum(ebitda, MONTHS_PER_YEAR)
    margin_ebitda = yearly_ebitda[rows, peak]
    with np.errstate(divide="ignore", invalid="ignore"):
        return best, np.where(best > 0, margin_ebitda / best, np.nan)


def check_financeable(scenario: Realised, dataset: xr.Dataset) -> None:
    """A tranche lent as asked (``size_to_dscr: false``) that leaves the median draw's minimum DSCR below its
    covenant is unfinanceable: say so with the numbers (medians over all the draws of the stage's Dataset)."""
    for index, tranche in enumerate(scenario.finance.debt):
        if tranche.size_to_dscr:
            continue

        def median(name: str, index: int = index) -> float:
            return float(np.median(dataset[f"tranche_{name}"].values[:, index]))

        lowest = dataset["min_dscr"].values
        low = float(np.nanmedian(lowest)) if np.isfinite(lowest).any() else np.nan
        covenant = median("covenant_dscr")
        if np.isfinite(low) and low < covenant:
            raise ScenarioError(
                f"the debt is unfinanceable: its minimum DSCR is {low:.2f} against a covenant of "
                f"{covenant:.2f} ({float(np.median(dataset['dscr_breach_months'].values)):.0f} months in "
                f"breach); at its target DSCR of {median('target_dscr'):.2f} the cash flow carries "
                f"{median('capacity_usd') / 1e9:.3f} billion USD of this tranche, "
                f"{median('requested_usd') / 1e9:.3f} billion asked",
                field=f"finance.debt.{index}",
                value=tranche.name,
                allowed="a smaller share or amount_usd, or size_to_dscr: true",
            )


def revenue_of(scenario: Realised, catalog: Catalog, upstream: xr.Dataset, capex: Any, energy: np.ndarray) -> Any:
    """The revenue of the business model."""
    model = scenario.finance.business_model
    if model == "lease":
        return lease(scenario, catalog, upstream, energy)
    if model == "owner_operator":
        return owner_operator(scenario, catalog, upstream, capex.it_spend)
    return gpu_cloud(scenario, catalog, upstream, capex.it_spend)


def refresh_fleet(scenario: Realised, catalog: Catalog, capex: Any, revenue: Any) -> tuple[Any, Any, np.ndarray | None]:
    """A refreshed fleet: each cohort of IT is sold at its resale value ``refresh_after_years`` after it was
    bought and replaced by one of the same cost, again and again to the horizon. Returns the capex with the
    replacements in its IT spend, the revenue with the sales, and the cost of the IT retired to date
    (draw, month); unchanged (and None) without a refresh or in the lease model."""
    draws, months = capex.it_spend.shape
    cycle = refresh_months(scenario, draws)
    if cycle is None or scenario.finance.business_model == "lease":
        return capex, revenue, None
    bought = cumsum(capex.it_spend, axis=1)
    retired = np.zeros_like(bought)
    rounds = 1
    while np.any(rounds * cycle < months):
        retired += lagged(bought, rounds * cycle)
        rounds += 1
    spend = increments(bought + retired)
    resale = resale_frac(catalog, accelerator_of(scenario, catalog), cycle / MONTHS_PER_YEAR)
    proceeds = increments(retired) * resale[:, None] * revenue.retained_frac
    return (
        replace(capex, it_spend=spend),
        replace(revenue, sale_usd=revenue.sale_usd + proceeds),
        retired,
    )


def size_debt(
    scenario: Realised, catalog: Catalog, upstream: xr.Dataset, revenue: Any, ops: Any, deductions: np.ndarray,
    tax_rate: np.ndarray, first_it_spend: np.ndarray, known: dict[str, np.ndarray] | None = None,
) -> Any:
    """The debt, sized as lenders do: construction tranches on the CFADS before the interest shield, GPU
    loans on its contracted part; both count prepayments as received and their credits as given. GPU loans
    are drawn against the first fleet (``first_it_spend``); a refresh is paid from cash and equity.
    ``known``: a dict that receives the ``ebitda``, its trailing twelve-month sums (``yearly_ebitda``) and the
    ``unlevered_tax`` computed here, which the project flows and the run rate share."""
    fin = scenario.finance
    draws, months = upstream.sizes["draw"], upstream.sizes["month"]
    ebitda = revenue.total - ops.total
    unlevered_tax = tax_paid(ebitda - deductions, tax_rate)
    if known is not None:
        known.update(ebitda=ebitda, deductions=deductions, unlevered_tax=unlevered_tax,
                     yearly_ebitda=trailing_sum(ebitda, MONTHS_PER_YEAR))
    operating = ebitda - unlevered_tax
    with np.errstate(divide="ignore", invalid="ignore"):
        contracted_share = np.clip(revenue.contracted / revenue.net, 0.0, 1.0)
    contract_end = None
    if fin.contracts and fin.business_model != "lease":
        first = first_month(np.asarray(upstream["accelerators_online"].values, dtype=float) > 0)
        contract_end = contract_term(scenario, fin.contracts[0], first, months, np.zeros(draws)).end
    return debt_schedule(
        scenario,
        catalog,
        {"facility": ops.facility_spend, "it": first_it_spend},
        operating + revenue.deferred,
        operating * np.nan_to_num(contracted_share) + revenue.deferred,
        contract_end,
    )


def finance(scenario: Realised, catalog: Catalog, upstream: xr.Dataset) -> xr.Dataset:
    """Capex, opex, revenue, debt and equity month by month for every draw, and what they are worth.

    Reads ``accelerators_online``, ``it_power_online_mw`` and ``phase_online_month`` (build-out) and
    ``energy_cost_usd`` (energy), all (draw, month) but the last (draw, phase). Returns monthly statement
    lines (draw, month) and the summary results (draw,) named in ``SUMMARY_UNITS``.

    Every operation but the financeability check (on medians over the draws) is per draw.
    """
    dataset = finance_block(scenario, catalog, upstream)
    check_financeable(scenario, dataset)
    return dataset


def finance_block(scenario: Realised, catalog: Catalog, upstream: xr.Dataset) -> xr.Dataset:
    """The finance stage's Dataset for the draws of ``upstream`` (see ``finance``), before the
    financeability check."""
    fin = scenario.finance
    draws, months = upstream.sizes["draw"], upstream.sizes["month"]
    energy_cost = np.asarray(upstream["energy_cost_usd"].values, dtype=float)
    first_fleet = capex_schedule(scenario, catalog, upstream)
    owns_it = fin.business_model != "lease"
    revenue = revenue_of(scenario, catalog, upstream, first_fleet, energy_cost)
    capex, revenue, retired = refresh_fleet(scenario, catalog, first_fleet, revenue)
    ops = operations(scenario, catalog, upstream, capex, owns_it, energy_cost, revenue.retained_frac, retired)
    tax_rate = or_default(
        fin.tax_rate, catalog.value("regions", scenario.site.region, "corporate_tax_rate"), draws
    )
    booked = booked_depreciation(ops, capex, fin)
    deductions = tax_deductions(booked)
    known: dict[str, np.ndarray] = {}  # what debt sizing and the project flows share
    debt = size_debt(
        scenario, catalog, upstream, revenue, ops, deductions, tax_rate, first_fleet.it_spend * owns_it, known
    )
    cycle = refresh_months(scenario, draws)
    owned = ops.it_spend * (
        1.0 if cycle is None else np.arange(months)[None, :] > (months - 1.0 - cycle)[:, None]
    )
    residual = (
        fleet_value(catalog, accelerator_of(scenario, catalog), owned, np.full(draws, months - 1.0))
        * revenue.retained_frac[:, -1]
    )
    lines = statements(revenue, ops, booked, debt, fin, tax_rate, exit_multiple(fin, catalog, draws), residual,
                       known)
    revenue_per_year, margin = run_rate(revenue, lines["ebitda_usd"], known["yearly_ebitda"])
    with np.errstate(divide="ignore", invalid="ignore"):
        rent_total = revenue.rent.sum(axis=1)
        rent_rate = rent_total / revenue.kw_months.sum(axis=1)
    it_mw = np.asarray(upstream["it_power_mw"].values, dtype=float)

    # steady state: the campus-wide annual opex at full build (the last twelve months of the horizon)
    # the same site costs when the whole fleet is kept (the owner's share scales only energy and network)
    whole_fleet = bool(np.all(revenue.retained_frac == 1.0))
    campus_ops = operations(scenario, catalog, upstream, capex, True, energy_cost,
                            site=ops.site if whole_fleet else None, last=MONTHS_PER_YEAR, prior=ops)
    steady = {name: campus_ops.items[name].sum(axis=1) for name in OPEX_ITEMS}
    cost = levelised(fin, upstream, capex, steady)
    by_draw = {
        "capex_usd": capex.total_usd,
        "capex_it_usd": capex.it_usd,
        "capex_facility_usd": capex.facility_usd,
        "capex_land_usd": capex.land_usd,
        "capex_power_usd": capex.power_usd,
        "capex_mechanical_electrical_usd": capex.mechanical_electrical_usd,
        "capex_shell_usd": capex.shell_usd,
        "opex_usd_per_year": cost["opex"],
        "annualised_capex_usd_per_year": cost["annualised"],
        "cost_usd_per_gpu_hour": cost["cost_per_hour"],
        "ebitda_margin": margin,
        "revenue_usd_per_year": revenue_per_year,
        "contracted_revenue_usd": revenue.contract_value_usd,
        "residual_value_usd": residual,
        "rent_usd_per_kw_month": np.where(rent_total > 0, rent_rate, np.nan),
        "opex_non_energy_usd_per_mw_year": (cost["opex"] - steady["energy"])
        / np.where(it_mw > 0, it_mw, np.nan),
        "debt_capacity_usd": debt.capacity_usd.sum(axis=0) if debt.names else np.zeros(draws),
        "debt_requested_usd": debt.requested_usd.sum(axis=0) if debt.names else np.zeros(draws),
        "tax_rate": tax_rate,
        "discount_rate": np.broadcast_to(np.asarray(fin.discount_rate, dtype=float), (draws,)),
    }
    return to_dataset(fin, by_draw, lines, cost, debt, revenue)


# Runs that keep only their summary run finance on blocks of draws (pipeline.per_draw_in_blocks): its per-draw
# arithmetic block by block, its refusal on the medians of all the draws once, as a whole run judges it.
PER_DRAW_PART = finance_block
CHECK_OVER_DRAWS = check_financeable


def to_dataset(
    fin: Any, by_draw: dict[str, np.ndarray], lines: dict[str, np.ndarray], cost: dict[str, Any], debt: Any,
    revenue: Any,
) -> xr.Dataset:
    """The finance stage's Dataset: results (draw,), monthly lines (draw, month), the cost breakdown, the
    tranches and the contracts, with units and summary flags."""
    # the variables are gathered first and the Dataset built once (a Dataset aligns on every assignment)
    variables = {name: xr.Variable("draw", np.asarray(values, dtype=float)) for name, values in by_draw.items()}
    for name, values in lines.items():
        values = np.asarray(values)
        variables[name] = xr.Variable(("draw", "month") if values.ndim == 2 else ("draw",), values,
                                      attrs={"units": MONTHLY_UNITS.get(name, "USD")})
    for name in ("project_irr_reason", "equity_irr_reason"):
        variables[name] = variables[name].astype(np.int8)
        variables[name].attrs.update(IRR_REASON_ATTRS)
    for name, unit in SUMMARY_UNITS.items():
        variables[name].attrs.update(summary=1, units=unit)
    for name in INTEGER_KEYS:
        variables[name].attrs["integer"] = 1
    variables["project_capex_usd"].attrs.update(
        long_name="capex the owner pays within the horizon (the lease model excludes the tenant's IT)"
    )
    coords: dict[str, Any] = {"cost_component": cost["components"]}
    variables["cost_breakdown_usd_per_gpu_hour"] = xr.Variable(
        ("draw", "cost_component"), cost["breakdown"], attrs={"units": "USD/GPU-hour"}
    )
    variables["tax_rate"].attrs["units"] = "fraction"
    variables["discount_rate"].attrs["units"] = "fraction/year"
    if debt.names:
        coords["tranche"] = debt.names
        variables["tranche_balance_usd"] = xr.Variable(
            ("draw", "month", "tranche"), np.moveaxis(debt.balance, 0, -1), attrs={"units": "USD"}
        )
        for name, values, unit in (
            ("tranche_amount_usd", debt.amount_usd, "USD"),
            ("tranche_rate_per_year", debt.rate_per_year, "fraction/year"),
            ("tranche_conversion_month", debt.conversion_month, "months from start"),
            ("tranche_maturity_month", debt.maturity_month, "months from start"),
            ("tranche_covenant_dscr", debt.covenant_dscr, "ratio"),
            ("tranche_target_dscr", debt.target_dscr, "ratio"),
            ("tranche_requested_usd", debt.requested_usd, "USD"),
            ("tranche_capacity_usd", debt.capacity_usd, "USD"),
        ):
            variables[name] = xr.Variable(("draw", "tranche"), values.T, attrs={"units": unit})
    if revenue.contract_price_usd_per_gpu_hour.shape[0]:
        coords["contract"] = [contract.name for contract in fin.contracts]
        variables["contract_price_usd_per_gpu_hour"] = xr.Variable(
            ("draw", "contract"), revenue.contract_price_usd_per_gpu_hour.T, attrs={"units": "USD/GPU-hour"}
        )
    if fin.valuation_usd is not None:
        valuation = np.asarray(fin.valuation_usd, dtype=float)
        variables["valuation_usd"] = xr.Variable("draw", valuation, attrs={"units": "USD"})
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = np.where(
                lines["enterprise_value_usd"] > 0, lines["enterprise_value_usd"] / valuation, np.nan
            )
        variables["enterprise_value_to_valuation"] = xr.Variable(
            "draw", ratio, attrs={"summary": 1, "units": "ratio"}
        )
    return xr.Dataset(variables, coords=coords)
