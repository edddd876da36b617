"""Refusals where answers would mislead: a horizon before first power, NaN and impossible results,
and many draws of a scenario with nothing uncertain."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

from neocloud import ScenarioError, run
from neocloud.checks import check_summary
from neocloud.cli import main

from .conftest import EXAMPLES


def _edited(tmp_path: Path, name: str, old: str, new: str) -> Path:
    text = (EXAMPLES / name).read_text(encoding="utf-8")
    assert old in text
    path = tmp_path / name
    path.write_text(text.replace(old, new, 1), encoding="utf-8")
    return path


def _certain(tmp_path: Path) -> Path:
    """Loughton with every distribution replaced by its median or mode."""
    text = (EXAMPLES / "loughton.yaml").read_text(encoding="utf-8")
    text = re.sub(r"\{dist: lognormal, median: ([0-9.]+), sigma: [0-9.]+\}", r"\1", text)
    text = re.sub(r"\{dist: triangular, low: [0-9.]+, mode: ([0-9.]+), high: [0-9.]+\}", r"\1", text)
    text = re.sub(r"\{dist: uniform, low: ([0-9.e+]+), high: [0-9.e+]+\}", r"\1", text)
    assert "dist:" not in text
    path = tmp_path / "certain.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_horizon_before_first_power_is_refused_with_both_dates(tmp_path: Path,
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    path = _edited(tmp_path, "loughton.yaml", "start: 2025-09", "start: 1900-01")
    with pytest.raises(ScenarioError, match=r"1900-01 to 1911-12 ends before first power.*2027-01"):
        run(path)
    with pytest.raises(SystemExit) as exit_:
        main(["run", str(path), "--no-store"])
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and str(path) in err and "capex" not in err


def test_nothing_uncertain_computes_one_draw_and_says_so(tmp_path: Path,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    path = _certain(tmp_path)
    kept = run(path, draws=6)  # the Python default keeps the draws asked for, and says they are identical
    assert kept.dataset.sizes["draw"] == 6 and "draws are identical" in kept.notes[0]
    assert "draws_computed" not in kept.summary()
    results = run(path, draws=500, one_draw_if_certain=True)
    assert results.dataset.sizes["draw"] == 1
    summary = results.summary()
    assert (summary["draws"], summary["draws_computed"]) == (500, 1)
    assert summary["capex_usd_p10"] == summary["capex_usd"] == summary["capex_usd_p90"]
    assert len(results.notes) == 1 and "uncertain" in results.notes[0]
    main(["run", str(path), "--no-store", "--draws", "500", "--json"])
    captured = capsys.readouterr()
    assert captured.err.startswith("note: nothing in Nscale Loughton is uncertain: one draw is computed")
    assert captured.err.count("\n") == 1
    assert json.loads(captured.out)["draws_computed"] == 1
    main(["run", str(path), "--no-store", "--draws", "50000", "--json"])  # not run in chunks either
    captured = capsys.readouterr()
    assert json.loads(captured.out)["draws_computed"] == 1 and "one draw is computed" in captured.err


def test_uncertain_scenarios_keep_their_draws() -> None:
    results = run(EXAMPLES / "loughton.yaml", draws=8)
    assert results.dataset.sizes["draw"] == 8 and not results.notes
    assert "draws_computed" not in results.summary()


def _summary_dataset(**values: list[float]) -> xr.Dataset:
    return xr.Dataset({key: ("draw", np.asarray(value, dtype=float)) for key, value in values.items()})


def test_nan_results_are_refused_with_the_count() -> None:
    with pytest.raises(ScenarioError, match=r"cost_usd_per_gpu_hour is not a number in 1 of 2 draws"):
        check_summary(_summary_dataset(cost_usd_per_gpu_hour=[2.0, np.nan]))


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"pue": [1.2, 0.93]}, r"pue = 0.93 is below its physical bound 1"),
        ({"goodput": [1.4]}, r"goodput = 1.4 is above its physical bound 1"),
        ({"capex_usd": [-5.0]}, r"capex_usd = -5 is below"),
        ({"it_power_mw": [100.0], "facility_power_mw": [90.0]},
         r"facility power 90.000 MW is below the IT power 100.000 MW"),
    ],
)
def test_impossible_results_are_refused_with_the_numbers(values: dict, message: str) -> None:
    with pytest.raises(ScenarioError, match=message):
        check_summary(_summary_dataset(**values))


def test_a_valid_run_passes_every_check() -> None:
    check_summary(run(EXAMPLES / "abilene.yaml").dataset)
