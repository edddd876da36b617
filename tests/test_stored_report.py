"""A kept run's report is drawn from what the store kept: no model runs again, and it names the code
version that made the run."""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest

from neocloud import run
from neocloud.store import Store
from neocloud.version import code_version

from .conftest import EXAMPLES

with warnings.catch_warnings():  # starlette warns at import that it prefers httpx2 over httpx
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient


def _no_model(*args: object, **kwargs: object) -> None:
    raise AssertionError("the report of a kept run ran the model again")


@pytest.fixture(scope="module")
def kept(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, int, dict]:
    """A store holding one run of Abilene with uncertain inputs (three draws, two kept)."""
    url = f"sqlite:///{tmp_path_factory.mktemp('kept') / 'runs.db'}"
    results = run(EXAMPLES / "abilene.yaml", draws=3, seed=1)
    run_id = Store(url, max_kept_draws=2).save(results, origin="test")
    return url, run_id, results.summary()


def test_a_kept_run_records_the_code_version(kept: tuple[str, int, dict]) -> None:
    url, run_id, summary = kept
    stored = Store(url).get(run_id)
    assert stored.version == code_version() and stored.version.startswith("0.")
    again = stored.results()
    assert again.summary() == summary  # the summary of all three draws, though two draws' results were kept
    assert again.dataset.sizes["draw"] == 2


def test_the_report_endpoint_draws_the_kept_run_without_the_model(kept: tuple[str, int, dict],
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    from neocloud.web import create_app

    url, run_id, summary = kept
    client = TestClient(create_app(store_url=url, allowed_hosts=["testserver"]))
    for target in ("neocloud.pipeline.run", "neocloud.pipeline.evaluate", "neocloud.sensitivity.pipeline_evaluate",
                   "neocloud.sensitivity.tornado", "neocloud.report.uncertainty.tornado"):
        monkeypatch.setattr(target, _no_model)
    answer = client.get(f"/api/runs/{run_id}/report")
    assert answer.status_code == 200, answer.text[:300]
    assert f"neocloud {code_version()} (kept run" in answer.text
    assert "the tornado chart, which runs the model again per input" in answer.text
    assert f"{summary['accelerators']:,}" in answer.text


def test_runs_report_writes_the_kept_run_without_the_model(kept: tuple[str, int, dict],
                                                           monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from neocloud.cli import main

    url, run_id, _ = kept
    for target in ("neocloud.pipeline.run", "neocloud.pipeline.evaluate", "neocloud.sensitivity.pipeline_evaluate",
                   "neocloud.report.uncertainty.tornado"):
        monkeypatch.setattr(target, _no_model)
    path = tmp_path / "report.html"
    main(["runs", "report", str(run_id), "--store", url, "--out", str(path)])  # returns when it succeeds
    assert f"neocloud {code_version()} (kept run" in path.read_text(encoding="utf-8")
