"""The pipeline end to end: contract keys, determinism, the draw axis, and what it writes."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
import xarray as xr
from hypothesis import given, settings
from hypothesis import strategies as st

from neocloud import Scenario, run
from neocloud.design import size
from neocloud.pipeline import CONTRACT_KEYS
from neocloud.report import render
from neocloud.uncertainty import base_case, uncertain_inputs

from .conftest import EXAMPLES

DESIGN_KEYS = ("accelerators", "systems", "racks", "it_power_mw", "facility_power_mw", "pue")


def with_finance(scenario: Scenario, **changes: float) -> Scenario:
    return scenario.model_copy(update={"finance": scenario.finance.model_copy(update=changes)})


def test_summary_has_every_contract_key(abilene: Scenario) -> None:
    summary = run(abilene).summary()
    assert summary["scenario"] == "Stargate Abilene"
    missing = [key for key in CONTRACT_KEYS if key not in summary]
    assert missing == []
    json.dumps(summary, allow_nan=False)


def test_same_seed_gives_identical_results(abilene: Scenario) -> None:
    first = run(abilene, draws=16, seed=7).dataset
    second = run(abilene, draws=16, seed=7).dataset
    xr.testing.assert_identical(first, second)


def test_one_draw_is_the_median_case(abilene: Scenario) -> None:
    assert run(abilene).summary() == run(base_case(abilene)).summary()


def test_one_draw_equals_the_scalar_design(abilene: Scenario, catalog) -> None:
    dataset = run(abilene).dataset
    phase = abilene.campus.phases[0]
    systems = sum(p.systems_per_building * p.buildings for p in abilene.campus.phases)
    scalar = size("gb200", systems * 72, climate=abilene.site.climate, cooling=abilene.campus.cooling,
                  catalog=catalog, network=abilene.campus.network)
    assert dataset.sizes["draw"] == 1
    assert phase.system == "gb200-nvl72"
    for key in DESIGN_KEYS:
        assert float(dataset[key].values[0]) == pytest.approx(scalar[key], rel=1e-12), key


def test_deterministic_scenario_gives_the_same_answer_in_every_draw(abilene: Scenario) -> None:
    fixed = base_case(abilene)
    assert uncertain_inputs(fixed) == [] and uncertain_inputs(abilene) != []
    one = run(fixed, draws=1).summary()
    many = run(fixed, draws=8).dataset
    for key in ("facility_power_mw", "capex_usd", "cost_usd_per_gpu_hour"):
        assert np.allclose(many[key].values, one[key], rtol=1e-12), key


@settings(max_examples=15, deadline=None)
@given(low=st.floats(0.2, 0.6), step=st.floats(0.05, 0.35))
def test_cost_per_gpu_hour_falls_as_utilisation_rises(abilene: Scenario, low: float, step: float) -> None:
    cheap = run(with_finance(abilene, utilisation=low + step)).summary()["cost_usd_per_gpu_hour"]
    dear = run(with_finance(abilene, utilisation=low)).summary()["cost_usd_per_gpu_hour"]
    assert cheap < dear


def test_out_writes_summary_results_and_report(abilene: Scenario, tmp_path: Path) -> None:
    results = run(EXAMPLES / "abilene.yaml")
    paths = results.write(tmp_path / "out", render)
    assert json.loads(paths["summary"].read_text()) == json.loads(json.dumps(results.summary()))
    with xr.open_dataset(paths["results"], engine="h5netcdf") as stored:
        assert float(stored["it_power_mw"].values[0]) == pytest.approx(results.summary()["it_power_mw"])
        assert "month" in stored.dims
    page = paths["report"].read_text()
    assert page.startswith("<!doctype html>")
    assert not re.search(r"<(script|link)[^>]+(src|href)=[\"']https?:", page)  # self-contained: nothing fetched
    assert "Stargate Abilene" in page
    assert not list((tmp_path / "out").glob(".*.tmp"))
