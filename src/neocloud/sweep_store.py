"""Where a sweep keeps its finished chunks: two tables in the store, written one chunk per transaction.

A sweep is known by its id (a hash of the scenario text, the grid, the draws, the seed and the chunk
size). Each finished chunk (one grid point, one slice of draws) is written at once, in one transaction,
as the per-draw values of every summary key; a sweep that is killed and run again reads which chunks
exist and runs only the others.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from datetime import UTC, datetime

import numpy as np
from sqlalchemy import (
    BigInteger,
    Column,
    Engine,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    insert,
    select,
)
from sqlalchemy.exc import IntegrityError

from neocloud.store import create_tables, open_engine, store_url, with_retries

METADATA = MetaData()

SWEEP_DEFINITIONS = Table(
    "sweep_definitions",
    METADATA,
    Column("sweep_id", String(64), primary_key=True),
    Column("scenario", Text, nullable=False),
    Column("grid_json", Text, nullable=False),
    Column("draws", Integer, nullable=False),
    Column("seed", BigInteger, nullable=False),
    Column("chunk_draws", Integer, nullable=False),
    Column("points", Integer, nullable=False),
    Column("chunks_per_point", Integer, nullable=False),
    Column("created", String(32), nullable=False),
)

SWEEP_CHUNKS = Table(
    "sweep_chunks",
    METADATA,
    Column("sweep_id", String(64), primary_key=True),
    Column("point", Integer, primary_key=True),
    Column("chunk", Integer, primary_key=True),
    Column("draws", Integer, nullable=False),
    Column("payload", LargeBinary, nullable=False),
    Column("created", String(32), nullable=False),
)


def open_store(url: str | None = None) -> Engine:
    """An engine on the store (``store_url(url)``) with the sweep tables created if missing."""
    engine = open_engine(store_url(url))
    create_tables(engine, METADATA, [SWEEP_DEFINITIONS, SWEEP_CHUNKS])
    return engine


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def encode(arrays: dict[str, np.ndarray]) -> bytes:
    """Per-draw arrays (name -> float64 array of shape (draw,)) as compressed ``.npz`` bytes."""
    buffer = io.BytesIO()
    np.savez_compressed(buffer, allow_pickle=False, **arrays)
    return buffer.getvalue()


def decode(payload: bytes) -> dict[str, np.ndarray]:
    """The arrays of a chunk payload (the inverse of :func:`encode`)."""
    with np.load(io.BytesIO(payload), allow_pickle=False) as archive:
        return {name: archive[name] for name in archive.files}


def record_sweep(
    engine: Engine,
    sweep_id: str,
    scenario: str,
    grid: list[tuple[str, list]],
    draws: int,
    seed: int,
    chunk_draws: int,
    points: int,
    chunks_per_point: int,
) -> None:
    """Record what a sweep is (once; a rerun of the same sweep leaves the row as it was)."""
    row = {
        "sweep_id": sweep_id,
        "scenario": scenario,
        "grid_json": json.dumps(grid),
        "draws": draws,
        "seed": seed,
        "chunk_draws": chunk_draws,
        "points": points,
        "chunks_per_point": chunks_per_point,
        "created": _now(),
    }

    def insert_once() -> None:
        try:
            with engine.begin() as connection:
                connection.execute(insert(SWEEP_DEFINITIONS).values(**row))
        except IntegrityError:  # recorded already, by an earlier run or a concurrent one: keep that row
            pass

    with_retries(insert_once)


def finished_chunks(engine: Engine, sweep_id: str) -> set[tuple[int, int]]:
    """The (point, chunk) pairs of a sweep already in the store."""
    query = select(SWEEP_CHUNKS.c.point, SWEEP_CHUNKS.c.chunk).where(SWEEP_CHUNKS.c.sweep_id == sweep_id)
    with engine.connect() as connection:
        return {(int(point), int(chunk)) for point, chunk in connection.execute(query)}


def write_chunk(engine: Engine, sweep_id: str, point: int, chunk: int, arrays: dict[str, np.ndarray]) -> bool:
    """Write one finished chunk in one transaction; False when it was already there (nothing written)."""
    draws = len(next(iter(arrays.values()))) if arrays else 0
    row = {
        "sweep_id": sweep_id,
        "point": point,
        "chunk": chunk,
        "draws": draws,
        "payload": encode(arrays),
        "created": _now(),
    }

    def insert_once() -> bool:
        try:
            with engine.begin() as connection:
                connection.execute(insert(SWEEP_CHUNKS).values(**row))
        except IntegrityError:
            return False
        return True

    return bool(with_retries(insert_once))


def read_chunks(engine: Engine, sweep_id: str) -> Iterator[tuple[int, int, dict[str, np.ndarray]]]:
    """Every stored chunk of a sweep as (point, chunk, arrays), in point then chunk order."""
    query = (
        select(SWEEP_CHUNKS.c.point, SWEEP_CHUNKS.c.chunk, SWEEP_CHUNKS.c.payload)
        .where(SWEEP_CHUNKS.c.sweep_id == sweep_id)
        .order_by(SWEEP_CHUNKS.c.point, SWEEP_CHUNKS.c.chunk)
    )
    with engine.connect() as connection:
        for point, chunk, payload in connection.execute(query):
            yield int(point), int(chunk), decode(payload)
