"""Supply: how many accelerators a year the chain upstream of campuses makes from capital put into fabs.

Capital by year buys new capacity in three legs, each with its own cost per unit of capacity, construction
time and linear ramp: leading-edge logic wafers, advanced-packaging (CoWoS) interposer wafers and HBM DRAM
wafers. Dies per wafer follow the gross-die formula with an edge loss; die yield follows a Murphy or Poisson
defect model. The accelerators made in a quarter are the least of the wafer-, packaging- and HBM-limited
outputs, and are allocated to vendors and buyers by share. Vectorised over ``draw`` and ``quarter``.
Method: docs/methods/supply.md.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import xarray as xr

from neocloud.calendar import MONTHS_PER_QUARTER, QUARTERS_PER_YEAR
from neocloud.catalog import Catalog
from neocloud.errors import ScenarioError

MM2_PER_CM2 = 100.0
WAFERS_PER_CAPACITY_UNIT = 10_000.0  # catalog capex is per 10k wafers/month
LEGS = ("logic", "packaging", "memory")
YIELD_MODELS = ("murphy", "poisson")


def gross_dies_per_wafer(
    die_area_mm2: Any, wafer_diameter_mm: Any, edge_exclusion_mm: Any = 0.0
) -> np.ndarray:
    """Whole dies of ``die_area_mm2`` that fit on a wafer: ``pi r^2 / A - pi d / sqrt(2 A)`` (floored, >= 0).

    ``d`` is the usable diameter (wafer diameter less twice the edge exclusion); the second term is the
    loss of partial dies at the edge (de Vries 2005).

    Examples
    --------
    >>> int(gross_dies_per_wafer(814.0, 300.0))
    63
    """
    area = np.asarray(die_area_mm2, dtype=float)
    usable = np.asarray(wafer_diameter_mm, dtype=float) - 2 * np.asarray(edge_exclusion_mm, dtype=float)
    dies = np.pi * (usable / 2) ** 2 / area - np.pi * usable / np.sqrt(2 * area)
    return np.maximum(0.0, np.floor(dies))


def die_yield(die_area_mm2: Any, defect_density_per_cm2: Any, model: str = "murphy") -> np.ndarray:
    """Share of dies with no killer defect: Murphy ``((1 - e^-AD) / AD)^2`` or Poisson ``e^-AD``.

    ``A`` is the die area in cm², ``D`` the defect density per cm².

    Examples
    --------
    >>> round(float(die_yield(100.0, 0.5, "poisson")), 4)
    0.6065
    """
    if model not in YIELD_MODELS:
        raise ScenarioError(
            f"'{model}' is not a yield model",
            field="yield_model",
            value=model,
            allowed=", ".join(YIELD_MODELS),
        )
    defects = (
        np.asarray(die_area_mm2, dtype=float) / MM2_PER_CM2 * np.asarray(defect_density_per_cm2, dtype=float)
    )
    if model == "poisson":
        return np.exp(-defects)
    safe = np.where(defects > 1e-12, defects, 1.0)
    return np.where(defects > 1e-12, ((1 - np.exp(-safe)) / safe) ** 2, 1.0)


def ramp_fraction(quarters: int, construction_quarters: np.ndarray, ramp_quarters: np.ndarray) -> np.ndarray:
    """Share of capacity bought in quarter ``s`` that produces in quarter ``q``: shape (draw, q, s).

    Nothing before ``s + construction``; then a linear ramp that reaches full capacity after ``ramp``
    quarters (a step when ``ramp`` is 0).
    """
    index = np.arange(quarters, dtype=float)
    lag = (index[:, None] - index[None, :])[None, :, :]
    build = np.asarray(construction_quarters, dtype=float)[:, None, None]
    ramp = np.asarray(ramp_quarters, dtype=float)[:, None, None]
    since_first = lag - build + 1
    linear = np.clip(since_first / np.maximum(ramp, 1.0), 0.0, 1.0)
    return np.where(ramp > 0, linear, (since_first > 0).astype(float))


def accelerators_per_wafer(
    die: Any, fab: Any, packaging: Any, memory: Any, yield_model: str, defect_density_per_cm2: np.ndarray
) -> dict[str, np.ndarray]:
    """Accelerator packages one wafer of each leg supports (per draw): logic, packaging, memory."""
    logic_dies = gross_dies_per_wafer(
        float(die["die_area_mm2"]), float(fab["wafer_diameter_mm"]), float(fab["edge_exclusion_mm"])
    )
    good_logic = logic_dies * die_yield(float(die["die_area_mm2"]), defect_density_per_cm2, yield_model)
    interposers = gross_dies_per_wafer(
        float(die["interposer_area_mm2"]),
        float(packaging["wafer_diameter_mm"]),
        float(packaging["edge_exclusion_mm"]),
    )
    memory_dies = gross_dies_per_wafer(
        float(memory["die_area_mm2"]), float(memory["wafer_diameter_mm"]), float(memory["edge_exclusion_mm"])
    )
    good_memory = memory_dies * die_yield(
        float(memory["die_area_mm2"]), float(memory["defect_density_per_cm2"]), yield_model
    )
    stacks = good_memory / float(memory["dies_per_stack"]) * float(memory["stack_yield_frac"])
    draws = np.shape(defect_density_per_cm2)
    return {
        "logic": np.broadcast_to(good_logic / float(die["compute_dies"]), draws).astype(float),
        "packaging": np.full(draws, float(interposers * float(packaging["assembly_yield_frac"]))),
        "memory": np.full(draws, float(stacks / float(die["hbm_stacks"]))),
    }


def allocate(accelerators: xr.DataArray, shares: dict[str, Any]) -> xr.DataArray:
    """Split accelerators among buyers by share (fractions of the whole; the rest is ``other``).

    Returns the input with a leading ``buyer`` dimension; the buyers' shares may not exceed 1.
    """
    values = {name: np.asarray(share, dtype=float) for name, share in shares.items()}
    total = sum(values.values()) if values else np.zeros(1)
    if np.any(np.asarray(total) > 1 + 1e-9) or any(np.any(value < 0) for value in values.values()):
        raise ScenarioError(
            f"buyer shares must be between 0 and 1 and sum to at most 1, got {shares}",
            field="shares",
            value=shares,
        )
    values["other"] = 1 - np.asarray(total)
    parts = [
        accelerators * xr.DataArray(np.broadcast_to(value, (accelerators.sizes["draw"],)), dims="draw")
        for value in values.values()
    ]
    return xr.concat(parts, dim=xr.Variable("buyer", list(values)))


def capital_by_quarter(plan: Any, first_year: int, quarters: int) -> np.ndarray:
    """Capital spent per quarter (USD), each year's spread evenly over its quarters, from ``first_year``."""
    capital = np.zeros(quarters)
    for year, usd in plan.capital_usd_by_year.items():
        start = (year - first_year) * QUARTERS_PER_YEAR
        if start < quarters:
            capital[start : start + QUARTERS_PER_YEAR] += float(usd) / QUARTERS_PER_YEAR
    return capital


def supply(plan: Any, catalog: Catalog) -> xr.Dataset:
    """Capacity by leg and accelerators made by quarter and year from a realised fab plan.

    ``plan`` is a realised ``FabPlan`` (every ``Num`` an array of shape (draw,)). Quarter 0 is the first
    quarter of the first year with capital. Returns variables over ``draw`` x ``quarter`` (capacity in
    wafers per month, accelerators per quarter), ``draw`` x ``year`` (accelerators per year) and ``draw``
    (fab capex in USD, wafers per month at the horizon).
    """
    fab = catalog.row("fabs", plan.fab, field="supply.fabs.fab")
    die = catalog.row("dies", plan.die, field="supply.fabs.die")
    packaging_id = plan.packaging or str(die["packaging"])
    memory_id = plan.memory or str(die["hbm"])
    packaging = catalog.row("packaging", packaging_id, field="supply.fabs.packaging")
    memory = catalog.row("hbm", memory_id, field="supply.fabs.memory")
    multiplier = np.asarray(plan.capex_multiplier, dtype=float)
    draws = multiplier.shape[0]
    defect_density = (
        np.asarray(plan.defect_density_per_cm2, dtype=float)
        if plan.defect_density_per_cm2 is not None
        else np.full(draws, float(fab["defect_density_per_cm2"]))
    )
    per_wafer = accelerators_per_wafer(die, fab, packaging, memory, plan.yield_model, defect_density)
    rows = {"logic": fab, "packaging": packaging, "memory": memory}
    capex_per_wpm = {
        leg: float(rows[leg]["capex_usd_per_10k_wpm"]) / WAFERS_PER_CAPACITY_UNIT * multiplier for leg in LEGS
    }
    if plan.split == "balanced":
        cost = {leg: capex_per_wpm[leg] / np.maximum(per_wafer[leg], 1e-12) for leg in LEGS}
        total_cost = sum(cost.values())
        split = {leg: cost[leg] / total_cost for leg in LEGS}
    else:
        split = {leg: np.full(draws, float(getattr(plan.split, leg))) for leg in LEGS}

    first_year = min(plan.capital_usd_by_year)
    quarters = plan.years * QUARTERS_PER_YEAR
    capital = capital_by_quarter(plan, first_year, quarters)
    out = xr.Dataset(
        coords={
            "draw": np.arange(draws),
            "quarter": np.arange(quarters),
            "year": first_year + np.arange(plan.years),
            "leg": list(LEGS),
        }
    )
    capacity = {}
    for leg in LEGS:
        added_wpm = capital[None, :] * split[leg][:, None] / capex_per_wpm[leg][:, None]
        build = float(rows[leg]["construction_quarters"]) + np.asarray(plan.delay_quarters, dtype=float)
        kernel = ramp_fraction(quarters, build, np.full(draws, float(rows[leg]["ramp_quarters"])))
        capacity[leg] = np.einsum("dqs,ds->dq", kernel, added_wpm)
    made = {leg: capacity[leg] * MONTHS_PER_QUARTER * per_wafer[leg][:, None] for leg in LEGS}
    made_per_quarter = np.minimum(np.minimum(made["logic"], made["packaging"]), made["memory"])
    out["capacity_wafers_per_month"] = (
        ("draw", "leg", "quarter"),
        np.stack([capacity[leg] for leg in LEGS], axis=1),
    )
    out["accelerators_limit_per_quarter"] = (
        ("draw", "leg", "quarter"),
        np.stack([made[leg] for leg in LEGS], axis=1),
    )
    out["accelerators_made_per_quarter"] = (("draw", "quarter"), made_per_quarter)
    per_year = made_per_quarter.reshape(draws, plan.years, QUARTERS_PER_YEAR).sum(axis=2)
    out["accelerators_made_per_year"] = (("draw", "year"), per_year)
    out["accelerators_per_wafer"] = (("draw", "leg"), np.stack([per_wafer[leg] for leg in LEGS], axis=1))
    out["capital_split_frac"] = (("draw", "leg"), np.stack([split[leg] for leg in LEGS], axis=1))
    out["capital_usd_per_quarter"] = (("quarter",), capital)
    summary_vars = {
        "fab_capex_usd": (np.full(draws, capital.sum()), "USD", 0),
        "wafers_per_month": (capacity["logic"][:, -1], "wafers/month", 0),
        "packaging_wafers_per_month": (capacity["packaging"][:, -1], "wafers/month", 0),
        "hbm_wafers_per_month": (capacity["memory"][:, -1], "wafers/month", 0),
        "accelerators_made_per_year_at_full_ramp": (per_year[:, -1], "accelerators/year", 1),
        "good_dies_per_wafer": (per_wafer["logic"] * float(die["compute_dies"]), "dies/wafer", 0),
    }
    for key, (values, unit, integer) in summary_vars.items():
        out[key] = xr.DataArray(values, dims="draw", attrs={"summary": 1, "units": unit, "integer": integer})
    out.attrs.update(fab=plan.fab, die=plan.die, packaging=packaging_id, memory=memory_id)
    return out
