"""Loading scenarios: valid files load; each kind of mistake is one clear line naming file, line and field."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from neocloud import ScenarioError, load, run
from neocloud.load import parse_yaml, validate

from .conftest import EXAMPLES

MINIMAL = """\
name: test
site:
  location: somewhere
  climate: abilene-tx
  region: ercot-tx
campus:
  cooling: direct-liquid
  phases:
    - name: one
      system: gb200-nvl72
      systems_per_building: 10
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "campus.yaml"
    path.write_text(text)
    return path


CAMPUS_FILES = sorted(path.name for path in EXAMPLES.glob("*.yaml") if "kind" not in yaml.safe_load(path.read_text()))


@pytest.mark.parametrize("name", CAMPUS_FILES)
def test_campus_examples_load(name: str) -> None:
    assert load(EXAMPLES / name).name


def test_minimal_scenario_loads(tmp_path: Path) -> None:
    scenario = load(write(tmp_path, MINIMAL))
    assert scenario.campus.phases[0].systems_per_building == 10
    assert scenario.finance.discount_rate == pytest.approx(0.08)


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ("gb200-nvl72", "gb201-nvl72",
         r"campus\.yaml:10: campus\.phases\.0\.system: 'gb201-nvl72' is not a known system "
         r"\(did you mean 'gb200-nvl72'\?\)"),
        ("systems_per_building: 10", "systems_per_building: -4",
         r"campus\.yaml:11: campus\.phases\.0\.systems_per_building: -4: input should be greater than or equal to 1"),
        ("  region: ercot-tx\n", "",
         r"campus\.yaml:2: site\.region: is required but missing; allowed: location, climate, region"),
        ("abilene-tx", "abilene",
         r"site\.climate: 'abilene' is not a known climate \(did you mean 'abilene-tx'\?\)"),
        ("      systems_per_building: 10\n", "      systems_per_building: 10\n      colour: red\n",
         r"campus\.yaml:12: campus\.phases\.0\.colour: is not a known field; allowed: name, buildings"),
        ("systems_per_building: 10", "systems_per_building: ten",
         r"campus\.phases\.0\.systems_per_building: 'ten': input should be a valid integer"),
        ("systems_per_building: 10", "power_envelope_mw: 0.05",
         r"campus\.phases\.0\.power_envelope_mw: power_envelope_mw=0\.05 but one gb200-nvl72 needs 0\.1\d\d MW"),
    ],
)
def test_mistakes_give_one_clear_line(tmp_path: Path, old: str, new: str, message: str) -> None:
    path = write(tmp_path, MINIMAL.replace(old, new))
    with pytest.raises(ScenarioError, match=message) as caught:
        run(path)
    assert "\n" not in str(caught.value)


def test_malformed_yaml_names_the_line(tmp_path: Path) -> None:
    path = write(tmp_path, MINIMAL.replace("  region: ercot-tx", "  region: [ercot-tx"))
    with pytest.raises(ScenarioError, match=r"campus\.yaml:\d+: is not valid YAML"):
        load(path)


def test_air_cooling_cannot_cool_an_nvl72_rack(tmp_path: Path) -> None:
    path = write(tmp_path, MINIMAL.replace("cooling: direct-liquid", "cooling: air"))
    with pytest.raises(ScenarioError, match=r"campus\.cooling: gb200-nvl72 needs liquid cooling \(\d+ kW per rack\)"):
        run(path)


def test_a_portfolio_is_not_a_campus() -> None:
    with pytest.raises(ScenarioError, match=r"stargate-portfolio\.yaml:\d+: kind: is a portfolio; solve it with "
                                            r"'neocloud optimize'"):
        load(EXAMPLES / "stargate-portfolio.yaml")


def test_not_a_mapping_and_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ScenarioError, match="must be a mapping"):
        validate([1, 2], "x.yaml")
    with pytest.raises(ScenarioError, match="no such file"):
        load(tmp_path / "absent.yaml")


def test_distribution_errors_are_clear() -> None:
    data, lines, _ = parse_yaml(MINIMAL + "finance:\n  utilisation: {dist: triangular, low: 0.9, mode: 0.5, high: 1}\n")
    with pytest.raises(ScenarioError, match=r"finance\.utilisation: .*mode \(0\.5\) must lie between"):
        validate(data, "x.yaml", lines)
