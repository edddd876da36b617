"""The energy stage: hourly balance, battery bounds, the clamp scan, curtailment, climate and PUE."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from neocloud import Scenario
from neocloud.energy import SOURCES, dispatch, simulate, site_model, state_of_charge
from neocloud.energy.hourly import (
    HOURS_PER_YEAR,
    Workspace,
    battery_requests,
    battery_requests_numpy,
    hourly_scan,
    hourly_scan_numpy,
)
from neocloud.pipeline import run
from neocloud.realise import realise

CAMPUS = {
    "phases": [
        {
            "name": "all",
            "system": "gb200-nvl72",
            "systems_per_building": 100,
            "schedule": {"equipment_ordered": "2024-01", "construction_months": 3},
        }
    ]
}


def scenario(climate: str = "abilene-tx", region: str = "ercot-tx", **changes: Any) -> Scenario:
    data: dict[str, Any] = {
        "name": "t",
        "start": "2025-01",
        "site": {"location": "-", "climate": climate, "region": region},
        "campus": CAMPUS,
        "finance": {"horizon_years": 2},
    }
    data.update(changes)
    return Scenario.model_validate(data)


def site(catalog: Any, draws: int, **fields: Any) -> Any:
    base = site_model(realise(scenario(), draws), catalog, draws)
    return replace(base, **fields)


@settings(max_examples=20, deadline=None)
@given(seed=st.integers(0, 2**31), gas_units=st.integers(0, 6), peak=st.booleans())
def test_supply_plus_curtailment_is_demand_every_hour(
    catalog: Any, seed: int, gas_units: int, peak: bool
) -> None:
    rng = np.random.default_rng(seed)
    draws = 3
    energy_mwh = rng.uniform(0, 400, draws)
    model = site(
        catalog,
        draws,
        it_mw=rng.uniform(10, 100, draws),
        grid_mw=rng.uniform(0, 120, draws),
        gas_mw=np.full(draws, 20.0 * gas_units),
        gas_unit_mw=20.0,
        gas_min_load_frac=0.3,
        gas_min_up_hours=3,
        gas_availability=0.95,
        gas_derate_per_c=0.007,
        gas_cost_usd_per_mwh=rng.uniform(20, 90, draws),
        battery_mw=rng.uniform(0, 80, draws),
        battery_mwh=energy_mwh,
        battery_efficiency=0.85,
        solar_mw=rng.uniform(0, 60, draws),
        solar_cf=np.clip(np.sin(np.arange(8760) / 24 * 2 * np.pi), 0, 1) * 0.5,
    )
    if not peak:
        model = replace(model, peak=np.zeros(8760, dtype=bool), price_multiplier=np.ones(8760))
    hourly = dispatch(model)
    supply = hourly["solar"] + hourly["discharge"] - hourly["charge"] + hourly["grid"] + hourly["gas"]
    np.testing.assert_allclose(supply + hourly["curtailed"], hourly["demand"], atol=1e-6)
    for key in ("grid", "gas", "solar", "charge", "discharge", "curtailed"):
        assert np.all(hourly[key] >= -1e-9), key
    assert np.all(hourly["grid"] <= model.grid_mw[:, None] + 1e-9)
    assert np.all(hourly["soc"] >= -1e-9) and np.all(hourly["soc"] <= energy_mwh[:, None] + 1e-9)
    assert np.all(hourly["charge"] <= model.battery_mw[:, None] + 1e-9)
    assert np.all(hourly["discharge"] <= model.battery_mw[:, None] + 1e-9)


@settings(max_examples=30, deadline=None)
@given(
    steps=st.lists(st.floats(-50, 50), min_size=1, max_size=70),
    capacity=st.floats(0, 100),
    initial=st.floats(0, 1),
)
def test_the_clamp_scan_equals_the_hourly_recursion(
    steps: list[float], capacity: float, initial: float
) -> None:
    soc = state_of_charge(np.array([steps]), np.array([capacity]), np.array([initial * capacity]))[0]
    level, expected = initial * capacity, []
    for step in steps:
        level = min(max(level + step, 0.0), capacity)
        expected.append(level)
    np.testing.assert_allclose(soc, expected, atol=1e-9)


def test_what_cannot_be_supplied_is_curtailed_and_reported() -> None:
    short = scenario(power={"grid": [{"month": "2025-01", "mw": 5}]})
    # the phase is never energised on 5 MW of grid: nothing online, nothing drawn
    ds = run(short).dataset
    assert float(ds["accelerators_online"].max()) == 0
    assert float(ds["facility_energy_mwh"].sum()) == 0
    # the complete campus on that supply would curtail; the annual keys say how much
    assert float(ds["curtailed_mwh_per_year"].values[0]) > 0
    served = ds["annual_energy_by_source_mwh"].sel(source=["grid", "gas", "solar", "battery"]).sum("source")
    assert float(served.values[0]) <= 5 * 8760 + 1e-6


def test_monthly_sources_add_up_and_follow_the_ramp() -> None:
    ds = run("examples/colossus-memphis.yaml").dataset
    by_source = ds["energy_by_source_mwh"].sel(source=[s for s in SOURCES if s != "curtailed"]).sum("source")
    np.testing.assert_allclose(by_source.values, ds["facility_energy_mwh"].values, rtol=1e-9, atol=1e-6)
    gas = ds["energy_by_source_mwh"].sel(source="gas").values[0]
    grid = ds["energy_by_source_mwh"].sel(source="grid").values[0]
    assert grid[:12].sum() == 0 and gas[5] > 0  # turbines only until the substation (2025-05)
    assert grid[14] > 0
    assert ds["typical_week_supply_mw"].dims == ("draw", "hour_of_week", "source")


def test_a_cold_site_has_a_lower_realised_pue_than_a_hot_one() -> None:
    cold = run(scenario(climate="narvik-no", region="ercot-tx")).summary()
    hot = run(scenario(climate="phoenix-az", region="ercot-tx")).summary()
    assert cold["realised_pue"] < hot["realised_pue"] - 0.02
    assert cold["annual_energy_mwh"] < hot["annual_energy_mwh"]


def test_inference_draws_less_and_with_a_daily_cycle() -> None:
    training = run(scenario()).dataset
    inference = run(scenario(workload={"kind": "inference"})).dataset
    week = inference["typical_week_demand_mw"].values[0]
    flat = training["typical_week_demand_mw"].values[0]
    assert week.std() / week.mean() > 2 * flat.std() / flat.mean()  # training varies only with PUE
    assert float(inference["annual_energy_mwh"][0]) < float(training["annual_energy_mwh"][0])


def test_the_clamp_scan_over_a_whole_year_equals_the_hourly_recursion() -> None:
    rng = np.random.default_rng(7)
    steps = rng.uniform(-40, 40, (4, 8760))
    capacity = np.array([0.0, 50.0, 200.0, 1e4])
    initial = capacity * np.array([0.0, 1.0, 0.5, 0.3])
    soc = state_of_charge(steps, capacity, initial)
    level, expected = initial.copy(), np.empty_like(steps)
    for hour in range(steps.shape[1]):
        level = np.minimum(np.maximum(level + steps[:, hour], 0.0), capacity)
        expected[:, hour] = level
    np.testing.assert_allclose(soc, expected, rtol=0, atol=1e-9)


@settings(max_examples=10, deadline=None)
@given(seed=st.integers(0, 2**31), draws=st.integers(1, 11), min_up_hours=st.integers(1, 4), peak=st.booleans())
def test_the_months_are_the_sums_of_the_hours_and_balance(
    catalog: Any, seed: int, draws: int, min_up_hours: int, peak: bool
) -> None:
    rng = np.random.default_rng(seed)
    model = site(
        catalog,
        draws,
        it_mw=rng.uniform(10, 100, draws),
        grid_mw=rng.uniform(0, 120, draws),
        gas_mw=np.full(draws, 20.0 * rng.integers(0, 4)),
        gas_unit_mw=20.0,
        gas_min_load_frac=0.3,
        gas_min_up_hours=min_up_hours,
        gas_availability=0.95,
        gas_derate_per_c=0.007,
        gas_cost_usd_per_mwh=rng.uniform(20, 90, draws),
        gas_mmbtu_per_mwh=9.0,
        gas_start_usd_per_mw=50.0,
        gas_co2_kg_per_mmbtu=53.06,
        battery_mw=rng.uniform(0, 80, draws),
        battery_mwh=rng.uniform(0, 400, draws),
        battery_efficiency=0.85,
        solar_mw=rng.uniform(0, 60, draws),
        solar_cf=np.clip(np.sin(np.arange(8760) / 24 * 2 * np.pi), 0, 1) * 0.5,
    )
    if not peak:
        model = replace(model, peak=np.zeros(8760, dtype=bool), price_multiplier=np.ones(8760))
    year = simulate(model)  # in chunks of draws, from reused buffers
    hourly = dispatch(model)  # all draws at once
    months = np.cumsum([0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30]) * 24

    def by_month(values: np.ndarray) -> np.ndarray:
        return np.add.reduceat(values, months, axis=-1)

    battery = hourly["discharge"] - hourly["charge"]
    for key, values in (
        ("grid", hourly["grid"]),
        ("gas", hourly["gas"]),
        ("solar", hourly["solar"]),
        ("battery", battery),
        ("curtailed", hourly["curtailed"]),
    ):
        np.testing.assert_allclose(year[f"{key}_mwh"], by_month(values), rtol=1e-9, atol=1e-6)
    served = by_month(hourly["demand"] - hourly["curtailed"])
    np.testing.assert_allclose(year["facility_mwh"], served, rtol=1e-9, atol=1e-6)
    supplied = sum(year[f"{key}_mwh"] for key in ("grid", "gas", "solar", "battery"))
    np.testing.assert_allclose(supplied, year["facility_mwh"], rtol=1e-9, atol=1e-6)
    it_served = by_month(hourly["it_demand"] - hourly["curtailed"] / model.pue)
    np.testing.assert_allclose(year["it_mwh"], it_served, rtol=1e-9, atol=1e-6)
    cost = by_month(hourly["grid"] * hourly["price"] + hourly["gas"] * model.gas_cost_usd_per_mwh[:, None])
    start_cost = hourly["starts"] * model.gas_unit_mw * model.gas_start_usd_per_mw / 12
    np.testing.assert_allclose(year["cost_usd"], cost + start_cost[:, None], rtol=1e-9, atol=1e-6)
    np.testing.assert_allclose(year["peak_grid_mw"], hourly["grid"].max(-1), rtol=1e-12)
    np.testing.assert_allclose(year["peak_demand_mw"], hourly["demand"].max(-1), rtol=1e-12)
    week = slice(195 * 24, 202 * 24)
    np.testing.assert_allclose(year["week_demand"], hourly["demand"][:, week], rtol=1e-12)
    np.testing.assert_allclose(year["week"][:, :, 0], hourly["grid"][:, week], rtol=1e-12)


def rough(rng: np.random.Generator, shape: tuple[int, ...], low: float, high: float) -> np.ndarray:
    """Values in [low, high] with ties, whole numbers, zeros of both signs and a few duplicates of each other."""
    values = rng.uniform(low, high, shape)
    special = rng.choice([0.0, -0.0, np.round(low), np.round(high), np.round((low + high) / 2)], shape)
    pick = rng.uniform(0, 1, shape)
    values = np.where(pick < 0.2, special, values)
    return np.where(pick > 0.9, np.round(values), values)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seed=st.integers(0, 2**32 - 1), draws=st.integers(1, 9), gas=st.booleans(), short=st.booleans(),
       peak=st.booleans())
def test_the_compiled_battery_requests_give_numpys_bits(catalog: Any, seed: int, draws: int, gas: bool,
                                                        short: bool, peak: bool) -> None:
    """``battery_requests``'s kernel against ``battery_requests_numpy``: charge and discharge, bit for bit."""
    rng = np.random.default_rng(seed)
    model = site(
        catalog, draws,
        grid_mw=rough(rng, (draws,), 0, 120), gas_mw=rough(rng, (draws,), 0, 100) * gas,
        gas_cost_usd_per_mwh=rough(rng, (draws,), 20, 90), battery_mw=rough(rng, (draws,), 0, 60),
        battery_efficiency=float(rng.choice([1.0, 0.85, rng.uniform(0.5, 1)])),
        price_usd_per_mwh=rough(rng, (draws,), 20, 90),
        **({} if peak else {"price_multiplier": np.ones(HOURS_PER_YEAR)}),
    )
    shape = (draws, HOURS_PER_YEAR)
    residual = rough(rng, shape, -80, 200)
    available = np.where(model.gas_mw[:, None] > 0, rough(rng, shape, 0, 100), 0.0)
    excess = residual - model.grid_mw[:, None] - available
    if not short:
        np.minimum(excess, 0.0, out=excess)
    got, expected = (Workspace(draws).view(draws) for _ in range(2))
    for work in (got, expected):
        work["residual"][...], work["excess"][...], work["available"][...] = residual, excess, available
    battery_requests(model, got)
    battery_requests_numpy(model, expected)
    for name in ("charge", "discharge"):
        assert got[name].tobytes() == expected[name].tobytes(), name


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), draws=st.integers(1, 9), days=st.integers(1, 400))
def test_the_compiled_scan_gives_numpys_bits(seed: int, draws: int, days: int) -> None:
    """``hourly_scan``'s kernel against ``hourly_scan_numpy``: every state, bit for bit."""
    rng = np.random.default_rng(seed)
    capacity = rough(rng, (draws,), 0, 400)
    step = rough(rng, (draws, days * 24), -150, 150) * 10.0 ** rng.integers(-3, 2, (draws, 1))
    initial = np.minimum(rough(rng, (draws,), 0, 400), capacity)
    got, expected = np.full_like(step, np.nan), np.full_like(step, np.nan)
    hourly_scan(step, capacity, initial, got, np.empty_like(step))
    hourly_scan_numpy(step, capacity, initial, expected, np.empty_like(step))
    assert got.tobytes() == expected.tobytes()
