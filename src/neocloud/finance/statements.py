"""Monthly statements per draw: opex, depreciation by asset class, tax with losses carried forward, cash flow
(operating, investing, financing), equity flows, and the results (NPV, IRR, DSCR, payback, break-evens)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from neocloud.catalog import Catalog
from neocloud.finance.capex import Capex
from neocloud.finance.debt import Debt
from neocloud.finance.kernels import (
    annual_rate,
    irr,
    lagged,
    monthly_rate,
    npv,
    solve_increasing,
    trailing_sum,
)
from neocloud.finance.revenue import Revenue
from neocloud.units import MONTHS_PER_YEAR

OPEX_ITEMS = ("energy", "it_maintenance", "facility_maintenance", "staff", "insurance_and_property_tax")


@dataclass(frozen=True)
class Operations:
    """The owner's monthly costs (draw, month) in USD, by item, and the capex it owns by class."""

    items: dict[str, np.ndarray]
    it_spend: np.ndarray
    facility_spend: np.ndarray

    @property
    def total(self) -> np.ndarray:
        """Opex (draw, month) in USD."""
        return sum(self.items.values())


def operations(
    catalog: Catalog, upstream: Any, capex: Capex, owns_it: bool, energy_cost: np.ndarray
) -> Operations:
    """Monthly opex of the owner: energy; IT maintenance on the IT online (GPU cloud only); facility
    maintenance and staff on the IT MW online; insurance and property tax on the capex spent to date."""
    cost = catalog.table("cost_items")["value"]
    accelerators = np.asarray(upstream["accelerators"].values, dtype=float)
    it_mw = np.asarray(upstream["it_power_mw"].values, dtype=float)
    online_share = (
        np.asarray(upstream["accelerators_online"].values, dtype=float)
        / np.maximum(accelerators, 1e-12)[:, None]
    )
    it_mw_online = np.asarray(upstream["it_power_online_mw"].values, dtype=float)
    mw_share = it_mw_online / np.maximum(it_mw, 1e-12)[:, None]
    it_spend = capex.it_spend if owns_it else np.zeros_like(capex.it_spend)
    owned_to_date = np.cumsum(it_spend + capex.facility_spend, axis=1)
    per_month = 1.0 / MONTHS_PER_YEAR
    items = {
        "energy": energy_cost,
        "it_maintenance": (
            capex.it_usd[:, None]
            * online_share
            * float(cost["it_maintenance_frac_per_year"])
            * per_month
            * owns_it
        ),
        "facility_maintenance": (capex.facility_usd - capex.land_usd)[:, None]
        * mw_share
        * float(cost["facility_maintenance_frac_per_year"])
        * per_month,
        "staff": it_mw_online * float(cost["staff_usd_per_mw_it_year"]) * per_month,
        "insurance_and_property_tax": owned_to_date
        * (float(cost["insurance_frac_per_year"]) + float(cost["property_tax_frac_per_year"]))
        * per_month,
    }
    return Operations(items=items, it_spend=it_spend, facility_spend=capex.facility_spend)


def depreciation(in_service: np.ndarray, life_years: np.ndarray) -> np.ndarray:
    """Straight-line depreciation (draw, month) of capex placed in service by month over a life in years."""
    placed = np.cumsum(in_service, axis=1)
    life_months = np.maximum(np.asarray(life_years, dtype=float) * MONTHS_PER_YEAR, 1.0)
    return (placed - lagged(placed, life_months)) / life_months[:, None]


def tax_paid(taxable: np.ndarray, rate: np.ndarray) -> np.ndarray:
    """Tax (draw, month) on monthly taxable income with losses carried forward without limit.

    Income taxed to date is the highest cumulative income reached so far (a loss after a profit is carried
    forward against later profit, never back), so the tax to date is ``rate * max(0, max_{k<=m} C(k))``.
    """
    cumulative = np.cumsum(taxable, axis=1)
    taxed = np.maximum(np.maximum.accumulate(cumulative, axis=1), 0.0)
    return rate[:, None] * np.diff(taxed, axis=1, prepend=0.0)


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

    def project_flows(self, ebitda: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Unlevered after-tax cash flow (draw, month) without and with the terminal value."""
        flows = ebitda - tax_paid(ebitda - self.deductions, self.tax_rate) - self.capex
        terminal = np.zeros_like(flows)
        terminal[:, -1] = self.multiple * np.maximum(trailing_sum(ebitda, MONTHS_PER_YEAR)[:, -1], 0.0)
        return flows, flows + terminal

    def npv_at_price(self, price: np.ndarray) -> np.ndarray:
        """Project NPV (draw,) when the volume sells at a uniform price (draw,)."""
        _, flows = self.project_flows(self.fixed_ebitda + price[:, None] * self.volume)
        return npv(self.discount_monthly, flows)


    def block(self, rows: slice) -> Valuation:
        """The same valuation for the draws ``rows`` only."""
        return Valuation(*(getattr(self, name)[rows] for name in self.__dataclass_fields__))


BLOCK_DRAWS = 2048  # the root finder evaluates the monthly flows ~35 times: blocks keep them in cache


def break_even(valuation: Valuation, reference: np.ndarray) -> np.ndarray:
    """The uniform price (draw,) at which project NPV is zero; NaN where no price up to 1000x makes it so."""
    draws = reference.shape[0]
    high = np.maximum(np.abs(reference), 1e-6) * 4
    price = np.empty(draws)
    for start in range(0, draws, BLOCK_DRAWS):
        rows = slice(start, start + BLOCK_DRAWS)
        part = valuation.block(rows)
        # a millionth of a cent per unit is far below any price quoted
        found = solve_increasing(part.npv_at_price, np.zeros(high[rows].size), high[rows], tolerance=1e-8)
        covered = part.npv_at_price(np.zeros(high[rows].size)) >= 0
        price[rows] = np.where(covered, 0.0, found)
    return price


def dscr(cfads: np.ndarray, service: np.ndarray) -> np.ndarray:
    """Trailing-twelve-month DSCR (draw, month) over the months with debt service; NaN where none is due."""
    serving = service > 0
    paid = trailing_sum(service, MONTHS_PER_YEAR)
    earned = trailing_sum(np.where(serving, cfads, 0.0), MONTHS_PER_YEAR)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(serving & (paid > 0), earned / paid, np.nan)


def payback(flows: np.ndarray) -> np.ndarray:
    """Month (draw,) after which cumulative project cash flow stays non-negative; NaN if it never does."""
    cumulative = np.cumsum(flows, axis=1)
    negative = cumulative < 0
    months = flows.shape[1]
    last_negative = np.where(negative.any(axis=1), months - 1 - negative[:, ::-1].argmax(axis=1), -1)
    return np.where(last_negative >= months - 1, np.nan, last_negative + 1.0)


def statements(
    revenue: Revenue,
    ops: Operations,
    capex: Capex,
    debt: Debt,
    fin: Any,
    tax_rate: np.ndarray,
    multiple: np.ndarray,
) -> dict[str, np.ndarray]:
    """Every monthly statement line (draw, month) and every result (draw,), in USD unless named otherwise."""
    draws = revenue.total.shape[0]
    opex = ops.total
    ebitda = revenue.total - opex
    owned_capex = ops.it_spend + ops.facility_spend
    it_in_service = ops.it_spend
    depreciation_it = depreciation(it_in_service, np.asarray(fin.it_life_years, dtype=float))
    depreciation_facility = depreciation(
        capex.facility_in_service, np.asarray(fin.facility_life_years, dtype=float)
    )
    deductions = depreciation_it + depreciation_facility + capex.power_depreciation
    discount = monthly_rate(np.asarray(fin.discount_rate, dtype=float))
    valuation = Valuation(
        fixed_ebitda=ebitda - (revenue.total - revenue.pass_through),
        volume=revenue.gpu_hours_sold,
        deductions=deductions,
        capex=owned_capex,
        tax_rate=tax_rate,
        multiple=multiple,
        discount_monthly=discount,
    )
    project_flow, project_flow_terminal = valuation.project_flows(ebitda)
    terminal = project_flow_terminal - project_flow

    interest = debt.interest.sum(axis=0)
    fees = debt.fees.sum(axis=0)
    principal = debt.principal.sum(axis=0)
    drawn = debt.draw.sum(axis=0)
    balance = debt.balance.sum(axis=0)
    tax = tax_paid(ebitda - deductions - interest - fees, tax_rate)
    cfads = ebitda - tax
    service = interest + principal
    before_equity = cfads - owned_capex + drawn - fees - interest - principal
    equity_in = np.maximum(-before_equity, 0.0)
    distributions = np.maximum(before_equity, 0.0)
    equity_flow = distributions - equity_in
    equity_flow_terminal = equity_flow.copy()
    equity_flow_terminal[:, -1] += terminal[:, -1] - balance[:, -1]

    cover = dscr(cfads, service)
    has_debt = (service > 0).any(axis=1)
    min_dscr = np.where(has_debt, np.nanmin(np.where(np.isnan(cover), np.inf, cover), axis=1), np.nan)
    covenant = debt.covenant_dscr.max(axis=0) if debt.covenant_dscr.size else np.full(draws, np.nan)
    breaches = np.where(has_debt, ((cover < covenant[:, None]) & np.isfinite(cover)).sum(axis=1), 0)

    project_irr, project_reason = irr(project_flow_terminal)
    equity_irr, equity_reason = irr(equity_flow_terminal)
    npv_usd = npv(discount, project_flow_terminal)
    pv_capex = npv(discount, owned_capex)
    gpu_volume = revenue.gpu_hours_sold
    kw_valuation = Valuation(
        fixed_ebitda=valuation.fixed_ebitda,
        volume=revenue.kw_months,
        deductions=deductions,
        capex=owned_capex,
        tax_rate=tax_rate,
        multiple=multiple,
        discount_monthly=discount,
    )
    with np.errstate(divide="ignore", invalid="ignore"):
        reference_gpu = (revenue.total - revenue.pass_through).sum(axis=1) / gpu_volume.sum(axis=1)
        reference_kw = (revenue.total - revenue.pass_through).sum(axis=1) / revenue.kw_months.sum(axis=1)
    reference_gpu = np.where(np.isfinite(reference_gpu) & (reference_gpu > 0), reference_gpu, 1.0)
    reference_kw = np.where(np.isfinite(reference_kw) & (reference_kw > 0), reference_kw, 100.0)
    has_gpu_hours = gpu_volume.sum(axis=1) > 0
    has_kw = revenue.kw_months.sum(axis=1) > 0
    equity_raised = equity_in.sum(axis=1)
    debt_raised = drawn.sum(axis=1)
    return {
        "revenue_usd": revenue.total,
        "revenue_contract_usd": revenue.contract,
        "revenue_spot_usd": revenue.spot,
        "revenue_rent_usd": revenue.rent,
        "revenue_pass_through_usd": revenue.pass_through,
        "gpu_hours_sold": revenue.gpu_hours_sold,
        "leased_kw": revenue.kw_months,
        "opex_usd": opex,
        "ebitda_usd": ebitda,
        "capex_spend_usd": owned_capex,
        "capex_it_spend_usd": ops.it_spend,
        "capex_facility_spend_usd": ops.facility_spend,
        "depreciation_it_usd": depreciation_it,
        "depreciation_facility_usd": depreciation_facility,
        "depreciation_power_usd": capex.power_depreciation,
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
        "distributions_usd": distributions,
        "equity_flow_usd": equity_flow,
        "cash_flow_operating_usd": cfads,
        "cash_flow_investing_usd": -owned_capex,
        "cash_flow_financing_usd": drawn - fees - interest - principal + equity_in - distributions,
        "sources_usd": drawn + equity_in + np.maximum(cfads, 0.0),
        "uses_usd": owned_capex + fees + interest + principal + distributions + np.maximum(-cfads, 0.0),
        "project_cash_flow_usd": project_flow,
        "terminal_value_usd": terminal,
        "dscr": cover,
        "npv_usd": npv_usd,
        "project_irr": annual_rate(project_irr),
        "equity_irr": annual_rate(equity_irr),
        "project_irr_reason": project_reason,
        "equity_irr_reason": equity_reason,
        "min_dscr": min_dscr,
        "dscr_breach_months": breaches.astype(float),
        "payback_month": payback(project_flow),
        "breakeven_usd_per_gpu_hour": np.where(has_gpu_hours, break_even(valuation, reference_gpu), np.nan),
        "breakeven_usd_per_kw_month": np.where(has_kw, break_even(kw_valuation, reference_kw), np.nan),
        "enterprise_value_usd": npv_usd + pv_capex,
        "funding_usd": debt_raised + equity_raised,
        "debt_usd": debt_raised,
        "equity_usd": equity_raised,
        "project_capex_usd": owned_capex.sum(axis=1),
        "debt_interest_capitalised_usd": debt.capitalised_interest.sum(axis=(0, 2)),
    }
