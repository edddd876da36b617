"""Regression: the example scenarios' key figures stay where they were, unless a change means to move them.

The stored figures (``tests/regression/examples.json``) are rewritten by ``python -m tests.regression.update``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from neocloud import run
from neocloud.programme import load_programme, run_programme

from .conftest import EXAMPLES

EXAMPLES_JSON = Path(__file__).parent / "regression" / "examples.json"
CAMPUSES = ("abilene", "loughton", "stargate-norway", "colossus-memphis", "iren-childress")
PROGRAMMES = ("stargate-programme", "chip-fabs", "nscale-portfolio")
KEYS = ("accelerators", "it_power_mw", "facility_power_mw", "first_power_month", "full_capacity_month",
        "annual_energy_mwh", "capex_usd", "opex_usd_per_year", "cost_usd_per_gpu_hour", "npv_usd", "equity_irr",
        "min_dscr", "co2_t_per_year", "reference_run_days", "goodput", "supply_shortfall_accelerators",
        "fab_capex_usd", "wafers_per_month")


def summary_of(name: str) -> dict[str, Any]:
    """The JSON summary of an example (one draw, seed 0)."""
    path = EXAMPLES / f"{name}.yaml"
    if name in PROGRAMMES:
        return run_programme(load_programme(path)).summary()
    return run(path).summary()


def figures() -> dict[str, dict[str, Any]]:
    """The key figures of every example."""
    out = {}
    for name in (*CAMPUSES, *PROGRAMMES):
        summary = summary_of(name)
        out[name] = {key: summary[key] for key in KEYS if key in summary}
    return out


@pytest.mark.parametrize("name", [*CAMPUSES, *PROGRAMMES])
def test_example_figures_are_unchanged(name: str) -> None:
    stored = json.loads(EXAMPLES_JSON.read_text())[name]
    summary = summary_of(name)
    for key, expected in stored.items():
        if expected is None:
            assert summary[key] is None, key
        else:
            assert summary[key] == pytest.approx(expected, rel=1e-6, abs=1e-9), key
