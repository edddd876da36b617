"""Finance: who pays for the campus, what it earns and what it is worth, month by month for every draw.

The capex schedule follows the build-out (facility by phase on payment milestones, IT at delivery); opex
follows the energy stage's monthly cost; revenue is a lease per kW-month of critical IT or GPU-hours sold
under contracts and on demand; debt tranches draw with the capex, capitalise interest until they convert
and are repaid level or sculpted; equity funds the rest. Results: NPV, project and equity IRR, DSCR,
payback, break-even prices, enterprise value and the levelised cost per GPU-hour. Method:
docs/methods/finance.md.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import xarray as xr

from neocloud.catalog import Catalog
from neocloud.finance.capex import capex_schedule
from neocloud.finance.debt import debt_schedule
from neocloud.finance.kernels import IRR_REASON_ATTRS
from neocloud.finance.revenue import default, gpu_cloud, lease, or_default
from neocloud.finance.statements import OPEX_ITEMS, depreciation, operations, statements, tax_paid
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
}
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


def finance(scenario: Any, catalog: Catalog, upstream: xr.Dataset) -> xr.Dataset:
    """Capex, opex, revenue, debt and equity month by month for every draw, and what they are worth.

    Reads ``accelerators_online``, ``it_power_online_mw`` and ``phase_online_month`` (build-out) and
    ``energy_cost_usd`` (energy), all (draw, month) but the last (draw, phase). Returns monthly statement
    lines (draw, month) and the summary results (draw,) named in ``SUMMARY_UNITS``.
    """
    fin = scenario.finance
    draws, months = upstream.sizes["draw"], upstream.sizes["month"]
    energy_cost = (
        np.asarray(upstream["energy_cost_usd"].values, dtype=float)
        if "energy_cost_usd" in upstream
        else np.zeros((draws, months))
    )
    capex = capex_schedule(scenario, catalog, upstream)
    owns_it = fin.business_model == "gpu_cloud"
    ops = operations(catalog, upstream, capex, owns_it, energy_cost)
    revenue = (
        gpu_cloud(scenario, catalog, upstream) if owns_it else lease(scenario, catalog, upstream, energy_cost)
    )
    tax_rate = or_default(
        fin.tax_rate, catalog.value("regions", scenario.site.region, "corporate_tax_rate"), draws
    )
    deductions = depreciation(ops.it_spend, np.asarray(fin.it_life_years, dtype=float)) + depreciation(
        capex.facility_in_service, np.asarray(fin.facility_life_years, dtype=float)
    ) + capex.power_depreciation
    ebitda = revenue.total - ops.total
    sizing_cfads = ebitda - tax_paid(ebitda - deductions, tax_rate)
    debt = debt_schedule(
        scenario, catalog, {"facility": ops.facility_spend, "it": ops.it_spend}, sizing_cfads
    )
    lines = statements(revenue, ops, capex, debt, fin, tax_rate, exit_multiple(fin, catalog, draws))

    # steady state: the campus-wide annual opex at full build (the last twelve months of the horizon)
    campus_ops = operations(catalog, upstream, capex, True, energy_cost)
    steady = {name: campus_ops.items[name][:, -MONTHS_PER_YEAR:].sum(axis=1) for name in OPEX_ITEMS}
    cost = levelised(fin, upstream, capex, steady)

    def by_draw(values: np.ndarray) -> xr.DataArray:
        return xr.DataArray(np.asarray(values, dtype=float), dims="draw")

    out = xr.Dataset(
        {
            "capex_usd": by_draw(capex.total_usd),
            "capex_it_usd": by_draw(capex.it_usd),
            "capex_facility_usd": by_draw(capex.facility_usd),
            "capex_land_usd": by_draw(capex.land_usd),
            "capex_power_usd": by_draw(capex.power_usd),
            "capex_mechanical_electrical_usd": by_draw(capex.mechanical_electrical_usd),
            "capex_shell_usd": by_draw(capex.shell_usd),
            "opex_usd_per_year": by_draw(cost["opex"]),
            "annualised_capex_usd_per_year": by_draw(cost["annualised"]),
            "cost_usd_per_gpu_hour": by_draw(cost["cost_per_hour"]),
        }
    )
    for name, values in lines.items():
        values = np.asarray(values)
        out[name] = xr.DataArray(values, dims=("draw", "month") if values.ndim == 2 else ("draw",))
        out[name].attrs["units"] = MONTHLY_UNITS.get(name, "USD")
    for name in ("project_irr_reason", "equity_irr_reason"):
        out[name] = out[name].astype(np.int8).assign_attrs(IRR_REASON_ATTRS)
    for name, unit in SUMMARY_UNITS.items():
        out[name].attrs.update(summary=1, units=unit)
    for name in INTEGER_KEYS:
        out[name].attrs["integer"] = 1
    out["project_capex_usd"].attrs.update(
        long_name="capex the owner pays within the horizon (the lease model excludes the tenant's IT)"
    )
    out = out.assign_coords(cost_component=cost["components"])
    out["cost_breakdown_usd_per_gpu_hour"] = xr.DataArray(
        cost["breakdown"], dims=("draw", "cost_component"), attrs={"units": "USD/GPU-hour"}
    )
    out["tax_rate"] = by_draw(tax_rate).assign_attrs(units="fraction")
    out["discount_rate"] = by_draw(np.broadcast_to(np.asarray(fin.discount_rate, dtype=float), (draws,)))
    out["discount_rate"].attrs["units"] = "fraction/year"
    if debt.names:
        out = out.assign_coords(tranche=debt.names)
        out["tranche_balance_usd"] = xr.DataArray(
            np.moveaxis(debt.balance, 0, -1), dims=("draw", "month", "tranche"), attrs={"units": "USD"}
        )
        for name, values, unit in (
            ("tranche_amount_usd", debt.amount_usd, "USD"),
            ("tranche_rate_per_year", debt.rate_per_year, "fraction/year"),
            ("tranche_conversion_month", debt.conversion_month, "months from start"),
            ("tranche_maturity_month", debt.maturity_month, "months from start"),
        ):
            out[name] = xr.DataArray(values.T, dims=("draw", "tranche"), attrs={"units": unit})
    if revenue.contract_price_usd_per_gpu_hour.shape[0]:
        out = out.assign_coords(contract=[contract.name for contract in fin.contracts])
        out["contract_price_usd_per_gpu_hour"] = xr.DataArray(
            revenue.contract_price_usd_per_gpu_hour.T,
            dims=("draw", "contract"),
            attrs={"units": "USD/GPU-hour"},
        )
    if fin.valuation_usd is not None:
        valuation = np.asarray(fin.valuation_usd, dtype=float)
        out["valuation_usd"] = by_draw(valuation).assign_attrs(units="USD")
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = np.where(
                lines["enterprise_value_usd"] > 0, lines["enterprise_value_usd"] / valuation, np.nan
            )
        out["enterprise_value_to_valuation"] = by_draw(ratio).assign_attrs(summary=1, units="ratio")
    return out
