"""The catalog: numbers about the world, shipped as CSV tables with their sources.

Every ``*.csv`` in ``data/`` is a table named after its file, indexed by ``id``. ``sources.csv`` lists
the public documents that rows cite; ``columns.csv`` gives every column's type and unit;
``variables.csv`` gives every summary key's stage, unit, label and description. User rows add to or
replace shipped rows by id.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from functools import cache, lru_cache
from importlib import resources
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import pandas as pd

from neocloud.errors import ScenarioError, unknown_id

META_TABLES = ("sources", "columns", "variables")
# A user's new row need not give these: bookkeeping, and a climate's longitude (used only to map campuses).
FILLED_COLUMNS = ("id", "source", "estimate", "notes", "longitude")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")


def _read_csv(path: Path | Any) -> pd.DataFrame:
    with path.open("r", encoding="utf-8") as handle:
        frame = pd.read_csv(handle, comment=None, skipinitialspace=True, keep_default_na=True)
    frame.columns = [str(column).strip() for column in frame.columns]
    return frame


class Column(NamedTuple):
    """One column of a catalog table as ``columns.csv`` declares it: dtype, unit and, for numbers, range."""

    dtype: str
    unit: str
    low: float
    high: float


@lru_cache(maxsize=1)
def _shipped_tables() -> dict[str, pd.DataFrame]:
    """The shipped tables, each checked against ``columns.csv`` (a ScenarioError names the bad cell)."""
    folder = resources.files("neocloud.catalog") / "data"
    tables = {}
    for entry in sorted(folder.iterdir(), key=lambda item: item.name):
        if entry.name.endswith(".csv"):
            tables[entry.name[: -len(".csv")]] = _read_csv(entry)
    declared = _declared_columns(tables["columns"])
    for name, frame in tables.items():
        if name not in META_TABLES:
            check_table(name, frame, declared.get(name, {}))
    return tables


def _declared_columns(columns: pd.DataFrame) -> dict[str, dict[str, Column]]:
    out: dict[str, dict[str, Column]] = {}
    for row in columns.to_dict("records"):
        low = float(row["min"]) if pd.notna(row["min"]) else -math.inf
        high = float(row["max"]) if pd.notna(row["max"]) else math.inf
        out.setdefault(str(row["table"]), {})[str(row["column"])] = Column(
            str(row["dtype"]), str(row["unit"]), low, high)
    return out


def check_table(name: str, frame: pd.DataFrame, declared: Mapping[str, Column]) -> None:
    """Check a whole table against its declared columns: each one declared, numbers of their dtype in range.

    Raises a one-line ScenarioError naming the file ``<name>.csv``, the row id and the column.
    """
    file = f"{name}.csv"
    for column in frame.columns:
        spec = declared.get(str(column))
        if spec is None:
            raise ScenarioError(f"column '{column}' is not declared in columns.csv", file=file,
                                field=str(column), allowed=", ".join(declared))
        if spec.dtype not in ("float", "int"):
            continue
        cells = frame[column]
        values = pd.to_numeric(cells, errors="coerce").to_numpy(dtype=float)
        bad = cells.notna().to_numpy() & ~(np.isfinite(values) & (values >= spec.low) & (values <= spec.high))
        if spec.dtype == "int":
            bad |= np.isfinite(values) & (values != np.round(values))
        if bad.any():
            at = int(np.flatnonzero(bad)[0])
            row_id = frame["id"].iloc[at] if "id" in frame.columns else at
            raise ScenarioError(f"{cells.iloc[at]!r}: is not {_allowed(spec)}", file=file,
                                field=f"{name}.{row_id}.{column}", value=cells.iloc[at])


class Catalog:
    """The shipped tables, plus a user's additions and overrides, looked up by id."""

    def __init__(self, tables: Mapping[str, pd.DataFrame]) -> None:
        self._tables: dict[str, pd.DataFrame] = {}
        for name, frame in tables.items():
            if name in META_TABLES:
                self._tables[name] = frame.reset_index(drop=True)
            else:
                frame = frame.copy()
                frame["id"] = frame["id"].astype(str).str.strip()
                self._tables[name] = frame.set_index("id", drop=True)

    @property
    def names(self) -> list[str]:
        """The data tables (without the meta tables ``sources``, ``columns`` and ``variables``)."""
        return sorted(name for name in self._tables if name not in META_TABLES)

    def table(self, name: str) -> pd.DataFrame:
        """The table ``name`` as a DataFrame indexed by id (a copy is not made: do not mutate)."""
        if name not in self._tables:
            raise unknown_id("catalog table", name, self._tables, field="table")
        return self._tables[name]

    def ids(self, name: str) -> list[str]:
        """The ids of table ``name``."""
        return list(self.table(name).index)

    def row(self, name: str, row_id: str, field: str | None = None) -> pd.Series:
        """The row ``row_id`` of table ``name``; an unknown id is a ``ScenarioError`` with a did-you-mean."""
        frame = self.table(name)
        if row_id not in frame.index:
            raise unknown_id(_singular(name), row_id, frame.index, field=field)
        found = frame.loc[row_id]
        return found if isinstance(found, pd.Series) else found.iloc[-1]  # ids are unique; the last would win

    def value(self, name: str, row_id: str, column: str = "value") -> float:
        """One number from a table, as a float (NaN where the cell is empty)."""
        return float(self.row(name, row_id)[column])

    def sources_of(self, name: str, row_id: str) -> list[dict[str, Any]]:
        """The source records a row cites."""
        cited = str(self.row(name, row_id).get("source", ""))
        sources = self._tables["sources"].set_index("id")
        out = []
        for source_id in (part.strip() for part in cited.split(";")):
            if source_id and source_id in sources.index:
                out.append({"id": source_id, **{str(key): value for key, value in sources.loc[source_id].items()}})
        return out

    def with_rows(self, additions: Mapping[str, Iterable[Mapping[Any, Any]]]) -> Catalog:
        """A new catalog in which the given rows add to or replace shipped rows by id."""
        tables = {name: frame.reset_index() if name not in META_TABLES else frame
                  for name, frame in self._tables.items()}
        for name, rows in additions.items():
            rows = [dict(row) for row in rows]
            if not rows:
                continue
            if name not in tables:
                raise unknown_id("catalog table", name, self.names, field=f"catalog.{name}")
            base = tables[name]
            known = set(base["id"].astype(str))
            rows = [check_row(name, index, row, list(base.columns), known) for index, row in enumerate(rows)]
            new = pd.DataFrame(rows)
            keep = base[~base["id"].isin(new["id"])]
            merged = []
            for _, row in new.iterrows():
                old = base[base["id"] == row["id"]]
                filled = old.iloc[0].to_dict() if len(old) else {"source": "user", "estimate": True}
                filled.update({key: value for key, value in row.items() if pd.notna(value)})
                merged.append(filled)
            tables[name] = pd.concat([keep, pd.DataFrame(merged)], ignore_index=True)
        return Catalog(tables)


@lru_cache(maxsize=1)
def column_types() -> dict[str, dict[str, Column]]:
    """Every table's declared columns from ``columns.csv``: table -> column -> Column(dtype, unit, low, high)."""
    return _declared_columns(_shipped_tables()["columns"])


@cache
def required_columns(name: str) -> tuple[str, ...]:
    """The columns a new row of a shipped table must give: those filled in every shipped row."""
    frame = _shipped_tables().get(name)
    if frame is None:
        return ()
    return tuple(column for column in frame.columns
                 if column not in FILLED_COLUMNS and bool(frame[column].notna().all()))


def check_row(name: str, index: int, row: Any, columns: list[str], known: set[str]) -> dict[str, Any]:
    """A user's catalog row checked against ``columns.csv``: a cleaned copy, or a one-line ScenarioError.

    The row must be a mapping with an ``id`` (text, no control characters); each value must have its
    column's dtype and lie in its declared physical range; a new id must give every required column.
    """
    where = f"catalog.{name}.{index}"
    if not isinstance(row, Mapping):
        raise ScenarioError(f"a catalog row must be a mapping of columns, not {type(row).__name__}", field=where)
    if "id" not in row:
        raise ScenarioError("a catalog row needs an 'id'", field=where)
    types = column_types().get(name, {})
    cleaned: dict[str, Any] = {}
    for column, value in row.items():
        if column not in columns:
            raise ScenarioError(f"unknown column '{column}' for table {name}", field=f"{where}.{column}",
                                allowed=", ".join(columns))
        if _missing(value):
            continue
        spec = types.get(str(column), Column("str", "-", -math.inf, math.inf))
        cleaned[column] = _cell(value, spec, f"{where}.{column}")
    if "id" not in cleaned or not cleaned["id"] or len(cleaned["id"]) > 100:
        raise ScenarioError("a catalog row's id must be text of 1 to 100 characters", field=f"{where}.id",
                            value=row.get("id"))
    if cleaned["id"] not in known:
        missing = [column for column in required_columns(name) if column not in cleaned]
        if missing:
            raise ScenarioError(f"is required for a new row of table {name} (id '{cleaned['id']}')",
                                field=f"{where}.{missing[0]}", allowed=", ".join(missing))
    return cleaned


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value) and not isinstance(value, bool))


def _cell(value: Any, spec: Column, field: str) -> Any:
    """One catalog cell of the column's dtype (str, float, int, bool) within its range, or a ScenarioError."""
    dtype = spec.dtype
    shown = repr(value) if not isinstance(value, Mapping | list) else type(value).__name__
    shown = shown if len(shown) <= 60 else shown[:57] + "..."
    if isinstance(value, Mapping | list | tuple | set):
        raise ScenarioError(f"{shown}: a catalog cell must be a single value", field=field, allowed=dtype)
    if dtype == "bool":
        text = str(value).strip().lower()
        if isinstance(value, bool) or text in ("true", "false"):
            return value if isinstance(value, bool) else text == "true"
        raise ScenarioError(f"{shown}: is not true or false", field=field, value=value, allowed="true, false")
    if dtype in ("float", "int"):
        return _number(value, spec, field, shown)
    text = str(value).strip() if not isinstance(value, bool) else str(value).lower()
    if _CONTROL.search(text) or (field.endswith(".id") and re.search(r"\s", text)):
        raise ScenarioError(f"{shown}: may not contain control characters or, in an id, spaces", field=field,
                            value=value)
    return text


def _allowed(spec: Column) -> str:
    kind = "a whole number" if spec.dtype == "int" else "a number"
    return f"{kind} ({spec.unit}) from {spec.low:g} to {spec.high:g}"


def _number(value: Any, spec: Column, field: str, shown: str) -> float | int:
    dtype, low, high = spec.dtype, spec.low, spec.high
    allowed = _allowed(spec)
    number: float | None = None
    if isinstance(value, int | float) and not isinstance(value, bool):
        number = float(value)
    elif isinstance(value, str):
        try:
            number = float(value)
        except ValueError:
            number = None
    if number is None:
        raise ScenarioError(f"{shown}: is not a number", field=field, value=value, allowed=allowed)
    if not math.isfinite(number) or not low <= number <= high:
        raise ScenarioError(f"{shown}: is out of range", field=field, value=value, allowed=allowed)
    if dtype == "int":
        if not number.is_integer():
            raise ScenarioError(f"{shown}: is not a whole number", field=field, value=value, allowed=allowed)
        return int(number)
    return number


def world_default(field: str) -> float:
    """The shipped default (``defaults.csv``) of a scenario field named ``section.field``, in the row's unit.

    Scenario fields whose default is a fact about the world take it from here, cited, not from code. The
    shipped row is read (a user's catalog rows do not change a default; the scenario sets the field).
    """
    frame = _shipped_tables()["defaults"]
    match = frame.loc[frame["id"] == field, "value"]
    if match.empty:
        raise KeyError(f"defaults.csv has no row {field!r}")
    return float(match.iloc[0])


def _singular(name: str) -> str:
    return {"accelerators": "accelerator", "systems": "system", "climates": "climate", "regions": "region",
            "fabrics": "fabric", "cooling": "cooling technology"}.get(name, f"{name} id")


def load_catalog(paths: Iterable[str | Path] = (),
                 overrides: Mapping[str, Iterable[Mapping[Any, Any]]] | None = None) -> Catalog:
    """The shipped catalog, extended by CSV tables in ``paths`` (folders) and by ``overrides`` rows."""
    catalog = Catalog(_shipped_tables())
    for folder in paths:
        folder = Path(folder)
        if not folder.is_dir():
            raise ScenarioError("is not a folder", field="catalog", value=str(folder))
        for path in sorted(folder.glob("*.csv")):
            try:
                catalog = catalog.with_rows({path.stem: _read_csv(path).to_dict("records")})
            except ScenarioError as err:
                raise err.located(file=str(path)) from None
    if overrides:
        catalog = catalog.with_rows(overrides)
    return catalog
