"""The store: every run kept in SQLite by default, or in any SQLAlchemy database given by URL.

A run is one row of the ``runs`` table: when it was made, the scenario's name, text and SHA-256, the
seed, the number of draws, the neocloud version, the JSON summary and the results as netCDF bytes
(compressed). A run written to a folder with ``--out`` keeps, unless asked to keep a copy, only a pointer
to that folder's ``results.nc`` (table ``run_results_files``). A run is written in one transaction, so a
process killed mid-write leaves no half run. ``delete`` and ``prune`` remove runs; ``size_bytes`` says
what the store takes.
"""

from __future__ import annotations

import builtins
import datetime as dt
import hashlib
import io
import json
import os
import random
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import xarray as xr
from platformdirs import user_data_dir
from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    Engine,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    create_engine,
    delete,
    event,
    func,
    insert,
    inspect,
    select,
    text,
)
from sqlalchemy.exc import (
    ArgumentError,
    DBAPIError,
    IntegrityError,
    NoSuchModuleError,
    OperationalError,
    ProgrammingError,
)

from neocloud.errors import NeocloudError, ScenarioError
from neocloud.io import write_atomic
from neocloud.load import parse_yaml, validate
from neocloud.pipeline import Results, to_netcdf
from neocloud.uncertainty import check_seed
from neocloud.version import code_version

if TYPE_CHECKING:
    from neocloud.programme import ProgrammeResults

STORE_ENV = "NEOCLOUD_STORE"
MAX_RUN_ID = 2**31 - 1  # run ids are a 32-bit integer column on every database
DEFAULT_KEPT_DRAWS = 200  # draws whose full results a run keeps (about 60 kB each for a 15-year campus)
SQLITE_BUSY_SECONDS = 30  # how long a SQLite writer waits for another's lock before it fails
RETRIES = 8  # attempts of a write that a busy or racing database refused

METADATA = MetaData()
RUNS = Table(
    "runs",
    METADATA,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("created", DateTime(timezone=True), nullable=False),
    Column("scenario_name", String(300), nullable=False),
    Column("scenario_text", Text, nullable=False),
    Column("scenario_sha256", String(64), nullable=False, index=True),
    Column("seed", BigInteger, nullable=False),
    Column("draws", Integer, nullable=False),
    Column("version", String(40), nullable=False),
    Column("origin", String(20), nullable=False, default="python"),
    Column("summary_json", Text, nullable=False),
    Column("results_netcdf", LargeBinary, nullable=False),
    Column("kept_draws", Integer, nullable=True),  # draws in results_netcdf (fewer than draws past the quota)
)

# Runs written with ``--out`` keep their results in that folder: the store holds the summary and this
# pointer to the results file instead of a second copy (their ``results_netcdf`` is empty).
POINTERS = Table(
    "run_results_files",
    METADATA,
    Column("run_id", Integer, primary_key=True),
    Column("results_path", Text, nullable=False),
)

# The columns a listing shows (no scenario text, no netCDF bytes).
LISTED = ("id", "created", "scenario_name", "scenario_sha256", "seed", "draws", "version", "origin", "kept_draws")


class RunNotFoundError(ScenarioError):
    """A run id that is not in the store (a user's mistake: the CLI exits 2, the API answers 404)."""


def store_url(url: str | None = None) -> str:
    """The database URL: the one given, else ``$NEOCLOUD_STORE``, else SQLite in the user's data folder."""
    if url:
        return url
    if os.environ.get(STORE_ENV):
        return os.environ[STORE_ENV]
    folder = Path(user_data_dir("neocloud", appauthor=False))
    folder.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{folder / 'neocloud.db'}"


def open_engine(url: str) -> Engine:
    """An engine on ``url``; SQLite in WAL mode with a busy timeout, so that writers wait rather than fail."""
    is_sqlite = url.startswith("sqlite")
    engine = create_engine(url, pool_pre_ping=True,
                           connect_args={"timeout": SQLITE_BUSY_SECONDS} if is_sqlite else {})
    if is_sqlite:
        event.listen(engine, "connect", _sqlite_pragmas)
    return engine


def _sqlite_pragmas(connection: Any, _record: Any) -> None:
    cursor = connection.cursor()
    try:
        cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_SECONDS * 1000}")
        cursor.execute("PRAGMA journal_mode = WAL")  # readers never block the writer, nor it them
        cursor.execute("PRAGMA synchronous = NORMAL")
    finally:
        cursor.close()


def transient(err: BaseException) -> bool:
    """Whether a database error is a busy lock, a deadlock or a lost race that a retry can get past."""
    if isinstance(err, IntegrityError | ProgrammingError):  # a concurrent CREATE TABLE won the race
        return "already exists" in str(err) or "pg_type_typname_nsp_index" in str(err)
    if isinstance(err, OperationalError | DBAPIError):
        message = str(getattr(err, "orig", err)).lower()
        return any(word in message for word in ("locked", "busy", "deadlock", "could not serialize",
                                                 "already exists"))
    return False


def with_retries(action: Callable[[], Any], attempts: int = RETRIES) -> Any:
    """Call ``action``; when the database was busy or lost a race, wait a little (with jitter) and call it again."""
    for attempt in range(attempts):
        try:
            return action()
        except (OperationalError, DBAPIError) as err:
            if attempt == attempts - 1 or not transient(err):
                raise
            time.sleep(min(2.0, 0.05 * 2**attempt) * (0.5 + random.random()))
    raise AssertionError("unreachable")


def create_tables(engine: Engine, metadata: MetaData, tables: builtins.list[Table]) -> None:
    """Create the tables that are missing, tolerating another process creating them at the same moment.

    On PostgreSQL the creation runs under a transaction-scoped advisory lock; anywhere, a creation that
    lost the race (``already exists``) is retried, and then finds the tables there.
    """
    def create() -> None:
        with engine.begin() as connection:
            if connection.dialect.name == "postgresql":
                connection.execute(text("SELECT pg_advisory_xact_lock(4242017)"))
            metadata.create_all(connection, tables=tables, checkfirst=True)
            _add_missing_columns(connection, tables)

    with_retries(create)


def _add_missing_columns(connection: Any, tables: builtins.list[Table]) -> None:
    """Bring a table made by an older version up to date: add nullable columns it lacks, widen seeds."""
    inspector = inspect(connection)
    for table in tables:
        present = {column["name"]: column for column in inspector.get_columns(table.name)}
        for column in table.columns:
            if column.name not in present and column.nullable:
                kind = column.type.compile(dialect=connection.dialect)
                connection.execute(text(f'ALTER TABLE {table.name} ADD COLUMN {column.name} {kind}'))
            elif (column.name == "seed" and connection.dialect.name == "postgresql"
                  and str(present[column.name]["type"]).upper() == "INTEGER"):
                connection.execute(text(f"ALTER TABLE {table.name} ALTER COLUMN seed TYPE BIGINT"))


def sha256_text(text: str) -> str:
    """The SHA-256 of a scenario's text (UTF-8), as 64 hex digits."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def netcdf_bytes(dataset: xr.Dataset) -> bytes:
    """A results Dataset as netCDF-4 bytes (written through a temporary file)."""
    with tempfile.TemporaryDirectory(prefix="neocloud-") as folder:
        path = Path(folder) / "results.nc"
        to_netcdf(dataset, path)
        return path.read_bytes()


def dataset_from_netcdf(data: bytes) -> xr.Dataset:
    """A results Dataset, fully in memory, from netCDF-4 bytes."""
    with xr.open_dataset(io.BytesIO(data), engine="h5netcdf") as opened:
        return opened.load()


@dataclass(frozen=True)
class StoredRun:
    """One kept run: its record, summary (a dict) and results (netCDF bytes)."""

    id: int
    created: dt.datetime
    scenario_name: str
    scenario_text: str
    scenario_sha256: str
    seed: int
    draws: int
    version: str
    origin: str
    summary: dict[str, Any]
    results_netcdf: bytes = field(repr=False)
    kept_draws: int | None = None  # draws whose results the netCDF holds (None: all, a run from before the quota)
    results_path: str | None = None

    def netcdf(self) -> bytes:
        """The results as netCDF bytes: the kept copy, else the file the run's pointer names."""
        if self.results_netcdf or not self.results_path:
            return self.results_netcdf
        try:
            return Path(self.results_path).read_bytes()
        except OSError as err:
            raise NeocloudError(
                f"run {self.id} keeps only its summary: its results were written to {self.results_path}, "
                f"which cannot be read now ({err.strerror}); run it again with --keep to keep a copy"
            ) from None

    def record(self) -> dict[str, Any]:
        """The run as JSON-ready data: everything but the netCDF bytes, with the summary."""
        return {
            "id": self.id,
            "created": self.created.isoformat(),
            "scenario_name": self.scenario_name,
            "scenario_sha256": self.scenario_sha256,
            "seed": self.seed,
            "draws": self.draws,
            "version": self.version,
            "origin": self.origin,
            "kept_draws": self.kept_draws if self.kept_draws is not None else self.draws,
            "summary": self.summary,
            "scenario_text": self.scenario_text,
            "results_path": self.results_path,
        }

    def dataset(self) -> xr.Dataset:
        """The results Dataset of the run, read back from its netCDF bytes."""
        return dataset_from_netcdf(self.netcdf())

    def results(self) -> StoredResults:
        """The run as ``Results`` again (its scenario re-validated from the kept text), e.g. for a report:
        its kept dataset and its summary as stored, nothing run again."""
        data, lines, text = parse_yaml(self.scenario_text, f"run {self.id}")
        scenario = validate(data, f"run {self.id}", lines)
        dataset = self.dataset()
        return StoredResults(scenario, dataset, int(dataset.sizes.get("draw", self.draws)), self.seed, text,
                             stored_summary=self.summary, version=self.version, run_id=self.id)


class StoredResults(Results):
    """A kept run as ``Results``: the summary as it was stored (over every draw, even where fewer draws'
    results were kept), the code version that made it and its run id. A report of it shows what was kept
    and runs no model again."""

    def __init__(self, scenario: Any, dataset: xr.Dataset, draws: int, seed: int, source_text: str | None,
                 *, stored_summary: dict[str, Any], version: str, run_id: int) -> None:
        super().__init__(scenario, dataset, draws, seed, source_text)
        self.stored_summary = stored_summary
        self.version = version
        self.run_id = run_id

    def summary(self) -> dict[str, Any]:
        """The summary as the run stored it."""
        return dict(self.stored_summary)


def _created(value: dt.datetime) -> dt.datetime:
    # SQLite gives back naive datetimes: they were written in UTC.
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


def _numeric(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


class Store:
    """Runs kept in a database: ``save``, ``list``, ``get``, ``compare``, ``export``.

    Parameters
    ----------
    url
        Any SQLAlchemy URL (``sqlite:///path.db``, ``postgresql+psycopg://user@host/db``); by default
        ``$NEOCLOUD_STORE`` or SQLite in the user's data folder. The ``runs`` table is created if missing.
    """

    def __init__(self, url: str | None = None, max_kept_draws: int = DEFAULT_KEPT_DRAWS) -> None:
        self.url = store_url(url)
        self.max_kept_draws = max(1, int(max_kept_draws))
        try:
            self.engine: Engine = open_engine(self.url)
            create_tables(self.engine, METADATA, [RUNS, POINTERS])
        except (ArgumentError, NoSuchModuleError) as err:
            raise ScenarioError(
                f"is not a database URL SQLAlchemy can open ({err})", field="store", value=self.url
            ) from None
        except OperationalError as err:
            raise NeocloudError(f"store {self.display_url()}: cannot open: {err.orig}") from None

    def display_url(self) -> str:
        """The URL with any password hidden."""
        return self.engine.url.render_as_string(hide_password=True) if hasattr(self, "engine") else self.url

    def save(self, results: Results | ProgrammeResults, origin: str = "python", scenario_text: str | None = None,
             results_path: str | Path | None = None) -> int:
        """Keep a run (scenario text, hash, seed, draws, version, summary, netCDF) in one transaction.

        With ``results_path`` (a results file already written, e.g. by ``--out``) the store keeps the
        summary and a pointer to that file instead of a second copy of the results.
        The summary covers every draw; the netCDF keeps the results of the first ``max_kept_draws`` draws
        (``kept_draws`` of the record says how many). A busy database is waited for and retried.

        Returns
        -------
        int
            The new run's id.
        """
        campus: Any = results  # a programme's run comes with its scenario_text; a campus run has its scenario
        text = scenario_text or campus.source_text or campus.scenario.model_dump_json(indent=2)
        check_seed(int(results.seed))  # the store's seed column holds 0 .. 2**63 - 1
        summary = results.summary()
        dataset = results.dataset
        kept = min(int(results.draws), self.max_kept_draws)
        if "draw" in dataset.dims and dataset.sizes["draw"] > kept:
            dataset = dataset.isel(draw=slice(0, kept))
            dataset.attrs.update(kept_draws=kept)
        row = {
            "created": dt.datetime.now(dt.UTC),
            "scenario_name": str(summary.get("scenario") or campus.scenario.name)[:300],
            "scenario_text": text,
            "scenario_sha256": sha256_text(text),
            "seed": int(results.seed),
            "draws": int(results.draws),
            "version": code_version(),
            "origin": origin[:20],
            "summary_json": json.dumps(summary),
            "results_netcdf": b"" if results_path is not None else netcdf_bytes(dataset),
            "kept_draws": kept,
        }
        pointer = None if results_path is None else str(Path(results_path).resolve())

        def write() -> int:
            with self.engine.begin() as connection:
                inserted = connection.execute(insert(RUNS).values(**row)).inserted_primary_key
                assert inserted is not None  # an insert into a table with a primary key gives it back
                run_id = int(inserted[0])
                if pointer is not None:
                    connection.execute(insert(POINTERS).values(run_id=run_id, results_path=pointer))
                return run_id

        return int(with_retries(write))

    def list(self, limit: int = 100, offset: int = 0) -> builtins.list[dict[str, Any]]:
        """The newest runs first: id, created, scenario name, hash, seed, draws, version and origin."""
        columns = [RUNS.c[name] for name in LISTED]
        query = select(*columns).order_by(RUNS.c.id.desc()).limit(max(0, limit)).offset(max(0, offset))
        with self.engine.connect() as connection:
            rows = connection.execute(query).mappings().all()
        return [{**row, "created": _created(row["created"]).isoformat(),
                 "kept_draws": row["kept_draws"] if row["kept_draws"] is not None else row["draws"]} for row in rows]

    def count(self) -> int:
        """How many runs the store keeps."""
        with self.engine.connect() as connection:
            return int(connection.execute(select(func.count()).select_from(RUNS)).scalar_one())

    def get(self, run_id: int) -> StoredRun:
        """The run ``run_id``; an unknown id raises ``RunNotFoundError``."""
        if not isinstance(run_id, int) or not 1 <= run_id <= MAX_RUN_ID:  # not an id any store column holds
            raise RunNotFoundError(f"no run {run_id} in the store", field="run", value=run_id,
                                   allowed=f"ids from 1 to {MAX_RUN_ID:,} listed by `neocloud runs list`")
        with self.engine.connect() as connection:
            row = connection.execute(select(RUNS).where(RUNS.c.id == int(run_id))).mappings().first()
        if row is None:
            raise RunNotFoundError(
                f"no run {run_id} in the store",
                field="run",
                value=run_id,
                allowed="ids listed by `neocloud runs list`",
            )
        data = dict(row)
        summary = json.loads(data.pop("summary_json"))
        data["created"] = _created(data["created"])
        with self.engine.connect() as connection:
            data["results_path"] = connection.execute(
                select(POINTERS.c.results_path).where(POINTERS.c.run_id == int(run_id))).scalar()
        return StoredRun(summary=summary, **data)

    def delete(self, run_id: int) -> None:
        """Remove the run ``run_id`` (an unknown id raises ``RunNotFoundError``)."""
        self.get(run_id)
        self._delete([int(run_id)])

    def _delete(self, run_ids: builtins.list[int]) -> None:
        """Remove runs (and their pointers) in one transaction; SQLite then gives the space back."""
        if not run_ids:
            return
        with self.engine.begin() as connection:
            connection.execute(delete(POINTERS).where(POINTERS.c.run_id.in_(run_ids)))
            connection.execute(delete(RUNS).where(RUNS.c.id.in_(run_ids)))
        if self.engine.dialect.name == "sqlite":
            with self.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
                connection.exec_driver_sql("VACUUM")

    def prune(self, older_than: dt.timedelta | None = None, keep_last: int | None = None) -> builtins.list[int]:
        """Remove runs older than ``older_than`` and/or all but the newest ``keep_last``; the removed ids.

        With both, a run is removed when either rule removes it.
        """
        if older_than is None and keep_last is None:
            raise ScenarioError("say which runs to remove", field="prune",
                                allowed="--older-than DURATION (e.g. 30d, 12h) and/or --keep-last N")
        with self.engine.connect() as connection:
            rows = connection.execute(select(RUNS.c.id, RUNS.c.created).order_by(RUNS.c.id.desc())).all()
        now = dt.datetime.now(dt.UTC)
        doomed = []
        for index, (run_id, created) in enumerate(rows):
            too_old = older_than is not None and now - _created(created) > older_than
            beyond = keep_last is not None and index >= keep_last
            if too_old or beyond:
                doomed.append(int(run_id))
        self._delete(doomed)
        return doomed

    def size_bytes(self) -> int:
        """What the store takes: the database file(s) for SQLite, else the bytes of the kept runs."""
        database = self.engine.url.database
        if self.engine.dialect.name == "sqlite" and database and database != ":memory:":
            return sum(Path(f"{database}{suffix}").stat().st_size for suffix in ("", "-wal", "-journal")
                       if Path(f"{database}{suffix}").exists())
        lengths = (func.coalesce(func.sum(func.length(RUNS.c.results_netcdf)), 0)
                   + func.coalesce(func.sum(func.length(RUNS.c.scenario_text)), 0)
                   + func.coalesce(func.sum(func.length(RUNS.c.summary_json)), 0))
        with self.engine.connect() as connection:
            return int(connection.execute(select(lengths)).scalar_one())

    def compare(self, id_a: int, id_b: int) -> dict[str, Any]:
        """Two runs' summaries side by side: for every key, both values, B - A and B / A - 1.

        Returns
        -------
        dict
            ``a`` and ``b`` (the runs' records without text), and ``rows``: one dict per summary key with
            ``key``, ``a``, ``b``, ``difference`` (B - A, numbers only) and ``change``
            (B / A - 1, a fraction).
        """
        run_a, run_b = self.get(id_a), self.get(id_b)
        keys = list(run_a.summary) + [key for key in run_b.summary if key not in run_a.summary]
        rows = []
        for key in keys:
            value_a, value_b = run_a.summary.get(key), run_b.summary.get(key)
            number_a, number_b = _numeric(value_a), _numeric(value_b)
            difference = change = None
            if number_a is not None and number_b is not None:
                difference = number_b - number_a
                change = difference / abs(number_a) if number_a else None
            rows.append(
                {
                    "key": key,
                    "a": value_a,
                    "b": value_b,
                    "difference": difference,
                    "change": change,
                    "differs": value_a != value_b,
                }
            )
        header = {name: value for name, value in run_a.record().items() if name not in ("scenario_text",)}
        header_b = {name: value for name, value in run_b.record().items() if name not in ("scenario_text",)}
        header.pop("summary")
        header_b.pop("summary")
        return {
            "a": header,
            "b": header_b,
            "same_scenario": run_a.scenario_sha256 == run_b.scenario_sha256,
            "rows": rows,
        }

    def export(self, run_id: int, folder: str | Path) -> dict[str, Path]:
        """Write a run's ``summary.json``, ``results.nc`` and ``scenario.yaml`` into ``folder`` atomically."""
        run = self.get(run_id)
        folder = Path(folder)
        return {
            "summary": write_atomic(folder / "summary.json", json.dumps(run.summary, indent=2) + "\n"),
            "results": write_atomic(folder / "results.nc", run.netcdf()),
            "scenario": write_atomic(folder / "scenario.yaml", run.scenario_text),
        }
