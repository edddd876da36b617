"""Economic battery dispatch: never dearer with a battery, and within 2% of a least-cost LP (linopy + HiGHS)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import linopy
import numpy as np
import pytest
import xarray as xr
from hypothesis import given, settings
from hypothesis import strategies as st

from neocloud import Scenario, load, load_catalog, run
from neocloud.energy import Site, configure, dispatch, site_model
from neocloud.energy.hourly import HOUR_OF_DAY, profiles
from neocloud.plant import grid_capacity_mw
from neocloud.realise import realise

from .conftest import EXAMPLES

SOLAR_CF = np.maximum(np.cos(np.radians(15.0) * (HOUR_OF_DAY + 0.5 - 12)), 0.0) * 0.6
VALUE_OF_LOST_LOAD_USD_PER_MWH = 10_000.0  # the LP's penalty on curtailment: serve load whenever possible


def cost_usd(model: Site, hourly: dict[str, np.ndarray]) -> np.ndarray:
    """Energy cost per draw: grid at the hour's price, gas fuel and variable O&M, turbine starts."""
    price = model.price_usd_per_mwh[:, None] * model.price_multiplier
    starts = hourly["starts"] * model.gas_unit_mw * model.gas_start_usd_per_mw
    return (hourly["grid"] * price).sum(-1) + hourly["gas"].sum(-1) * model.gas_cost_usd_per_mwh + starts


def without_battery(model: Site) -> Site:
    return replace(model, battery_mw=np.zeros_like(model.battery_mw), battery_mwh=np.zeros_like(model.battery_mwh))


def least_cost(model: Site, demand: np.ndarray) -> tuple[float, float]:
    """The LP optimum of one draw over the year: energy cost (USD) and curtailed energy (MWh)."""
    hours = {"hour": np.arange(len(demand))}
    price = xr.DataArray(model.price_usd_per_mwh[0] * model.price_multiplier, coords=hours)
    available = xr.DataArray(model.gas_mw[0] * profiles(model).gas_available_frac, coords=hours)
    root, capacity = np.sqrt(model.battery_efficiency), float(model.battery_mwh[0])
    m = linopy.Model()

    def variable(name: str, upper: Any = np.inf) -> Any:
        return m.add_variables(lower=0, upper=upper, coords=hours, name=name)

    grid, gas = variable("grid", float(model.grid_mw[0])), variable("gas", available)
    solar = variable("solar", xr.DataArray(model.solar_mw[0] * model.solar_cf, coords=hours))
    curtailed = variable("curtailed")
    power = float(model.battery_mw[0])
    charge, discharge = variable("charge", power), variable("discharge", power)
    soc = variable("soc", capacity)
    m.add_constraints(solar + discharge - charge + grid + gas + curtailed == xr.DataArray(demand, coords=hours))
    later = {"hour": slice(1, None)}
    m.add_constraints(soc.isel(later) - soc.shift(hour=1).isel(later) - root * charge.isel(later)
                      + discharge.isel(later) / root == 0)
    m.add_constraints(soc.isel(hour=0) - root * charge.isel(hour=0) + discharge.isel(hour=0) / root == capacity)
    m.add_objective((price * grid).sum() + float(model.gas_cost_usd_per_mwh[0]) * gas.sum()
                    + VALUE_OF_LOST_LOAD_USD_PER_MWH * curtailed.sum())
    m.solve(solver_name="highs", output_flag=False)
    energy = float((price.values * grid.solution.values).sum()
                   + model.gas_cost_usd_per_mwh[0] * gas.solution.values.sum())
    return energy, float(curtailed.solution.values.sum())


@pytest.fixture(scope="module")
def campuses() -> dict[str, Site]:
    """Abilene and Colossus at full build on their final supply (grid, turbines, battery)."""
    catalog = load_catalog()
    out = {}
    for name in ("abilene", "colossus-memphis"):
        scenario = load(EXAMPLES / f"{name}.yaml")
        dataset = run(scenario).dataset
        realised = realise(scenario, 1)
        months = dataset.sizes["month"]
        grid = grid_capacity_mw(realised, catalog, months, 1)[:, -1]
        base = site_model(realised, catalog, 1)
        out[name] = configure(realised, catalog, base, months - 1, grid, dataset["it_power_mw"].values)
    return out


# tight grids: without the battery these campuses curtail load on hot afternoons
CASES = [(name, solar, tight) for name in ("abilene", "colossus-memphis") for solar in (False, True)
         for tight in (False, True)]
TIGHT_GRID_MW = {"abilene": 380.0, "colossus-memphis": 12.0}
SOLAR_MW = {"abilene": 200.0, "colossus-memphis": 50.0}


@pytest.mark.parametrize(("name", "solar", "tight"), CASES)
def test_dispatch_is_within_two_percent_of_the_least_cost_lp(
    campuses: dict[str, Site], name: str, solar: bool, tight: bool
) -> None:
    model = campuses[name]
    if solar:
        model = replace(model, solar_mw=np.array([SOLAR_MW[name]]), solar_cf=SOLAR_CF)
    if tight:
        model = replace(model, grid_mw=np.array([TIGHT_GRID_MW[name]]))
    hourly = dispatch(model)
    bare = dispatch(without_battery(model))
    if tight:
        assert bare["curtailed"].sum() > 0  # the case is as tight as it claims
    optimum, optimum_curtailed = least_cost(model, hourly["demand"][0])
    ours = float(cost_usd(model, hourly)[0])
    assert ours <= 1.02 * optimum
    assert hourly["curtailed"].sum() <= optimum_curtailed + 1.0  # the reserve serves what the LP serves
    if bare["curtailed"].sum() == 0:
        assert ours <= float(cost_usd(model, bare)[0]) + 1e-6


def test_colossus_battery_costs_nothing_extra_and_starts_no_turbines(campuses: dict[str, Site]) -> None:
    model = campuses["colossus-memphis"]
    hourly, bare = dispatch(model), dispatch(without_battery(model))
    assert cost_usd(model, hourly)[0] <= cost_usd(model, bare)[0]
    assert hourly["starts"][0] <= bare["starts"][0]
    price = model.price_usd_per_mwh[0] * model.price_multiplier
    # no MWh bought from the grid to charge at a price above what a stored MWh displaces after losses
    charging_from_grid = (hourly["charge"][0] > 1e-9) & (hourly["grid"][0] > bare["grid"][0] + 1e-9)
    assert np.all(price[charging_from_grid] < price.max() * model.battery_efficiency)


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 2**31), gas_units=st.integers(0, 4), peak=st.booleans(),
       solar=st.booleans())
def test_adding_a_battery_never_raises_the_energy_cost(seed: int, gas_units: int, peak: bool, solar: bool) -> None:
    rng = np.random.default_rng(seed)
    draws = 3
    scenario_site = campus_site(draws)
    model = replace(
        scenario_site,
        it_mw=rng.uniform(10, 100, draws),
        grid_mw=np.full(draws, 400.0),  # ample: nothing is curtailed, so cost alone is compared
        gas_mw=np.full(draws, 20.0 * gas_units),
        gas_unit_mw=20.0,
        gas_min_load_frac=0.3,
        gas_min_up_hours=3,
        gas_availability=0.95,
        gas_cost_usd_per_mwh=rng.uniform(20, 120, draws),
        battery_mw=rng.uniform(0, 80, draws),
        battery_mwh=rng.uniform(0, 400, draws),
        battery_efficiency=float(rng.uniform(0.7, 0.95)),
        solar_mw=rng.uniform(0, 60, draws) if solar else np.zeros(draws),
        solar_cf=SOLAR_CF,
    )
    if not peak:
        model = replace(model, peak=np.zeros(8760, dtype=bool), price_multiplier=np.ones(8760))
    with_battery, bare = dispatch(model), dispatch(without_battery(model))
    assert bare["curtailed"].sum() == 0
    assert np.all(cost_usd(model, with_battery) <= cost_usd(model, bare) + 1e-6)


def campus_site(draws: int) -> Site:
    """A plain Abilene site with no supply yet, for the random cases."""
    scenario = Scenario.model_validate({
        "name": "t", "start": "2025-01", "site": {"location": "-", "climate": "abilene-tx", "region": "ercot-tx"},
        "campus": {"phases": [{"name": "all", "system": "gb200-nvl72", "systems_per_building": 100}]},
    })
    return site_model(realise(scenario, draws), load_catalog(), draws)
