"""The portable dispatch (any array namespace, no in-place updates) agrees with the exact CPU path."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from neocloud.energy import dispatch, simulate
from neocloud.energy.hourly import state_of_charge
from neocloud.energy.portable import dispatch_portable, monthly_supply_mwh, scan_state
from tests.test_energy_reuse import supplied

TOLERANCE = 1e-9  # relative to each output's largest value: the scan sums in another order


def assert_close(got: dict[str, Any], expected: dict[str, np.ndarray]) -> None:
    for key, value in got.items():
        scale = max(float(np.max(np.abs(expected[key]))), 1.0)
        np.testing.assert_allclose(np.asarray(value), expected[key], rtol=0, atol=TOLERANCE * scale, err_msg=key)


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 2**31), grid=st.floats(20.0, 120.0), gas_units=st.integers(0, 4),
       min_up=st.integers(1, 5), battery=st.booleans())
def test_portable_dispatch_agrees_with_the_exact_path(
    catalog: Any, seed: int, grid: float, gas_units: int, min_up: int, battery: bool
) -> None:
    draws = 4
    rng = np.random.default_rng(seed)
    model = supplied(
        catalog, draws, rng, grid_mw=np.full(draws, grid), gas_mw=np.full(draws, 20.0 * gas_units),
        gas_min_up_hours=min_up, gas_cost_usd_per_mwh=rng.uniform(30, 110, draws),
        battery_mw=rng.uniform(0, 30, draws) * battery, battery_mwh=rng.uniform(0, 90, draws) * battery,
    )
    exact = dispatch(model)
    got = dispatch_portable(model)
    assert set(got) == set(exact) - {"price"}
    assert_close(got, exact)


def test_portable_monthly_supply_matches_the_simulated_months(catalog: Any) -> None:
    model = supplied(catalog, 6, np.random.default_rng(11), grid_mw=np.full(6, 60.0))
    months = monthly_supply_mwh(dispatch_portable(model), np)
    assert_close(months, {key: value for key, value in simulate(model).items() if key in months})


@pytest.mark.parametrize("length", [1, 5, 24, 100, 8760])
def test_the_parallel_scan_is_the_clamped_recursion(length: int) -> None:
    rng = np.random.default_rng(length)
    step = rng.normal(0, 5, (3, length))
    capacity, initial = np.array([10.0, 0.0, 30.0]), np.array([5.0, 0.0, 30.0])
    expected = np.empty_like(step)
    state = initial.copy()
    for hour in range(length):
        state = np.clip(state + step[:, hour], 0.0, capacity)
        expected[:, hour] = state
    np.testing.assert_allclose(scan_state(step, capacity, initial, np), expected, rtol=0, atol=1e-9)
    np.testing.assert_allclose(state_of_charge(step, capacity, initial), expected, rtol=0, atol=1e-9)
