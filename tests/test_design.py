"""The design stage: counts to power and power to counts, per phase and campus."""

from __future__ import annotations

import itertools
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from neocloud import Catalog, ScenarioError
from neocloud.design import pue_at, size

ACCELERATORS = ["a100-sxm", "h100-sxm", "h200-sxm", "b200", "gb200", "gb300", "mi300x", "mi355x"]


@settings(max_examples=40, deadline=None)
@given(accelerator=st.sampled_from(ACCELERATORS), count=st.integers(1, 500_000),
       climate=st.sampled_from(["abilene-tx", "narvik-no", "singapore", "essex-uk"]))
def test_facility_power_covers_it_power_and_grows_with_count(catalog: Catalog, accelerator: str, count: int,
                                                            climate: str) -> None:
    small = size(accelerator, count, climate=climate, catalog=catalog)
    large = size(accelerator, count * 2, climate=climate, catalog=catalog)
    assert small["facility_power_mw"] >= small["it_power_mw"] > 0
    assert small["facility_peak_power_mw"] >= small["facility_power_mw"]
    assert small["utility_capacity_mw"] >= small["facility_peak_power_mw"]
    assert small["design_day_draw_mw"] <= small["facility_peak_power_mw"]
    assert large["it_power_mw"] >= small["it_power_mw"]
    if large["systems"] > small["systems"]:  # whole systems: power grows with each added system
        assert large["facility_power_mw"] > small["facility_power_mw"]
    assert small["accelerators"] >= count


def test_pue_rises_with_temperature_and_stays_in_bounds(catalog: Catalog) -> None:
    for cooling_id in catalog.ids("cooling"):
        cooling = catalog.row("cooling", cooling_id)
        values = pue_at(cooling, [-20.0, 0.0, 15.0, 25.0, 35.0, 50.0])
        assert all(b >= a for a, b in itertools.pairwise(values))
        assert values.min() >= 1.0
        assert values.max() <= float(cooling["pue_max"]) + 1e-12


def test_hot_design_day_needs_more_facility_power(catalog: Catalog) -> None:
    hot = size("h100-sxm", 100_000, climate="phoenix-az", catalog=catalog)
    cold = size("h100-sxm", 100_000, climate="narvik-no", catalog=catalog)
    assert hot["it_power_mw"] == pytest.approx(cold["it_power_mw"])
    assert hot["facility_power_mw"] > cold["facility_power_mw"]


def test_memphis_h100_campus_is_near_the_reported_150_mw(catalog: Catalog) -> None:
    # xAI Colossus: 100,000 H100, 150 MW of "power capacity" reported (Epoch AI): facility power in an
    # ordinary hour, within 10%; the design-day peak is the larger figure that sizes the cooling plant
    result = size("h100-sxm", 100_000, climate="memphis-tn", catalog=catalog)
    assert result["systems"] == 12_500
    assert 0.9 * 150 <= result["facility_power_mw"] <= 1.1 * 150
    assert result["facility_power_mw"] == pytest.approx(result["it_power_mw"] * result["pue"])
    assert result["facility_peak_power_mw"] == pytest.approx(result["it_power_mw"] * result["design_pue"])
    assert result["facility_peak_power_mw"] > 1.1 * result["facility_power_mw"]


def test_abilene_scale_gb200_is_near_the_announced_gigawatts(catalog: Catalog) -> None:
    # 8 buildings x 50,000 Blackwell GPUs "will run on 1.2 gigawatts" (kind of power unspecified)
    # the power the site is supplied with: the utility capacity, within 5%
    result = size("gb200", 400_000, climate="abilene-tx", catalog=catalog)
    assert 0.95 * 1200 <= result["utility_capacity_mw"] <= 1.05 * 1200
    assert result["facility_power_mw"] < 0.8 * 1200
    assert math.ceil(400_000 / 72) == result["systems"]


def test_unknown_accelerator_and_bad_count(catalog: Catalog) -> None:
    with pytest.raises(ScenarioError, match=r"accelerator: 'h100' is not a known accelerator \(did you mean"):
        size("h100", 10, catalog=catalog)
    with pytest.raises(ScenarioError, match="count: must be at least 1"):
        size("h100-sxm", 0, catalog=catalog)
