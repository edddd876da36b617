"""Debt: tranches drawn with the capex they finance, interest capitalised until conversion, then repaid
level or sculpted to cash flow, with the covenant DSCR each must keep.

All recursions in time are closed forms: during drawdown the balance is the draws compounded to date,
``B(m) = sum_{j<=m} D(j) (1+i)^(m-j+1)``; in repayment ``B(m) = (1+i)^(m-c+1) [B_c - sum_{c<=j<=m} P(j)
(1+i)^-(j-c+1)]``, both cumulative sums along the month axis.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np

from neocloud.catalog import Catalog
from neocloud.compiled import cumsum
from neocloud.errors import ScenarioError
from neocloud.finance.kernels import last_month, pmt
from neocloud.finance.loops import amortise_rows
from neocloud.finance.revenue import default, or_default
from neocloud.scenario import Realised
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
    requested_usd: np.ndarray  # (tranche, draw) the amount asked for, before the DSCR cap
    capacity_usd: np.ndarray  # (tranche, draw) the most the cash flow carries at the target DSCR
    target_dscr: np.ndarray  # (tranche, draw)
    asset_class: tuple[str, ...] = ()  # per tranche: the depreciation class its capitalised interest joins

    @property
    def service(self) -> np.ndarray:
        """Debt service paid (draw, month): cash interest and principal of every tranche."""
        return (self.interest + self.principal).sum(axis=0)


FLOWS = ("draw", "fees", "capitalised_interest", "interest", "principal", "balance")
TERMS = (
    "amount_usd",
    "rate_per_year",
    "conversion_month",
    "maturity_month",
    "covenant_dscr",
    "requested_usd",
    "capacity_usd",
    "target_dscr",
)


def no_debt(draws: int, months: int) -> Debt:
    """The capital structure without debt."""
    flows, terms = np.zeros((0, draws, months)), np.zeros((0, draws))  # empty: nothing can write into them
    return Debt(
        [], draw=flows, fees=flows, capitalised_interest=flows, interest=flows, principal=flows, balance=flows,
        amount_usd=terms, rate_per_year=terms, conversion_month=terms, maturity_month=terms,
        covenant_dscr=terms, requested_usd=terms, capacity_usd=terms, target_dscr=terms,
    )


def credit_of(tranche: Any, contracts: list[Any]) -> str:
    """The offtaker credit a GPU loan is priced on: its own, else the first contract's."""
    if tranche.credit is not None:
        return str(tranche.credit)
    return str(contracts[0].credit) if contracts else "investment_grade"


def tranche_rate(tranche: Any, catalog: Catalog, draws: int, contracts: list[Any] | None = None) -> np.ndarray:
    """Interest rate per year of a tranche: its own, else the base rate plus the spread of its kind (for a
    GPU loan, of its offtaker's credit)."""
    spread = SPREADS[tranche.kind]
    if tranche.kind == "gpu" and credit_of(tranche, contracts or []) == "non_investment_grade":
        spread = "gpu_loan_spread_non_ig_per_year"
    fallback = default(catalog, "base_rate_per_year") + default(catalog, spread)
    return or_default(tranche.rate_per_year, fallback, draws)


def tenor_months(
    tranche: Any, catalog: Catalog, conversion: np.ndarray, contract_end: np.ndarray | None, field: str
) -> np.ndarray:
    """Months from conversion to maturity: the tranche's tenor; by default a GPU loan amortises by the end
    of its contract (at least a year), other kinds over the catalog's tenor."""
    draws = conversion.shape[0]
    if tranche.tenor_years is None and tranche.kind == "gpu" and contract_end is not None:
        tenor = np.maximum(np.round(contract_end - conversion), MONTHS_PER_YEAR)
    else:
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
    return tenor


def debt_schedule(
    scenario: Realised,
    catalog: Catalog,
    spend: dict[str, np.ndarray],
    sizing_cfads: np.ndarray,
    contracted_cfads: np.ndarray | None = None,
    contract_end: np.ndarray | None = None,
) -> Debt:
    """Draws, fees, interest (capitalised, then paid), principal and balance of every tranche, sized jointly.

    Tranches are senior in the order listed. Each one's cash flow for debt service is the CFADS over its
    target DSCR less the service of the tranches before it; a tranche sized to its DSCR lends no more than
    that carries (sculpted: the present value of it over the repayment months; level: the annuity of its
    smallest month), so total service never exceeds CFADS over the target.

    Parameters
    ----------
    spend : the owner's capex (draw, month) in USD by class: ``facility`` (with land and power) and ``it``.
    sizing_cfads : cash flow available for debt service (draw, month) that construction tranches follow and
        are sized on (revenue less opex less tax without the interest shield).
    contracted_cfads : the part of it earned under contracts, which GPU-backed loans are sized on.
    contract_end : (draw,) end month of the first contract, where GPU loans amortise by default.
    """
    draws, months = sizing_cfads.shape
    tranches = scenario.finance.debt
    if not tranches:
        return no_debt(draws, months)
    contracted = sizing_cfads if contracted_cfads is None else contracted_cfads
    senior = np.zeros((draws, months))
    out: dict[str, list[np.ndarray]] = {key: [] for key in FLOWS + TERMS}
    classes = []
    for index, tranche in enumerate(tranches):
        cfads = contracted if tranche.kind == "gpu" else sizing_cfads
        flows = one_tranche(scenario, catalog, index, tranche, spend, cfads, senior, contract_end)
        senior = senior + flows["interest"] + flows["principal"]
        for key in FLOWS + TERMS:
            out[key].append(flows[key])
        financed = tranche.finances or DEFAULT_FINANCES[tranche.kind]
        classes.append("it" if financed == "it" else "facility")
    stacked = {key: np.stack(values) for key, values in out.items()}
    return Debt(names=[tranche.name for tranche in tranches], asset_class=tuple(classes), **stacked)


@dataclass(frozen=True)
class Terms:
    """One tranche's timing and rate per draw: what its schedule is built on."""

    weights: np.ndarray  # (draw, month) share of the amount drawn each month
    monthly: np.ndarray  # (draw,) interest per month
    conversion: np.ndarray  # (draw,) first month of repayment
    tenor: np.ndarray  # (draw,) months of repayment
    month: np.ndarray  # (1, month) month index

    @property
    def log_growth(self) -> np.ndarray:
        """``log(1 + i)`` (draw, 1)."""
        return np.log1p(self.monthly)[:, None]

    @cached_property
    def repaying(self) -> np.ndarray:
        """Months of repayment (draw, month)."""
        return (self.month >= self.conversion[:, None]) & (self.month < (self.conversion + self.tenor)[:, None])

    @cached_property
    def since(self) -> np.ndarray:
        """Months since conversion (draw, month), negative while drawing."""
        return self.month - self.conversion[:, None]

    @cached_property
    def discount_to_conversion(self) -> np.ndarray:
        """``(1 + i) ** -(months since conversion + 1)`` (draw, month): a month's payment valued at conversion."""
        return np.exp(-self.log_growth * (self.since + 1))


def sizing(
    tranche: Any, catalog: Catalog, terms: Terms, base_total: np.ndarray, cfads: np.ndarray,
    senior_service: np.ndarray,
) -> dict[str, np.ndarray]:
    """What a tranche asks for and what the cash flow carries (draw,), USD: the requested amount, the capacity
    at the target DSCR (sculpted: the present value of the cash available over the repayment months; level:
    the annuity of its smallest month), the amount lent, the target, the balance per dollar lent compounded
    to conversion, and the cash available for its service (draw, month)."""
    draws = base_total.shape[0]
    log_growth, repaying = terms.log_growth, terms.repaying
    # a unit of draws, compounded to conversion: the balance at conversion per dollar lent
    growth_to_conversion = (
        terms.weights * np.exp(log_growth * (terms.conversion[:, None] - terms.month))
    ).sum(axis=1)
    if tranche.share is not None:
        requested = np.asarray(tranche.share, dtype=float) * base_total
    elif tranche.amount_usd is not None:
        requested = np.broadcast_to(np.asarray(tranche.amount_usd, dtype=float), (draws,)) * (base_total > 0)
    else:
        requested = base_total.copy()
    target_name = "gpu_loan_target_dscr" if tranche.kind == "gpu" else "target_dscr"
    target = or_default(tranche.target_dscr, default(catalog, target_name), draws)
    available = np.maximum(cfads / target[:, None] - senior_service, 0.0) * repaying
    pv_available = (available * terms.discount_to_conversion).sum(axis=1)
    annuity = np.where(repaying.any(axis=1), np.where(repaying, available, np.inf).min(axis=1), 0.0)
    level_pv = annuity / np.maximum(pmt(terms.monthly, terms.tenor, 1.0), 1e-300)
    capacity = np.where(tranche.amortisation == "sculpted", pv_available, level_pv)
    capacity = capacity / np.maximum(growth_to_conversion, 1e-12)
    return {
        "requested": requested,
        "capacity": capacity,
        "amount": np.minimum(requested, capacity) if tranche.size_to_dscr else requested,
        "target": target,
        "growth_to_conversion": growth_to_conversion,
        "available": available,
        "pv_available": pv_available,
    }


def drawdown(
    drawn: np.ndarray, log_growth: np.ndarray, month: np.ndarray, drawing: np.ndarray, conversion: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Balance at the end of each month while drawing, ``sum_{j<=m} D(j) (1+i)^(m-j+1)``, and the interest
    capitalised in it (draw, month), USD; both 0 from conversion on. Computed only over the months before
    the latest conversion (a running sum's first months do not depend on the later ones): the same bits."""
    draws, months = drawn.shape
    span = int(min(max(float(conversion.max(initial=0.0)), 0.0), months))
    build_balance = np.zeros_like(drawn)
    capitalised = np.zeros_like(drawn)
    if span:
        head, now, drawn_head = slice(None, span), month[:, :span], drawn[:, :span]
        discounted = cumsum(drawn_head * np.exp(-log_growth * now), axis=1)
        build_balance[:, head] = np.where(drawing[:, head], discounted * np.exp(log_growth * (now + 1)), 0.0)
        previous_build = np.concatenate([np.zeros((draws, 1)), build_balance[:, : span - 1]], axis=1)
        capitalised[:, head] = np.where(drawing[:, head], build_balance[:, head] - previous_build - drawn_head, 0.0)
    return build_balance, capitalised


def repayment(
    tranche: Any, terms: Terms, size: dict[str, np.ndarray], balance_at_conversion: np.ndarray
) -> np.ndarray:
    """Payments (draw, month), USD: a level annuity, or (sculpted) payments in proportion to the cash
    available with the same present value where any is available. The annuity is not computed where no
    draw takes it (the same bits: a choice between two arrays gives the one chosen)."""
    pv_available = size["pv_available"]
    sculpted = tranche.amortisation == "sculpted"
    if sculpted and bool(np.all(pv_available > 0)):
        return size["available"] * (balance_at_conversion / pv_available)[:, None]
    payment = pmt(terms.monthly, terms.tenor, balance_at_conversion)[:, None] * terms.repaying
    if sculpted:
        share_of_available = balance_at_conversion / np.where(pv_available > 0, pv_available, 1.0)
        payment = np.where((pv_available > 0)[:, None], size["available"] * share_of_available[:, None], payment)
    return payment


def amortise(tranche: Any, terms: Terms, size: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Draws, capitalised interest, cash interest, principal and end-of-month balance (draw, month), USD.

    While repaying, the balance is ``(1 + i) ** (months since conversion + 1)`` times the balance at
    conversion less the payments valued at conversion to date (never below 0); while drawing it is the
    drawdown's; 0 from maturity on. Interest and principal come from the opening balance. The running sum
    and the choices are one compiled pass per row (``loops.amortise_rows``), the exponentials numpy's."""
    draws = terms.weights.shape[0]
    log_growth, month = terms.log_growth, terms.month
    drawn = size["amount"][:, None] * terms.weights
    balance_at_conversion = size["amount"] * size["growth_to_conversion"]
    drawing = month < terms.conversion[:, None]
    build_balance, capitalised = drawdown(drawn, log_growth, month, drawing, terms.conversion)
    # repayment: level annuity, or payments in proportion to the cash available with the same present value
    payment = repayment(tranche, terms, size, balance_at_conversion)
    growth = np.exp(log_growth * (terms.since + 1))
    shape = growth.shape
    balance, interest, principal = np.empty(shape), np.empty(shape), np.empty(shape)
    payment, discount, growth = (
        np.ascontiguousarray(np.broadcast_to(a, shape), dtype=float)
        for a in (payment, terms.discount_to_conversion, growth)
    )
    amortise_rows(
        payment, discount, growth,
        np.ascontiguousarray(np.broadcast_to(balance_at_conversion, (draws,)), dtype=float),
        np.ascontiguousarray(np.broadcast_to(terms.repaying, shape)),
        np.ascontiguousarray(build_balance, dtype=float),
        np.ascontiguousarray(np.broadcast_to(terms.monthly, (draws,)), dtype=float),
        balance, interest, principal,
    )
    return {
        "draw": drawn,
        "capitalised_interest": capitalised,
        "interest": interest,
        "principal": principal,
        "balance": balance,
    }


def one_tranche(
    scenario: Realised,
    catalog: Catalog,
    index: int,
    tranche: Any,
    spend: dict[str, np.ndarray],
    cfads: np.ndarray,
    senior_service: np.ndarray,
    contract_end: np.ndarray | None,
) -> dict[str, np.ndarray]:
    """One tranche's flows (draw, month) and terms (draw,), given the service of the tranches senior to it."""
    draws, months = cfads.shape
    financed = tranche.finances or DEFAULT_FINANCES[tranche.kind]
    base = spend["facility"] + spend["it"] if financed == "all" else spend[financed]
    base_total = base.sum(axis=1)
    rate = tranche_rate(tranche, catalog, draws, scenario.finance.contracts)
    conversion = last_month(base > 0) + 1  # first month of repayment
    terms = Terms(
        weights=base / np.where(base_total > 0, base_total, 1.0)[:, None],
        monthly=rate / MONTHS_PER_YEAR,
        conversion=conversion,
        tenor=tenor_months(tranche, catalog, conversion, contract_end, f"finance.debt.{index}"),
        month=np.arange(months)[None, :].astype(float),
    )
    size = sizing(tranche, catalog, terms, base_total, cfads, senior_service)
    flows = amortise(tranche, terms, size)
    fee = or_default(tranche.upfront_fee_frac, default(catalog, "upfront_fee_frac"), draws)
    covenant_name = "gpu_loan_covenant_dscr" if tranche.kind == "gpu" else "covenant_dscr"
    return {
        **flows,
        "fees": flows["draw"] * fee[:, None],
        "amount_usd": size["amount"],
        "rate_per_year": rate,
        "conversion_month": conversion,
        "maturity_month": conversion + terms.tenor,
        "covenant_dscr": or_default(tranche.covenant_dscr, default(catalog, covenant_name), draws),
        "requested_usd": size["requested"],
        "capacity_usd": size["capacity"],
        "target_dscr": size["target"],
    }
