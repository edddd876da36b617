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
from sqlalchemy import event, inspect

from neocloud import Results, run
from neocloud.errors import ScenarioError
from neocloud.store import RunNotFoundError, Store, sha256_text, store_url

from .conftest import EXAMPLES

# One PostgreSQL server per pytest-xdist worker (gw0, gw1, ...), each on its own port.
PG_PORT = 55432 + int(os.environ.get("PYTEST_XDIST_WORKER", "gw0").removeprefix("gw") or 0)


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
        from sqlalchemy import event, inspect
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


WRITERS = 16


def _write_at_once(url: str, results: Results, barrier: object, failures: object) -> None:
    """One writer process: open the store (creating its tables if missing) and keep a run, all at once."""
    try:
        barrier.wait(timeout=120)
        Store(url).save(results, origin="writer")
    except BaseException as err:  # reported to the parent, which fails the test with it
        failures.put(f"{type(err).__name__}: {err}")
        raise


def many_writers(url: str, results: Results) -> list[str]:
    """Start ``WRITERS`` processes that open ``url`` and save a run at the same moment; their failures."""
    import multiprocessing

    context = multiprocessing.get_context("fork")
    barrier = context.Barrier(WRITERS)
    failures = context.Queue()
    processes = [
        context.Process(target=_write_at_once, args=(url, results, barrier, failures)) for _ in range(WRITERS)
    ]
    for process in processes:
        process.start()
    for process in processes:
        process.join(timeout=300)
    errors = []
    while not failures.empty():
        errors.append(failures.get(timeout=5))
    errors += [f"exit code {process.exitcode}" for process in processes if process.exitcode != 0]
    return errors


@pytest.fixture(scope="module")
def small_results() -> Results:
    """A quick run with draws, small enough for many writers."""
    return run(EXAMPLES / "loughton.yaml", draws=4, seed=1)


def test_sixteen_writers_keep_sixteen_runs_on_sqlite(tmp_path: Path, small_results: Results) -> None:
    url = f"sqlite:///{tmp_path / 'fresh.db'}"  # no tables yet: every writer races to create them
    assert many_writers(url, small_results) == []
    assert Store(url).count() == WRITERS
    assert many_writers(url, small_results) == []  # and again on the warm store
    store = Store(url)
    assert store.count() == 2 * WRITERS
    with store.engine.connect() as connection:
        assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"


@pytest.mark.postgres
def test_sixteen_writers_keep_sixteen_runs_on_postgres(postgres_url: str, small_results: Results) -> None:
    from sqlalchemy import create_engine

    admin = create_engine(postgres_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.exec_driver_sql("DROP DATABASE IF EXISTS writers16")
        connection.exec_driver_sql("CREATE DATABASE writers16")
    admin.dispose()
    url = postgres_url.rsplit("/", 1)[0] + "/writers16"
    assert many_writers(url, small_results) == []
    fresh = Store(url)
    assert fresh.count() == WRITERS
    fresh.engine.dispose()
    assert many_writers(url, small_results) == []
    store = Store(url)
    assert store.count() == 2 * WRITERS
    with store.engine.connect() as connection:
        seed = [column for column in inspect(connection).get_columns("runs") if column["name"] == "seed"]
    assert str(seed[0]["type"]).upper() == "BIGINT"
    store.engine.dispose()


def test_draws_past_the_quota_keep_a_summary_of_all_and_results_of_some(tmp_path: Path) -> None:
    results = run(EXAMPLES / "loughton.yaml", draws=30, seed=2)
    store = Store(f"sqlite:///{tmp_path / 'quota.db'}", max_kept_draws=10)
    run_id = store.save(results)
    kept = store.get(run_id)
    assert kept.draws == 30 and kept.kept_draws == 10
    assert kept.summary == results.summary()  # the summary is over all 30 draws
    assert kept.dataset().sizes["draw"] == 10
    assert kept.record()["kept_draws"] == 10 and store.list()[0]["kept_draws"] == 10
    assert kept.results().draws == 10


def test_a_table_from_an_older_version_gains_the_new_column(tmp_path: Path, abilene_results: Results) -> None:
    import sqlite3

    path = tmp_path / "old.db"
    first = Store(f"sqlite:///{path}")
    first.save(abilene_results)
    first.engine.dispose()
    with sqlite3.connect(path) as connection:
        connection.execute("ALTER TABLE runs DROP COLUMN kept_draws")
    store = Store(f"sqlite:///{path}")
    assert store.get(1).record()["kept_draws"] == 1
    assert store.save(abilene_results) == 2


def test_run_ids_beyond_any_column_are_unknown_runs(sqlite_store: Store) -> None:
    for run_id in (0, -1, 2**31, 99999999999999999999):
        with pytest.raises(RunNotFoundError, match="no run"):
            sqlite_store.get(run_id)


def test_busy_errors_are_retried_and_others_are_not() -> None:
    from sqlalchemy.exc import OperationalError

    from neocloud.store import with_retries

    calls = []

    def busy_twice() -> int:
        calls.append(1)
        if len(calls) < 3:
            raise OperationalError("INSERT", {}, Exception("database is locked"))
        return 7

    assert with_retries(busy_twice) == 7 and len(calls) == 3

    def broken() -> None:
        raise OperationalError("INSERT", {}, Exception("no such column: x"))

    with pytest.raises(OperationalError):
        with_retries(broken)
