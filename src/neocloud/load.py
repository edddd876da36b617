"""Load a scenario file: is it valid, and do its catalog references resolve?

Errors name the file, the line, the dotted field path, the value given and what is allowed.
"""

from __future__ import annotations

import difflib
import types
import typing
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from neocloud.catalog import Catalog, load_catalog
from neocloud.errors import ScenarioError, unknown_id
from neocloud.scenario import Scenario
from neocloud.uncertainty import check_support, correlation_matrix, uncertain_inputs

MAX_FILE_BYTES = 2_000_000


def read_yaml(path: str | Path, kind: str = "scenario") -> tuple[Any, dict[tuple[str, ...], int], str]:
    """Parse a YAML file (a ``kind`` of file): its data, the line of every key (by field path) and its text."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise ScenarioError("no such file", file=str(path)) from None
    except IsADirectoryError:
        raise ScenarioError(f"is a folder, not a {kind} file", file=str(path)) from None
    return parse_yaml(raw, str(path))


def parse_yaml(raw: bytes | str, name: str = "<scenario>") -> tuple[Any, dict[tuple[str, ...], int], str]:
    """Parse YAML text from memory: its data, the line of every key, and the text."""
    if len(raw) > MAX_FILE_BYTES:
        raise ScenarioError(f"is {len(raw):,} bytes; a scenario may have at most {MAX_FILE_BYTES:,}", file=name)
    try:
        text = raw.decode("utf-8") if isinstance(raw, bytes) else raw
    except UnicodeDecodeError as err:
        raise ScenarioError(f"is not UTF-8 text (byte {err.start})", file=name) from None
    try:
        data = yaml.safe_load(text)
        node = yaml.compose(text)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        problem = getattr(err, "problem", None) or "cannot be parsed"
        raise ScenarioError(f"is not valid YAML: {problem}", file=name,
                            line=mark.line + 1 if mark else None) from None
    lines: dict[tuple[str, ...], int] = {}
    if node is not None:
        _index_lines(node, (), lines)
    return data, lines, text


def _index_lines(node: yaml.Node, path: tuple[str, ...], lines: dict[tuple[str, ...], int]) -> None:
    lines.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            child = (*path, str(key.value))
            lines[child] = key.start_mark.line + 1
            _index_lines(value, child, lines)
    elif isinstance(node, yaml.SequenceNode):
        for index, value in enumerate(node.value):
            _index_lines(value, (*path, str(index)), lines)


def _line_of(lines: dict[tuple[str, ...], int], path: tuple[str, ...]) -> int | None:
    while path:
        if path in lines:
            return lines[path]
        path = path[:-1]
    return None


def _model_fields_at(model: type[BaseModel], path: tuple[str, ...]) -> list[str]:
    """The field names a model accepts at ``path`` (for 'allowed' in unknown-field errors)."""
    current: Any = model
    for part in path:
        if part.isdigit():
            continue
        if not (isinstance(current, type) and issubclass(current, BaseModel)) or part not in current.model_fields:
            return []
        current = _inner_model(current.model_fields[part].annotation)
    if isinstance(current, type) and issubclass(current, BaseModel):
        return list(current.model_fields)
    return []


def _inner_model(annotation: Any) -> Any:
    """The pydantic model inside an annotation such as ``Phase``, ``list[Phase]`` or ``Site | None``."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    if typing.get_origin(annotation) in (list, types.UnionType, typing.Union, dict):
        for arg in typing.get_args(annotation):
            inner = _inner_model(arg)
            if inner is not None:
                return inner
    return None


def validation_error(err: ValidationError, model: type[BaseModel], file: str,
                     lines: dict[tuple[str, ...], int]) -> ScenarioError:
    """Turn pydantic's first error into one clear ScenarioError line."""
    errors = err.errors(include_url=False)
    first = errors[0]
    if isinstance(first.get("input"), dict):  # a Num given a mapping: report the distribution's error
        first = next((error for error in errors if any("Dist" in str(part) for part in error["loc"])), first)
    path = tuple(str(part) for part in first["loc"])
    # a union (number or distribution) reports each arm; keep the path up to the union
    path = tuple(part for part in path if part not in ("float", "int", "str", "Dist") and "[" not in part)
    field = ".".join(path) or None
    kind, value = first["type"], first.get("input")
    if kind == "missing":
        return ScenarioError("is required but missing", file=file, line=_line_of(lines, path[:-1]), field=field,
                             allowed=", ".join(_model_fields_at(model, path[:-1])) or None)
    if kind == "extra_forbidden":
        known = _model_fields_at(model, path[:-1])
        close = difflib.get_close_matches(path[-1], known, n=1, cutoff=0.6)
        hint = f" (did you mean '{close[0]}'?)" if close else ""
        return ScenarioError(f"is not a known field{hint}", file=file, line=_line_of(lines, path), field=field,
                             allowed=", ".join(known) or None)
    message = first["msg"]
    message = message.removeprefix("Value error, ")
    shown = repr(value) if not isinstance(value, dict | list) else type(value).__name__
    if len(shown) > 60:
        shown = shown[:57] + "..."
    return ScenarioError(f"{shown}: {message[0].lower()}{message[1:]}", file=file, line=_line_of(lines, path),
                         field=field, value=value)


def catalog_references(model: BaseModel, path: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], str, Any]]:
    """Every (field path, catalog table, value) in a validated model whose field names a catalog table.

    A field refers to the catalog when its pydantic ``json_schema_extra`` has ``{"catalog": TABLE}``.
    """
    for name, info in type(model).model_fields.items():
        value = getattr(model, name)
        extra = info.json_schema_extra if isinstance(info.json_schema_extra, dict) else {}
        if "catalog" in extra and value is not None:
            for index, item in enumerate(value if isinstance(value, list) else [value]):
                sub = (*path, name, str(index)) if isinstance(value, list) else (*path, name)
                yield sub, str(extra["catalog"]), item
        elif isinstance(value, BaseModel):
            yield from catalog_references(value, (*path, name))
        elif isinstance(value, list):
            for index, item in enumerate(value):
                if isinstance(item, BaseModel):
                    yield from catalog_references(item, (*path, name, str(index)))


def check_references(model: BaseModel, catalog: Catalog, file: str,
                     lines: dict[tuple[str, ...], int]) -> None:
    """Raise a ScenarioError (with a did-you-mean) for the first catalog id that does not resolve."""
    for path, table, value in catalog_references(model):
        if str(value) not in catalog.table(table).index:
            error = unknown_id(_kind(table), value, catalog.ids(table), field=".".join(path))
            raise error.located(file, _line_of(lines, path))


def _kind(table: str) -> str:
    return {"accelerators": "accelerator", "systems": "system", "climates": "climate", "regions": "region",
            "fabrics": "fabric", "cooling": "cooling technology"}.get(table, f"{table} id")


def scenario_catalog(scenario: Scenario, paths: tuple[str | Path, ...] = ()) -> Catalog:
    """The catalog a scenario sees: the shipped one plus the scenario's own rows."""
    try:
        return load_catalog(paths, scenario.catalog)
    except ScenarioError as err:
        raise err from None


def load(path: str | Path, catalog: Catalog | None = None) -> Scenario:
    """Load and validate a campus scenario file; raise ScenarioError on the first problem."""
    data, lines, _ = read_yaml(path)
    return validate(data, str(path), lines, catalog)


def validate(data: Any, file: str = "<scenario>", lines: dict[tuple[str, ...], int] | None = None,
             catalog: Catalog | None = None) -> Scenario:
    """Validate already-parsed scenario data (a dict) against the format and the catalog."""
    lines = lines or {}
    if not isinstance(data, dict):
        raise ScenarioError(f"must be a mapping of fields, not {type(data).__name__}", file=file, line=1)
    if data.get("kind") == "portfolio":
        raise ScenarioError("is a portfolio; solve it with 'neocloud optimize'", file=file,
                            line=_line_of(lines, ("kind",)), field="kind")
    try:
        scenario = Scenario.model_validate(data)
    except ValidationError as err:
        raise validation_error(err, Scenario, file, lines) from None
    try:
        catalog = catalog or scenario_catalog(scenario)
    except ScenarioError as err:
        raise err.located(file, _line_of(lines, ("catalog",))) from None
    check_references(scenario, catalog, file, lines)
    check_distributions(scenario, file, lines)
    return scenario


def check_distributions(scenario: Scenario, file: str, lines: dict[tuple[str, ...], int]) -> None:
    """Raise, with the line, when a distribution leaves its field's range or correlations cannot hold."""
    found = uncertain_inputs(scenario)
    try:
        check_support(scenario, found)
        correlation_matrix(scenario, [".".join(path) for path, _ in found])
    except ScenarioError as err:
        path = tuple(err.field.split(".")) if err.field else ()
        raise err.located(file, _line_of(lines, path)) from None
