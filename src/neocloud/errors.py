"""The errors a user can cause, and how they read."""

from __future__ import annotations

import difflib
import importlib.util
from collections.abc import Iterable
from typing import Any


class NeocloudError(Exception):
    """Base of every error neocloud raises on purpose."""


class ScenarioError(NeocloudError, ValueError):
    """A user's input is invalid or physically impossible.

    Carries the file, the dotted field path, the value given and what is allowed; ``str()`` is one line.
    """

    def __init__(
        self,
        message: str,
        *,
        file: str | None = None,
        line: int | None = None,
        field: str | None = None,
        value: Any = None,
        allowed: str | None = None,
    ) -> None:
        self.message = message
        self.file = file
        self.line = line
        self.field = field
        self.value = value
        self.allowed = allowed
        super().__init__(self.__str__())

    def __str__(self) -> str:
        where = ""
        if self.file:
            where = f"{self.file}:{self.line}: " if self.line else f"{self.file}: "
        field = f"{self.field}: " if self.field else ""
        allowed = f"; allowed: {self.allowed}" if self.allowed else ""
        return " ".join(f"{where}{field}{self.message}{allowed}".split())

    def located(self, file: str | None = None, line: int | None = None) -> ScenarioError:
        """Return the same error with the file (and line) filled in where they were unknown."""
        return ScenarioError(
            self.message,
            file=self.file or file,
            line=self.line or line,
            field=self.field,
            value=self.value,
            allowed=self.allowed,
        )


def unknown_id(kind: str, value: str, known: Iterable[str], field: str | None = None) -> ScenarioError:
    """An error for an id that is not in a catalog table, with the allowed ids and a did-you-mean."""
    known = sorted(known)
    close = difflib.get_close_matches(str(value), known, n=1, cutoff=0.5)
    hint = f" (did you mean '{close[0]}'?)" if close else ""
    shown = ", ".join(known[:30]) + (", ..." if len(known) > 30 else "")
    return ScenarioError(f"'{value}' is not a known {kind}{hint}", field=field, value=value, allowed=shown)


EXTRAS = {
    "web": ("fastapi", "uvicorn", "multipart"),
    "opt": ("linopy", "highspy"),
    "dask": ("dask", "distributed"),
    "report": ("plotly",),
}
"""The optional extras of the package and the modules each one brings (pyproject's optional dependencies)."""


def require_extra(extra: str, what: str) -> None:
    """Raise a one-line ScenarioError naming ``pip install 'neocloud[EXTRA]'`` when a module of ``extra`` is
    missing; ``what`` names the command or feature that needs it."""
    missing = [module for module in EXTRAS[extra] if importlib.util.find_spec(module) is None]
    if missing:
        raise ScenarioError(f"{what} needs {', '.join(missing)}, which is not installed",
                            field="install", value=extra, allowed=f"pip install 'neocloud[{extra}]'")


def require_non_negative(values: Any, field: str, strictly: bool = False) -> None:
    """Raise a ScenarioError when any draw of ``values`` is negative (or zero when ``strictly``)."""
    import numpy as np  # here: the error types load without numpy

    values = np.asarray(values, dtype=float)
    bad = values <= 0 if strictly else values < 0
    if np.any(bad):
        raise ScenarioError(
            f"must be {'positive' if strictly else 'zero or more'}; got {float(values[bad][0]):g}",
            field=field,
            value=float(values[bad][0]),
        )
