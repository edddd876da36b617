"""The store: every run kept in SQLite by default, or in any SQLAlchemy database given by URL.

A run is one row of the ``runs`` table: when it was made, the scenario's name, text and SHA-256, the
seed, the number of draws, the neocloud version, the JSON summary and the results as netCDF bytes. A
run is written in one transaction, so a process killed mid-write leaves no half run.
"""

from __future__ import annotations

import builtins
import datetime as dt
import hashlib
import io
import json
import os
import tempfile
from dataclasses import dataclass, field
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

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
    func,
    insert,
    select,
)
from sqlalchemy.exc import ArgumentError, NoSuchModuleError, OperationalError

from neocloud.errors import NeocloudError, ScenarioError
from neocloud.io import write_atomic
from neocloud.load import parse_yaml, validate
from neocloud.pipeline import Results, to_netcdf

STORE_ENV = "NEOCLOUD_STORE"
MAX_RUN_ID = 2**31 - 1  # run ids are a 32-bit integer column on every database

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
)

# The columns a listing shows (no scenario text, no netCDF bytes).
LISTED = ("id", "created", "scenario_name", "scenario_sha256", "seed", "draws", "version", "origin")


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


def neocloud_version() -> str:
    """The installed neocloud version (``unknown`` when run from an uninstalled tree)."""
    try:
        return version("neocloud")
    except PackageNotFoundError:
        return "unknown"


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
            "summary": self.summary,
            "scenario_text": self.scenario_text,
        }

    def dataset(self) -> xr.Dataset:
        """The results Dataset of the run, read back from its netCDF bytes."""
        return dataset_from_netcdf(self.results_netcdf)

    def results(self) -> Results:
        """The run as ``Results`` again (its scenario re-validated from the kept text), e.g. for a report."""
        data, lines, text = parse_yaml(self.scenario_text, f"run {self.id}")
        scenario = validate(data, f"run {self.id}", lines)
        return Results(scenario, self.dataset(), self.draws, self.seed, text)


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

    def __init__(self, url: str | None = None) -> None:
        self.url = store_url(url)
        try:
            self.engine: Engine = create_engine(self.url, pool_pre_ping=True)
            METADATA.create_all(self.engine, tables=[RUNS])
        except (ArgumentError, NoSuchModuleError) as err:
            raise ScenarioError(
                f"is not a database URL SQLAlchemy can open ({err})", field="store", value=self.url
            ) from None
        except OperationalError as err:
            raise NeocloudError(f"store {self.display_url()}: cannot open: {err.orig}") from None

    def display_url(self) -> str:
        """The URL with any password hidden."""
        return self.engine.url.render_as_string(hide_password=True) if hasattr(self, "engine") else self.url

    def save(self, results: Results, origin: str = "python", scenario_text: str | None = None) -> int:
        """Keep a run (scenario text, hash, seed, draws, version, summary, netCDF) in one transaction.

        Returns
        -------
        int
            The new run's id.
        """
        text = scenario_text or results.source_text or results.scenario.model_dump_json(indent=2)
        summary = results.summary()
        row = {
            "created": dt.datetime.now(dt.UTC),
            "scenario_name": str(summary.get("scenario") or results.scenario.name)[:300],
            "scenario_text": text,
            "scenario_sha256": sha256_text(text),
            "seed": int(results.seed),
            "draws": int(results.draws),
            "version": neocloud_version(),
            "origin": origin[:20],
            "summary_json": json.dumps(summary),
            "results_netcdf": netcdf_bytes(results.dataset),
        }
        with self.engine.begin() as connection:
            return int(connection.execute(insert(RUNS).values(**row)).inserted_primary_key[0])

    def list(self, limit: int = 100, offset: int = 0) -> builtins.list[dict[str, Any]]:
        """The newest runs first: id, created, scenario name, hash, seed, draws, version and origin."""
        columns = [RUNS.c[name] for name in LISTED]
        query = select(*columns).order_by(RUNS.c.id.desc()).limit(max(0, limit)).offset(max(0, offset))
        with self.engine.connect() as connection:
            rows = connection.execute(query).mappings().all()
        return [{**row, "created": _created(row["created"]).isoformat()} for row in rows]

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
        return StoredRun(summary=summary, **data)

    def delete(self, run_id: int) -> None:
        """Remove the run ``run_id`` (an unknown id raises ``RunNotFoundError``)."""
        self.get(run_id)
        with self.engine.begin() as connection:
            connection.execute(delete(RUNS).where(RUNS.c.id == int(run_id)))

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
            "results": write_atomic(folder / "results.nc", run.results_netcdf),
            "scenario": write_atomic(folder / "scenario.yaml", run.scenario_text),
        }
