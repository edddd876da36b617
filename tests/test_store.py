"""The store: runs kept whole or not at all, in SQLite and in a real PostgreSQL server."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest
import xarray as xr
from sqlalchemy import event

from neocloud import Results, run
from neocloud.errors import ScenarioError
from neocloud.store import RunNotFoundError, Store, sha256_text, store_url

from .conftest import EXAMPLES

PG_PORT = 55432


@pytest.fixture(scope="module")
def abilene_results() -> Results:
    """One deterministic run of the Abilene example."""
    return run(EXAMPLES / "abilene.yaml")


@pytest.fixture(scope="module")
def loughton_results() -> Results:
    """One run of the Loughton example with draws."""
    return run(EXAMPLES / "loughton.yaml", draws=20, seed=3)


@pytest.fixture
def sqlite_store(tmp_path: Path) -> Store:
    """An empty SQLite store in a temporary folder."""
    return Store(f"sqlite:///{tmp_path / 'runs.db'}")


def check_round_trip(store: Store, abilene_results: Results, loughton_results: Results) -> None:
    """Save two runs, then list, get, compare and export them."""
    first = store.save(abilene_results, origin="test")
    second = store.save(loughton_results)
    assert second > first
    listed = store.list()
    assert [row["id"] for row in listed[:2]] == [second, first]
    assert store.count() >= 2
    kept = store.get(first)
    assert kept.summary == abilene_results.summary()
    assert kept.scenario_sha256 == sha256_text(abilene_results.source_text)
    assert kept.scenario_text == (EXAMPLES / "abilene.yaml").read_text(encoding="utf-8")
    assert (kept.seed, kept.draws, kept.origin) == (0, 1, "test")
    dataset = kept.dataset()
    xr.testing.assert_allclose(dataset["accelerators_online"], abilene_results.dataset["accelerators_online"])
    assert kept.results().summary() == abilene_results.summary()
    with_draws = store.get(second)
    assert with_draws.draws == 20 and "accelerators_p10" in with_draws.summary
    comparison = store.compare(first, second)
    rows = {row["key"]: row for row in comparison["rows"]}
    assert rows["accelerators"]["a"] == 399_744
    assert rows["accelerators"]["difference"] == pytest.approx(rows["accelerators"]["b"] - 399_744)
    assert rows["scenario"]["difference"] is None and rows["scenario"]["differs"]
    assert not comparison["same_scenario"]


def test_sqlite_round_trip(sqlite_store: Store, abilene_results: Results, loughton_results: Results) -> None:
    check_round_trip(sqlite_store, abilene_results, loughton_results)


def test_export_writes_three_files(sqlite_store: Store, abilene_results: Results, tmp_path: Path) -> None:
    run_id = sqlite_store.save(abilene_results)
    paths = sqlite_store.export(run_id, tmp_path / "out")
    assert sorted(path.name for path in (tmp_path / "out").iterdir()) == [
        "results.nc",
        "scenario.yaml",
        "summary.json",
    ]
    assert json.loads(paths["summary"].read_text())["accelerators"] == 399_744
    with xr.open_dataset(paths["results"], engine="h5netcdf") as opened:
        assert int(opened["accelerators"].values[0]) == 399_744
    assert paths["scenario"].read_text(encoding="utf-8") == abilene_results.source_text


def test_unknown_run_is_a_user_error(sqlite_store: Store) -> None:
    with pytest.raises(RunNotFoundError, match="no run 42 in the store"):
        sqlite_store.get(42)
    with pytest.raises(ScenarioError):
        sqlite_store.compare(1, 2)


def test_bad_url_is_a_user_error() -> None:
    with pytest.raises(ScenarioError, match="is not a database URL"):
        Store("nosuchdb://x")


def test_default_url_follows_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NEOCLOUD_STORE", f"sqlite:///{tmp_path / 'env.db'}")
    assert store_url() == f"sqlite:///{tmp_path / 'env.db'}"
    assert store_url("sqlite:///given.db") == "sqlite:///given.db"
    monkeypatch.delenv("NEOCLOUD_STORE")
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    assert store_url().startswith("sqlite:///") and store_url().endswith("neocloud.db")


def test_failure_mid_save_leaves_no_run(sqlite_store: Store, abilene_results: Results) -> None:
    """The row is inserted, then the transaction fails before commit: nothing is kept."""
    sqlite_store.save(abilene_results)

    def fail_after_insert(connection, cursor, statement, parameters, context, executemany) -> None:
        if statement.lstrip().upper().startswith("INSERT"):
            raise RuntimeError("killed after the insert")

    event.listen(sqlite_store.engine, "after_cursor_execute", fail_after_insert)
    try:
        with pytest.raises(RuntimeError, match="killed after the insert"):
            sqlite_store.save(abilene_results)
    finally:
        event.remove(sqlite_store.engine, "after_cursor_execute", fail_after_insert)
    assert sqlite_store.count() == 1
    assert [row["id"] for row in sqlite_store.list()] == [1]


def test_process_killed_mid_write_leaves_no_half_run(tmp_path: Path) -> None:
    """A process that dies between the insert and the commit leaves the store as it was."""
    url = f"sqlite:///{tmp_path / 'killed.db'}"
    script = textwrap.dedent(f"""
        import os
        from sqlalchemy import event
        from neocloud import run
        from neocloud.store import Store
        store = Store({url!r})
        results = run({str(EXAMPLES / "loughton.yaml")!r})
        store.save(results)
        def die(connection, cursor, statement, *args):
            if statement.lstrip().upper().startswith("INSERT"):
                os._exit(9)
        event.listen(store.engine, "after_cursor_execute", die)
        store.save(results)
    """)
    finished = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=False
    )
    assert finished.returncode == 9, finished.stderr
    store = Store(url)
    assert store.count() == 1
    assert store.get(1).summary["scenario"] == "Nscale Loughton"


def postgres_bin() -> Path | None:
    """The newest installed PostgreSQL server's bin folder (Debian layout), or None."""
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"))
    if found:
        return found[-1].parent
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


@pytest.fixture(scope="module")
def postgres_url() -> Iterator[str]:
    """A PostgreSQL server started for these tests (as the postgres user when run as root)."""
    binaries = postgres_bin()
    if binaries is None:
        if os.environ.get("CI"):
            pytest.fail("PostgreSQL is not installed, and CI must run the PostgreSQL store tests")
        pytest.skip("PostgreSQL is not installed")
    folder = Path(tempfile.mkdtemp(prefix="neocloud-pg-"))
    as_user: list[str] = []
    if os.geteuid() == 0:
        shutil.chown(folder, "postgres")
        as_user = ["runuser", "-u", "postgres", "--"]
    data = folder / "data"
    subprocess.run(
        [*as_user, str(binaries / "initdb"), "-D", str(data), "-A", "trust", "-U", "postgres"],
        check=True,
        capture_output=True,
        timeout=120,
    )
    subprocess.run(
        [
            *as_user,
            str(binaries / "pg_ctl"),
            "-D",
            str(data),
            "-l",
            str(folder / "server.log"),
            "-w",
            "-o",
            f"-k {folder} -p {PG_PORT} -c listen_addresses=127.0.0.1",
            "start",
        ],
        check=True,
        capture_output=True,
        timeout=120,
    )
    try:
        yield f"postgresql+psycopg://postgres@127.0.0.1:{PG_PORT}/postgres"
    finally:
        subprocess.run(
            [*as_user, str(binaries / "pg_ctl"), "-D", str(data), "-w", "-m", "fast", "stop"],
            check=False,
            capture_output=True,
            timeout=120,
        )
        shutil.rmtree(folder, ignore_errors=True)


@pytest.mark.postgres
def test_postgres_round_trip_and_rollback(
    postgres_url: str, abilene_results: Results, loughton_results: Results
) -> None:
    store = Store(postgres_url)
    before = store.count()
    check_round_trip(store, abilene_results, loughton_results)
    assert store.count() == before + 2

    def fail_after_insert(connection, cursor, statement, parameters, context, executemany) -> None:
        if statement.lstrip().upper().startswith("INSERT"):
            raise RuntimeError("killed after the insert")

    event.listen(store.engine, "after_cursor_execute", fail_after_insert)
    try:
        with pytest.raises(RuntimeError):
            store.save(abilene_results)
    finally:
        event.remove(store.engine, "after_cursor_execute", fail_after_insert)
    assert store.count() == before + 2
    store.engine.dispose()
