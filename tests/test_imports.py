"""The package's import graph has no cycles, and the quick commands start without the heavy libraries."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"
PACKAGE = SRC / "neocloud"
HEAVY = ("xarray", "scipy", "plotly", "linopy", "dask", "fastapi", "sqlalchemy", "jinja2", "SALib", "pandas",
         "pyarrow")


def module_name(path: Path) -> str:
    """The dotted module name of a file under ``src``."""
    parts = path.relative_to(SRC).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def module_level_imports(tree: ast.Module) -> list[ast.Import | ast.ImportFrom]:
    """The imports a module runs when it is imported: its body's, not functions' or TYPE_CHECKING blocks'."""
    found: list[ast.Import | ast.ImportFrom] = []
    pending: list[ast.stmt] = list(tree.body)
    while pending:
        node = pending.pop()
        if isinstance(node, ast.Import | ast.ImportFrom):
            found.append(node)
        elif isinstance(node, ast.If) and not _is_type_checking(node):
            pending.extend([*node.body, *node.orelse])
        elif isinstance(node, ast.Try):
            pending.extend([*node.body, *node.orelse, *node.finalbody,
                            *(line for handler in node.handlers for line in handler.body)])
    return found


def import_graph() -> dict[str, set[str]]:
    """Module -> the neocloud modules it imports at import time (``from pkg import mod`` points to mod)."""
    files = {module_name(path): path for path in PACKAGE.rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in files.items():
        targets: set[str] = set()
        for node in module_level_imports(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                targets.update(alias.name for alias in node.names if alias.name in files)
            elif node.module and node.level == 0 and node.module.split(".")[0] == "neocloud":
                for alias in node.names:
                    child = f"{node.module}.{alias.name}"
                    targets.add(child if child in files else node.module)
        graph[name] = {target for target in targets if target in files and target != name}
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle of ``graph`` as a list of modules (first repeated at the end), or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for target in sorted(graph[node]):
            if state.get(target) == 1:
                return [*path[path.index(target):], target]
            if target not in state and (cycle := visit(target)):
                return cycle
        path.pop()
        state[node] = 2
        return None

    for start in sorted(graph):
        if start not in state and (cycle := visit(start)):
            return cycle
    return None


def test_find_cycle_finds_one() -> None:
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": set()}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_the_graph_sees_the_package() -> None:
    graph = import_graph()
    assert "neocloud.cli.root" in graph["neocloud.cli.run"]
    assert "neocloud.report.parts" in graph["neocloud.report.design"]


def test_no_import_cycles() -> None:
    cycle = find_cycle(import_graph())
    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])


def _loaded_after(argv: list[str]) -> dict[str, object]:
    """Run the command line's entry point in a fresh interpreter; its exit code and the heavy modules loaded."""
    code = (
        "import json, sys\n"
        "from neocloud.cli import main\n"
        "try:\n"
        f"    main({argv!r})\n"
        "except SystemExit as stop:\n"
        "    code = stop.code\n"
        "else:\n"
        "    code = 0\n"
        f"heavy = sorted(name for name in {HEAVY!r} if name in sys.modules)\n"
        "print(json.dumps({'code': code, 'heavy': heavy}), file=sys.stderr)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                          env={"PYTHONPATH": str(SRC), "PATH": "/usr/bin:/bin"}, cwd=SRC.parent, check=False)
    return dict(json.loads(done.stderr.strip().splitlines()[-1]))


@pytest.mark.parametrize("argv", [
    ["--help"],
    ["validate", "examples/abilene.yaml"],
    ["size", "--accelerator", "h100-sxm", "--count", "1000"],
    ["size", "--accelerator", "gb200", "--count", "100000", "--json"],
])
def test_quick_commands_start_without_heavy_libraries(argv: list[str]) -> None:
    result = _loaded_after(argv)
    assert result["code"] == 0
    assert result["heavy"] == []


def test_a_missing_extra_is_one_line_naming_it(monkeypatch: pytest.MonkeyPatch,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    import importlib.util

    from neocloud.cli import main

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *rest: None if name == "fastapi" else real(name, *rest))
    with pytest.raises(SystemExit) as stop:
        main(["serve"])
    assert stop.value.code == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert "fastapi" in err and "pip install 'neocloud[web]'" in err
