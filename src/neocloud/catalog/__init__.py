"""The catalog: numbers about the world, shipped as CSV tables with their sources.

Every ``*.csv`` in ``data/`` is a table named after its file, indexed by ``id``. ``sources.csv`` lists
the public documents that rows cite; ``columns.csv`` gives every column's type and unit;
``variables.csv`` gives every summary key's stage, unit, label and description. User rows add to or
replace shipped rows by id.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

import pandas as pd

from neocloud.errors import ScenarioError, unknown_id

META_TABLES = ("sources", "columns", "variables")


def _read_csv(path: Path | Any) -> pd.DataFrame:
    with path.open("r", encoding="utf-8") as handle:
        frame = pd.read_csv(handle, comment=None, skipinitialspace=True, keep_default_na=True)
    frame.columns = [str(column).strip() for column in frame.columns]
    return frame


@lru_cache(maxsize=1)
def _shipped_tables() -> dict[str, pd.DataFrame]:
    folder = resources.files("neocloud.catalog") / "data"
    tables = {}
    for entry in sorted(folder.iterdir(), key=lambda item: item.name):
        if entry.name.endswith(".csv"):
            tables[entry.name[: -len(".csv")]] = _read_csv(entry)
    return tables


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
        return frame.loc[row_id]

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
                out.append({"id": source_id, **sources.loc[source_id].to_dict()})
        return out

    def with_rows(self, additions: Mapping[str, Iterable[Mapping[str, Any]]]) -> Catalog:
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
            for index, row in enumerate(rows):
                if "id" not in row:
                    raise ScenarioError("a catalog row needs an 'id'", field=f"catalog.{name}.{index}")
                unknown = sorted(set(row) - set(base.columns))
                if unknown:
                    raise ScenarioError(
                        f"unknown column '{unknown[0]}' for table {name}",
                        field=f"catalog.{name}.{index}.{unknown[0]}",
                        allowed=", ".join(base.columns),
                    )
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


def _singular(name: str) -> str:
    return {"accelerators": "accelerator", "systems": "system", "climates": "climate", "regions": "region",
            "fabrics": "fabric", "cooling": "cooling technology"}.get(name, f"{name} id")


def load_catalog(paths: Iterable[str | Path] = (),
                 overrides: Mapping[str, Iterable[Mapping[str, Any]]] | None = None) -> Catalog:
    """The shipped catalog, extended by CSV tables in ``paths`` (folders) and by ``overrides`` rows."""
    catalog = Catalog(_shipped_tables())
    for folder in paths:
        folder = Path(folder)
        if not folder.is_dir():
            raise ScenarioError("is not a folder", field="catalog", value=str(folder))
        extra = {path.stem: _read_csv(path).to_dict("records") for path in sorted(folder.glob("*.csv"))}
        catalog = catalog.with_rows(extra)
    if overrides:
        catalog = catalog.with_rows(overrides)
    return catalog
