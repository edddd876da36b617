"""The build-out stage: gates on power, equipment, GPUs and crews; binding constraints; impossible plans."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from neocloud import Scenario, ScenarioError
from neocloud.buildout import CONSTRAINTS, buildout, phase_sum
from neocloud.design import design
from neocloud.pipeline import base_dataset, run
from neocloud.realise import realise


def scenario(**changes: Any) -> Scenario:
    """A two-phase GB200 campus; ``changes`` replace top-level sections."""
    data: dict[str, Any] = {
        "name": "test",
        "start": "2025-01",
        "site": {"location": "-", "climate": "abilene-tx", "region": "ercot-tx"},
        "campus": {
            "phases": [
                {
                    "name": "a",
                    "system": "gb200-nvl72",
                    "systems_per_building": 100,
                    "schedule": {
                        "construction_start": "2025-01",
                        "construction_months": 6,
                        "equipment_ordered": "2024-06",
                    },
                },
                {
                    "name": "b",
                    "system": "gb200-nvl72",
                    "systems_per_building": 200,
                    "schedule": {
                        "construction_start": "2025-04",
                        "construction_months": 8,
                        "equipment_ordered": "2024-12",
                    },
                },
            ]
        },
        "finance": {"horizon_years": 4},
    }
    data.update(changes)
    return Scenario.model_validate(data)


def stages(model: Scenario, catalog: Any) -> Any:
    realised = realise(model)
    dataset = base_dataset(model, 1)
    dataset = dataset.merge(design(realised, catalog, dataset))
    return dataset.merge(buildout(realised, catalog, dataset))


def test_abilene_ramps_up_and_names_what_binds() -> None:
    ds = run("examples/abilene.yaml").dataset
    online = ds["accelerators_online"].values[0]
    assert np.all(np.diff(online) >= 0)
    assert online[-1] == ds["accelerators"].values[0]
    first, full = int(ds["first_power_month"].values[0]), int(ds["full_capacity_month"].values[0])
    assert online[first - 1] == 0 < online[first] and online[full] == online[-1] > online[full - 1]
    codes = ds["binding_constraint"].values[0]
    assert set(codes[:first]) <= {CONSTRAINTS.index(name) for name in ("construction", "equipment", "power")}
    assert codes[full] == 0 and codes[full - 1] != 0
    assert ds["binding_constraint"].attrs["flag_meanings"].split() == list(CONSTRAINTS)


def test_power_binds_until_the_grid_step(catalog: Any) -> None:
    model = scenario(power={"grid": [{"month": "2025-01", "mw": 30}, {"month": "2026-09", "mw": 500}]})
    ds = stages(model, catalog)
    energised = ds["phase_energised_month"].values[0]
    assert (
        energised[0] == 9 and energised[1] == 20
    )  # a waits for equipment (2024-06 + 16); b needs more than 30 MW until 2026-09
    assert ds["phase_binding_constraint"].values[0, 15, 1] == CONSTRAINTS.index("power")


@settings(max_examples=15, deadline=None)
@given(
    grid=st.lists(st.floats(0, 600), min_size=1, max_size=4),
    extra=st.floats(0, 300),
    deliveries=st.lists(st.integers(0, 200), min_size=1, max_size=6),
    rate=st.floats(5, 200),
    turbines=st.integers(0, 8),
)
def test_nothing_runs_before_its_power_and_gpus(
    catalog: Any, grid: list[float], extra: float, deliveries: list[int], rate: float, turbines: int
) -> None:
    steps = [
        {"month": f"2025-{3 * i + 1:02d}", "mw": value} for i, value in enumerate(np.cumsum(grid).tolist())
    ]
    quarters = [
        {"system": "gb200-nvl72", "quarter": f"{2025 + i // 4}-Q{i % 4 + 1}", "systems": float(n)}
        for i, n in enumerate(deliveries)
    ]
    gas = [{"units": turbines, "commissioning": "2025-09"}] if turbines else []
    base = scenario(
        power={"grid": steps, "gas_turbines": gas},
        buildout={"gpu_deliveries": quarters, "install_racks_per_week": rate},
    )
    ds = stages(base, catalog)
    firm = ds["firm_power_mw"].values[0]
    facility = ds["facility_power_online_mw"].values[0]
    assert np.all(facility <= firm + 1e-6)
    months = ds.sizes["month"]
    delivered = np.zeros(months)
    for i, n in enumerate(deliveries):
        delivered += n * np.clip((np.arange(months) - 3 * i + 1) / 3, 0, 1)
    assert np.all(ds["systems_installed"].values[0] <= delivered + 1e-6)
    weeks_per_month = 365 / 12 / 7
    per_month = np.diff(ds["systems_installed"].values[0], prepend=0)
    assert np.all(per_month <= rate * weeks_per_month + 1 + 1e-6)  # whole racks: at most one more a month
    # more grid capacity never delays a phase
    more = scenario(
        power={"grid": [{**step, "mw": step["mw"] + extra} for step in steps], "gas_turbines": gas},
        buildout={"gpu_deliveries": quarters, "install_racks_per_week": rate},
    )
    later = stages(more, catalog)
    for key in ("phase_energised_month", "phase_online_month"):
        before = np.nan_to_num(ds[key].values, nan=1e9)
        after = np.nan_to_num(later[key].values, nan=1e9)
        assert np.all(after <= before)


def test_a_phase_before_its_predecessor_is_an_error(catalog: Any) -> None:
    phases = scenario().campus.model_dump()["phases"]
    phases[1]["schedule"].update(after="a", construction_start="2024-11")
    model = scenario(campus={"phases": phases})
    with pytest.raises(
        ScenarioError, match=r"b starts construction 2024-11, 2 months before its predecessor a"
    ):
        stages(model, catalog)
    phases[0]["schedule"]["after"] = "b"
    phases[1]["schedule"]["after"] = None
    with pytest.raises(ScenarioError, match="can only follow an earlier one"):
        stages(scenario(campus={"phases": phases}), catalog)


def test_a_delivery_nobody_installs_is_an_error(catalog: Any) -> None:
    model = scenario(
        buildout={"gpu_deliveries": [{"system": "gb300-nvl72", "quarter": "2025-Q1", "systems": 5}]}
    )
    with pytest.raises(ScenarioError, match="delivered but no phase installs it"):
        stages(model, catalog)


def test_turbines_cannot_run_before_they_arrive(catalog: Any) -> None:
    model = scenario(power={"gas_turbines": [{"units": 2, "ordered": "2025-01", "commissioning": "2025-06"}]})
    with pytest.raises(ScenarioError, match="lead time of aeroderivative-turbine"):
        stages(model, catalog)


def test_equipment_lead_override_moves_readiness(catalog: Any) -> None:
    slow = scenario(buildout={"equipment_leads": [{"equipment": "switchgear", "lead_months": 30}]})
    ds = stages(slow, catalog)
    assert ds["phase_equipment_ready_month"].values[0, 0] == -7 + 30
    assert ds["binding_constraint"].values[0, 10] == CONSTRAINTS.index("equipment")


def test_stargate_norway_is_not_held_back_by_its_own_peak() -> None:
    # 230 MW of grid for 100,000 GB300: the design-day draw at training load fits, so phase 2 follows its
    # construction, not the 2027 grid expansion
    ds = run("examples/stargate-norway.yaml").dataset
    assert float(ds["design_day_draw_mw"].values[0]) <= 230
    assert float(ds["facility_peak_power_mw"].values[0]) > 230
    codes = ds["phase_binding_constraint"].values[0]
    assert not (codes == CONSTRAINTS.index("power")).any()


def test_a_battery_carries_the_design_day_peak(catalog: Any) -> None:
    # the draw of phase a alone is about 17 MW on the Abilene design day; 10 MW of grid is short of it
    grid = {"grid": [{"month": "2025-01", "mw": 10}]}
    short = stages(scenario(power=grid), catalog)["phase_energised_month"].values[0, 0]
    assert np.isnan(short)
    small = {**grid, "batteries": [{"power_mw": 20, "energy_mwh": 8}]}  # 2 MW over four hours: not enough
    assert np.isnan(stages(scenario(power=small), catalog)["phase_energised_month"].values[0, 0])
    big = {**grid, "batteries": [{"power_mw": 20, "energy_mwh": 80}]}
    assert stages(scenario(power=big), catalog)["phase_energised_month"].values[0, 0] == 9


@pytest.mark.parametrize("phases", [1, 2, 4, 7, 8, 9])
def test_phase_sum_has_the_bits_of_numpys_sum(phases: int) -> None:
    rng = np.random.default_rng(phases)
    values = rng.standard_normal((30, phases, 12)) * 10.0 ** rng.integers(-8, 8, (30, phases, 12))
    values[0] = -0.0
    expected = np.ascontiguousarray(np.moveaxis(values, 1, -1)).sum(-1)
    np.testing.assert_array_equal(phase_sum(values).view(np.uint64), expected.view(np.uint64))
