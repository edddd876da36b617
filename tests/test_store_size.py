"""A store that stays small: pointers for --out runs, compressed results, delete, prune and its size."""

from __future__ import annotations

import datetime as dt
import json
import re
from pathlib import Path

import pytest
import xarray as xr
from rich.console import Console

from neocloud import Results, run
from neocloud.cli.progress import steps
from neocloud.errors import NeocloudError, ScenarioError
from neocloud.pipeline import to_netcdf
from neocloud.store import RUNS, Store

from .conftest import EXAMPLES
from .test_cli import invoke

MB = 1e6


@pytest.fixture(scope="module")
def loughton() -> Results:
    return run(EXAMPLES / "loughton.yaml", draws=20, seed=3)


@pytest.fixture
def url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'runs.db'}"


def test_out_runs_keep_a_pointer_and_twenty_stay_under_5_mb(url: str, tmp_path: Path, loughton: Results,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out"
    code, _, _ = invoke(capsys, "run", str(EXAMPLES / "loughton.yaml"), "--draws", "20", "--seed", "3",
                        "--out", str(out), "--store", url, "--json")
    assert code == 0
    store = Store(url)
    kept = store.get(1)
    assert kept.results_netcdf == b"" and kept.results_path == str((out / "results.nc").resolve())
    xr.testing.assert_allclose(kept.dataset()["capex_usd"], loughton.dataset["capex_usd"])
    for _ in range(19):  # what nineteen more `--out` runs add: a summary row and a pointer each
        store.save(loughton, origin="cli", results_path=out / "results.nc")
    assert store.count() == 20
    assert store.size_bytes() < 5 * MB
    # the same twenty runs kept whole would not fit
    assert 20 * (out / "results.nc").stat().st_size > store.size_bytes()


def test_keep_stores_a_copy_and_a_lost_pointer_is_a_clear_error(url: str, tmp_path: Path,
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out"
    invoke(capsys, "run", str(EXAMPLES / "loughton.yaml"), "--out", str(out), "--store", url, "--keep", "--json")
    invoke(capsys, "run", str(EXAMPLES / "loughton.yaml"), "--out", str(out / "again"), "--store", url, "--json")
    store = Store(url)
    assert store.get(1).results_netcdf and store.get(1).results_path is None
    (out / "again" / "results.nc").unlink()
    with pytest.raises(NeocloudError, match=r"keeps only its summary.*--keep"):
        store.get(2).dataset()
    assert store.get(2).summary["accelerators"] == 23_040  # the summary is still there


def test_large_results_are_compressed(loughton: Results, tmp_path: Path) -> None:
    path = tmp_path / "results.nc"
    to_netcdf(loughton.dataset, path)
    raw = sum(variable.nbytes for variable in loughton.dataset.data_vars.values())
    assert path.stat().st_size < raw / 2
    with xr.open_dataset(path, engine="h5netcdf") as stored:
        xr.testing.assert_identical(stored["energy_cost_usd"].load(), loughton.dataset["energy_cost_usd"])
        encoding = stored["energy_cost_usd"].encoding
    assert (encoding["zlib"], encoding["complevel"], encoding["shuffle"]) == (True, 1, True)  # netCDF-4's filters


def test_delete_and_prune_free_space(url: str, loughton: Results, capsys: pytest.CaptureFixture[str]) -> None:
    store = Store(url)
    for _ in range(5):
        store.save(loughton)
    full = store.size_bytes()
    code, out, _ = invoke(capsys, "runs", "delete", "1", "2", "--store", url, "--json")
    assert code == 0 and json.loads(out)["deleted"] == [1, 2]
    assert store.size_bytes() < full
    code, out, _ = invoke(capsys, "runs", "prune", "--keep-last", "1", "--store", url, "--json")
    assert json.loads(out)["deleted"] == [4, 3] and store.count() == 1
    with store.engine.begin() as connection:  # make the last run a year old
        connection.execute(RUNS.update().values(created=dt.datetime.now(dt.UTC) - dt.timedelta(days=365)))
    assert store.prune(older_than=dt.timedelta(days=30)) == [5]
    assert store.count() == 0
    code, _, err = invoke(capsys, "runs", "delete", "99", "--store", url)
    assert code == 2 and "no run 99" in err
    code, _, err = invoke(capsys, "runs", "prune", "--older-than", "soon", "--store", url)
    assert code == 2 and "'soon' is not a duration" in err
    with pytest.raises(ScenarioError, match="say which runs"):
        store.prune()


def test_runs_list_shows_the_size_and_fits_80_columns(url: str, loughton: Results,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    Store(url).save(loughton, origin="cli")
    code, out, _ = invoke(capsys, "runs", "list", "--store", url)
    assert code == 0
    assert max(len(line) for line in out.splitlines()) <= 80
    words = " ".join(out.split())
    assert words.startswith("1 run in sqlite:///") and re.search(r"\.db \(\d[\d.]* (kB|MB)\)", words), words
    assert "pick with --columns" in out
    code, out, _ = invoke(capsys, "runs", "list", "--store", url, "--columns", "id,version")
    assert "version" in out and "scenario" not in out
    code, _, err = invoke(capsys, "runs", "list", "--store", url, "--columns", "id,colour")
    assert code == 2 and "'colour' is not a column" in err and "allowed: id, created" in err
    code, out, _ = invoke(capsys, "runs", "list", "--store", url, "--json")
    assert json.loads(out)["size_bytes"] == Store(url).size_bytes()


@pytest.mark.parametrize("table", ["climates", "regions", "accelerators", "systems"])
def test_catalog_tables_fit_80_columns(table: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = invoke(capsys, "catalog", table)
    assert code == 0
    assert max(len(line) for line in out.splitlines()) <= 80
    code, out, _ = invoke(capsys, "catalog", table, "--columns", "id,source")
    assert max(len(line) for line in out.splitlines()) <= 80 and "source" in out


def test_sensitivity_fits_80_columns(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = invoke(capsys, "sensitivity", str(EXAMPLES / "loughton.yaml"), "--output",
                          "cost_usd_per_gpu_hour", "--draws", "16")
    assert code == 0
    assert max(len(line) for line in out.splitlines()) <= 80
    assert "Sobol' S1" in out and "$" in out


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = invoke(capsys, "--version")
    assert code == 0 and out.startswith("neocloud ")


def test_progress_draws_steps_on_a_terminal_and_is_quiet_otherwise() -> None:
    terminal = Console(force_terminal=True, width=80, record=True)
    with steps("optimize demo", console=terminal) as say:
        say("unit economics")
        say("solving the plan (HiGHS MILP)")
    text = terminal.export_text()
    assert "optimize demo: unit economics" in text and "solving the plan" in text
    piped = Console(force_terminal=False, width=80, record=True)
    with steps("optimize demo", console=piped) as say:
        say("unit economics")
    assert piped.export_text() == ""
    with steps("optimize demo", quiet=True, console=terminal) as say:
        say("never shown")
    assert "never shown" not in terminal.export_text()
