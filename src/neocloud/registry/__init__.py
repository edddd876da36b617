"""The variables registry: what every stage reads and makes, with dims and units, as data.

``catalog/data/variables.csv`` has one row per variable of the pipeline's Dataset and per key of a JSON
summary (PyPSA's component attribute tables are the model: data that drives validation, defaults and
docs). Columns: ``name``; ``stage`` (the one that makes it); ``dims`` (comma-separated, empty for a
summary key that is not a Dataset variable); ``unit`` (a word of :data:`UNITS`); ``summary`` (1: a key of
the JSON summary); ``contract`` (its place among DESIGN.md's JSON keys, 0: not one); ``additive`` (its
place among the figures a programme or a plan sums across campuses, 0: not one); ``optional`` (1: made
only by some scenarios, such as debt tranches); ``label``, ``headline`` and ``description`` for readers.

Each stage module declares ``READS``, the upstream variables it reads; what it makes is the registry's
rows of its stage. :func:`check_reads`, :func:`check_makes` and :func:`check_units` hold a run to both.
A run that keeps only its variables without a month drops some variables unread (:func:`unread_months`);
within :func:`dropping` a stage may make stand-ins of their dims for them instead of their values.
``python -m neocloud.registry --markdown`` prints the stages with what each reads and makes.
"""

from __future__ import annotations

import csv
import sys
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

# The pipeline's steps in the order they run; ``realise`` makes the coordinates every stage shares.
PIPELINE_STAGES = ("realise", "design", "buildout", "energy", "reliability", "compute", "finance", "inference")
# Rows of these stages are summary keys only, never variables of a campus's Dataset.
SUMMARY_STAGES = ("scenario", "programme")

# The controlled vocabulary of units: one word per concept.
UNITS: dict[str, str] = {
    "count": "a number of things (accelerators, systems, racks, buildings, draws)",
    "count/year": "things per year",
    "index": "a position or label number without a unit (a draw, a calendar month 1 to 12)",
    "code": "an integer code whose meanings the variable's flag_meanings attribute lists",
    "text": "words: a name or a label",
    "table": "rows of figures (a programme's campuses)",
    "date": "a calendar month start",
    "month": "a month of the horizon, counted from the scenario's start (month 0)",
    "months": "a duration in months",
    "year": "a calendar year",
    "years": "a duration in years",
    "days": "a duration in days",
    "h": "a duration in hours",
    "min": "a duration in minutes",
    "ms": "a duration in milliseconds",
    "1/day": "events per day",
    "fraction": "a share, 0 to 1 (shown as a percentage)",
    "fraction/year": "a rate per year (interest, discount, return)",
    "ratio": "a dimensionless multiple that is not a share (PUE, DSCR, a scale factor)",
    "kW": "kilowatts",
    "MW": "megawatts",
    "GW": "gigawatts",
    "GW/year": "gigawatts a year",
    "MWh": "megawatt-hours",
    "MWh/year": "megawatt-hours a year",
    "t": "tonnes (of CO2)",
    "t/year": "tonnes a year (of CO2)",
    "m3": "cubic metres (of water)",
    "m3/year": "cubic metres a year (of water)",
    "USD": "US dollars, nominal",
    "USD/year": "US dollars a year",
    "USD/MWh": "US dollars per megawatt-hour",
    "USD/GPU-hour": "US dollars per accelerator-hour",
    "USD/kW-month": "US dollars per kilowatt of IT per month",
    "USD/MW-year": "US dollars per megawatt of IT per year",
    "USD/Mtoken": "US dollars per million tokens",
    "GPU-hours": "accelerator-hours",
    "PFLOP/s": "10^15 floating-point operations per second",
    "tokens/s": "tokens per second",
    "tokens/MWh": "tokens per megawatt-hour",
    "wafers/month": "wafer starts per month",
}


class ContractError(RuntimeError):
    """A stage broke its contract: it read what it did not declare or what is not upstream, or made other
    variables than the registry lists, or with other dims or units. A fault of neocloud, not of the input,
    so it is no ``NeocloudError``: the CLI and the server report it as an unexpected error."""


@dataclass(frozen=True)
class Variable:
    """One row of the registry."""

    name: str
    stage: str
    dims: tuple[str, ...]
    unit: str
    summary: bool
    contract: int
    additive: int
    optional: bool
    label: str
    headline: bool
    description: str

    @property
    def in_dataset(self) -> bool:
        """Whether the variable is one of the pipeline Dataset's (not a summary key alone)."""
        return self.stage in PIPELINE_STAGES


def _flag(text: str) -> int:
    return int(text.strip() or 0)


@cache
def variables() -> dict[str, Variable]:
    """The registry's rows by name, in file order (read once, with the standard library only)."""
    path = resources.files("neocloud.catalog") / "data" / "variables.csv"
    with path.open("r", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    return {
        row["name"]: Variable(
            name=row["name"], stage=row["stage"],
            dims=tuple(part.strip() for part in row["dims"].split(",") if part.strip()),
            unit=row["unit"], summary=_flag(row["summary"]) == 1, contract=_flag(row["contract"]),
            additive=_flag(row["additive"]), optional=_flag(row["optional"]) == 1, label=row["label"],
            headline=_flag(row["headline"]) == 1, description=row["description"],
        )
        for row in rows
    }


def _ordered(column: str) -> tuple[str, ...]:
    placed = [(getattr(entry, column), name) for name, entry in variables().items() if getattr(entry, column)]
    return tuple(name for _, name in sorted(placed))


def contract_keys() -> tuple[str, ...]:
    """DESIGN.md's JSON summary keys, in its order (the registry's ``contract`` column)."""
    return _ordered("contract")


def additive_keys() -> tuple[str, ...]:
    """Summary keys that add up across campuses (a programme's or a plan's totals), in the totals' order."""
    return _ordered("additive")


def makes(stage: str) -> tuple[str, ...]:
    """The variables ``stage`` makes, in registry order."""
    return tuple(name for name, entry in variables().items() if entry.stage == stage)


def maker(name: str) -> str:
    """The stage that makes ``name`` (``unknown`` when the registry has no row)."""
    entry = variables().get(name)
    return entry.stage if entry else "unknown"


# The variables the run in progress drops unread (set by :func:`dropping`; none outside it).
_DROPPED: ContextVar[frozenset[str]] = ContextVar("dropped", default=frozenset())


def unread_months(reads: Mapping[str, Iterable[str]]) -> frozenset[str]:
    """The pipeline's variables along ``draw`` and ``month`` that no stage reads (``reads``: what each stage
    reads): what a run keeping only its variables without a month drops unread."""
    read = {name for names in reads.values() for name in names}
    return frozenset(name for name, entry in variables().items()
                     if entry.in_dataset and entry.dims[:1] == ("draw",) and "month" in entry.dims and name not in read)


@contextmanager
def dropping(names: frozenset[str]) -> Iterator[None]:
    """Within the block, :func:`dropped` gives ``names``: variables the run drops unread, which a stage may make
    as stand-ins of their dims (the contract checks still see their names and dims)."""
    token = _DROPPED.set(names)
    try:
        yield
    finally:
        _DROPPED.reset(token)


def dropped() -> frozenset[str]:
    """The variables the run in progress drops unread (empty outside :func:`dropping`)."""
    return _DROPPED.get()


def check_reads(stage: str, reads: Iterable[str], upstream: Iterable[str]) -> None:
    """Raise ContractError unless every variable ``stage`` declares it reads is registered, made by an
    earlier step and present ``upstream``; the error names the reader and the maker."""
    known, present = variables(), set(upstream)
    earlier = PIPELINE_STAGES[: PIPELINE_STAGES.index(stage)]
    for name in reads:
        if name not in known:
            raise ContractError(f"stage {stage} reads {name}, which the variables registry does not list")
        source = known[name].stage
        if source not in earlier:
            raise ContractError(f"stage {stage} reads {name}, made by stage {source}, which does not run before it")
        if name not in present and not known[name].optional:
            raise ContractError(f"stage {stage} reads {name}, which stage {source} should make but did not")


def check_makes(stage: str, made: Any, upstream: Iterable[str], aliases: Iterable[str] = (),
                readers: Mapping[str, Iterable[str]] | None = None) -> None:
    """Raise ContractError unless the new variables of a stage's output Dataset ``made`` are exactly the
    registry's rows of that stage (optional ones may be missing; ``aliases`` are added later), with the
    registry's dims, and it makes no upstream data variable again (it may carry upstream coordinates).

    ``readers`` (what each stage reads) lets the error for a missing variable name the stages that read it.
    """
    known, before, coords = variables(), set(upstream), set(made.coords)
    again = [name for name in made.variables if name in before and name not in coords]
    if again:
        listed = ", ".join(f"{name} (made by stage {maker(name)})" for name in again)
        raise ContractError(f"stage {stage} makes again what is upstream: {listed}")
    new = [name for name in made.variables if name not in before]
    stray = [name for name in new if name not in known or known[name].stage != stage]
    if stray:
        listed = ", ".join(f"{name} (registry: {maker(name)})" for name in stray)
        raise ContractError(f"stage {stage} makes variables the registry does not give it: {listed}")
    skipped = set(aliases)
    missing = [name for name in makes(stage) if name not in made.variables and name not in before
               and not known[name].optional and name not in skipped]
    if missing:
        read_by = sorted({other for other, names in (readers or {}).items() for name in names if name in missing})
        tail = f" (read by stage {', '.join(read_by)})" if read_by else ""
        raise ContractError(f"stage {stage} did not make {', '.join(missing)}, which the registry says it makes{tail}")
    for name in new:
        dims = tuple(made.variables[name].dims)
        if dims != known[name].dims:
            raise ContractError(f"stage {stage} makes {name} with dims {dims}; the registry says {known[name].dims}")


def stamp_units(made: Any) -> None:
    """Set each data variable's ``units`` attribute to the registry's (the registry is the one source)."""
    known, variables_ = variables(), made.variables  # Variables, not DataArrays: no coordinates built
    for name in made.data_vars:
        if name in known:
            variables_[name].attrs["units"] = known[name].unit


def check_units(dataset: Any) -> None:
    """Raise ContractError unless every data variable has a registry row and the registry's unit, and every
    unit is a word of :data:`UNITS`."""
    known, variables_ = variables(), dataset.variables  # Variables, not DataArrays: no coordinates built
    for name in dataset.data_vars:
        if name not in known:
            raise ContractError(f"{name} is not in the variables registry")
        unit = variables_[name].attrs.get("units")
        if unit != known[name].unit or unit not in UNITS:
            raise ContractError(f"{name} has units {unit!r}; the registry says {known[name].unit!r}")


def markdown(reads: Mapping[str, Iterable[str]]) -> str:
    """The stages in order, each with what it reads (``reads`` by stage) and makes, as a Markdown section."""
    known = variables()
    lines = [
        "## Stages, what they read and what they make",
        "",
        "Generated from `src/neocloud/catalog/data/variables.csv` and each stage's `READS` by",
        "`python -m neocloud.registry --markdown`; a test keeps this section equal to its output.",
        "The pipeline checks on every run that each stage reads only what it declares, that it is there,",
        "and that the stage makes exactly its rows of the registry, with their dims and units.",
        "",
        "```",
        " ─► ".join(PIPELINE_STAGES),
        "```",
        "",
    ]
    for stage in PIPELINE_STAGES:
        made = makes(stage)
        lines += [f"### {stage}", ""]
        read = list(reads.get(stage, ()))
        if read:
            lines.append("Reads: " + ", ".join(f"`{name}` ({known[name].stage})" for name in read) + ".")
        else:
            lines.append("Reads nothing upstream." if stage != "realise" else "Reads the scenario only.")
        lines += ["", "| variable | dims | unit | meaning |", "| --- | --- | --- | --- |"]
        for name in made:
            entry = known[name]
            note = " (only some scenarios)" if entry.optional else ""
            lines.append(f"| `{name}` | {', '.join(entry.dims)} | {entry.unit} | {entry.description}{note} |")
        lines.append("")
    lines += ["### Units", "", "| unit | meaning |", "| --- | --- |"]
    lines += [f"| {unit} | {meaning} |" for unit, meaning in UNITS.items()]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    """``python -m neocloud.registry --markdown``: print the generated architecture section."""
    args = sys.argv[1:] if argv is None else argv
    if args != ["--markdown"]:
        sys.stderr.write("usage: python -m neocloud.registry --markdown\n")
        return 2
    from neocloud.pipeline import stage_reads

    sys.stdout.write(markdown(stage_reads()))
    return 0
