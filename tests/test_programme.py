"""Programmes: one campus equals that campus alone; short supply never hands out what was not made."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from neocloud import ScenarioError, run
from neocloud.programme import is_programme, load_programme, run_programme
from neocloud.report.programme import render_programme

CAMPUS = """
name: Test campus {tag}
start: 2025-01
site: {{location: Abilene, climate: abilene-tx, region: ercot-tx}}
campus:
  phases:
    - name: first
      buildings: 2
      system: gb200-nvl72
      systems_per_building: 100
      schedule: {{construction_start: 2025-01, construction_months: 9}}
    - name: second
      buildings: 3
      system: gb200-nvl72
      systems_per_building: 100
      schedule: {{construction_start: 2025-06, construction_months: 12}}
finance: {{horizon_years: 5}}
"""
KEYS = ("accelerators", "it_power_mw", "facility_power_mw", "capex_usd", "annual_energy_mwh")


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture()
def folder(tmp_path: Path) -> Path:
    write(tmp_path, "a.yaml", CAMPUS.format(tag="A"))
    write(tmp_path, "b.yaml", CAMPUS.format(tag="B").replace("2025-01", "2025-03"))
    return tmp_path


def programme(folder: Path, supply: str = "", campuses: str = "  - file: a.yaml\n") -> Path:
    return write(folder, "programme.yaml", f"kind: programme\nname: test\ncampuses:\n{campuses}{supply}")


def test_is_programme() -> None:
    assert is_programme({"kind": "programme"})
    assert not is_programme({"name": "x"}) and not is_programme([1])


def test_one_campus_programme_equals_the_campus_alone(folder: Path) -> None:
    alone = run(folder / "a.yaml").summary()
    for supply in ("", "supply:\n  schedule:\n    accelerators_per_year: {2024: 1.0e7}\n"):
        summary = run_programme(load_programme(programme(folder, supply))).summary()
        for key in KEYS:
            assert summary[key] == pytest.approx(alone[key], rel=1e-12), key
        assert summary["campuses"] == 1 and summary["supply_shortfall_accelerators"] == 0


def test_short_supply_hands_out_only_what_was_made(folder: Path) -> None:
    supply = ("supply:\n  schedule:\n    accelerators_per_quarter:"
              " {2025-Q2: 20000, 2025-Q4: 20000, 2026-Q3: 5000}\n")
    campuses = "  - file: a.yaml\n  - file: b.yaml\n"
    results = run_programme(load_programme(programme(folder, supply, campuses)))
    data = results.dataset
    made = np.cumsum(data["accelerators_supplied_by_month"].values, axis=1)
    online = data["accelerators_online"].values
    assert np.all(online <= made + 1e-6)
    summary = results.summary()
    assert summary["accelerators"] <= 45000
    assert summary["supply_shortfall_accelerators"] == summary["accelerators_demanded"] - 45000
    rows = {row["name"]: row for row in summary["campus_results"]}
    # campus A needs its accelerators first, so it is served first
    assert rows["Test campus A"]["delivered_frac"] >= rows["Test campus B"]["delivered_frac"]
    assert rows["Test campus B"]["delivered_frac"] < 1


def test_priority_serves_a_later_campus_first(folder: Path) -> None:
    supply = "supply:\n  schedule:\n    accelerators_per_year: {2025: 36000}\n"
    campuses = "  - file: a.yaml\n  - file: b.yaml\n    priority: 1\n"
    rows = {
        row["name"]: row
        for row in run_programme(load_programme(programme(folder, supply, campuses))).summary()[
            "campus_results"
        ]
    }
    assert rows["Test campus B"]["delivered_frac"] == 1.0
    assert rows["Test campus A"]["delivered_frac"] < 1.0


def test_more_supply_never_builds_less(folder: Path) -> None:
    campuses = "  - file: a.yaml\n  - file: b.yaml\n"
    built = []
    for count in (10000, 30000, 60000, 200000):
        supply = f"supply:\n  schedule:\n    accelerators_per_year: {{2025: {count}}}\n"
        built.append(
            run_programme(load_programme(programme(folder, supply, campuses))).summary()["accelerators"]
        )
    assert built == sorted(built) and built[0] < built[-1]


def test_templates_with_counts_and_capital(folder: Path) -> None:
    template = "\n".join("      " + line for line in CAMPUS.format(tag="T").strip().splitlines())
    campuses = f"  - template:\n{template}\n    count: 3\n"
    path = write(
        folder,
        "programme.yaml",
        "kind: programme\nname: t\ncapital:\n  envelope_usd: 1.0e11\n"
        f"  phasing_by_year: {{2025: 0.5, 2026: 0.5}}\ncampuses:\n{campuses}",
    )
    results = run_programme(load_programme(path))
    summary = results.summary()
    alone = run(folder / "a.yaml").summary()
    assert summary["campuses"] == 3
    assert summary["accelerators"] == 3 * alone["accelerators"]
    assert summary["envelope_gw"] == pytest.approx(1.0e11 / summary["capex_usd"] * summary["gw"])
    assert sum(summary["capex_usd_per_year"]) == pytest.approx(summary["capex_usd"], rel=1e-9)
    page = render_programme(results)
    assert page.startswith("<!DOCTYPE html>") and "Test campus T 3" in page and "plotly" in page


def test_fab_plan_supplies_the_programme(folder: Path) -> None:
    supply = "supply:\n  fabs:\n    capital_usd_by_year: {2024: 2.0e10}\n    die: gb200\n    years: 4\n"
    summary = run_programme(load_programme(programme(folder, supply))).summary()
    assert summary["fab_capex_usd"] == pytest.approx(2.0e10)
    assert summary["wafers_per_month"] > 0 and summary["gw_needed_per_year_at_full_ramp"] > 0
    assert len(summary["accelerators_made_per_year"]) == 4


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("campuses:\n  - file: missing.yaml\n", r"programme.yaml:\d+: campuses.0.file: no such campus file"),
        (
            "campuses:\n  - file: bad.yaml\n",
            r"campuses.0.file: in .*bad.yaml:\d+: campus.phases.0.system: 'gb201-nvl72'",
        ),
        (
            "campuses:\n  - file: a.yaml\nsupply:\n  fabs:\n"
            "    capital_usd_by_year: {2025: 1.0e9}\n    fab: n3-arizna\n",
            r"supply.fabs.fab: 'n3-arizna' is not a known fabs id \(did you mean 'n3-arizona'\?\)",
        ),
        ("campuses:\n  - file: a.yaml\n    template: {}\n", r"campuses.0: .*exactly one of file or template"),
        (
            "campuses:\n  - file: a.yaml\ncapital: {envelope_usd: 1.0, phasing_by_year: {2025: 0.5}}\n",
            r"capital.phasing_by_year: .*sum to 1",
        ),
        (
            "campuses:\n  - template:\n"
            "      {name: x, site: {location: y, climate: abilene-tx, region: ercot-tx}}\n",
            r"campuses.0.template.campus: is required",
        ),
    ],
)
def test_bad_programmes_are_one_clear_line(folder: Path, text: str, match: str) -> None:
    write(folder, "bad.yaml", CAMPUS.format(tag="bad").replace("gb200-nvl72", "gb201-nvl72", 1))
    path = write(folder, "programme.yaml", f"kind: programme\nname: bad\n{text}")
    with pytest.raises(ScenarioError, match=match):
        load_programme(path)


def test_cli_runs_a_programme_and_exits_2_on_bad_input(folder: Path) -> None:
    path = programme(folder)
    done = subprocess.run(
        [sys.executable, "-m", "neocloud.cli", "run", str(path), "--json"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["accelerators"] == run(folder / "a.yaml").summary()["accelerators"]
    checked = subprocess.run(
        [sys.executable, "-m", "neocloud.cli", "validate", str(path)], capture_output=True, text=True, check=False
    )
    assert checked.returncode == 0 and "programme of 1 campuses" in checked.stdout
    write(folder, "programme.yaml", "kind: programme\nname: bad\ncampuses:\n  - file: nowhere.yaml\n")
    for command in ("run", "validate"):
        failed = subprocess.run(
            [sys.executable, "-m", "neocloud.cli", command, str(path)],
            capture_output=True,
            text=True,
            check=False,
        )
        assert failed.returncode == 2
        assert len(failed.stderr.strip().splitlines()) == 1
        assert "programme.yaml:4: campuses.0.file: no such campus file 'nowhere.yaml'" in failed.stderr
