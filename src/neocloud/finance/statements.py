"""Monthly statements per draw: opex, depreciation by asset class, tax with losses carried forward, cash flow
(operating, investing, financing), equity flows, and the results (NPV, IRR, DSCR, payback, break-evens)."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np

from neocloud.catalog import Catalog
from neocloud.compiled import cumsum
from neocloud.finance.capex import Capex, scatter_add
from neocloud.finance.debt import Debt
from neocloud.finance.kernels import (
    annual_rate,
    dscr,
    first_month,
    irr,
    lagged,
    monthly_rate,
    npv,
    running_total,
)
from neocloud.finance.loops import cash_lines_rows, cash_trap_rows
from neocloud.finance.revenue import Revenue, default, escalation, or_default
from neocloud.finance.valuation import Valuation, break_evens, tax_paid
from neocloud.scenario import Realised
from neocloud.units import KW_PER_MW, MONTHS_PER_YEAR

OPEX_ITEMS = (
    "energy",
    "it_maintenance",
    "facility_maintenance",
    "staff",
    "insurance",
    "property_tax",
    "network",
    "ground_rent",
    "colocation_rent",
)


@dataclass(frozen=True)
class Operations:
    """The owner's monthly costs (draw, month) in USD, by item, and the capex it owns by class."""

    items: dict[str, np.ndarray]
    it_spend: np.ndarray
    facility_spend: np.ndarray
    site: dict[str, np.ndarray]  # the costs that do not depend on who owns the IT (``site_costs``)
    it_depreciation: np.ndarray  # straight-line depreciation (draw, month) of ``it_spend``
    it_book: np.ndarray  # its net book value (draw, month)

    @cached_property
    def total(self) -> np.ndarray:
        """Opex (draw, month) in USD (summed once, then kept)."""
        return np.asarray(sum(self.items.values()))


def opex_rate(catalog: Catalog, region: str, column: str, fallback: str) -> float:
    """A region's opex rate (catalog ``opex_rates``), else the general one in ``cost_items``."""
    table = catalog.table("opex_rates")
    if region in table.index:
        return float(np.asarray(table.loc[region, column]))
    return float(np.asarray(catalog.table("cost_items").loc[fallback, "value"]))


def site_costs(
    scenario: Realised, catalog: Catalog, upstream: Any, capex: Capex, energy_cost: np.ndarray, kept: np.ndarray
) -> dict[str, np.ndarray]:
    """The monthly costs (draw, month) in USD that do not depend on who owns the IT: energy and network
    (scaled to the share ``kept`` of the fleet still owned), facility maintenance and staff on the IT MW
    online, ground rent on a leased site and colocation rent; with the facility capex spent to date
    (``spent``), its depreciation (``facility_depreciation``) and net book value (``facility_book``)."""
    cost = catalog.table("cost_items")["value"]
    fin = scenario.finance
    it_mw = np.asarray(upstream["it_power_mw"].values, dtype=float)
    it_mw_online = np.asarray(upstream["it_power_online_mw"].values, dtype=float)
    mw_share = it_mw_online / np.maximum(it_mw, 1e-12)[:, None]
    spent = cumsum(capex.facility_spend, axis=1)
    facility_placed = cumsum(capex.facility_in_service, axis=1)
    facility_depreciation = depreciation(
        capex.facility_in_service, np.asarray(fin.facility_life_years, dtype=float), facility_placed
    )
    facility_book = facility_placed - cumsum(facility_depreciation, axis=1)
    per_month = 1.0 / MONTHS_PER_YEAR
    staff_rate = opex_rate(catalog, scenario.site.region, "staff_usd_per_mw_it_year", "staff_usd_per_mw_it_year")
    return {
        "spent": spent,
        "facility_depreciation": facility_depreciation,
        "facility_book": facility_book,
        "energy": energy_cost * kept,
        "facility_maintenance": (capex.facility_usd - capex.land_usd)[:, None]
        * mw_share
        * float(cost["facility_maintenance_frac_per_year"])
        * per_month,
        "staff": it_mw_online * staff_rate * per_month,
        "network": it_mw_online * kept * float(cost["network_transit_usd_per_mw_it_year"]) * per_month,
        "ground_rent": (spent > 0)
        * (capex.land_value_usd * (fin.land == "leased") * float(cost["ground_lease_frac_per_year"]))[:, None]
        * per_month,
        "colocation_rent": colocation_rent(scenario, catalog, it_mw_online),
    }


def operations(
    scenario: Realised,
    catalog: Catalog,
    upstream: Any,
    capex: Capex,
    owns_it: bool,
    energy_cost: np.ndarray,
    retained: np.ndarray | None = None,
    retired: np.ndarray | None = None,
    site: dict[str, np.ndarray] | None = None,
    last: int | None = None,
    prior: Operations | None = None,
) -> Operations:
    """Monthly opex of the owner by cost class.

    Energy (scaled to the share of the fleet still owned); IT support on the IT owned once its included
    support has run out (GPU cloud only); facility maintenance, staff and network on the IT MW online;
    insurance on the capex spent to date; property tax on the net book value of the facility and, where
    the region taxes them, of the servers; ground rent on a leased site. ``site``: the ``site_costs`` of
    the same campus and fleet share, where already known (the same arrays, not summed again). ``last``:
    only the last ``last`` months of every item (the running totals still run from month 0). ``prior``:
    operations of the same campus whose IT depreciation and book value are taken where its IT spend is
    the same array.
    """
    cost = catalog.table("cost_items")["value"]
    fin, region = scenario.finance, scenario.site.region
    kept = np.ones_like(energy_cost) if retained is None else retained
    site = site_costs(scenario, catalog, upstream, capex, energy_cost, kept) if site is None else site
    it_spend = capex.it_spend if owns_it else np.zeros_like(capex.it_spend)
    placed = running_total(it_spend)
    if prior is not None and prior.it_spend is it_spend:
        it_depreciation, it_book = prior.it_depreciation, prior.it_book
    else:
        it_depreciation = depreciation(it_spend, np.asarray(fin.it_life_years, dtype=float), placed)
        it_book = running_total(it_spend - it_depreciation)
    # the cost of the IT owned: bought to date, less cohorts retired by a refresh
    it_bought = placed if retired is None or not owns_it else placed - retired
    included = float(cost["it_support_included_years"]) * MONTHS_PER_YEAR
    # support is paid on IT older than the support its price includes
    it_out_of_support = lagged(it_bought, np.full(it_bought.shape[0], included)) if included else it_bought
    tail = slice(None) if last is None else slice(-last, None)
    kept_tail = kept[:, tail]
    owned_to_date = site["spent"][:, tail] + it_bought[:, tail] * kept_tail
    per_month = 1.0 / MONTHS_PER_YEAR
    rate = {
        name: opex_rate(catalog, region, name, fallback)
        for name, fallback in (
            ("property_tax_real_frac_per_year", "property_tax_frac_per_year"),
            ("property_tax_servers_frac_per_year", "property_tax_servers_frac_per_year"),
            ("insurance_frac_per_year", "insurance_frac_per_year"),
        )
    }
    owner = {
        "it_maintenance": it_out_of_support[:, tail]
        * kept_tail
        * float(cost["it_maintenance_frac_per_year"])
        * per_month,
        "insurance": owned_to_date * rate["insurance_frac_per_year"] * per_month,
        "property_tax": (
            site["facility_book"][:, tail] * rate["property_tax_real_frac_per_year"]
            + np.maximum(it_book[:, tail], 0.0) * kept_tail * rate["property_tax_servers_frac_per_year"]
        )
        * per_month,
    }
    items = {name: owner[name] if name in owner else site[name][:, tail] for name in OPEX_ITEMS}
    return Operations(items=items, it_spend=it_spend, facility_spend=capex.facility_spend, site=site,
                      it_depreciation=it_depreciation, it_book=it_book)


def colocation_rent(scenario: Realised, catalog: Catalog, it_mw_online: np.ndarray) -> np.ndarray:
    """Rent (draw, month) a colocated owner pays per kW of critical IT online, escalated in annual steps
    from the first month online."""
    fin = scenario.finance
    if fin.colocation is None or fin.business_model == "lease":
        return np.zeros_like(it_mw_online)
    draws, months = it_mw_online.shape
    rate = or_default(
        fin.colocation.rate_usd_per_kw_month, default(catalog, "lease_rate_usd_per_kw_month"), draws
    )
    escalator = or_default(
        fin.colocation.escalator_per_year, default(catalog, "lease_escalator_per_year"), draws
    )
    first = first_month(it_mw_online > 0)
    growth = escalation(escalator, np.arange(months)[None, :] - first[:, None], stepped=True)
    return it_mw_online * KW_PER_MW * rate[:, None] * growth


def depreciation(in_service: np.ndarray, life_years: np.ndarray, placed: np.ndarray | None = None) -> np.ndarray:
    """Straight-line depreciation (draw, month) of capex placed in service by month over a life in years.
    ``placed``: ``np.cumsum(in_service, axis=1)`` where the caller has it already (the same bits)."""
    life_months = np.maximum(np.asarray(life_years, dtype=float) * MONTHS_PER_YEAR, 1.0)
    if not in_service.any() and np.isfinite(life_months).all():
        return np.zeros_like(in_service)  # nothing placed (a lease's tenant IT): the same zeros, fewer passes
    placed = cumsum(in_service, axis=1) if placed is None else placed
    return (placed - lagged(placed, life_months)) / life_months[:, None]


def payback(flows: np.ndarray) -> np.ndarray:
    """Month (draw,) after which cumulative project cash flow stays non-negative; NaN if it never does."""
    cumulative = cumsum(flows, axis=1)
    negative = cumulative < 0
    months = flows.shape[1]
    last_negative = np.where(negative.any(axis=1), months - 1 - negative[:, ::-1].argmax(axis=1), -1)
    return np.where(last_negative >= months - 1, np.nan, last_negative + 1.0)


def debt_deductions(debt: Debt, fin: Any, months: int) -> np.ndarray:
    """Tax deductions (draw, month) from financing costs that are not interest paid: interest capitalised
    during construction joins the basis of the asset class it financed, placed in service at conversion and
    depreciated over that class's life; upfront fees are amortised over the tranche's tenor."""
    out = np.zeros((debt.draw.shape[1], months))
    lives = {"it": fin.it_life_years, "facility": fin.facility_life_years}
    for index, asset_class in enumerate(debt.asset_class):
        placed = np.zeros_like(out)
        scatter_add(placed, debt.conversion_month[index], debt.capitalised_interest[index].sum(axis=1))
        out += depreciation(placed, np.asarray(lives[asset_class], dtype=float))
        tenor_years = (debt.maturity_month[index] - debt.conversion_month[index]) / MONTHS_PER_YEAR
        out += depreciation(debt.fees[index], np.maximum(tenor_years, 1.0 / MONTHS_PER_YEAR))
    return out


def cash_trap(before_equity: np.ndarray, cover: np.ndarray, covenant: np.ndarray) -> tuple[np.ndarray, ...]:
    """Distributions withheld while the trailing DSCR is below the covenant, released in the first month it is
    back above (or at the horizon), and the equity that cures a shortfall of cash for debt service.

    Returns distributions, equity injected and cash trapped (each (draw, month), USD). One compiled pass per
    row (``loops.cash_trap_rows``): the surplus ``max(before_equity, 0)`` is trapped in months whose DSCR is
    finite and below the covenant (never the last month); the running total trapped as of the last month
    that is not trapped is released to date, and each month releases its increment.
    """
    shape = before_equity.shape
    flows = np.ascontiguousarray(before_equity, dtype=float)
    cover = np.ascontiguousarray(np.broadcast_to(np.asarray(cover, dtype=float), shape))
    covenant = np.ascontiguousarray(np.broadcast_to(np.asarray(covenant, dtype=float), shape[:1]))
    distributions, equity_in, trapped = np.empty(shape), np.empty(shape), np.empty(shape)
    cash_trap_rows(flows, cover, covenant, distributions, equity_in, trapped)
    return distributions, equity_in, trapped


def booked_depreciation(ops: Operations, capex: Capex, fin: Any) -> dict[str, np.ndarray]:
    """Depreciation (draw, month) in USD by asset class, as the statements show it: the IT the owner holds,
    the facility (from the site costs, where it was taken for the book value) and on-site power."""
    return {
        "depreciation_it_usd": ops.it_depreciation,
        "depreciation_facility_usd": ops.site["facility_depreciation"],
        "depreciation_power_usd": capex.power_depreciation,
    }


def tax_deductions(booked: dict[str, np.ndarray]) -> np.ndarray:
    """Depreciation deducted from taxable income (draw, month), USD: every class of ``booked_depreciation``."""
    return booked["depreciation_it_usd"] + booked["depreciation_facility_usd"] + booked["depreciation_power_usd"]


def project_valuation(
    revenue: Revenue, ops: Operations, booked: dict[str, np.ndarray], fin: Any, tax_rate: np.ndarray,
    multiple: np.ndarray, residual_usd: np.ndarray, known: dict[str, np.ndarray] | None = None,
) -> Valuation:
    """The unlevered project as a function of a uniform price, given its depreciation ``booked`` by class;
    ``known``: its ``ebitda`` and ``deductions`` where already computed."""
    known = known or {}
    ebitda = known["ebitda"] if "ebitda" in known else revenue.total - ops.total
    other_cash = revenue.deferred + revenue.sale_usd
    other_cash[:, -1] -= revenue.deferred.sum(axis=1)  # prepayment still to be credited is owed at the end
    return Valuation(
        fixed_ebitda=ebitda - revenue.net,
        volume=revenue.gpu_hours_sold,
        deductions=known["deductions"] if "deductions" in known else tax_deductions(booked),
        capex=ops.it_spend + ops.facility_spend,
        tax_rate=tax_rate,
        multiple=multiple,
        discount_monthly=monthly_rate(np.asarray(fin.discount_rate, dtype=float)),
        floor=residual_usd,
        other_cash=other_cash,
    )


def levered(
    revenue: Revenue, ebitda: np.ndarray, valuation: Valuation, debt: Debt, fin: Any, terminal: np.ndarray
) -> dict[str, np.ndarray]:
    """The financing side month by month (draw, month), USD unless named: debt flows summed over tranches,
    tax after the interest shield, CFADS, DSCR, the cash trap, equity in and out, and the equity flow with
    the terminal value less the debt still owed (``equity_flow_terminal``). The cash lines after the trap are
    one compiled pass per row (``loops.cash_lines_rows``)."""
    draws, months = ebitda.shape
    owned_capex = valuation.capex
    interest = debt.interest.sum(axis=0)
    fees = debt.fees.sum(axis=0)
    principal = debt.principal.sum(axis=0)
    drawn = debt.draw.sum(axis=0)
    balance = debt.balance.sum(axis=0)
    financing_deductions = debt_deductions(debt, fin, months)
    tax = tax_paid(ebitda - valuation.deductions - interest - financing_deductions, valuation.tax_rate)
    cfads = ebitda - tax + revenue.deferred
    service = interest + principal
    cover = dscr(cfads, service)
    covenant = debt.covenant_dscr.max(axis=0) if debt.covenant_dscr.size else np.full(draws, np.nan)
    before_equity = cfads - owned_capex + revenue.sale_usd + drawn - fees - interest - principal
    distributions, equity_in, trapped = cash_trap(before_equity, cover, covenant)
    flows = (cfads, owned_capex, revenue.sale_usd, drawn, fees, interest, principal, before_equity, distributions,
             equity_in, service)
    lines = tuple(np.empty((draws, months)) for _ in range(6))
    cash_lines_rows(tuple(np.ascontiguousarray(np.broadcast_to(a, (draws, months)), dtype=float) for a in flows),
                    lines)
    equity_flow, equity_cure, investing, financing, sources, uses = lines
    equity_flow_terminal = equity_flow.copy()
    equity_flow_terminal[:, -1] += terminal[:, -1] - balance[:, -1] - revenue.deferred.sum(axis=1)
    serviced = service > 0
    has_debt = serviced.any(axis=1)
    return {
        "financing_deductions_usd": financing_deductions,
        "tax_usd": tax,
        "cfads_usd": cfads,
        "debt_draw_usd": drawn,
        "debt_fees_usd": fees,
        "interest_usd": interest,
        "capitalised_interest_usd": debt.capitalised_interest.sum(axis=0),
        "principal_usd": principal,
        "debt_service_usd": service,
        "debt_balance_usd": balance,
        "equity_in_usd": equity_in,
        "equity_cure_usd": equity_cure,
        "cash_trapped_usd": trapped,
        "distributions_usd": distributions,
        "equity_flow_usd": equity_flow,
        "cash_flow_operating_usd": cfads,
        "cash_flow_investing_usd": investing,
        "cash_flow_financing_usd": financing,
        "sources_usd": sources,
        "uses_usd": uses,  # with the cash into (or out of) the trapped-cash reserve
        "dscr": cover,
        "min_dscr": np.where(has_debt, np.nanmin(np.where(np.isnan(cover), np.inf, cover), axis=1), np.nan),
        "dscr_breach_months": np.where(
            has_debt, ((cover < covenant[:, None]) & np.isfinite(cover)).sum(axis=1), 0
        ).astype(float),
        "equity_flow_terminal_usd": equity_flow_terminal,
    }


def statements(
    revenue: Revenue,
    ops: Operations,
    booked: dict[str, np.ndarray],
    debt: Debt,
    fin: Any,
    tax_rate: np.ndarray,
    multiple: np.ndarray,
    residual_usd: np.ndarray,
    known: dict[str, np.ndarray] | None = None,
) -> dict[str, np.ndarray]:
    """Every monthly statement line (draw, month) and every result (draw,), in USD unless named otherwise.
    ``known``: the ``ebitda``, tax ``deductions``, ``unlevered_tax`` and ``yearly_ebitda`` (its trailing
    twelve-month sums) where debt sizing computed them."""
    known = known or {}
    ebitda = known["ebitda"] if "ebitda" in known else revenue.total - ops.total
    valuation = project_valuation(revenue, ops, booked, fin, tax_rate, multiple, residual_usd,
                                  {**known, "ebitda": ebitda})
    project_flow, project_flow_terminal = valuation.project_flows(
        ebitda, known.get("unlevered_tax"), known.get("yearly_ebitda")
    )
    terminal = project_flow_terminal - project_flow
    financing = levered(revenue, ebitda, valuation, debt, fin, terminal)
    project_irr, project_reason = irr(project_flow_terminal)
    equity_irr, equity_reason = irr(financing.pop("equity_flow_terminal_usd"))
    cover = {name: financing.pop(name) for name in ("dscr", "min_dscr", "dscr_breach_months")}
    lines = {
        "revenue_usd": revenue.total,
        "revenue_contract_usd": revenue.contract,
        "revenue_spot_usd": revenue.spot,
        "revenue_rent_usd": revenue.rent,
        "revenue_pass_through_usd": revenue.pass_through,
        "revenue_contracted_usd": revenue.contracted,
        "prepayment_net_usd": revenue.deferred,
        "asset_sale_usd": revenue.sale_usd,
        "gpu_hours_sold": revenue.gpu_hours_sold,
        "leased_kw": revenue.kw_months,
        "opex_usd": ops.total,
        **{f"opex_{name}_usd": values for name, values in ops.items.items()},
        "ebitda_usd": ebitda,
        "capex_spend_usd": valuation.capex,
        "capex_it_spend_usd": ops.it_spend,
        "capex_facility_spend_usd": ops.facility_spend,
        **booked,
        **financing,
        "project_cash_flow_usd": project_flow,
        "terminal_value_usd": terminal,
        "dscr": cover["dscr"],
        "npv_usd": npv(valuation.discount_monthly, project_flow_terminal),
        "project_irr": annual_rate(project_irr),
        "equity_irr": annual_rate(equity_irr),
        "project_irr_reason": project_reason,
        "equity_irr_reason": equity_reason,
        "min_dscr": cover["min_dscr"],
        "dscr_breach_months": cover["dscr_breach_months"],
    }
    lines.update(
        results(revenue, valuation, lines, valuation.capex, lines["debt_draw_usd"], lines["equity_in_usd"])
    )
    return lines


def results(
    revenue: Revenue,
    valuation: Valuation,
    lines: dict[str, np.ndarray],
    owned_capex: np.ndarray,
    drawn: np.ndarray,
    equity_in: np.ndarray,
) -> dict[str, np.ndarray]:
    """Payback, break-even prices, enterprise value and funding (draw,)."""
    gpu_volume = revenue.gpu_hours_sold
    gpu_total, kw_total = gpu_volume.sum(axis=1), revenue.kw_months.sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        reference_gpu = revenue.net_sum / gpu_total
        reference_kw = revenue.net_sum / kw_total
    reference_gpu = np.where(np.isfinite(reference_gpu) & (reference_gpu > 0), reference_gpu, 1.0)
    reference_kw = np.where(np.isfinite(reference_kw) & (reference_kw > 0), reference_kw, 100.0)
    has_gpu_hours = gpu_total > 0
    has_kw = kw_total > 0
    equity_raised = equity_in.sum(axis=1)
    debt_raised = drawn.sum(axis=1)
    first_revenue = first_month(revenue.total > 0)
    paid_back = payback(lines["project_cash_flow_usd"])
    per_gpu_hour, per_kw_month = break_evens(
        valuation, [gpu_volume, revenue.kw_months], [reference_gpu, reference_kw]
    )
    return {
        "payback_month": paid_back,
        "payback_years": np.where(
            paid_back >= first_revenue, (paid_back - first_revenue) / MONTHS_PER_YEAR, np.nan
        ),
        "breakeven_usd_per_gpu_hour": np.where(has_gpu_hours, per_gpu_hour, np.nan),
        "breakeven_usd_per_kw_month": np.where(has_kw, per_kw_month, np.nan),
        "enterprise_value_usd": lines["npv_usd"] + npv(valuation.discount_monthly, owned_capex),
        "funding_usd": debt_raised + equity_raised,
        "debt_usd": debt_raised,
        "equity_usd": equity_raised,
        "project_capex_usd": owned_capex.sum(axis=1),
        "debt_interest_capitalised_usd": lines["capitalised_interest_usd"].sum(axis=1),
    }
