"""The command line: the contract's forms, exit code 2 and one line for every mistake, never a traceback."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from neocloud.cli import main

from .conftest import EXAMPLES

CAMPUS_EXAMPLES = ["abilene.yaml", "loughton.yaml", "stargate-norway.yaml", "colossus-memphis.yaml"]


def invoke(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """Run the CLI in-process: (exit code, stdout, stderr)."""
    try:
        main(list(args))
        code = 0
    except SystemExit as exit_:
        code = int(exit_.code or 0)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_run_json_prints_one_object(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = invoke(capsys, "run", str(EXAMPLES / "abilene.yaml"), "--json")
    assert code == 0
    summary = json.loads(out)
    assert summary["accelerators"] == 399_744
    assert summary["facility_power_mw"] > summary["it_power_mw"]


def test_chunked_run_on_two_workers_equals_one(capsys: pytest.CaptureFixture[str],
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    import neocloud.cli.run as cli_run

    monkeypatch.setattr(cli_run, "CHUNKED_ABOVE_DRAWS", 10)  # 24 draws run as three chunks
    args = ("run", str(EXAMPLES / "abilene.yaml"), "--draws", "24", "--chunk-draws", "8", "--no-store", "--json")
    one = json.loads(invoke(capsys, *args)[1])
    two = json.loads(invoke(capsys, *args, "--workers", "2")[1])
    assert one == two
    assert one["draws"] == 24
    code, _, err = invoke(capsys, *args, "--workers", "0")
    assert code == 2 and "--workers" in err


def test_size_json(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = invoke(capsys, "size", "--accelerator", "h100-sxm", "--count", "100000", "--climate",
                          "memphis-tn", "--json")
    assert code == 0
    assert set(json.loads(out)) >= {"accelerators", "systems", "racks", "it_power_mw", "facility_power_mw", "pue"}


def test_schema_and_validate(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = invoke(capsys, "schema")
    assert code == 0
    assert "campus" in json.loads(out)["properties"]
    code, out, _ = invoke(capsys, "validate", str(EXAMPLES / "loughton.yaml"))
    assert (code, out.strip()) == (0, f"ok: {EXAMPLES / 'loughton.yaml'} (Nscale Loughton)")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["size", "--accelerator", "no-such-chip", "--count", "10", "--json"],
         "error: accelerator: 'no-such-chip' is not a known accelerator"),
        (["size", "--accelerator", "h100-sxm", "--count", "-5", "--json"], "error: count: must be at least 1"),
        (["run", "no-such-file.yaml"], "error: no-such-file.yaml: no such file"),
        (["run", str(EXAMPLES / "abilene.yaml"), "--draws", "0"], "Invalid value for '--draws'"),
    ],
)
def test_mistakes_exit_2_with_one_line(capsys: pytest.CaptureFixture[str], args: list[str], message: str) -> None:
    code, _, err = invoke(capsys, *args)
    assert code == 2
    assert message in err
    assert "Traceback" not in err


def test_real_process_exits_2_without_traceback(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: [unclosed\n")
    done = subprocess.run([sys.executable, "-m", "neocloud.cli", "validate", str(bad)], capture_output=True, text=True,
                          check=False)
    assert done.returncode == 2
    assert done.stderr.strip().count("\n") == 0
    assert "is not valid YAML" in done.stderr


def _mutations(data: dict) -> st.SearchStrategy:
    """Paths into a scenario dict and what to do there."""
    paths: list[tuple] = []

    def walk(node: object, path: tuple) -> None:
        paths.append(path)
        if isinstance(node, dict):
            for key, value in node.items():
                walk(value, (*path, key))
        elif isinstance(node, list):
            for index, value in enumerate(node):
                walk(value, (*path, index))

    walk(data, ())
    replacement = st.one_of(st.none(), st.integers(-10**9, 10**9), st.floats(allow_nan=True), st.text(max_size=8),
                            st.lists(st.integers(), max_size=2), st.dictionaries(st.text(max_size=4), st.integers(),
                                                                               max_size=2))
    return st.tuples(st.sampled_from(paths[1:]), st.sampled_from(["drop", "replace"]), replacement)


def _apply(data: dict, path: tuple, action: str, value: object) -> dict:
    copy = json.loads(json.dumps(data))
    node = copy
    for part in path[:-1]:
        node = node[part]
    if action == "drop":
        del node[path[-1]]
    else:
        node[path[-1]] = value
    return copy


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_mutated_examples_exit_cleanly(capsys: pytest.CaptureFixture[str], tmp_path_factory: pytest.TempPathFactory,
                                       data: st.DataObject) -> None:
    name = data.draw(st.sampled_from(CAMPUS_EXAMPLES))
    text = (EXAMPLES / name).read_text()
    folder = tmp_path_factory.mktemp("mutated")
    if data.draw(st.booleans()):
        mutated = text[: data.draw(st.integers(0, len(text)))]
    else:
        original = yaml.safe_load(text)
        path, action, value = data.draw(_mutations(original))
        mutated = yaml.safe_dump(_apply(original, path, action, value))
    scenario = folder / name
    scenario.write_text(mutated)
    code, out, err = invoke(capsys, "run", str(scenario), "--json")
    assert code in (0, 2), err
    if code == 2:
        assert err.startswith("error: ") and err.count("\n") == 1, err
    else:
        assert isinstance(json.loads(out), dict)
