"""Progress on long work: the optimiser names its steps, HiGHS's log goes to stderr with --verbose, and
--json output stays one object."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from neocloud.cli import main
from neocloud.optimize import load_portfolio, optimize

from .test_optimize import small


def test_optimize_names_its_steps_in_order(tmp_path: Path) -> None:
    path = tmp_path / "small.yaml"
    path.write_text(yaml.safe_dump(small(), sort_keys=False), encoding="utf-8")
    seen: list[str] = []
    result = optimize(load_portfolio(path), time_limit=30, gap=0, progress=seen.append)
    assert result["plan"]
    assert seen[0].startswith("unit economics")
    assert any("HiGHS MILP" in step for step in seen)
    assert seen[-2].startswith("shadow prices") and seen[-1].startswith("running the plan")


def test_verbose_writes_the_highs_log_to_stderr_and_json_stays_clean(
        tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "small.yaml"
    path.write_text(yaml.safe_dump(small(), sort_keys=False), encoding="utf-8")
    try:
        main(["optimize", str(path), "--json", "--verbose", "--time-limit", "30", "--gap", "0"])
    except SystemExit as exited:
        assert exited.code in (0, None)
    captured = capfd.readouterr()
    assert json.loads(captured.out)["plan"]  # stdout is the one JSON object
    assert "HiGHS" in captured.err
    try:
        main(["optimize", str(path), "--json", "--time-limit", "30", "--gap", "0"])
    except SystemExit as exited:
        assert exited.code in (0, None)
    quiet = capfd.readouterr()
    assert json.loads(quiet.out)["plan"] and "HiGHS" not in quiet.err
