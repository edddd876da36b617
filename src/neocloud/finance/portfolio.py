"""A company of several campuses: their monthly cash flows summed by calendar month, and what the sum is
worth against a stated valuation."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import xarray as xr

from neocloud.finance.kernels import annual_rate, irr, monthly_rate, npv, solve_increasing, trailing_sum
from neocloud.finance.statements import dscr
from neocloud.units import MONTHS_PER_YEAR

SUMMED = (
    "revenue_usd",
    "revenue_pass_through_usd",
    "revenue_contracted_usd",
    "opex_usd",
    "ebitda_usd",
    "capex_spend_usd",
    "cfads_usd",
    "debt_draw_usd",
    "debt_service_usd",
    "interest_usd",
    "debt_balance_usd",
    "equity_in_usd",
    "equity_flow_usd",
    "project_cash_flow_usd",
    "terminal_value_usd",
)


def _month_index(date: np.datetime64) -> int:
    return int(date.astype("datetime64[M]").astype(int))


def ratio(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    """``numerator / denominator`` where the denominator is positive, NaN elsewhere."""
    positive = denominator > 0
    return np.where(positive, numerator / np.where(positive, denominator, 1.0), np.nan)


def company_figures(
    totals: dict[str, np.ndarray], annual_cost: np.ndarray, gpu_hours: np.ndarray
) -> dict[str, tuple[np.ndarray, str]]:
    """Blended figures of the company (draw,) with their units: revenue per year and EBITDA margin in the
    twelve months when revenue net of energy passed through peaks, cost per GPU-hour over all the GPU-hours
    the campuses deliver, revenue contracted, and the highest debt outstanding."""
    net_revenue = trailing_sum(totals["revenue_usd"] - totals["revenue_pass_through_usd"], MONTHS_PER_YEAR)
    peak = net_revenue.argmax(axis=1)
    rows = np.arange(net_revenue.shape[0])
    peak_revenue = net_revenue[rows, peak]
    peak_ebitda = trailing_sum(totals["ebitda_usd"], MONTHS_PER_YEAR)[rows, peak]
    return {
        "revenue_usd_per_year": (peak_revenue, "USD/year"),
        "ebitda_margin": (ratio(peak_ebitda, peak_revenue), "fraction"),
        "cost_usd_per_gpu_hour": (ratio(annual_cost, gpu_hours), "USD/GPU-hour"),
        "contracted_revenue_usd": (totals["revenue_contracted_usd"].sum(axis=1), "USD"),
        "debt_peak_usd": (totals["debt_balance_usd"].max(axis=1), "USD"),
    }


def company_totals(
    datasets: Sequence[xr.Dataset], firsts: Sequence[int], start: int, months: int
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """The campuses' monthly lines summed on the company calendar (draw, month), USD, and per draw: the
    equity's terminal value less debt owed at each campus's last month (draw, month), the capex weight and
    capex-weighted discount rate, the annual cost and the GPU-hours of the campuses with a cost per hour."""
    draws = datasets[0].sizes["draw"]
    totals = {name: np.zeros((draws, months)) for name in SUMMED}
    equity_terminal = np.zeros((draws, months))
    capex_weight = np.zeros(draws)
    weighted_rate = np.zeros(draws)
    annual_cost = np.zeros(draws)
    gpu_hours = np.zeros(draws)
    for first, data in zip(firsts, datasets, strict=True):
        offset = first - start
        span = slice(offset, offset + data.sizes["month"])
        for name in SUMMED:
            totals[name][:, span] += np.asarray(data[name].values, dtype=float)
        last = offset + data.sizes["month"] - 1
        equity_terminal[:, last] += (
            data["terminal_value_usd"].values[:, -1] - data["debt_balance_usd"].values[:, -1]
        )
        cost = np.asarray(data["annualised_capex_usd_per_year"].values + data["opex_usd_per_year"].values)
        per_hour = np.asarray(data["cost_usd_per_gpu_hour"].values, dtype=float)
        usable = np.isfinite(per_hour) & (per_hour > 0)
        annual_cost += np.where(usable, cost, 0.0)
        gpu_hours += np.where(usable, cost / np.where(usable, per_hour, 1.0), 0.0)
        weight = np.asarray(data["capex_usd"].values, dtype=float)
        capex_weight += weight
        weighted_rate += weight * np.asarray(data["discount_rate"].values, dtype=float)
    return totals, {
        "equity_terminal": equity_terminal,
        "capex": capex_weight,
        "rate": weighted_rate,
        "annual_cost": annual_cost,
        "gpu_hours": gpu_hours,
    }


def valuation_figures(
    valuation_usd: np.ndarray | float, project: np.ndarray, npv_usd: np.ndarray, run_rate: np.ndarray
) -> dict[str, tuple[np.ndarray, str]]:
    """A stated valuation (USD) against the company: over its NPV and its run-rate EBITDA, and the discount
    rate per year at which its NPV (of ``project``, (draw, month)) equals the valuation."""
    draws = project.shape[0]
    valuation = np.broadcast_to(np.asarray(valuation_usd, dtype=float), (draws,))

    def shortfall(annual: np.ndarray) -> np.ndarray:  # rises with the rate: valuation less NPV at it
        return valuation - npv(monthly_rate(annual), project)

    with np.errstate(divide="ignore", invalid="ignore"):
        return {
            "valuation_usd": (valuation, "USD"),
            "valuation_to_npv": (np.where(npv_usd > 0, valuation / npv_usd, np.nan), "ratio"),
            "valuation_to_ebitda": (np.where(run_rate > 0, valuation / run_rate, np.nan), "ratio"),
            "implied_discount_rate": (
                solve_increasing(shortfall, np.full(draws, -0.5), np.full(draws, 1.0)),
                "fraction/year",
            ),
        }


def roll_up(
    results: Sequence[Any],
    valuation_usd: np.ndarray | float | None = None,
    discount_rate: np.ndarray | float | None = None,
) -> xr.Dataset:
    """Sum the campuses' monthly cash flows by calendar month and value the company.

    Parameters
    ----------
    results : campus ``Results`` (each with a finance stage in ``.dataset``), all with the same draws.
    valuation_usd : the company's stated valuation (USD), scalar or (draw,); none: no comparison (a
        campus's own ``finance.valuation_usd`` is its owner's, which need not be this company's).
    discount_rate : the company's discount rate per year; default the campuses' rates weighted by capex.

    Returns
    -------
    xr.Dataset
        Monthly sums (draw, month) on the company calendar (coordinate ``date``) and results (draw,):
        ``npv_usd``, ``project_irr``, ``equity_irr``, ``enterprise_value_usd``, ``funding_usd``,
        ``debt_usd``, ``equity_usd``, ``min_dscr``, ``run_rate_ebitda_usd_per_year``,
        ``revenue_usd_per_year`` and ``ebitda_margin`` (the twelve months when revenue net of energy passed
        through peaks), ``cost_usd_per_gpu_hour`` (the campuses' annualised capex and opex over all the
        GPU-hours they deliver), ``contracted_revenue_usd``, ``debt_peak_usd``, and with a valuation
        ``valuation_usd``, ``valuation_to_npv``, ``valuation_to_ebitda`` and ``implied_discount_rate`` (the
        rate per year at which the company's NPV equals the valuation).
    """
    datasets = [result.dataset for result in results]
    if not datasets:
        raise ValueError("roll_up needs at least one campus result")
    draws = datasets[0].sizes["draw"]
    if any(data.sizes["draw"] != draws for data in datasets):
        raise ValueError("every campus result must have the same number of draws")
    firsts = [_month_index(data["date"].values[0]) for data in datasets]
    start = min(firsts)
    months = max(first + data.sizes["month"] for first, data in zip(firsts, datasets, strict=True)) - start
    totals, sums = company_totals(datasets, firsts, start, months)
    equity_terminal, capex_weight, weighted_rate = sums["equity_terminal"], sums["capex"], sums["rate"]
    annual_cost, gpu_hours = sums["annual_cost"], sums["gpu_hours"]
    rate = (
        np.broadcast_to(np.asarray(discount_rate, dtype=float), (draws,))
        if discount_rate is not None
        else weighted_rate / np.where(capex_weight > 0, capex_weight, 1.0)
    )
    monthly = monthly_rate(rate)
    project = totals["project_cash_flow_usd"] + totals["terminal_value_usd"]
    equity = totals["equity_flow_usd"] + equity_terminal
    npv_usd = npv(monthly, project)
    project_irr, _ = irr(project)
    equity_irr, _ = irr(equity)
    service = totals["debt_service_usd"]
    cover = dscr(totals["cfads_usd"], service)
    has_debt = (service > 0).any(axis=1)
    run_rate = trailing_sum(totals["ebitda_usd"], MONTHS_PER_YEAR).max(axis=1)
    dates = (np.datetime64(start, "M") + np.arange(months)).astype("datetime64[ns]")
    out = xr.Dataset(
        {name: (("draw", "month"), values, {"units": "USD"}) for name, values in totals.items()},
        coords={"draw": np.arange(draws), "month": np.arange(months), "date": ("month", dates)},
    )
    results_by_draw = {
        "npv_usd": (npv_usd, "USD"),
        "project_irr": (annual_rate(project_irr), "fraction/year"),
        "equity_irr": (annual_rate(equity_irr), "fraction/year"),
        "enterprise_value_usd": (npv_usd + npv(monthly, totals["capex_spend_usd"]), "USD"),
        "funding_usd": (totals["debt_draw_usd"].sum(axis=1) + totals["equity_in_usd"].sum(axis=1), "USD"),
        "debt_usd": (totals["debt_draw_usd"].sum(axis=1), "USD"),
        "equity_usd": (totals["equity_in_usd"].sum(axis=1), "USD"),
        "min_dscr": (np.where(has_debt, np.nanmin(np.where(np.isnan(cover), np.inf, cover), axis=1), np.nan), "ratio"),
        "run_rate_ebitda_usd_per_year": (run_rate, "USD/year"),
        **company_figures(totals, annual_cost, gpu_hours),
        "company_discount_rate": (rate, "fraction/year"),
    }
    if valuation_usd is not None:
        results_by_draw.update(valuation_figures(valuation_usd, project, npv_usd, run_rate))
    for name, (values, unit) in results_by_draw.items():
        out[name] = xr.DataArray(np.asarray(values, dtype=float), dims="draw", attrs={"summary": 1, "units": unit})
    return out
