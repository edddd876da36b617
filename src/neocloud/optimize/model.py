"""The build-out MILP: which sites, which designs, how many buildings, in which quarter (linopy + HiGHS).

Sets: sites ``s``, designs ``d``, quarters ``t`` (the quarter a building comes online), demand regions
``g``. Variables: ``build[s,d,t]`` (integer buildings), ``open[s]`` (binary: the site is used, where it has
a fixed cost; its buildings <= max_buildings x open), ``online[s,d,t]`` (continuous buildings online) and
``unmet[g,t]`` (continuous unmet demand). See docs/methods/optimize.md for the equations.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import linopy
import numpy as np
import pandas as pd
import xarray as xr

from neocloud.calendar import MONTHS_PER_QUARTER, QUARTERS_PER_YEAR, months_between, quarter_index
from neocloud.optimize.economics import UnitEconomics
from neocloud.optimize.portfolio import Portfolio
from neocloud.units import HOURS_PER_YEAR

EARLIEST_TOLERANCE = 1e-6


@dataclass
class Inputs:
    """The MILP's data as arrays: dims (site, design), (site, quarter), (group, quarter) and so on."""

    portfolio: Portfolio
    sites: list[str]
    designs: list[str]
    groups: list[str]
    group_of_site: np.ndarray  # (site,) the demand region each site serves
    capacity_per_building: np.ndarray  # (site, design) accelerators or IT MW, in the site's group's unit
    accelerators_per_building: np.ndarray  # (site, design)
    utility_mw_per_building: np.ndarray  # (site, design)
    capex_it_usd: np.ndarray  # (site, design) per building
    capex_facility_usd: np.ndarray  # (site, design) per building
    cost_usd: np.ndarray  # (site, design, quarter) present cost of a building online from t
    lead_quarters: np.ndarray  # (design,) quarters from construction start to online
    valid: np.ndarray  # (site, design, quarter) a building may come online at t
    power_mw: np.ndarray  # (site, quarter) utility capacity available
    max_buildings: np.ndarray  # (site,)
    fixed_cost_usd: np.ndarray  # (site,)
    demand: np.ndarray  # (group, quarter) capacity needed online
    units: list[str]  # (group,) accelerators or it_mw
    penalty: np.ndarray  # (group, quarter) objective weight of one unit-quarter unmet
    supply: np.ndarray  # (quarter,) accelerators installable, inf where open
    budget_years: list[int]
    budget_usd: np.ndarray  # (year,)
    start_year: np.ndarray  # (design, quarter) calendar year construction starts
    online_year: np.ndarray  # (quarter,) calendar year of each quarter
    discount: np.ndarray  # (quarter,) discount factor at the quarter's start


def discount_factors(rate: float, quarters: int) -> np.ndarray:
    """Discount factor at the start of each quarter: ``(1 + rate) ** (-t / 4)``."""
    return (1.0 + rate) ** (-np.arange(quarters) / QUARTERS_PER_YEAR)


def step_levels(points: dict[int, float], quarters: int) -> np.ndarray:
    """A step function on quarters: each (quarter: level) holds until the next; zero before the first."""
    levels = np.zeros(quarters)
    for index, level in sorted(points.items()):
        levels[max(index, 0) :] = level
    return levels


def prepare(portfolio: Portfolio, economics: dict[tuple[str, str], UnitEconomics]) -> Inputs:
    """Turn a validated portfolio and its unit economics into the MILP's arrays."""
    quarters = portfolio.quarters
    sites, designs = [site.id for site in portfolio.sites], [design.id for design in portfolio.designs]
    groups = sorted(
        {demand.region for demand in portfolio.demand} | {site.latency_group for site in portfolio.sites}
    )
    units = {demand.region: demand.unit for demand in portfolio.demand}
    unit_of_group = [units.get(group, "accelerators") for group in groups]

    def table(attribute: str) -> np.ndarray:
        return np.array(
            [[getattr(economics[(site, design)], attribute) for design in designs] for site in sites]
        )

    accelerators = table("accelerators")
    it_mw = table("it_power_mw")
    group_of_site = np.array([site.latency_group for site in portfolio.sites])
    in_mw = np.array([units.get(site.latency_group) == "it_mw" for site in portfolio.sites])
    capacity = np.where(in_mw[:, None], it_mw, accelerators)

    discount = discount_factors(portfolio.discount_rate, quarters)
    tail = np.cumsum(discount[::-1])[::-1]  # sum of discount factors from t to the last quarter
    per_quarter = (table("annualised_capex_usd_per_year") + table("opex_usd_per_year")) / QUARTERS_PER_YEAR
    cost = per_quarter[:, :, None] * tail[None, None, :]

    power = site_power_mw(portfolio)
    lead = np.array(
        [
            max(1, int(np.ceil(design.construction_months / MONTHS_PER_QUARTER - 1e-9)))
            for design in portfolio.designs
        ]
    )
    utility = table("utility_power_mw")
    valid = (
        (np.arange(quarters)[None, None, :] >= lead[None, :, None])
        & (power[:, None, :] >= utility[:, :, None])
        & (accelerators[:, :, None] > 0)
    )

    start_year, online_year = build_years(portfolio, lead)
    budget = portfolio.capital_usd_by_year or {}
    penalty = unmet_penalty(portfolio, economics[(sites[0], designs[0])], cost, discount, len(groups))
    return Inputs(
        portfolio=portfolio,
        sites=sites,
        designs=designs,
        groups=groups,
        group_of_site=group_of_site,
        capacity_per_building=capacity,
        accelerators_per_building=accelerators,
        utility_mw_per_building=utility,
        capex_it_usd=table("capex_it_usd"),
        capex_facility_usd=table("capex_facility_usd"),
        cost_usd=cost,
        lead_quarters=lead,
        valid=valid,
        power_mw=power,
        max_buildings=np.array([site.max_buildings for site in portfolio.sites]),
        fixed_cost_usd=np.array([site.fixed_cost_usd for site in portfolio.sites]),
        demand=group_demand(portfolio, groups),
        units=unit_of_group,
        penalty=penalty,
        supply=gpu_supply(portfolio),
        budget_years=list(budget),
        budget_usd=np.array(list(budget.values()), dtype=float),
        start_year=start_year,
        online_year=online_year,
        discount=discount,
    )


def site_power_mw(portfolio: Portfolio) -> np.ndarray:
    """Power each site can take per quarter (site, quarter) in MW: its steps, zero before its interconnect."""
    quarters = portfolio.quarters
    month = np.arange(quarters) * MONTHS_PER_QUARTER
    power = np.zeros((len(portfolio.sites), quarters))
    for index, site in enumerate(portfolio.sites):
        points = {}
        for date, mw in site.power_mw_by_date.items():
            points[-(-months_between(portfolio.start_month, date) // MONTHS_PER_QUARTER)] = mw
        power[index] = step_levels(points, quarters) * (month >= site.interconnect_lead_months)
    return power


def group_demand(portfolio: Portfolio, groups: list[str]) -> np.ndarray:
    """Demand per latency group and quarter (group, quarter), in each group's unit."""
    demand = np.zeros((len(groups), portfolio.quarters))
    for item in portfolio.demand:
        levels = step_levels(
            {quarter_index(portfolio.start, key): value for key, value in item.by_quarter.items()}, portfolio.quarters
        )
        demand[groups.index(item.region)] += levels
    return demand


def build_years(portfolio: Portfolio, lead: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Calendar year a building online in each quarter started (design, quarter), and each quarter's year."""
    quarters = np.arange(portfolio.quarters)
    first_year, first_quarter = int(portfolio.start[:4]), int(portfolio.start[-1])
    online_year = first_year + (quarters + first_quarter - 1) // QUARTERS_PER_YEAR
    start_year = first_year + (quarters[None, :] - lead[:, None] + first_quarter - 1) // QUARTERS_PER_YEAR
    return start_year, online_year


def gpu_supply(portfolio: Portfolio) -> np.ndarray:
    """Accelerators that can be installed per quarter (infinite where the portfolio sets no cap)."""
    supply = np.full(portfolio.quarters, np.inf)
    for key, cap in (portfolio.gpu_supply_by_quarter or {}).items():
        index = quarter_index(portfolio.start, key)
        if 0 <= index < portfolio.quarters:
            supply[index] = cap
    return supply


def unmet_penalty(portfolio: Portfolio, first: UnitEconomics, cost: np.ndarray, discount: np.ndarray,
                  groups: int) -> np.ndarray:
    """USD per unit-quarter of unmet demand (group, quarter).

    A multiple of the dearest building's whole present cost, so that building is always preferred to any
    shortfall it can close; with ``max_npv``, the revenue forgone instead.
    """
    if portfolio.objective == "max_npv":
        revenue = (portfolio.price_usd_per_gpu_hour or 0.0) * HOURS_PER_YEAR / QUARTERS_PER_YEAR * first.utilisation
        return np.broadcast_to(revenue * discount, (groups, portfolio.quarters)).copy()
    dearest = float(cost[:, :, 0].max()) + float(np.max([site.fixed_cost_usd for site in portfolio.sites]))
    return np.full((groups, portfolio.quarters), portfolio.unmet_penalty_multiple * max(dearest, 1.0))


@dataclass
class Fixed:
    """The binary decisions of a solved MILP, held fixed to price the constraints in an LP."""

    phase: np.ndarray  # (site, design, quarter) 0/1


@dataclass
class Outcome:
    """What one solve gave: status, objective, gap, seconds and the solved model."""

    status: str
    objective: float
    gap: float
    seconds: float
    model: linopy.Model
    extra: dict[str, Any] = field(default_factory=dict)


def _coords(inputs: Inputs) -> dict[str, pd.Index]:
    return {
        "site": pd.Index(inputs.sites, name="site"),
        "design": pd.Index(inputs.designs, name="design"),
        "quarter": pd.Index(np.arange(inputs.portfolio.quarters), name="quarter"),
        "group": pd.Index(inputs.groups, name="group"),
    }


def _array(values: np.ndarray, coords: dict[str, pd.Index], *dims: str) -> xr.DataArray:
    return xr.DataArray(values, coords=[coords[dim] for dim in dims])


def build_model(
    inputs: Inputs, fixed: Fixed | None = None, stage: str = "cost", unmet_limit: float | None = None
) -> linopy.Model:
    """The linopy model: ``stage`` is ``cost`` (cost plus penalised unmet demand) or ``unmet`` (unmet only).

    With ``fixed``, only the (site, design, quarter) entries where a phase was chosen may build, each
    continuous within [1, max_buildings]: the LP whose duals are the shadow prices.
    """
    coords = _coords(inputs)
    sd, sdt = ("site", "design"), ("site", "design", "quarter")
    model = linopy.Model(set_names_in_solver_io=fixed is None)  # names let a start be read by name
    build = _add_build(model, inputs, coords, fixed)
    build0 = build.fillna(0)
    online = model.add_variables(lower=0, coords=_array(inputs.valid, coords, *sdt).coords, name="online")
    model.add_constraints(online - online.shift(quarter=1).fillna(0) - build0 == 0, name="online_balance")
    _add_site_limits(model, inputs, coords, build0, online)
    unmet = model.add_variables(lower=0, coords=[coords["group"], coords["quarter"]], name="unmet")
    groups = xr.DataArray(inputs.group_of_site, coords=[coords["site"]], name="group")
    capacity = (
        (online * _array(inputs.capacity_per_building, coords, *sd)).sum("design").groupby(groups).sum()
    )
    demand = _array(inputs.demand, coords, "group", "quarter")
    model.add_constraints(capacity + unmet >= demand, name="demand")
    _add_supply_and_budget(model, inputs, coords, build0)
    weight = _array(inputs.penalty, coords, "group", "quarter")
    peak = np.maximum(inputs.demand.max(axis=1, keepdims=True), 1e-9)
    unmet_share = (unmet / _array(np.broadcast_to(peak, inputs.demand.shape), coords, "group", "quarter")).sum()
    if stage == "unmet":
        model.add_objective(unmet_share)
        return model
    objective = (build0 * _array(inputs.cost_usd, coords, *sdt)).sum()
    if fixed is None and "open" in model.variables:
        objective = (
            objective
            + (model.variables["open"].fillna(0) * _array(inputs.fixed_cost_usd, coords, "site")).sum()
        )
    if unmet_limit is None:
        objective = objective + (unmet * weight).sum()
    else:
        model.add_constraints(unmet_share <= unmet_limit, name="earliest")
    model.add_objective(objective)
    return model


def _add_build(model: linopy.Model, inputs: Inputs, coords: dict[str, pd.Index],
               fixed: Fixed | None) -> linopy.Variable:
    """The buildings started per (site, design, quarter) (integer; continuous within [1, max] when fixed),
    and each charged site's ``open`` binary."""
    sdt = ("site", "design", "quarter")
    max_b = np.broadcast_to(inputs.max_buildings[:, None, None], inputs.valid.shape).astype(float)
    valid = inputs.valid if fixed is None else inputs.valid & (fixed.phase > 0.5)
    mask = _array(valid, coords, *sdt)
    if fixed is None:
        build = model.add_variables(
            lower=0,
            upper=_array(max_b, coords, *sdt),
            integer=True,
            coords=mask.coords,
            name="build",
            mask=mask,
        )
        charged = inputs.fixed_cost_usd > 0
        if charged.any():
            site_mask = _array(charged, coords, "site")
            model.add_variables(binary=True, coords=site_mask.coords, name="open", mask=site_mask)
    else:
        build = model.add_variables(
            lower=_array(np.where(valid, 1.0, 0.0), coords, *sdt),
            upper=_array(max_b, coords, *sdt),
            coords=mask.coords,
            name="build",
            mask=mask,
        )
    return build


def _add_site_limits(model: linopy.Model, inputs: Inputs, coords: dict[str, pd.Index],
                     build0: linopy.Variable | linopy.LinearExpression, online: linopy.Variable) -> None:
    """Each site's power per quarter and its buildings in all (only where open, for a charged site)."""
    sd = ("site", "design")
    model.add_constraints(
        (online * _array(inputs.utility_mw_per_building, coords, *sd)).sum("design")
        <= _array(inputs.power_mw, coords, "site", "quarter"),
        name="site_power",
    )
    total = build0.sum(["design", "quarter"])
    if "open" in model.variables:  # a site with a fixed cost builds only where it is open
        charged = inputs.fixed_cost_usd > 0
        total = total - _array(inputs.max_buildings * charged, coords, "site") * model.variables["open"].fillna(0)
    limit = inputs.max_buildings * ~(inputs.fixed_cost_usd > 0) if "open" in model.variables else inputs.max_buildings
    model.add_constraints(total <= _array(limit.astype(float), coords, "site"), name="max_buildings")


def _add_supply_and_budget(model: linopy.Model, inputs: Inputs, coords: dict[str, pd.Index],
                           build0: linopy.Variable | linopy.LinearExpression) -> None:
    """Accelerators installed per quarter within the GPU supply, and capex per year within the budget."""
    sd = ("site", "design")
    capped = np.isfinite(inputs.supply)
    if capped.any():
        installed = (build0 * _array(inputs.accelerators_per_building, coords, *sd)).sum(["site", "design"])
        model.add_constraints(
            installed <= _array(np.where(capped, inputs.supply, 0.0), coords, "quarter"),
            name="gpu_supply",
            mask=_array(capped, coords, "quarter"),
        )
    if inputs.budget_years:
        years = pd.Index(inputs.budget_years, name="year")
        year = xr.DataArray(years, coords=[years])
        start_year = _array(inputs.start_year, coords, "design", "quarter")
        online_year = _array(inputs.online_year, coords, "quarter")
        coefficient = _array(inputs.capex_facility_usd, coords, *sd) * (start_year == year) + _array(
            inputs.capex_it_usd, coords, *sd
        ) * (online_year == year)
        spent = (build0 * coefficient).sum(["site", "design", "quarter"])
        model.add_constraints(spent <= xr.DataArray(inputs.budget_usd, coords=[years]), name="capital_budget")


@contextmanager
def _quiet_stdout(to_stderr: bool = False) -> Iterator[None]:
    """Keep the solver's output off standard output (it prints from C, below Python's sys.stdout): to
    nowhere, or with ``to_stderr`` to standard error (so ``--json`` output stays one object)."""
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1)
    try:
        with open(os.devnull, "w", encoding="utf-8") as sink:
            os.dup2(2 if to_stderr else sink.fileno(), 1)
            yield
    finally:
        sys.stdout.flush()
        os.dup2(saved, 1)
        os.close(saved)


def write_start(model: linopy.Model, values: dict[str, np.ndarray], path: Path) -> None:
    """A HiGHS solution file that gives every column of ``model`` a start value: ``values`` by variable name
    (arrays shaped like the variables' labels), 0 for the variables not named."""
    start = np.zeros(model._xCounter)
    for name, value in values.items():
        labels = model.variables[name].labels.values
        present = labels >= 0
        start[labels[present]] = np.broadcast_to(value, labels.shape)[present]
    columns = model.matrices.vlabels
    lines = [f"x{label} {start[label]:.17g}" for label in columns]
    header = ["Model status", "Unknown", "", "# Primal solution values", "Feasible", "Objective 0"]
    path.write_text("\n".join([*header, f"# Columns {len(columns)}", *lines, "# Rows 0", ""]), encoding="utf-8")


def gap_progress(log: str) -> list[tuple[float, float]]:
    """(seconds, relative gap) from each row of HiGHS's branch-and-bound table with a finite gap: the rows
    whose second percentage is the gap and whose last field is the time (``12.3s``)."""
    progress = []
    for line in log.splitlines():
        fields = line.split()
        percents = [item[:-1] for item in fields if item.endswith("%")]
        if len(percents) != 2 or not fields[-1].endswith("s"):
            continue
        try:
            progress.append((float(fields[-1][:-1]), float(percents[1]) / 100))
        except ValueError:  # an infinite gap ("inf", "Large") or not a table row
            continue
    return progress


def objective_scale(model: linopy.Model) -> int:
    """The power of two that brings the objective's largest coefficient to about 1e6 (0 where it is already
    smaller): costs in USD reach 1e11, far beyond HiGHS's tolerances, which slows its LPs and cuts."""
    coefficients = np.abs(np.asarray(model.objective.coeffs.values, dtype=float))
    largest = float(np.nanmax(coefficients)) if coefficients.size else 0.0
    return -int(np.ceil(np.log2(largest / 1e6))) if largest > 1e6 else 0


def solve_model(
    model: linopy.Model,
    time_limit: float | None = None,
    gap: float | None = None,
    threads: int | None = None,
    start: dict[str, np.ndarray] | None = None,
    verbose: bool = False,
) -> Outcome:
    """Solve with HiGHS: status ``optimal``, ``time_limit`` or ``infeasible``; HiGHS's relative MIP gap.

    The objective is scaled by a power of two for the solver (``objective_scale``), not in what it reports.
    ``start``: values by variable name given to HiGHS as a first incumbent (``write_start``). The gap's
    progress, (seconds, gap) pairs read from the solver's log, is in ``extra["gap_progress"]``. ``verbose``
    also writes HiGHS's log to standard error.
    """
    options: dict[str, Any] = {"output_flag": True, "log_to_console": verbose}
    if time_limit is not None:
        options["time_limit"] = float(time_limit)
    if gap is not None:
        options["mip_rel_gap"] = float(gap)
    if threads is not None:
        options["threads"] = int(threads)
    scale = objective_scale(model)
    if scale:
        options["user_objective_scale"] = scale
    with tempfile.TemporaryDirectory() as folder:
        log = Path(folder) / "highs.log"
        options["log_file"] = str(log)
        warm = None
        if start is not None:
            warm = Path(folder) / "start.sol"
            write_start(model, start, warm)
        began = time.perf_counter()
        with _quiet_stdout(to_stderr=verbose):
            _, condition = model.solve(solver_name="highs", io_api="direct", warmstart_fn=warm, **options)
        seconds = time.perf_counter() - began
        progress = gap_progress(log.read_text(encoding="utf-8", errors="replace")) if log.exists() else []
    condition = str(condition)
    value = model.objective.value
    has_solution = value is not None and bool(np.isfinite(value))
    if condition == "optimal":
        status = "optimal"
    elif condition == "time_limit" and has_solution:
        status = "time_limit"
    else:
        status = "infeasible"
    info = model.solver_model.getInfo() if model.solver_model is not None else None
    mip = model.integers.nvars + model.binaries.nvars > 0
    mip_gap = float(info.mip_gap) if info is not None and mip else 0.0
    if not np.isfinite(mip_gap) or mip_gap > 1e20:
        mip_gap = float("inf") if status != "optimal" else 0.0
    return Outcome(
        status=status,
        objective=float(value) if value is not None and has_solution else float("nan"),
        gap=mip_gap,
        seconds=seconds,
        model=model,
        extra={"gap_progress": progress},
    )
