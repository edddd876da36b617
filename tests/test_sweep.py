"""Sweeps: grid paths, chunk seeds, 1 against 2 Dask workers, and resuming after kill -9."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import sqlalchemy
import xarray as xr

from neocloud import ScenarioError, load, pipeline, run
from neocloud.cli import main
from neocloud.pipeline import summary_keys
from neocloud.sweep import chunk_seed, chunk_sizes, parse_grid, run_chunk, run_draws, run_sweep
from neocloud.sweep_store import decode, encode

from .conftest import EXAMPLES

ABILENE = EXAMPLES / "abilene.yaml"
GRID = ["finance.discount_rate=0.06,0.10", "campus.phases.0.systems_per_building=600,694"]


def store(tmp_path: Path, name: str = "store") -> str:
    return f"sqlite:///{tmp_path / f'{name}.db'}"


def test_grid_is_parsed_as_numbers_and_ids() -> None:
    axes = parse_grid(["finance.discount_rate=0.06, 0.10", "campus.cooling=air,direct-liquid"])
    assert axes[0].values == (0.06, 0.10)
    assert axes[1].values == ("air", "direct-liquid")


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        (
            "finance.discount=0.1",
            r"finance\.discount: is not a field of the scenario; allowed: discount_rate, ",
        ),
        ("campus.phases.5.buildings=2", r"campus\.phases\.5: is not an index of the list; allowed: 0 to 3"),
        ("finance=1", r"finance: is a section, not a value; allowed: finance\.discount_rate, "),
        ("finance.discount_rate", r"--grid: a grid is written PATH=v1,v2"),
    ],
)
def test_bad_grid_paths_name_the_path_and_the_allowed_fields(tmp_path: Path, spec: str, message: str) -> None:
    with pytest.raises(ScenarioError, match=message):
        run_sweep(ABILENE, [spec], draws=2, store=store(tmp_path), processes=False)


def test_a_grid_value_the_scenario_refuses_is_a_scenario_error(tmp_path: Path) -> None:
    with pytest.raises(ScenarioError, match=r"at the grid point finance\.utilisation=1\.5"):
        run_sweep(ABILENE, ["finance.utilisation=0.5,1.5"], draws=2, store=store(tmp_path), processes=False)


def test_chunks_and_their_seeds() -> None:
    assert chunk_sizes(25, 10) == [10, 10, 5]
    assert chunk_sizes(20, 10) == [10, 10]
    seeds = {chunk_seed(7, chunk) for chunk in range(100)}
    assert len(seeds) == 100 and chunk_seed(7, 3) == chunk_seed(7, 3) != chunk_seed(8, 3)


def test_payload_round_trip() -> None:
    arrays = {"npv_usd": np.array([1.5, -2.0, np.nan]), "capex_usd": np.arange(3.0)}
    back = decode(encode(arrays))
    for key, value in arrays.items():
        np.testing.assert_array_equal(back[key], value)


def test_same_seed_same_results_on_one_and_two_workers(tmp_path: Path) -> None:
    common = {"draws": 24, "seed": 5, "chunk_draws": 8, "processes": False}
    one = run_sweep(ABILENE, GRID, workers=1, store=store(tmp_path, "one"), **common)
    two = run_sweep(ABILENE, GRID, workers=2, store=store(tmp_path, "two"), **common)
    assert one.sweep_id == two.sweep_id
    assert one.chunks_run == two.chunks_run == 12
    pd.testing.assert_frame_equal(one.draws, two.draws)
    xr.testing.assert_identical(one.quantiles, two.quantiles)
    assert len(one.draws) == 4 * 24
    # common random numbers: every grid point sees the same sampled inputs
    utilisation = one.draws.pivot(index="draw", columns="point", values="cost_usd_per_gpu_hour")
    assert utilisation.notna().all().all()


def test_sweep_matches_draws_run_in_this_process(tmp_path: Path) -> None:
    result = run_sweep(ABILENE, [], draws=20, seed=3, chunk_draws=7, store=store(tmp_path), processes=False)
    local = run_draws(load(ABILENE), 20, seed=3, chunk_draws=7)
    for key, values in local.items():
        np.testing.assert_array_equal(result.draws[key].to_numpy(), values)


def test_draws_on_worker_processes_equal_draws_in_this_process() -> None:
    scenario = load(ABILENE)
    local = run_draws(scenario, 20, seed=3, chunk_draws=7)
    spread = run_draws(scenario, 20, seed=3, chunk_draws=7, workers=2)
    assert list(spread) == list(local)
    for key, values in local.items():
        np.testing.assert_array_equal(spread[key], values)


def test_outputs_are_parquet_and_netcdf_with_ordered_quantiles(tmp_path: Path) -> None:
    result = run_sweep(
        ABILENE,
        GRID[:1],
        draws=16,
        chunk_draws=8,
        store=store(tmp_path),
        out=tmp_path / "out",
        processes=False,
    )
    frame = pd.read_parquet(tmp_path / "out" / "sweep.parquet")
    pd.testing.assert_frame_equal(frame, result.draws)
    with xr.open_dataset(tmp_path / "out" / "sweep.nc", engine="h5netcdf") as quantiles:
        assert list(quantiles["finance.discount_rate"].values) == [0.06, 0.10]
        cost = quantiles["cost_usd_per_gpu_hour"].values
        assert np.all(np.diff(cost, axis=1) >= 0)
        # a higher discount rate raises the cost of capital per GPU-hour
        assert cost[1, 1] > cost[0, 1]


KILLED_SWEEP = """
import sys
from neocloud.sweep import run_sweep
run_sweep(sys.argv[1], [], draws=int(sys.argv[2]), seed=1, chunk_draws=int(sys.argv[3]), store=sys.argv[4],
          workers=1, processes=False)
"""


def chunks_in(url: str) -> int:
    engine = sqlalchemy.create_engine(url)
    try:
        with engine.connect() as connection:
            return int(connection.execute(sqlalchemy.text("select count(*) from sweep_chunks")).scalar())
    except sqlalchemy.exc.OperationalError:
        return 0
    finally:
        engine.dispose()


def test_a_killed_sweep_resumes_and_gives_the_same_results(tmp_path: Path) -> None:
    draws, chunk_draws = 120, 4
    killed = store(tmp_path, "killed")
    process = subprocess.Popen(
        [sys.executable, "-c", KILLED_SWEEP, str(ABILENE), str(draws), str(chunk_draws), killed],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        while chunks_in(killed) < 2 and process.poll() is None and time.monotonic() < deadline:
            time.sleep(0.02)
        os.kill(process.pid, signal.SIGKILL)
    finally:
        process.wait()
    before = chunks_in(killed)
    assert 0 < before < draws // chunk_draws, "the sweep must be killed mid-way"
    resumed = run_sweep(
        ABILENE, [], draws=draws, seed=1, chunk_draws=chunk_draws, store=killed, processes=False
    )
    assert resumed.chunks_reused == before and resumed.chunks_run == draws // chunk_draws - before
    whole = run_sweep(
        ABILENE,
        [],
        draws=draws,
        seed=1,
        chunk_draws=chunk_draws,
        store=store(tmp_path, "whole"),
        processes=False,
    )
    pd.testing.assert_frame_equal(resumed.draws, whole.draws)
    xr.testing.assert_identical(resumed.quantiles, whole.quantiles)


def test_sweep_cli_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    main(
        [
            "sweep",
            str(ABILENE),
            "--grid",
            "finance.discount_rate=0.06,0.10",
            "--draws",
            "8",
            "--chunk-draws",
            "4",
            "--threads",
            "--workers",
            "1",
            "--store",
            store(tmp_path),
            "--out",
            str(tmp_path / "out"),
            "--json",
        ]
    )
    result = json.loads(capsys.readouterr().out)
    assert [point["finance.discount_rate"] for point in result["points"]] == [0.06, 0.10]
    point = result["points"][0]
    assert (
        point["cost_usd_per_gpu_hour_p10"]
        <= point["cost_usd_per_gpu_hour"]
        <= point["cost_usd_per_gpu_hour_p90"]
    )
    assert result["chunks_run"] == 4 and Path(result["files"]["parquet"]).exists()


def test_sweep_cli_bad_path_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["sweep", str(ABILENE), "--grid", "finance.rate=0.1", "--store", store(tmp_path), "--threads"])
    assert exit_info.value.code == 2
    assert "finance.rate: is not a field of the scenario; allowed: discount_rate" in capsys.readouterr().err


def test_a_chunk_keeps_the_summary_of_a_whole_run_in_blocks(monkeypatch: pytest.MonkeyPatch) -> None:
    """Summary only: the stages from finance on run in blocks of draws, and the summary is the same bits."""
    scenario = load(ABILENE)
    whole = run(scenario, draws=20, seed=4).dataset
    monkeypatch.setattr(pipeline, "SUMMARY_BLOCK_DRAWS", 7)
    chunk = run(scenario, draws=20, seed=4, summary_only=True).dataset
    assert "cash_flow_operating_usd" in whole and "cash_flow_operating_usd" not in chunk  # monthly lines dropped
    assert summary_keys(chunk) == summary_keys(whole)
    for key in summary_keys(whole):
        assert chunk[key].values.tobytes() == whole[key].values.tobytes(), key
    assert list(run_chunk(scenario, 20, 4)) == summary_keys(whole)


def test_a_process_that_runs_chunks_keeps_its_freed_memory() -> None:
    """mallopt takes all three settings (in a child process: the setting lasts for the process)."""
    code = "from neocloud.sweep import keep_freed_memory; raise SystemExit(0 if keep_freed_memory() else 1)"
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0


def test_workers_start_with_the_allocator_settings() -> None:
    """Each worker process of a local cluster has the allocator's settings in its environment, one arena
    among them, before its C library starts, and runs no statistical profiler."""
    import dask
    from dask.distributed import Client

    from neocloud.sweep import ALLOCATOR_ENVIRON, local_cluster

    with local_cluster(1) as cluster, Client(cluster) as client:
        seen = client.run(lambda: {key: os.environ.get(key) for key in ALLOCATOR_ENVIRON})
        profiled = client.run(lambda: dask.config.get("distributed.worker.profile.enabled"))
    assert list(seen.values()) == [ALLOCATOR_ENVIRON]
    assert list(profiled.values()) == [False]
    assert dask.config.get("distributed.worker.profile.enabled")  # the caller's own setting is left alone
    assert ALLOCATOR_ENVIRON["MALLOC_ARENA_MAX"] == "1"


def test_a_chunk_judges_financeability_on_all_its_draws(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Finance runs in blocks of draws in a chunk, but its refusal is judged on the medians of all the draws,
    as a whole run judges it: the same message, the same numbers."""
    text = (EXAMPLES / "loughton.yaml").read_text(encoding="utf-8").replace(
        "{name: GPU-backed delayed-draw loan, kind: gpu, share: 0.7}",
        "{name: GPU-backed delayed-draw loan, kind: gpu, share: 1.0, tenor_years: 3, size_to_dscr: false}",
    )
    path = tmp_path / "greedy.yaml"
    path.write_text(text, encoding="utf-8")
    scenario = load(path)
    with pytest.raises(ScenarioError) as whole:
        run(scenario, draws=20, seed=2)
    monkeypatch.setattr(pipeline, "SUMMARY_BLOCK_DRAWS", 7)
    with pytest.raises(ScenarioError) as chunk:
        run(scenario, draws=20, seed=2, summary_only=True)
    assert "the debt is unfinanceable" in str(whole.value)
    assert str(chunk.value) == str(whole.value)
