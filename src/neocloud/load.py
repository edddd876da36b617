"""Load a scenario file: is it valid, and do its catalog references resolve?

Errors name the file, the line, the dotted field path, the value given and what is allowed.
"""

from __future__ import annotations

import difflib
import math
import re
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
MAX_YAML_DEPTH = 64  # nesting of mappings and lists; a scenario needs about 8
MAX_YAML_ALIASES = 1_000  # alias uses (``*name``) in one file
MAX_YAML_NODES = 20_000  # values once every alias is expanded (the largest example has about 200)
MAX_NUMBER = 1e15  # no number in a scenario is larger in size (the largest are prices in USD, ~1e12)
# control characters but tab and newlines, and lone surrogates (a JSON body's "\ud800" is not text)
CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]")
NAME_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\ud800-\udfff]")  # in names and ids, none at all
NAME_KEYS = ("name", "id")
NUMBER_TEXT = re.compile(r"[-+]?(\d[\d_]*\.?\d*|\.\d+)([eE][-+]?\d+)?|[-+]?\.?(inf|infinity|nan)", re.IGNORECASE)


class _CappedLoader(yaml.SafeLoader):
    """PyYAML's safe loader, refusing deep nesting and many aliases while it composes (before any expansion)."""

    def __init__(self, stream: str, name: str) -> None:
        super().__init__(stream)
        self.source_name = name
        self.depth = 0
        self.aliases = 0

    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node | None:
        if self.check_event(yaml.AliasEvent):
            self.aliases += 1
            if self.aliases > MAX_YAML_ALIASES:
                self._refuse(f"uses more than {MAX_YAML_ALIASES:,} aliases")
        self.depth += 1
        if self.depth > MAX_YAML_DEPTH:
            self._refuse(f"nests deeper than {MAX_YAML_DEPTH} levels")
        try:
            return super().compose_node(parent, index)
        finally:
            self.depth -= 1

    def _refuse(self, problem: str) -> None:
        mark = self.peek_event().start_mark
        raise ScenarioError(f"is not accepted: it {problem}", file=self.source_name, line=mark.line + 1)


def read_yaml(path: str | Path, kind: str = "scenario") -> tuple[Any, dict[tuple[str, ...], int], str]:
    """Parse a YAML file (a ``kind`` of file): its data, the line of every key (by field path) and its text.

    At most ``MAX_FILE_BYTES`` are read: a larger file (or a device such as ``/dev/zero``) is refused
    before anything is parsed.
    """
    path = Path(path)
    try:
        if path.exists() and not path.is_dir() and not path.is_file():
            raise ScenarioError(f"is not a regular file; a {kind} must be a YAML file", file=str(path))
        with open(path, "rb") as handle:
            raw = handle.read(MAX_FILE_BYTES + 1)
    except FileNotFoundError:
        raise ScenarioError("no such file", file=str(path)) from None
    except IsADirectoryError:
        raise ScenarioError(f"is a folder, not a {kind} file", file=str(path)) from None
    except PermissionError:
        raise ScenarioError("cannot be read (permission denied)", file=str(path)) from None
    return parse_yaml(raw, str(path))


def parse_yaml(raw: bytes | str, name: str = "<scenario>") -> tuple[Any, dict[tuple[str, ...], int], str]:
    """Parse YAML text from memory: its data, the line of every key, and the text.

    The text is composed once with caps on nesting, aliases and the size the aliases expand to, so a
    small hostile file (an alias bomb, 5,000 nested lists) is refused quickly with one line.
    """
    if len(raw) > MAX_FILE_BYTES:
        raise ScenarioError(f"is {len(raw):,} bytes or more; a scenario may have at most {MAX_FILE_BYTES:,}",
                            file=name)
    try:
        text = raw.decode("utf-8") if isinstance(raw, bytes) else raw
    except UnicodeDecodeError as err:
        raise ScenarioError(f"is not UTF-8 text (byte {err.start})", file=name) from None
    try:
        node, data = _compose_and_construct(text, name)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        problem = getattr(err, "problem", None) or getattr(err, "reason", None) or "cannot be parsed"
        raise ScenarioError(f"is not valid YAML: {problem}", file=name,
                            line=mark.line + 1 if mark else None) from None
    lines: dict[tuple[str, ...], int] = {}
    if node is not None:
        _index_lines(node, (), lines)
    return data, lines, text


def _compose_and_construct(text: str, name: str) -> tuple[yaml.Node | None, Any]:
    """The document's node tree (checked for depth, aliases and expansion) and the data built from it."""
    loader = _CappedLoader(text, name)
    try:
        node = loader.get_single_node()
        if node is not None:
            _check_expansion(node, name)
        return node, loader.construct_document(node) if node is not None else None
    finally:
        loader.dispose()


def _check_expansion(root: yaml.Node, name: str) -> None:
    """Refuse a document whose aliases expand to more than ``MAX_YAML_NODES`` nodes (counted, not expanded)."""
    sizes: dict[int, int] = {}
    # children before parents, without recursion: a node's expanded size is one plus its children's
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, done = stack.pop()
        if id(node) in sizes:
            continue
        children = _children(node)
        if done:
            total = 1 + sum(sizes[id(child)] for child in children)
            if total > MAX_YAML_NODES:
                raise ScenarioError(f"is not accepted: its aliases expand to more than {MAX_YAML_NODES:,} values",
                                    file=name, line=node.start_mark.line + 1)
            sizes[id(node)] = total
        else:
            stack.append((node, True))
            stack.extend((child, False) for child in children if id(child) not in sizes)


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.MappingNode):
        return [part for pair in node.value for part in pair]
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    return []


def _index_lines(node: yaml.Node, path: tuple[str, ...], lines: dict[tuple[str, ...], int],
                 seen: set[int] | None = None) -> None:
    """The line of every key by field path; a node reached again through an alias is not walked again."""
    seen = set() if seen is None else seen
    lines.setdefault(path, node.start_mark.line + 1)
    if id(node) in seen:
        return
    seen.add(id(node))
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            child = (*path, str(key.value))
            lines[child] = key.start_mark.line + 1
            _index_lines(value, child, lines, seen)
    elif isinstance(node, yaml.SequenceNode):
        for index, value in enumerate(node.value):
            _index_lines(value, (*path, str(index)), lines, seen)


def check_values(data: Any, file: str, lines: dict[tuple[str, ...], int] | None = None,
                 path: tuple[str, ...] = ()) -> None:
    """Refuse, naming the field, a number that is not finite or is too large, and control characters.

    Every number must be finite and at most ``MAX_NUMBER`` in size (fields check their own, narrower
    ranges after this); text may hold tabs and newlines but no other control character, and a ``name``
    or ``id`` none at all.
    """
    lines = lines or {}
    stack: list[tuple[tuple[str, ...], Any]] = [(path, data)]
    while stack:
        where, value = stack.pop()
        if isinstance(value, dict):
            for key, item in value.items():
                child = (*where, str(key))
                if isinstance(key, str) and NAME_CONTROL.search(key):
                    _refuse_value(file, lines, child, key, "a key may not hold control characters or lone surrogates")
                stack.append((child, item))
        elif isinstance(value, list):
            stack.extend(((*where, str(index)), item) for index, item in enumerate(value))
        elif isinstance(value, str):
            is_name = bool(where) and where[-1] in NAME_KEYS
            if (NAME_CONTROL if is_name else CONTROL).search(value):
                _refuse_value(file, lines, where, value, "may not contain control characters or lone surrogates")
            if not is_name and NUMBER_TEXT.fullmatch(value.strip()):  # text a field would read as a number
                number = float(value.strip().lstrip("+-.") if "inf" in value.lower() else value.replace("_", ""))
                if not math.isfinite(number) or abs(number) > MAX_NUMBER:
                    _refuse_value(file, lines, where, value, f"is not a finite number of at most {MAX_NUMBER:g}")
        elif isinstance(value, bool) or value is None:
            continue
        elif isinstance(value, int | float):
            if isinstance(value, float) and not math.isfinite(value):
                _refuse_value(file, lines, where, value, "is not a finite number")
            if abs(value) > MAX_NUMBER:
                _refuse_value(file, lines, where, value, f"is too large; numbers here are at most {MAX_NUMBER:g}")


def _refuse_value(file: str, lines: dict[tuple[str, ...], int], path: tuple[str, ...], value: Any,
                  problem: str) -> None:
    shown = repr(value).encode("utf-8", "backslashreplace").decode("utf-8")
    shown = shown if len(shown) <= 60 else shown[:57] + "..."
    raise ScenarioError(f"{shown} {problem}", file=file, line=_line_of(lines, path), field=".".join(path) or None,
                        value=value)


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
    path = tuple(part for part in path if part not in ("float", "int", "str", "Dist")
                 and "[" not in part and not part.startswith("constrained-"))
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
        if not catalog.has(table, value):
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
    check_values(data, file, lines)
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


def is_programme(data: Any) -> bool:
    """Whether parsed YAML data is a programme (a mapping with ``kind: programme``)."""
    return isinstance(data, dict) and data.get("kind") == "programme"


def is_programme_file(path: str | Path) -> bool:
    """Whether the YAML file at ``path`` is a programme (False when it is missing or not YAML)."""
    try:
        data, _, _ = read_yaml(path)
    except ScenarioError:
        return False
    return is_programme(data)
