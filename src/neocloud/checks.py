"""Refusals: results that would mislead are errors with the numbers that conflict, never quiet figures.

Checked after the pipeline has run: a horizon that ends before the campus has power, a figure that came
out NaN where it must be a number, and a figure outside what is physically possible.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import xarray as xr

from neocloud.errors import ScenarioError
from neocloud.units import MONTHS_PER_YEAR

# Summary keys that every campus run must give as a finite number in every draw.
REQUIRED_FINITE = (
    "accelerators", "it_power_mw", "facility_power_mw", "pue", "annual_energy_mwh", "capex_usd",
    "cost_usd_per_gpu_hour", "peak_bf16_pflops", "goodput",
)

# Physical bounds of summary keys: (lowest, highest) allowed; None is no bound on that side.
BOUNDS: dict[str, tuple[float | None, float | None]] = {
    "accelerators": (1, None),
    "it_power_mw": (0, None),
    "facility_power_mw": (0, None),
    "pue": (1, None),
    "design_pue": (1, None),
    "realised_pue": (1, None),
    "annual_energy_mwh": (0, None),
    "capex_usd": (0, None),
    "capex_it_usd": (0, None),
    "capex_facility_usd": (0, None),
    "cost_usd_per_gpu_hour": (0, None),
    "goodput": (0, 1),
    "reference_run_goodput": (0, 1),
    "reference_run_mfu": (0, 1),
    "water_m3_per_year": (0, None),
    "interruptions_per_day": (0, None),
}


def add_months(month: str, months: int) -> str:
    """``YYYY-MM`` moved by a whole number of months."""
    year, month_of_year = (int(part) for part in month.split("-"))
    index = year * MONTHS_PER_YEAR + month_of_year - 1 + months
    return f"{index // MONTHS_PER_YEAR:04d}-{index % MONTHS_PER_YEAR + 1:02d}"


def check_first_power(scenario: Any, dataset: xr.Dataset) -> None:
    """Refuse a run whose horizon ends before any phase can be ready, naming the horizon and the ready date.

    A campus ready within the horizon but never energised (a grid too small for its first phase) still
    runs: its build-out and energy show what cannot be supplied.
    """
    first = np.asarray(dataset.variables["first_power_month"].values, dtype=float)
    if np.isfinite(first).any():
        return
    months = dataset.sizes["month"]
    ready = np.asarray(dataset.variables["phase_construction_ready_month"].values, dtype=float)
    earliest = int(np.nanmin(ready)) if np.isfinite(ready).any() else None
    if earliest is None or earliest < months:
        return
    start = str(scenario.start)
    raise ScenarioError(
        f"the horizon {start} to {add_months(start, months - 1)} ends before first power: the first phase "
        f"is ready {add_months(start, earliest)} (month {earliest}); move 'start' later or lengthen "
        f"finance.horizon_years (now {months // MONTHS_PER_YEAR})",
        field="start", value=start,
    )


def check_summary(dataset: xr.Dataset) -> None:
    """Refuse NaN where a number is required and values outside their physical bounds, with the numbers
    (read from the plain Variables: no DataArrays built)."""
    for key in REQUIRED_FINITE:
        if key not in dataset:
            continue
        values = np.asarray(dataset.variables[key].values, dtype=float)
        bad = ~np.isfinite(values)
        if bad.any():
            raise ScenarioError(
                f"the result {key} is not a number in {int(bad.sum())} of {values.size} draws; "
                "an input is out of range (check capacities, prices and counts that are zero)",
                field=key,
            )
    for key, (low, high) in BOUNDS.items():
        if key not in dataset:
            continue
        values = np.asarray(dataset.variables[key].values, dtype=float)
        values = values[np.isfinite(values)]
        if values.size == 0:
            continue
        tolerance = 1e-9 * max(1.0, float(np.max(np.abs(values))))
        if low is not None and values.min() < low - tolerance:
            raise ScenarioError(f"the result {key} = {values.min():.6g} is below its physical bound {low}",
                                field=key, value=float(values.min()))
        if high is not None and values.max() > high + tolerance:
            raise ScenarioError(f"the result {key} = {values.max():.6g} is above its physical bound {high}",
                                field=key, value=float(values.max()))
    if "it_power_mw" in dataset and "facility_power_mw" in dataset:
        it_mw = np.asarray(dataset.variables["it_power_mw"].values, dtype=float)
        facility_mw = np.asarray(dataset.variables["facility_power_mw"].values, dtype=float)
        short = facility_mw < it_mw * (1 - 1e-9)
        if short.any():
            index = int(np.argmax(short))
            raise ScenarioError(
                f"the facility power {facility_mw[index]:,.3f} MW is below the IT power {it_mw[index]:,.3f} MW",
                field="facility_power_mw",
            )


def check_results(scenario: Any, dataset: xr.Dataset) -> None:
    """The refusals made on the whole result (first power is checked after build-out): the summary's numbers."""
    check_summary(dataset)
