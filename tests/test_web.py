"""The web application: every endpoint, the token, the size limit, the draws cap, no path access, no 5xx."""

from __future__ import annotations

import io
import json
import tempfile
import warnings
from pathlib import Path

import pytest
import xarray as xr
import yaml
from hypothesis import HealthCheck, settings

from neocloud.cli.serve import is_loopback
from neocloud.web import create_app
from neocloud.web.guard import LOOPBACK_HOSTS
from neocloud.web.whatif import Inputs, _distribute, supported_inputs

from .conftest import EXAMPLES

with warnings.catch_warnings():  # starlette warns at import that it prefers httpx2 over httpx
    warnings.simplefilter("ignore")
    import schemathesis
    from fastapi.testclient import TestClient
    from schemathesis.checks import (
        content_type_conformance,
        not_a_server_error,
        response_schema_conformance,
        status_code_conformance,
    )

ABILENE = (EXAMPLES / "abilene.yaml").read_text(encoding="utf-8")
YAML = {"Content-Type": "application/yaml"}
HOSTS = ("testserver", *LOOPBACK_HOSTS)  # the test client's host name, and this machine's


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory):
    """An application with its own SQLite store, a small upload limit and a small draws cap."""
    folder = tmp_path_factory.mktemp("web")
    return create_app(store_url=f"sqlite:///{folder / 'runs.db'}", max_upload_bytes=200_000, max_draws=50,
                      allowed_hosts=HOSTS)


@pytest.fixture(scope="module")
def client(app) -> TestClient:
    """A test client of the open application."""
    return TestClient(app)


def test_dashboard_page_and_assets(client: TestClient) -> None:
    page = client.get("/")
    assert page.status_code == 200 and "neocloud dashboard" in page.text
    assert "cdn" not in page.text.lower() and "https://" not in page.text
    assert client.get("/static/app.js").status_code == 200
    assert client.get("/static/style.css").status_code == 200
    plotly = client.get("/plotly.min.js")
    assert plotly.status_code == 200 and len(plotly.content) > 1_000_000


def test_healthz_and_openapi(client: TestClient) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}  # nothing about the version or the store
    paths = client.get("/openapi.json").json()["paths"]
    for path in (
        "/api/run",
        "/api/validate",
        "/api/runs",
        "/api/runs/{run_id}",
        "/api/runs/{run_id}/report",
        "/api/runs/{run_id}/results",
        "/api/catalog/{table}",
        "/api/preview",
        "/healthz",
    ):
        assert path in paths


def test_run_keeps_the_run_and_serves_its_files(client: TestClient) -> None:
    answer = client.post("/api/run", content=ABILENE, headers={"Content-Type": "application/yaml"})
    assert answer.status_code == 200
    summary = answer.json()
    assert summary["accelerators"] == 399_744 and summary["run_id"] >= 1
    run_id = summary["run_id"]
    listed = client.get("/api/runs").json()
    assert run_id in [row["id"] for row in listed["runs"]]
    record = client.get(f"/api/runs/{run_id}").json()
    assert record["summary"]["accelerators"] == 399_744 and record["scenario_text"] == ABILENE
    report = client.get(f"/api/runs/{run_id}/report")
    assert report.status_code == 200 and "attachment" in report.headers["content-disposition"]
    assert "Inputs and their sources" in report.text and "<script src=" not in report.text
    results = client.get(f"/api/runs/{run_id}/results")
    assert results.headers["content-type"] == "application/x-netcdf"
    with xr.open_dataset(io.BytesIO(results.content), engine="h5netcdf") as opened:
        assert int(opened["accelerators"].values[0]) == 399_744


def test_run_as_json_with_draws_and_compare(client: TestClient) -> None:
    loughton = (EXAMPLES / "loughton.yaml").read_text(encoding="utf-8")
    first = client.post("/api/run?draws=20&seed=1", content=loughton, headers=YAML).json()
    assert "facility_power_mw_p10" in first and first["draws"] == 20
    second = client.post("/api/run", json={"name": "json", **_as_data(loughton)}).json()
    comparison = client.get(f"/api/runs/{first['run_id']}/compare/{second['run_id']}").json()
    assert {row["key"] for row in comparison["rows"]} >= {"accelerators", "capex_usd"}


def _as_data(text: str) -> dict:
    data = yaml.safe_load(text)
    data.pop("name")
    return data


def test_validate(client: TestClient) -> None:
    assert client.post("/api/validate", content=ABILENE, headers=YAML).json()["valid"] is True
    bad = ABILENE.replace("system: gb200-nvl72", "system: gb201-nvl72", 1)
    answer = client.post("/api/validate", content=bad, headers=YAML)
    assert answer.status_code == 422
    assert "did you mean 'gb200-nvl72'" in answer.json()["detail"]
    assert "\n" not in answer.json()["detail"]


@pytest.mark.parametrize("body", ["", "name: [", "- a list", "name: x", "\xff", "{}", "null"])
def test_bad_scenarios_are_422_with_one_line(client: TestClient, body: str) -> None:
    for path in ("/api/run", "/api/validate"):
        answer = client.post(path, content=body.encode("latin-1"), headers=YAML)
        assert answer.status_code == 422, (path, body, answer.text)
        assert isinstance(answer.json()["detail"], str)


def test_draws_are_capped(client: TestClient) -> None:
    assert client.post("/api/run?draws=51", content=ABILENE, headers=YAML).status_code == 422
    assert client.post("/api/preview", json={"scenario": ABILENE, "draws": 51}).status_code == 422
    assert client.post("/api/run?draws=0", content=ABILENE, headers=YAML).status_code == 422


def test_uploads_are_size_limited(client: TestClient) -> None:
    big = ABILENE + "#" * 250_000
    answer = client.post("/api/run", content=big, headers=YAML)
    assert answer.status_code == 413 and "at most 200,000" in answer.json()["detail"]

    def chunks():
        for _ in range(30):
            yield b"#" * 10_000

    assert client.post("/api/validate", content=chunks(), headers=YAML).status_code == 413


def test_no_path_is_read_or_written(client: TestClient, tmp_path: Path) -> None:
    secret = tmp_path / "secret.csv"
    secret.write_text("id,value\nx,1\n")
    for key in ("weather_file", "catalog_path", "output_dir"):
        body = ABILENE + f"\n{key}: {secret}\n"
        answer = client.post("/api/run", content=body, headers=YAML)
        assert answer.status_code == 422 and "never reads or writes a path" in answer.json()["detail"]
    assert client.get("/api/examples/..%2Fpyproject").status_code == 404
    assert client.get("/api/examples/%2Fetc%2Fpasswd").status_code == 404
    assert client.get("/api/catalog/..%2F..%2Fpyproject").status_code == 404
    assert client.get("/static/../store.py").status_code == 404


def test_examples_catalog_and_inputs(client: TestClient) -> None:
    examples = {row["id"]: row for row in client.get("/api/examples").json()}
    assert "default" in examples and "abilene" in examples
    assert client.get("/api/examples/abilene").json()["text"] == ABILENE
    assert client.get("/api/examples/nope").status_code == 404
    systems = client.get("/api/catalog/systems").json()
    assert "gb200-nvl72" in [row["id"] for row in systems["rows"]]
    assert client.get("/api/catalog/sources").status_code == 200
    unknown = client.get("/api/catalog/systemz")
    assert unknown.status_code == 404 and "did you mean 'systems'" in unknown.json()["detail"]
    assert "systems" in client.get("/api/catalog").json()
    options = client.get("/api/inputs").json()
    assert set(options["inputs"]) == set(supported_inputs()) and options["max_draws"] == 50


def test_preview_changes_follow_the_inputs(client: TestClient) -> None:
    base = client.post("/api/preview", json={"scenario": ABILENE}).json()
    assert base["summary"]["accelerators"] == 399_744 and base["inputs"]["buildings"] == 8
    more = client.post("/api/preview", json={"scenario": ABILENE, "inputs": {"accelerators": 500_000}}).json()
    assert abs(more["summary"]["accelerators"] - 500_000) < 8 * 72
    assert more["summary"]["facility_power_mw"] > base["summary"]["facility_power_mw"] * 1.2
    cheaper = client.post(
        "/api/preview", json={"scenario": ABILENE, "inputs": {"power_price_usd_per_mwh": 20}}
    ).json()
    assert cheaper["summary"]["opex_usd_per_year"] < base["summary"]["opex_usd_per_year"]
    assert cheaper["summary"]["facility_power_mw"] == base["summary"]["facility_power_mw"]
    h100 = client.post(
        "/api/preview", json={"scenario": ABILENE, "inputs": {"system": "hgx-h100-8", "buildings": 4}}
    ).json()
    assert h100["inputs"]["system"] == "hgx-h100-8" and h100["inputs"]["buildings"] == 4
    assert len(base["charts"]["monthly"]["accelerators_online"]["p50"]) == len(base["charts"]["dates"])
    bad = client.post("/api/preview", json={"scenario": ABILENE, "inputs": {"system": "gb201-nvl72"}})
    assert bad.status_code == 422 and "did you mean" in bad.json()["detail"]
    assert (
        client.post("/api/preview", json={"scenario": ABILENE, "inputs": {"utilisation": 2}}).status_code
        == 422
    )


def test_distribute_keeps_total_and_minimum() -> None:
    assert sum(_distribute(11, [2, 6])) == 11
    assert _distribute(3, [1, 1, 1, 1]) == [1, 1, 1, 1]  # every phase keeps a building
    assert sum(_distribute(100, [0.0, 0.0], minimum=0)) == 100
    assert Inputs().model_dump(exclude_none=True) == {}


def test_unknown_run_is_404(client: TestClient) -> None:
    for path in (
        "/api/runs/999999",
        "/api/runs/999999/report",
        "/api/runs/999999/results",
        "/api/runs/1/compare/999999",
    ):
        answer = client.get(path)
        assert answer.status_code == 404, path
    assert client.get("/api/runs/0").status_code == 422
    assert client.get("/api/runs/abc").status_code == 422


def test_token_protects_the_api(tmp_path: Path) -> None:
    guarded = TestClient(create_app(store_url=f"sqlite:///{tmp_path / 'runs.db'}", token="s3cret", allowed_hosts=HOSTS))
    assert guarded.get("/api/runs").status_code == 401
    assert guarded.get("/api/runs", headers={"Authorization": "Bearer wrong"}).status_code == 401
    assert guarded.get("/api/runs", headers={"Authorization": "Bearer s3cret"}).status_code == 200
    assert guarded.post("/api/run", content=ABILENE, headers=YAML).status_code == 401
    assert guarded.get("/healthz").status_code == 200  # liveness stays open
    assert guarded.get("/").status_code == 200  # the page itself holds no data


def test_token_from_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NEOCLOUD_TOKEN", "from-env")
    guarded = TestClient(create_app(store_url=f"sqlite:///{tmp_path / 'runs.db'}", allowed_hosts=HOSTS))
    assert guarded.get("/api/examples").status_code == 401
    assert guarded.get("/api/examples", headers={"Authorization": "Bearer from-env"}).status_code == 200


def test_serve_refuses_the_network_without_a_token() -> None:
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost")
    assert not is_loopback("0.0.0.0") and not is_loopback("example.org")


SCHEMA_STORE = Path(tempfile.mkdtemp(prefix="neocloud-schemathesis-")) / "runs.db"
SCHEMA_TOKEN = "schema-token"
schema = schemathesis.openapi.from_asgi(
    "/openapi.json",
    create_app(store_url=f"sqlite:///{SCHEMA_STORE}", max_upload_bytes=100_000, max_draws=5, allowed_hosts=HOSTS),
)
guarded_schema = schemathesis.openapi.from_asgi(
    "/openapi.json",
    create_app(store_url=f"sqlite:///{SCHEMA_STORE}", max_upload_bytes=100_000, max_draws=5, allowed_hosts=HOSTS,
               token=SCHEMA_TOKEN),
)
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


@pytest.mark.filterwarnings("ignore")
@schema.parametrize()
@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
def test_schemathesis_finds_no_server_error(case) -> None:
    case.call_and_validate(checks=CHECKS)


@pytest.mark.filterwarnings("ignore")
@guarded_schema.parametrize()
@settings(max_examples=15, deadline=None, suppress_health_check=list(HealthCheck))
def test_schemathesis_with_the_token_finds_no_server_error(case) -> None:
    case.call_and_validate(checks=CHECKS, headers={"Authorization": f"Bearer {SCHEMA_TOKEN}"})


@pytest.mark.filterwarnings("ignore")
@guarded_schema.parametrize()
@settings(max_examples=5, deadline=None, suppress_health_check=list(HealthCheck))
def test_schemathesis_without_the_token_gets_nothing(case) -> None:
    answer = case.call()
    assert answer.status_code < 500, answer.text
    if case.path.startswith("/api/"):  # refused: the token (401), or the request's form before it (405, 413, 415)
        assert 400 <= answer.status_code < 500, answer.text


def test_the_bearer_scheme_is_declared_only_where_applied() -> None:
    open_paths = TestClient(create_app(store_url=f"sqlite:///{SCHEMA_STORE}", allowed_hosts=HOSTS))
    assert "securitySchemes" not in open_paths.get("/openapi.json").json().get("components", {})
    guarded = TestClient(create_app(store_url=f"sqlite:///{SCHEMA_STORE}", allowed_hosts=HOSTS, token="t"))
    document = guarded.get("/openapi.json").json()
    assert "HTTPBearer" in document["components"]["securitySchemes"]
    assert document["paths"]["/api/runs"]["get"]["security"] == [{"HTTPBearer": []}]
    assert "security" not in document["paths"]["/healthz"]["get"]


@pytest.mark.parametrize(
    ("inputs", "draws"),
    [
        ({"utilisation": 0.6}, 1),
        ({"discount_rate": 0.11, "price_usd_per_gpu_hour": 2.5}, 1),
        ({"power_price_usd_per_mwh": 41}, 1),
        ({"power_price_usd_per_mwh": 41, "utilisation": 0.7}, 6),
        ({"accelerators": 250_000}, 1),
    ],
)
def test_a_preview_rerunning_only_downstream_stages_equals_a_full_run(inputs: dict, draws: int) -> None:
    from neocloud.load import parse_yaml, validate
    from neocloud.web.previews import Previewer
    from neocloud.web.whatif import run_checked

    previewer = Previewer(workers=1)
    answer = previewer.preview(ABILENE, Inputs(**inputs), draws=draws, seed=3)
    data, lines, _ = parse_yaml(answer["scenario_text"])
    full = run_checked(validate(data, "changed", lines), draws, 3).summary()
    assert answer["summary"] == full
    previewer.close()


def test_preview_caches_are_bounded_in_bytes() -> None:
    from neocloud.web.previews import ByteCache, Previewer

    cache = ByteCache(max_bytes=100)
    for index in range(10):
        cache.put(str(index), index, 30)
    assert cache.bytes <= 100 and len(cache) == 3 and cache.get("9") == 9 and cache.get("0") is None
    cache.put("huge", 1, 1000)
    assert cache.get("huge") is None
    previewer = Previewer(max_cache_bytes=3_000_000, workers=1)
    for count in range(200_000, 206_000, 1_000):
        previewer.preview(ABILENE, Inputs(accelerators=count))
    assert 0 < previewer.cached_bytes() <= 3_000_000
    with pytest.raises(Exception, match="at most 200"):
        previewer.preview(ABILENE, Inputs(), draws=201)
    previewer.close()


def test_changes_that_make_the_same_scenario_share_one_answer() -> None:
    """Accelerator counts that round to the same systems per building are one scenario: one run, one
    answer (from the cache or the run in flight), and that answer equals a full run of its scenario."""
    from neocloud.load import parse_yaml, validate
    from neocloud.web.previews import Previewer
    from neocloud.web.whatif import run_checked

    previewer = Previewer(workers=2)
    try:
        first = [previewer.submit_json(ABILENE, Inputs(accelerators=250_000)) for _ in range(4)]
        payloads = [future.result(timeout=120) for future in first]
        near = previewer.submit_json(ABILENE, Inputs(accelerators=250_001)).result(timeout=120)
        other = previewer.submit_json(ABILENE, Inputs(accelerators=300_000)).result(timeout=120)
        stats = previewer.stats()
    finally:
        previewer.close()
    assert len(set(payloads)) == 1 and near == payloads[0] and other != near
    assert stats["computed"] == 2 and stats["joined"] + stats["from_cache"] == 4 and stats["in_flight"] == 0
    answer = json.loads(near)
    data, lines, _ = parse_yaml(answer["scenario_text"])
    assert answer["summary"] == run_checked(validate(data, "changed", lines), 1, 0).summary()


def test_a_fault_is_a_logged_counted_500(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                         caplog: pytest.LogCaptureFixture) -> None:
    """A ValueError from a stage is the code's fault, not the user's: a JSON 500 (nothing internal in
    it), logged with its traceback under the incident id, and counted where an authorised user sees it."""
    from neocloud import pipeline
    from neocloud.web import whatif

    def broken(scenario: object, catalog: object, upstream: xr.Dataset) -> xr.Dataset:
        raise ValueError("a bug in the finance stage")

    stages = tuple((name, broken if name == "finance" else stage) for name, stage in pipeline.STAGES)
    monkeypatch.setattr(pipeline, "STAGES", stages)
    monkeypatch.setattr(whatif, "STAGES", stages)
    app = create_app(store_url=f"sqlite:///{tmp_path / 'runs.db'}", allowed_hosts=HOSTS, token="t")
    auth = {"Authorization": "Bearer t"}
    with TestClient(app, raise_server_exceptions=False) as client, caplog.at_level("ERROR", logger="neocloud.web"):
        assert client.get("/api/metrics", headers=auth).json()["server_errors"] == 0
        for answer in (
            client.post("/api/preview", json={"scenario": ABILENE, "inputs": {"utilisation": 0.5}}, headers=auth),
            client.post("/api/run", content=ABILENE, headers={**YAML, **auth}),
        ):
            assert answer.status_code == 500 and answer.headers["content-type"] == "application/json"
            detail = answer.json()["detail"]
            assert detail.startswith("internal error; logged as incident ") and "bug" not in detail
            incident = detail.rsplit(" ", 1)[1]
            assert any(incident in record.getMessage() and record.exc_info for record in caplog.records)
        metrics = client.get("/api/metrics", headers=auth).json()
        assert metrics["server_errors"] == 2 and metrics["last_incident"] == incident
        assert client.get("/api/metrics").status_code == 401  # the count is for the token's holder
        assert client.get("/healthz").json() == {"status": "ok"}


def test_the_preview_workers_end_with_the_app(tmp_path: Path) -> None:
    """Preview worker processes (and the fork server that starts them) exit when the app's lifespan ends."""
    import psutil

    me = psutil.Process()
    before = {child.pid for child in me.children(recursive=True)}
    app = create_app(store_url=f"sqlite:///{tmp_path / 'runs.db'}", allowed_hosts=HOSTS, preview_processes=True)
    with TestClient(app) as client:
        answer = client.post("/api/preview", json={"scenario": ABILENE, "inputs": {"utilisation": 0.5}})
        assert answer.status_code == 200, answer.text
        started = [child for child in me.children(recursive=True) if child.pid not in before
                   and not is_resource_tracker(child)]
        assert len(started) >= 2  # the fork server and at least one worker
    _, alive = psutil.wait_procs(started, timeout=30)
    assert not alive, [(process.pid, process.cmdline()) for process in alive]


def is_resource_tracker(process: object) -> bool:
    """Whether a child is the standard library's resource tracker: one per Python process, shared by
    everything in it that uses multiprocessing, and gone when that process exits (never orphaned)."""
    return "resource_tracker" in " ".join(process.cmdline())  # type: ignore[attr-defined]


def test_a_deliberate_error_that_is_not_the_requests_fault_is_a_counted_500(tmp_path: Path) -> None:
    """A kept run whose results file has since been deleted: a 500 with the one line, counted."""
    from neocloud.load import load as load_scenario
    from neocloud.pipeline import run as run_pipeline

    app = create_app(store_url=f"sqlite:///{tmp_path / 'runs.db'}", allowed_hosts=HOSTS)
    results = run_pipeline(load_scenario(EXAMPLES / "abilene.yaml"))
    app.state.store.save(results, origin="python", results_path=tmp_path / "gone.nc")
    with TestClient(app, raise_server_exceptions=False) as client:
        answer = client.get("/api/runs/1/results")
        assert answer.status_code == 500 and "keeps only its summary" in answer.json()["detail"]
        assert client.get("/api/metrics").json()["server_errors"] == 1


@pytest.mark.parametrize("draws", [1, 5])
def test_the_server_names_a_change_with_the_phases_the_worker_runs(draws: int) -> None:
    """The serving process spreads accelerators over phases as the worker's base run does (its design
    stage alone), so an answer's name is the scenario the worker runs."""
    import numpy as np

    from neocloud.web.previews import Previewer
    from neocloud.web.whatif import phase_accelerators

    previewer = Previewer(workers=1)
    base = previewer.base(ABILENE, draws, 4)
    np.testing.assert_array_equal(previewer.plan(ABILENE, draws, 4).base_phases(),
                                  phase_accelerators(base.results.dataset))
    previewer.close()
