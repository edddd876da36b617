"""Debt: tranches drawn with the capex they finance, interest capitalised until conversion, then repaid
level or sculpted to cash flow, with the covenant DSCR each must keep.

All recursions in time are closed forms: during drawdown the balance is the draws compounded to date,
``B(m) = sum_{j<=m} D(j) (1+i)^(m-j+1)``; in repayment ``B(m) = (1+i)^(m-c+1) [B_c - sum_{c<=j<=m} P(j)
(1+i)^-(j-c+1)]``, both cumulative sums along the month axis.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from neocloud.catalog import Catalog
from neocloud.errors import ScenarioError
from neocloud.finance.kernels import last_month, pmt
from neocloud.finance.revenue import default, or_default
from neocloud.units import MONTHS_PER_YEAR

DEFAULT_FINANCES = {"construction": "facility", "gpu": "it"}
SPREADS = {"construction": "construction_loan_spread_per_year", "gpu": "gpu_loan_spread_per_year"}
TENORS = {"construction": "construction_loan_tenor_years", "gpu": "gpu_loan_tenor_years"}


@dataclass(frozen=True)
class Debt:
    """Every tranche's monthly flows, stacked (tranche, draw, month), and its terms (tranche, draw)."""

    names: list[str]
    draw: np.ndarray
    fees: np.ndarray
    capitalised_interest: np.ndarray
    interest: np.ndarray  # paid in cash
    principal: np.ndarray
    balance: np.ndarray  # at the end of the month
    amount_usd: np.ndarray  # (tranche, draw) principal drawn
    rate_per_year: np.ndarray  # (tranche, draw)
    conversion_month: np.ndarray  # (tranche, draw) first month of repayment
    maturity_month: np.ndarray  # (tranche, draw) month after the last payment
    covenant_dscr: np.ndarray  # (tranche, draw)

    @property
    def service(self) -> np.ndarray:
        """Debt service paid (draw, month): cash interest and principal of every tranche."""
        return (self.interest + self.principal).sum(axis=0)


def no_debt(draws: int, months: int) -> Debt:
    """The capital structure without debt."""
    flows = np.zeros((0, draws, months))
    terms = np.zeros((0, draws))
    return Debt([], flows, flows, flows, flows, flows, flows, terms, terms, terms, terms, terms)


def tranche_rate(tranche: Any, catalog: Catalog, draws: int) -> np.ndarray:
    """Interest rate per year of a tranche: its own, else the base rate plus the spread of its kind."""
    fallback = default(catalog, "base_rate_per_year") + default(catalog, SPREADS[tranche.kind])
    return or_default(tranche.rate_per_year, fallback, draws)


def debt_schedule(
    scenario: Any, catalog: Catalog, spend: dict[str, np.ndarray], sizing_cfads: np.ndarray
) -> Debt:
    """Draws, fees, interest (capitalised, then paid), principal and balance of every tranche.

    Parameters
    ----------
    spend : the owner's capex (draw, month) in USD by class: ``facility`` (with land and power) and ``it``.
    sizing_cfads : cash flow available for debt service (draw, month) that sculpted tranches follow and are
        sized on (revenue less opex less tax without the interest shield).
    """
    draws, months = sizing_cfads.shape
    tranches = scenario.finance.debt
    if not tranches:
        return no_debt(draws, months)
    month = np.arange(months)[None, :].astype(float)
    positive_cfads = np.maximum(sizing_cfads, 0.0)
    out: dict[str, list[np.ndarray]] = {
        key: []
        for key in (
            "draw",
            "fees",
            "capitalised_interest",
            "interest",
            "principal",
            "balance",
            "amount_usd",
            "rate_per_year",
            "conversion_month",
            "maturity_month",
            "covenant_dscr",
        )
    }
    for index, tranche in enumerate(tranches):
        field = f"finance.debt.{index}"
        financed = tranche.finances or DEFAULT_FINANCES[tranche.kind]
        base = spend["facility"] + spend["it"] if financed == "all" else spend[financed]
        base_total = base.sum(axis=1)
        weights = base / np.where(base_total > 0, base_total, 1.0)[:, None]
        rate = tranche_rate(tranche, catalog, draws)
        monthly = rate / MONTHS_PER_YEAR
        log_growth = np.log1p(monthly)[:, None]
        tenor = np.round(
            or_default(tranche.tenor_years, default(catalog, TENORS[tranche.kind]), draws) * MONTHS_PER_YEAR
        )
        if np.any(tenor < 1):
            raise ScenarioError(
                "a tranche must run at least one month",
                field=f"{field}.tenor_years",
                value=float(np.min(tenor)) / MONTHS_PER_YEAR,
                allowed="1/12 year or more",
            )
        conversion = last_month(base > 0) + 1  # first month of repayment
        maturity = conversion + tenor
        repaying = (month >= conversion[:, None]) & (month < maturity[:, None])
        since = month - conversion[:, None]  # months since conversion (negative while drawing)
        # a unit of draws, compounded to conversion: the balance at conversion per dollar lent
        growth_to_conversion = (weights * np.exp(log_growth * (conversion[:, None] - month))).sum(axis=1)
        if tranche.share is not None:
            amount = np.asarray(tranche.share, dtype=float) * base_total
        elif tranche.amount_usd is not None:
            amount = np.broadcast_to(np.asarray(tranche.amount_usd, dtype=float), (draws,)) * (base_total > 0)
        else:
            amount = base_total.copy()
        if tranche.amortisation == "sculpted":
            target = or_default(tranche.target_dscr, default(catalog, "target_dscr"), draws)
            pv_cfads = (positive_cfads * repaying * np.exp(-log_growth * (since + 1))).sum(axis=1)
            amount = np.minimum(amount, pv_cfads / target / np.maximum(growth_to_conversion, 1e-12))
        drawn = amount[:, None] * weights
        balance_at_conversion = amount * growth_to_conversion
        # drawdown: balance at the end of month m = sum_{j<=m} D(j) (1+i)^(m-j+1)
        discounted = np.cumsum(drawn * np.exp(-log_growth * month), axis=1)
        drawing = month < conversion[:, None]
        build_balance = np.where(drawing, discounted * np.exp(log_growth * (month + 1)), 0.0)
        previous_build = np.concatenate([np.zeros((draws, 1)), build_balance[:, :-1]], axis=1)
        capitalised = np.where(drawing, build_balance - previous_build - drawn, 0.0)
        # repayment: level annuity, or a constant share of CFADS with the same present value
        level = pmt(monthly, tenor, balance_at_conversion)[:, None] * repaying
        payment = level
        if tranche.amortisation == "sculpted":
            weight = positive_cfads * repaying
            pv_weight = (weight * np.exp(-log_growth * (since + 1))).sum(axis=1)
            share_of_cfads = balance_at_conversion / np.where(pv_weight > 0, pv_weight, 1.0)
            payment = np.where((pv_weight > 0)[:, None], weight * share_of_cfads[:, None], level)
        repaid = np.cumsum(payment * np.exp(-log_growth * (since + 1)), axis=1)
        balance = np.where(
            repaying, np.exp(log_growth * (since + 1)) * (balance_at_conversion[:, None] - repaid), 0.0
        )
        balance = np.where(month >= maturity[:, None], 0.0, np.maximum(balance, 0.0))
        balance = np.where(drawing, build_balance, balance)
        opening = np.concatenate([np.zeros((draws, 1)), balance[:, :-1]], axis=1)
        interest = np.where(repaying, opening * monthly[:, None], 0.0)
        principal = np.where(repaying, opening - balance, 0.0)
        out["draw"].append(drawn)
        out["fees"].append(
            drawn * or_default(tranche.upfront_fee_frac, default(catalog, "upfront_fee_frac"), draws)[:, None]
        )
        out["capitalised_interest"].append(capitalised)
        out["interest"].append(interest)
        out["principal"].append(principal)
        out["balance"].append(balance)
        out["amount_usd"].append(amount)
        out["rate_per_year"].append(rate)
        out["conversion_month"].append(conversion)
        out["maturity_month"].append(maturity)
        out["covenant_dscr"].append(
            or_default(tranche.covenant_dscr, default(catalog, "covenant_dscr"), draws)
        )
    stacked = {key: np.stack(values) for key, values in out.items()}
    return Debt(names=[tranche.name for tranche in tranches], **stacked)
