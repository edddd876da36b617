"""Capital on one basis: facility per MW of IT (plant and shell, new or retrofit) and on-site power capex."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from neocloud import Scenario, run
from neocloud.finance.capex import power_plant_schedule
from neocloud.plant import plant_items

from .conftest import EXAMPLES


def campus(power: dict[str, Any] | None = None, building: str = "new", horizon_years: int = 12) -> Scenario:
    """One building of 100 GB200 NVL72 racks in Abilene."""
    return Scenario.model_validate({
        "name": "power capex",
        "start": "2025-01",
        "site": {"location": "-", "climate": "abilene-tx", "region": "ercot-tx"},
        "campus": {"building": building,
                   "phases": [{"name": "a", "system": "gb200-nvl72", "systems_per_building": 100}]},
        "power": power or {},
        "finance": {"horizon_years": horizon_years},
    })


def test_abilene_and_colossus_carry_their_plant(catalog: Any) -> None:
    # Abilene: 10 aeroderivative turbines (35 MW, 1,600 USD/kW) and a 200 MWh battery (330 USD/kWh)
    abilene = run(EXAMPLES / "abilene.yaml").summary()
    assert abilene["capex_power_usd"] == pytest.approx(10 * 35e3 * 1600 + 200e3 * 330)
    # Colossus: 8 mobile turbines stay (16 MW, 1,200 USD/kW); the 7 that leave are hired; 811 MWh of batteries
    colossus = run(EXAMPLES / "colossus-memphis.yaml").summary()
    assert colossus["capex_power_usd"] == pytest.approx(8 * 16e3 * 1200 + 811e3 * 330)
    for summary in (abilene, colossus):
        assert summary["capex_usd"] == pytest.approx(
            summary["capex_it_usd"] + summary["capex_facility_usd"] + summary["capex_power_usd"])
        assert summary["power_fixed_om_usd_per_year"] > 0


def test_plant_is_paid_at_commissioning_and_depreciated_over_its_own_life(catalog: Any) -> None:
    power = {"grid": [{"month": "2025-01", "mw": 100}],
             "gas_turbines": [{"type": "aeroderivative-ct", "units": 2, "commissioning": "2026-01"}],
             "batteries": [{"power_mw": 20, "energy_mwh": 80, "commissioning": "2025-07"}]}
    schedule = power_plant_schedule(campus(power), catalog, 1, 40 * 12)
    turbines, battery = 2 * 35e3 * 1600, 80e3 * 330
    spend = schedule["spend"][0]
    assert spend[12] == pytest.approx(turbines) and spend[6] == pytest.approx(battery)
    assert spend.sum() == pytest.approx(turbines + battery)
    deduction = schedule["depreciation"][0]
    assert deduction[:6].sum() == 0
    assert deduction.sum() == pytest.approx(turbines + battery)  # fully written off within 40 years
    assert deduction[6] == pytest.approx(battery / (15 * 12))  # the battery alone, over 15 years
    assert deduction[12 + 30 * 12] == 0 and deduction[6 + 15 * 12] == pytest.approx(turbines / (30 * 12))
    life = schedule["life_years"][0]
    assert life == pytest.approx((turbines * 30 + battery * 15) / (turbines + battery))


def test_power_depreciation_is_its_own_class_in_the_statements() -> None:
    power = {"grid": [{"month": "2025-01", "mw": 100}], "batteries": [{"power_mw": 20, "energy_mwh": 80}]}
    ds = run(campus(power)).dataset
    assert float(ds["depreciation_power_usd"].sum()) == pytest.approx(80e3 * 330 * 12 / 15)
    without = run(campus({"grid": [{"month": "2025-01", "mw": 100}]})).dataset
    assert float(without["depreciation_power_usd"].sum()) == 0
    assert float(ds["depreciation_facility_usd"].sum()) == pytest.approx(
        float(without["depreciation_facility_usd"].sum()))


@settings(max_examples=20, deadline=None)
@given(units=st.integers(0, 20), energy_mwh=st.floats(0, 2000), solar_mw=st.floats(0, 500))
def test_more_plant_never_costs_less(units: int, energy_mwh: float, solar_mw: float) -> None:
    from neocloud import load_catalog

    catalog = load_catalog()
    power: dict[str, Any] = {"grid": [{"month": "2025-01", "mw": 100}],
                             "batteries": [{"power_mw": energy_mwh / 4, "energy_mwh": energy_mwh}],
                             "solar": [{"capacity_mw": solar_mw}]}
    if units:
        power["gas_turbines"] = [{"units": units}]
    model = campus(power)
    items = plant_items(model, catalog, 1)
    schedule = power_plant_schedule(model, catalog, 1, 12 * 12)
    expected = units * 35e3 * 1600 + energy_mwh * 1e3 * 330 + solar_mw * 1e3 * 1400
    assert schedule["spend"].sum() == pytest.approx(expected, rel=1e-9, abs=1e-6)
    assert len(items) == (1 if units else 0) + 2
    assert np.all(schedule["depreciation"] >= 0)


def test_retrofit_pays_part_of_the_shell_and_all_of_the_plant(catalog: Any) -> None:
    new = run(campus()).summary()
    retrofit = run(campus(building="retrofit")).summary()
    share = catalog.value("cost_items", "retrofit_shell_frac")
    assert retrofit["capex_shell_usd"] == pytest.approx(new["capex_shell_usd"] * share)
    assert retrofit["capex_mechanical_electrical_usd"] == pytest.approx(new["capex_mechanical_electrical_usd"])
    assert retrofit["capex_facility_usd"] < new["capex_facility_usd"]
    assert new["capex_mechanical_electrical_usd"] > new["capex_shell_usd"] > 0


def test_facility_cost_per_it_mw_sits_on_the_cushman_wakefield_basis(catalog: Any) -> None:
    # C&W: 11.7 million USD per MW of critical load, white space included (here the per-rack fit-out)
    for cooling in catalog.ids("cooling"):
        row = catalog.row("cooling", cooling)
        plant_and_shell = float(row["mechanical_electrical_usd_per_mw_it"]) + float(row["shell_usd_per_mw_it"])
        assert plant_and_shell == pytest.approx(float(row["facility_capex_usd_per_mw_it"]))
        assert 0.85 * 11.7e6 <= plant_and_shell <= 1.05 * 11.7e6


def test_programme_report_shows_capex_per_gw_beside_public_figures() -> None:
    from neocloud.programme import load_programme, run_programme
    from neocloud.report.programme import per_gw_table, render_programme

    results = run_programme(load_programme(EXAMPLES / "stargate-programme.yaml"))
    summary = results.summary()
    assert summary["capex_power_usd"] >= 626e6  # Abilene's turbines and battery at least
    assert summary["facility_power_mw"] < summary["facility_peak_power_mw"] < summary["utility_capacity_mw"]
    table = per_gw_table(summary)
    per_facility_gw = summary["capex_usd"] / (summary["facility_power_mw"] / 1000)
    assert f"{per_facility_gw / 1e9:.1f} billion" in table
    assert "Stargate: USD 500 billion for a 10 GW commitment" in table and "per GW of critical IT" in table
    # the public all-in figures span 33-57 billion USD per GW; the programme lands inside that span
    assert 33e9 <= per_facility_gw <= 57.1e9
    assert "Capital per GW beside public figures" in render_programme(results)
