"""The backtest: the shipped public figures against the model's predictions, and the catalog/backtest CLI."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from neocloud.backtest import COLUMNS, POWER_BASIS, backtest, read_reference, summary
from neocloud.cli import app

# Median |error| bounds per kind, and why (docs/methods/backtest.md):
# - power: announced campus power is rounded and rarely says IT, facility or grid; 25% is about the spread
#   between those three for one campus (PUE 1.1-1.35, utility margin 1.15).
# - capex: the references disagree among themselves by 2x (Morgan Stanley 23-33 $B/GW, Bernstein 35,
#   NVIDIA 50-60) and differ in scope (land, fit-out, on-site generation); 35%.
# - gpu_hour: the model gives a levelised cost, the references are rental prices (cost plus margin) that moved
#   by 40% in six months; 50%.
# - training: leave-one-out; published GPU-hours include restarts and ablations the model partly covers; 15%.
# - serving: leave-one-out on MLPerf rows, the full fit on held-out serving tables; 20%.
# - reliability: fleet figures from other fleets and generations than the rates'; 25%.
# - finance: deal and company figures from the example scenarios; companies carry overheads, debt and capex
#   beyond the campuses modelled, and managements quote returns on part of a project; 35%.
BOUNDS = {"power": 0.25, "capex": 0.35, "gpu_hour": 0.50, "training": 0.15, "serving": 0.20, "reliability": 0.25,
          "finance": 0.35}


@pytest.fixture(scope="module")
def results() -> pd.DataFrame:
    return backtest()


def test_columns_and_values(results: pd.DataFrame) -> None:
    assert list(results.columns) == COLUMNS
    assert len(results) >= 20
    assert np.isfinite(results[["predicted", "reported", "error_frac"]].to_numpy(dtype=float)).all()
    assert (results["predicted"] > 0).all() and (results["reported"] > 0).all()
    expected = (results["predicted"] - results["reported"]) / results["reported"]
    np.testing.assert_allclose(results["error_frac"], expected)


def test_every_kind_has_rows(results: pd.DataFrame) -> None:
    assert {"power", "capex", "gpu_hour"} <= set(results["kind"])
    assert set(results["kind"]) <= set(BOUNDS)
    assert len(results[results["kind"] == "power"]) == len(read_reference("power"))
    assert len(results[results["kind"] != "power"]) >= len(read_reference("costs"))


def test_median_errors_within_bounds(results: pd.DataFrame) -> None:
    medians = summary(results)
    assert set(medians) == set(results["kind"])
    for kind, median in medians.items():
        assert median < BOUNDS[kind], f"{kind}: median |error| {median:.1%} >= {BOUNDS[kind]:.0%}"


def test_no_single_power_figure_is_wildly_off(results: pd.DataFrame) -> None:
    power = results[results["kind"] == "power"]
    assert (power["error_frac"].abs() < 0.5).all(), power[["name", "error_frac"]]


def test_held_out_cluster_power_median_error_is_near_ten_percent(results: pd.DataFrame) -> None:
    # rows marked "held out" were added after the design model was set; none of its numbers was fitted to them
    reference = read_reference("power").set_index("id")
    held_out = reference.index[reference["notes"].str.contains("held out")]
    power = results[results["kind"] == "power"].set_index("id")
    assert len(held_out) >= 9
    assert power.loc[held_out, "error_frac"].abs().median() < 0.12
    assert power["error_frac"].abs().median() < 0.11


def test_power_basis_follows_the_reported_kind(results: pd.DataFrame) -> None:
    reference = read_reference("power").set_index("id")
    power = results[results["kind"] == "power"].set_index("id")
    for row_id, row in power.iterrows():
        assert row["basis"].startswith(POWER_BASIS[reference.loc[row_id, "power_kind"]])


def test_reference_sources_resolve(catalog) -> None:
    known = set(catalog.table("sources")["id"])
    for name in ("power", "costs"):
        for cited in read_reference(name)["source"]:
            assert set(cited.split(";")) <= known, cited


def test_deterministic(results: pd.DataFrame) -> None:
    pd.testing.assert_frame_equal(results, backtest())


def test_cli_backtest_json() -> None:
    result = CliRunner().invoke(app, ["backtest", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert set(data["median_abs_error_frac"]) >= {"power", "capex", "gpu_hour"}
    assert data["rows"] and set(data["rows"][0]) == set(COLUMNS)


def test_cli_catalog_lists_and_prints(catalog) -> None:
    runner = CliRunner()
    listed = runner.invoke(app, ["catalog", "--json"])
    assert listed.exit_code == 0, listed.output
    counts = json.loads(listed.output)
    assert counts["accelerators"] == len(catalog.table("accelerators"))
    shown = runner.invoke(app, ["catalog", "systems", "--json"])
    assert shown.exit_code == 0, shown.output
    rows = json.loads(shown.output)["rows"]
    nvl72 = next(row for row in rows if row["id"] == "gb200-nvl72")
    assert nvl72["source_titles"] and "ServeTheHome" in nvl72["source_titles"]
    text = runner.invoke(app, ["catalog", "cooling"], env={"COLUMNS": "200"})
    assert text.exit_code == 0 and "direct-liquid" in text.output


def test_cli_unknown_table_exits_2() -> None:
    command = [sys.executable, "-c", "from neocloud.cli import main; main()", "catalog", "acelerators"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    assert "did you mean 'accelerators'" in done.stderr
    assert "Traceback" not in done.stderr
