"""The catalog: numbers about the world, shipped as CSV tables with their sources.

Every ``*.csv`` in ``data/`` is a table named after its file, indexed by ``id``. ``sources.csv`` lists
the public documents that rows cite; ``columns.csv`` gives every column's type and unit;
``variables.csv`` gives every summary key's stage, unit, label and description. User rows add to or
replace shipped rows by id.

The shipped tables are read with the standard library (a quick command needs no pandas) into cells of
the types a pandas reading gives (``numpy.int64``, ``numpy.float64``, ``numpy.bool``, ``str``, NaN where
empty); a table's DataFrame is built only when ``Catalog.table`` asks for it.
"""

from __future__ import annotations

import csv
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from functools import cache, lru_cache
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np

from neocloud.errors import ScenarioError, unknown_id

if TYPE_CHECKING:
    import pandas as pd

META_TABLES = ("sources", "columns", "variables")
# A user's new row need not give these: bookkeeping, and a climate's longitude (used only to map campuses).
FILLED_COLUMNS = ("id", "source", "estimate", "notes", "longitude")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
# The cells pandas reads as missing by default (``keep_default_na``).
_NA_TEXT = frozenset({"", "#N/A", "#N/A N/A", "#NA", "-1.#IND", "-1.#QNAN", "-NaN", "-nan", "1.#IND", "1.#QNAN",
                      "<NA>", "N/A", "NA", "NULL", "NaN", "None", "n/a", "nan", "null"})
_INT_TEXT = re.compile(r"[+-]?\d+")
_BOOL_TEXT = {"True": True, "TRUE": True, "true": True, "False": False, "FALSE": False, "false": False}


def _read_csv(path: Path | Any) -> pd.DataFrame:
    import pandas as pd

    with path.open("r", encoding="utf-8") as handle:
        frame = pd.read_csv(handle, comment=None, skipinitialspace=True, keep_default_na=True)
    frame.columns = [str(column).strip() for column in frame.columns]
    return frame


class Row(dict[str, Any]):
    """One catalog row: column -> cell (NaN where empty), with the row's id as ``name``."""

    def __init__(self, name: str, cells: Mapping[str, Any]) -> None:
        super().__init__(cells)
        self.name = name

    def to_dict(self) -> dict[str, Any]:
        """The row as a plain dict, column -> cell."""
        return dict(self)


def _typed_column(cells: list[str | None]) -> list[Any]:
    """A column's text cells in the types pandas' reader infers: whole numbers (none missing) as int64,
    numbers as float64, true/false (none missing) as bool, else text; missing cells are NaN."""
    present = [cell for cell in cells if cell is not None]
    complete = len(present) == len(cells)
    if complete and present and all(_INT_TEXT.fullmatch(cell) for cell in present):
        return [np.int64(int(cell)) for cell in present]
    try:
        return [np.float64(math.nan) if cell is None else np.float64(_float(cell)) for cell in cells]
    except ValueError:
        pass
    if present and all(cell in _BOOL_TEXT for cell in present):
        if complete:
            return [np.bool_(_BOOL_TEXT[cell]) for cell in present]
        return [math.nan if cell is None else _BOOL_TEXT[cell] for cell in cells]
    return [math.nan if cell is None else cell for cell in cells]


def _float(text: str) -> float:
    """The number a cell's text spells, as pandas' reader parses it (which, unlike ``float``, refuses ``_``)."""
    if "_" in text:
        raise ValueError(text)
    return float(text)


class Table:
    """One catalog table: its column names and its rows as records (column -> cell), in file order.

    ``text`` keeps the cells as read (``None`` where missing) for the check against ``columns.csv``.
    """

    def __init__(self, columns: Sequence[str], records: list[dict[str, Any]],
                 frame: pd.DataFrame | None = None, text: Mapping[str, list[str | None]] | None = None,
                 path: Path | Any | None = None) -> None:
        self.columns = list(columns)
        self.records = records
        self.frame = frame
        self.text = text
        self.path = path

    @classmethod
    def read(cls, path: Path | Any) -> Table:
        """The CSV file ``path`` read with the standard library, cells typed as pandas would type them."""
        with path.open("r", encoding="utf-8", newline="") as handle:
            lines = [line for line in csv.reader(handle, skipinitialspace=True) if line]
        header = [column.strip() for column in lines[0]]
        text: dict[str, list[str | None]] = {column: [] for column in header}
        for line in lines[1:]:
            for index, column in enumerate(header):
                cell = line[index] if index < len(line) else ""
                text[column].append(None if cell in _NA_TEXT else cell)
        typed = {column: _typed_column(cells) for column, cells in text.items()}
        records = [{column: typed[column][at] for column in header} for at in range(len(lines) - 1)]
        return cls(header, records, text=text, path=path)

    @classmethod
    def from_frame(cls, name: str, frame: pd.DataFrame) -> Table:
        """A table built from a DataFrame with an ``id`` column (a catalog extended by user rows)."""
        frame = _indexed(name, frame)
        if name in META_TABLES:
            return cls(list(frame.columns), [_cells(frame.iloc[at]) for at in range(len(frame))], frame)
        # Cells as ``frame.loc`` gives them (``iterrows`` would box numbers differently).
        records = [{"id": row_id, **_cells(frame.iloc[at])} for at, row_id in enumerate(frame.index)]
        return cls(["id", *frame.columns], records, frame)

    def dataframe(self, name: str) -> pd.DataFrame:
        """The table as a DataFrame (indexed by id, but for the meta tables), read once and kept."""
        if self.frame is None:
            import pandas as pd

            raw = _read_csv(self.path) if self.path is not None else pd.DataFrame(self.records, columns=self.columns)
            self.frame = _indexed(name, raw)
        return self.frame


def _indexed(name: str, frame: pd.DataFrame) -> pd.DataFrame:
    """A table's DataFrame as the catalog serves it: indexed by stripped id, but for the meta tables."""
    if name in META_TABLES:
        return frame.reset_index(drop=True)
    frame = frame.copy()
    frame["id"] = frame["id"].astype(str).str.strip()
    return frame.set_index("id", drop=True)


def _cells(row: pd.Series | pd.DataFrame) -> dict[str, Any]:
    """A pandas row's cells by column, as ``frame.loc`` gives them."""
    return {str(column): cell for column, cell in row.items()}


class Column(NamedTuple):
    """One column of a catalog table as ``columns.csv`` declares it: dtype, unit and, for numbers, range."""

    dtype: str
    unit: str
    low: float
    high: float


@lru_cache(maxsize=1)
def _shipped_tables() -> dict[str, Table]:
    """The shipped tables, each checked against ``columns.csv`` (a ScenarioError names the bad cell)."""
    folder = resources.files("neocloud.catalog") / "data"
    tables = {}
    for entry in sorted(folder.iterdir(), key=lambda item: item.name):
        if entry.name.endswith(".csv"):
            tables[entry.name[: -len(".csv")]] = Table.read(entry)
    declared = _declared_columns(tables["columns"])
    for name, table in tables.items():
        if name not in META_TABLES:
            check_table(name, table.text or {}, declared.get(name, {}))
    return tables


def _declared_columns(columns: Table) -> dict[str, dict[str, Column]]:
    out: dict[str, dict[str, Column]] = {}
    for row in columns.records:
        low = float(row["min"]) if not _missing(row["min"]) else -math.inf
        high = float(row["max"]) if not _missing(row["max"]) else math.inf
        out.setdefault(str(row["table"]), {})[str(row["column"])] = Column(
            str(row["dtype"]), str(row["unit"]), low, high)
    return out


def check_table(name: str, table: Any, declared: Mapping[str, Column]) -> None:
    """Check a whole table against its declared columns: each one declared, numbers of their dtype in range.

    ``table`` maps each column to its cells (a dict of lists, or a DataFrame). Raises a one-line
    ScenarioError naming the file ``<name>.csv``, the row id and the column.
    """
    file = f"{name}.csv"
    for column in table:
        spec = declared.get(str(column))
        if spec is None:
            raise ScenarioError(f"column '{column}' is not declared in columns.csv", file=file,
                                field=str(column), allowed=", ".join(declared))
        if spec.dtype not in ("float", "int"):
            continue
        for at, cell in enumerate(table[column]):
            if _missing(cell) or _in_range(cell, spec):
                continue
            row_id = list(table["id"])[at] if "id" in table else at
            raise ScenarioError(f"{cell!r}: is not {_allowed(spec)}", file=file,
                                field=f"{name}.{row_id}.{column}", value=cell)


def _in_range(cell: Any, spec: Column) -> bool:
    """Whether a present cell is a finite number in the column's range (and whole, for an int column)."""
    try:
        number = float(cell)
    except (TypeError, ValueError):
        return False
    return math.isfinite(number) and spec.low <= number <= spec.high and (
        spec.dtype != "int" or number.is_integer())


class Catalog:
    """The shipped tables, plus a user's additions and overrides, looked up by id."""

    def __init__(self, tables: Mapping[str, Table]) -> None:
        self._tables: dict[str, Table] = dict(tables)
        self._rows: dict[str, dict[str, Row]] = {}

    @property
    def names(self) -> list[str]:
        """The data tables (without the meta tables ``sources``, ``columns`` and ``variables``)."""
        return sorted(name for name in self._tables if name not in META_TABLES)

    def _table(self, name: str) -> Table:
        if name not in self._tables:
            raise unknown_id("catalog table", name, self._tables, field="table")
        return self._tables[name]

    def table(self, name: str) -> pd.DataFrame:
        """The table ``name`` as a DataFrame indexed by id (a copy is not made: do not mutate)."""
        return self._table(name).dataframe(name)

    def _index(self, name: str) -> dict[str, Row]:
        """Table ``name``'s rows by id (ids are unique; were one repeated, the last would win)."""
        if name not in self._rows:
            self._rows[name] = {row.name: row for row in (
                Row(str(record["id"]).strip(), {key: value for key, value in record.items() if key != "id"})
                for record in self._table(name).records)}
        return self._rows[name]

    def ids(self, name: str) -> list[str]:
        """The ids of table ``name``, in table order."""
        if name in META_TABLES:
            return list(self.table(name).index)
        return [str(record["id"]).strip() for record in self._table(name).records]

    def records(self, name: str) -> list[dict[str, Any]]:
        """The rows of table ``name`` as records (column -> cell, ``id`` included), in table order; do not mutate."""
        return self._table(name).records

    def has(self, name: str, row_id: Any) -> bool:
        """Whether table ``name`` has a row ``row_id``."""
        return str(row_id) in self._index(name)

    def row(self, name: str, row_id: str, field: str | None = None) -> Row:
        """The row ``row_id`` of table ``name``; an unknown id is a ``ScenarioError`` with a did-you-mean."""
        if name in META_TABLES:
            found = self.table(name).loc[row_id]
            return Row(str(row_id), _cells(found))
        rows = self._index(name)
        if row_id not in rows:
            raise unknown_id(_singular(name), row_id, list(rows), field=field)
        return rows[row_id]

    def value(self, name: str, row_id: str, column: str = "value") -> float:
        """One number from a table, as a float (NaN where the cell is empty)."""
        return float(self.row(name, row_id)[column])

    def sources_of(self, name: str, row_id: str) -> list[dict[str, Any]]:
        """The source records a row cites."""
        cited = str(self.row(name, row_id).get("source", ""))
        sources = {str(record["id"]): record for record in self._table("sources").records}
        out = []
        for source_id in (part.strip() for part in cited.split(";")):
            if source_id and source_id in sources:
                out.append({"id": source_id, **{str(key): value for key, value in sources[source_id].items()
                                                if key != "id"}})
        return out

    def with_rows(self, additions: Mapping[str, Iterable[Mapping[Any, Any]]]) -> Catalog:
        """A new catalog in which the given rows add to or replace shipped rows by id."""
        tables = dict(self._tables)
        for name, rows in additions.items():
            listed: list[dict[str, Any]] = [dict(row) for row in rows]
            if not listed:
                continue
            if name not in tables:
                raise unknown_id("catalog table", name, self.names, field=f"catalog.{name}")
            tables[name] = Table.from_frame(name, self._merged(name, listed))
        return Catalog(tables)

    def _merged(self, name: str, rows: list[dict[str, Any]]) -> pd.DataFrame:
        """Table ``name`` (with an ``id`` column) with ``rows`` checked and added or replacing rows by id."""
        import pandas as pd

        base = self.table(name)
        base = base.reset_index() if name not in META_TABLES else base
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
        return pd.concat([keep, pd.DataFrame(merged)], ignore_index=True)


@lru_cache(maxsize=1)
def column_types() -> dict[str, dict[str, Column]]:
    """Every table's declared columns from ``columns.csv``: table -> column -> Column(dtype, unit, low, high)."""
    return _declared_columns(_shipped_tables()["columns"])


@cache
def required_columns(name: str) -> tuple[str, ...]:
    """The columns a new row of a shipped table must give: those filled in every shipped row."""
    table = _shipped_tables().get(name)
    if table is None or table.text is None:
        return ()
    return tuple(column for column in table.columns
                 if column not in FILLED_COLUMNS and all(cell is not None for cell in table.text[column]))


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
    for record in _shipped_tables()["defaults"].records:
        if record["id"] == field:
            return float(record["value"])
    raise KeyError(f"defaults.csv has no row {field!r}")


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
