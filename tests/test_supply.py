"""The supply stage: dies per wafer, yield, ramps, the least of the legs, allocation by share."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from neocloud import ScenarioError, load_catalog
from neocloud.realise import realise
from neocloud.scenario.programme import FabPlan
from neocloud.supply import allocate, die_yield, gross_dies_per_wafer, ramp_fraction, supply

CATALOG = load_catalog()


def plan(capital_per_year: float = 1.0e11, **fields: object) -> FabPlan:
    return realise(
        FabPlan.model_validate(
            {"capital_usd_by_year": {2025: capital_per_year, 2026: capital_per_year}, "years": 6, **fields}
        )
    )


def test_gross_dies_of_an_h100_die_on_a_300_mm_wafer() -> None:
    # pi * 150^2 / 814 - pi * 300 / sqrt(2 * 814) = 86.8 - 23.4
    assert gross_dies_per_wafer(814.0, 300.0) == 63
    assert gross_dies_per_wafer(814.0, 300.0, 3.0) < 63
    assert gross_dies_per_wafer(1.0e6, 300.0) == 0


@settings(max_examples=50, deadline=None)
@given(st.floats(10, 900), st.floats(10, 900), st.floats(0.01, 1.0))
def test_yield_falls_with_area_and_murphy_is_above_poisson(
    small: float, large: float, density: float
) -> None:
    small, large = sorted((small, large))
    for model in ("murphy", "poisson"):
        assert die_yield(small, density, model) >= die_yield(large, density, model) - 1e-12
        assert 0 < die_yield(large, density, model) <= 1
    assert die_yield(large, density, "murphy") >= die_yield(large, density, "poisson") - 1e-12


def test_yield_models_match_textbook_values() -> None:
    # A = 1 cm^2, D = 1 /cm^2: Poisson e^-1 = 0.3679, Murphy ((1 - e^-1) / 1)^2 = 0.3996
    assert die_yield(100.0, 1.0, "poisson") == pytest.approx(0.3679, abs=1e-4)
    assert die_yield(100.0, 1.0, "murphy") == pytest.approx(0.3996, abs=1e-4)
    with pytest.raises(ScenarioError, match="not a yield model"):
        die_yield(100.0, 1.0, "seeds")


def test_ramp_is_nothing_while_building_then_linear_to_full() -> None:
    kernel = ramp_fraction(12, np.array([4.0]), np.array([4.0]))[0]
    assert np.all(kernel[:4, 0] == 0)
    assert kernel[4, 0] == pytest.approx(0.25)
    assert np.all(kernel[7:, 0] == 1)
    assert np.all(np.triu(kernel, 1) == 0)  # nothing produces before its capital is spent
    step = ramp_fraction(6, np.array([2.0]), np.array([0.0]))[0]
    assert list(step[:, 0]) == [0, 0, 1, 1, 1, 1]


def test_output_is_the_least_of_the_three_legs() -> None:
    stage = supply(plan(split={"logic": 0.8, "packaging": 0.1, "memory": 0.1}), CATALOG)
    limits = stage["accelerators_limit_per_quarter"].values
    assert np.allclose(stage["accelerators_made_per_quarter"].values, limits.min(axis=1))
    assert stage["accelerators_made_per_year"].values[0, -1] > 0


def test_balanced_split_gives_more_than_a_lopsided_one() -> None:
    balanced = supply(plan(), CATALOG)["accelerators_made_per_year"].values[0, -1]
    lopsided = supply(plan(split={"logic": 0.8, "packaging": 0.1, "memory": 0.1}), CATALOG)
    assert balanced > lopsided["accelerators_made_per_year"].values[0, -1]
    assert np.allclose(supply(plan(), CATALOG)["capital_split_frac"].values.sum(axis=1), 1)


@settings(max_examples=15, deadline=None)
@given(st.floats(1e9, 1e12), st.floats(1.01, 5.0))
def test_supply_is_monotone_in_capital(capital: float, factor: float) -> None:
    less = supply(plan(capital), CATALOG)["accelerators_made_per_year"].values
    more = supply(plan(capital * factor), CATALOG)["accelerators_made_per_year"].values
    assert np.all(more >= less - 1e-6)
    assert more[0, -1] > less[0, -1]


def test_fab_capex_and_capacity_follow_the_catalog_cost() -> None:
    stage = supply(
        plan(1.0e11, split={"logic": 1.0, "packaging": 0.0, "memory": 0.0}, fab="n3-arizona"), CATALOG
    )
    assert stage["fab_capex_usd"].values[0] == pytest.approx(2.0e11)
    # USD 2e11 at USD 8e9 per 10k wafers/month, fully ramped by the horizon
    assert stage["wafers_per_month"].values[0] == pytest.approx(2.0e11 / 8.0e9 * 1e4)


def test_uncertain_defect_density_makes_draws() -> None:
    realised = realise(
        FabPlan.model_validate(
            {
                "capital_usd_by_year": {2025: 1e11},
                "years": 5,
                "defect_density_per_cm2": {"dist": "uniform", "low": 0.05, "high": 0.3},
            }
        ),
        draws=64,
        seed=1,
    )
    stage = supply(realised, CATALOG)
    dies = stage["good_dies_per_wafer"].values
    assert dies.shape == (64,) and dies.std() > 0


def test_allocation_by_share_keeps_the_total() -> None:
    stage = supply(plan(), CATALOG)
    made = stage["accelerators_made_per_quarter"]
    split = allocate(made, {"nvidia": 0.8})
    assert list(split["buyer"].values) == ["nvidia", "other"]
    assert np.allclose(split.sum("buyer"), made)
    assert np.allclose(split.sel(buyer="nvidia"), 0.8 * made)
    with pytest.raises(ScenarioError, match="buyer shares"):
        allocate(made, {"nvidia": 0.8, "amd": 0.3})
