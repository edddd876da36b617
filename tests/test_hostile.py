"""Hostile input: every reproducer of the hostile-input review pinned, and generated hostile YAML.

Each one must end in a clean one-line error (exit code 2 from the CLI, a 4xx from the API), quickly and in
little memory; an unexpected fault must end in one line and a log file (CLI) or a logged JSON 500 (API).
"""

from __future__ import annotations

import time
import tracemalloc
import warnings
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from neocloud.cli import main
from neocloud.errors import ScenarioError
from neocloud.load import load
from neocloud.store import Store
from neocloud.sweep_store import SWEEP_DEFINITIONS, open_store, record_sweep
from neocloud.web import create_app
from neocloud.web.guard import LOOPBACK_HOSTS

with warnings.catch_warnings():  # starlette warns at import that it prefers httpx2 over httpx
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

YAML = {"Content-Type": "application/yaml"}
BASE = """name: hostile
description: a small campus
site: {location: Abilene, climate: abilene-tx, region: ercot-tx}
campus:
  phases:
    - {name: one, system: gb200-nvl72, buildings: 1, systems_per_building: 10}
"""
ALIAS_BOMB = (  # about 250 bytes that expand to 9**7 = 4.8 million values
    "a: &a [x,x,x,x,x,x,x,x,x]\nb: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]\nc: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]\n"
    "d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]\ne: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]\n"
    "f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]\ng: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]\n"
)
DEEP = "a: " + "[" * 5000 + "]" * 5000 + "\n"


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> TestClient:
    """The API on a throwaway store, called as the loopback host it serves."""
    folder = tmp_path_factory.mktemp("hostile")
    app = create_app(store_url=f"sqlite:///{folder / 'runs.db'}", max_draws=2000, max_kept_draws=50)
    return TestClient(app, base_url="http://127.0.0.1:8000", raise_server_exceptions=False)


def cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    """Run the CLI in-process: its exit code and its stderr."""
    try:
        main(list(args))
    except SystemExit as exited:
        return int(exited.code or 0), capsys.readouterr().err
    return 0, capsys.readouterr().err


def one_line_exit_2(capsys: pytest.CaptureFixture[str], *args: str) -> str:
    code, err = cli(capsys, *args)
    assert code == 2, err
    assert err.startswith("error: ") and err.count("\n") == 1 and "Traceback" not in err, err
    return err


def scenario_file(tmp_path: Path, text: str, name: str = "scenario.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


# --- stored XSS -------------------------------------------------------------------------------------------

SCRIPT = "<script>alert(1)</script>"
XSS = f"""name: '{SCRIPT}'
description: '<img src=x onerror=alert(2)>'
site: {{location: '<svg onload=alert(3)>', climate: abilene-tx, region: ercot-tx}}
campus:
  phases:
    - {{name: '{SCRIPT}', system: gb200-nvl72, buildings: 1, systems_per_building: 10}}
    - {{name: '"><script>alert(4)</script>', system: gb200-nvl72, buildings: 1, systems_per_building: 10}}
catalog:
  systems:
    - {{id: gb200-nvl72, name: '<script>alert(5)</script>', notes: '<b onmouseover=alert(6)>x</b>'}}
"""


def test_report_escapes_every_user_string(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = scenario_file(tmp_path, XSS)
    code, err = cli(capsys, "run", str(path), "--out", str(tmp_path / "out"), "--no-store")
    assert code == 0, err
    html = (tmp_path / "out" / "report.html").read_text(encoding="utf-8")
    for payload in (SCRIPT, "<img src=x", "<svg onload", "<script>alert(4)", "<script>alert(5)", "<b onmouse"):
        assert payload not in html, payload
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html  # shown as text


def test_served_report_is_escaped_and_sandboxed(client: TestClient) -> None:
    answer = client.post("/api/run", content=XSS, headers=YAML)
    assert answer.status_code == 200, answer.text
    report = client.get(f"/api/runs/{answer.json()['run_id']}/report?download=false")
    assert report.status_code == 200 and SCRIPT not in report.text
    policy = report.headers["content-security-policy"]
    assert policy.startswith("sandbox") and "allow-same-origin" not in policy and "connect-src 'none'" in policy
    assert report.headers["x-content-type-options"] == "nosniff"


def test_catalog_links_are_web_addresses_only() -> None:
    from neocloud.report.document import _clean

    assert _clean({"url": "javascript:alert(1)"})["url"] == ""
    assert _clean({"url": "https://example.org/a"})["url"] == "https://example.org/a"


# --- YAML bombs, depth, sizes -----------------------------------------------------------------------------


@pytest.mark.parametrize("text", [ALIAS_BOMB, DEEP, "x: " + "{a: " * 3000 + "1" + "}" * 3000])
def test_yaml_bombs_are_refused_fast(client: TestClient, tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                     text: str) -> None:
    started = time.perf_counter()
    answer = client.post("/api/validate", content=text, headers=YAML)
    assert answer.status_code == 422 and "is not accepted" in answer.json()["detail"]
    err = one_line_exit_2(capsys, "validate", str(scenario_file(tmp_path, text)))
    assert "is not accepted" in err
    assert time.perf_counter() - started < 5


def test_deep_json_body_is_a_4xx(client: TestClient) -> None:
    body = '{"scenario": ' + "[" * 5000 + "]" * 5000 + "}"
    answer = client.post("/api/preview", content=body, headers={"Content-Type": "application/json"})
    assert 400 <= answer.status_code < 500


def test_devices_and_big_files_are_refused_before_reading(capsys: pytest.CaptureFixture[str],
                                                          tmp_path: Path) -> None:
    started = time.perf_counter()
    assert "not a regular file" in one_line_exit_2(capsys, "validate", "/dev/zero")
    big = tmp_path / "big.yaml"
    big.write_bytes(b"#" * 3_000_000)
    assert "at most 2,000,000" in one_line_exit_2(capsys, "validate", str(big))
    assert time.perf_counter() - started < 5


# --- values: non-finite, out of range, control characters, catalog rows -------------------------------------


@pytest.mark.parametrize(
    ("extra", "field"),
    [
        ("buildout: {delay_months: .nan}", "buildout.delay_months"),
        ("buildout: {delay_months: .inf}", "buildout.delay_months"),
        ("buildout: {delay_months: 1e308}", "buildout.delay_months"),
        ("buildout: {delay_months: 100000}", "buildout.delay_months"),
        ("workload: {params: 1e999}", "workload.params"),
        ("finance: {discount_rate: -.inf}", "finance.discount_rate"),
        ("catalog: {cooling: [{id: direct-liquid, pue_min: abc}]}", "catalog.cooling.0.pue_min"),
        ("catalog: {cooling: [{id: {a: 1}, pue_min: 1.2}]}", "catalog.cooling.0.id"),
        ("catalog: {cooling: [{id: [1, 2], pue_min: 1.2}]}", "catalog.cooling.0.id"),
        ("catalog: {cooling: [{id: direct-liquid, max_rack_kw: -5}]}", "catalog.cooling.0.max_rack_kw"),
        ("catalog: {cooling: [{id: direct-liquid, pue_min: .nan}]}", "catalog.cooling.0.pue_min"),
        ("catalog: {systems: [{id: gb200-nvl72, accelerators_per_system: 7.5}]}", "accelerators_per_system"),
        ("catalog: {climates: [{id: mars, name: Mars, latitude: 10, jan_c: 1, feb_c: 1, mar_c: 1, apr_c: 1, "
         "may_c: 1, jun_c: 1, jul_c: 1, aug_c: 1, sep_c: 1, oct_c: 1, nov_c: 1, dec_c: 1, daily_range_c: 3}]}",
         "design_day_c"),
    ],
)
def test_bad_values_name_their_field(client: TestClient, tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                     extra: str, field: str) -> None:
    text = BASE + extra + "\n"
    assert field in one_line_exit_2(capsys, "validate", str(scenario_file(tmp_path, text)))
    answer = client.post("/api/validate", content=text, headers=YAML)
    assert answer.status_code == 422 and field in answer.json()["detail"]


@pytest.mark.parametrize("months", [".nan", ".inf", "-.inf", "1e308", "100000", "'1e400'"])
def test_construction_months_must_be_finite_and_physical(client: TestClient, tmp_path: Path,
                                                         capsys: pytest.CaptureFixture[str], months: str) -> None:
    schedule = f"schedule: {{construction_months: {months}}}"
    text = BASE.replace("systems_per_building: 10}", f"systems_per_building: 10, {schedule}}}")
    field = "campus.phases.0.schedule.construction_months"
    assert field in one_line_exit_2(capsys, "run", str(scenario_file(tmp_path, text)), "--no-store")
    answer = client.post("/api/run", content=text, headers=YAML)
    assert answer.status_code == 422 and field in answer.json()["detail"]


@pytest.mark.parametrize("name", ["bad\\0name", "bad\\x07bell", "two\\nlines", "esc\\x1b[31m"])
def test_control_characters_in_names_are_refused(client: TestClient, tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str], name: str) -> None:
    text = BASE.replace("name: hostile", f'name: "{name}"')
    assert "control characters" in one_line_exit_2(capsys, "validate", str(scenario_file(tmp_path, text)))
    answer = client.post("/api/run", content=text, headers=YAML)
    assert answer.status_code == 422 and "control characters" in answer.json()["detail"]


def test_a_description_keeps_its_newlines(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    text = BASE.replace("description: a small campus", 'description: "two\\nlines\\tand a tab"')
    code, err = cli(capsys, "validate", str(scenario_file(tmp_path, text)))
    assert code == 0, err


# --- seeds and ids ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "args",
    [
        ["run", "{file}", "--seed", str(2**63), "--no-store"],
        ["run", "{file}", "--seed", str(2**70), "--no-store"],
        ["run", "{file}", "--seed", "-1", "--no-store"],
        ["sweep", "{file}", "--seed", "-1"],
        ["runs", "show", "99999999999999999999"],
        ["runs", "compare", "1", "99999999999999999999"],
    ],
)
def test_seeds_and_ids_out_of_range_are_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                 args: list[str]) -> None:
    path = scenario_file(tmp_path, BASE)
    one_line_exit_2(capsys, *(part.replace("{file}", str(path)) for part in args))


def test_the_largest_seed_runs_everywhere(client: TestClient, tmp_path: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    largest = str(2**63 - 1)
    code, err = cli(capsys, "run", str(scenario_file(tmp_path, BASE)), "--seed", largest, "--json")
    assert code == 0, err
    answer = client.post(f"/api/run?seed={largest}", content=BASE, headers=YAML)
    assert answer.status_code == 200
    assert client.get(f"/api/runs/{answer.json()['run_id']}").json()["seed"] == 2**63 - 1
    assert client.post(f"/api/run?seed={2**63}", content=BASE, headers=YAML).status_code == 422


def test_sweep_records_are_idempotent_with_64_bit_seeds(tmp_path: Path) -> None:
    engine = open_store(f"sqlite:///{tmp_path / 'sweeps.db'}")
    for _ in range(3):
        record_sweep(engine, "s1", BASE, [], draws=10, seed=2**63 - 1, chunk_draws=5, points=1,
                     chunks_per_point=2)
    with engine.connect() as connection:
        rows = connection.execute(SWEEP_DEFINITIONS.select()).mappings().all()
    assert len(rows) == 1 and rows[0]["seed"] == 2**63 - 1


# --- programme files --------------------------------------------------------------------------------------


@pytest.mark.parametrize("target", ["/etc/passwd", "../outside.yaml", "sub/../../outside.yaml"])
def test_programme_files_stay_in_their_folder(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                              target: str) -> None:
    folder = tmp_path / "programme"
    folder.mkdir()
    scenario_file(tmp_path, BASE, "outside.yaml")
    path = scenario_file(folder, f"kind: programme\nname: p\ncampuses:\n  - file: {target}\n", "p.yaml")
    assert "outside the programme's folder" in one_line_exit_2(capsys, "validate", str(path))


# --- unexpected faults ------------------------------------------------------------------------------------


def test_an_unexpected_fault_is_one_line_and_a_log_file(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    import neocloud.pipeline as pipeline_module  # the command imports the pipeline's run when it runs

    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("a fault in the pipeline\nsecond line")

    monkeypatch.setattr(pipeline_module, "run", broken)
    monkeypatch.setenv("NEOCLOUD_LOG_DIR", str(tmp_path / "logs"))
    code, err = cli(capsys, "run", str(scenario_file(tmp_path, BASE)), "--no-store")
    assert code == 1 and err.count("\n") == 1 and "Traceback" not in err
    assert "unexpected RuntimeError: a fault in the pipeline second line" in err
    log = tmp_path / "logs" / "neocloud-errors.log"
    assert str(log) in err and "Traceback" in log.read_text(encoding="utf-8")


def test_an_unexpected_fault_is_a_logged_json_500(client: TestClient, monkeypatch: pytest.MonkeyPatch,
                                                  caplog: pytest.LogCaptureFixture) -> None:
    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("the store fell over")

    monkeypatch.setattr(Store, "list", broken)
    answer = client.get("/api/runs")
    assert answer.status_code == 500 and answer.headers["content-type"] == "application/json"
    detail = answer.json()["detail"]
    assert "incident" in detail and "fell over" not in detail  # nothing internal in the answer
    assert any("the store fell over" in str(record.exc_info) for record in caplog.records)


# --- cross-site requests and what the server gives away ---------------------------------------------------


def test_other_hosts_origins_and_form_bodies_are_refused(client: TestClient) -> None:
    assert client.get("/api/runs", headers={"Host": "evil.example"}).status_code == 400
    assert client.get("/api/runs", headers={"Host": "localhost:8000"}).status_code == 200
    assert client.get("/api/runs", headers={"Host": "[::1]:8000"}).status_code == 200
    for kind in ("text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x", ""):
        answer = client.post("/api/validate", content=BASE, headers={"Content-Type": kind})
        assert answer.status_code == 415, kind
    evil = client.post("/api/validate", content=BASE, headers={**YAML, "Origin": "http://evil.example"})
    assert evil.status_code == 403
    same = client.post("/api/validate", content=BASE, headers={**YAML, "Origin": "http://127.0.0.1:8000"})
    assert same.status_code == 200


def test_no_cdn_page_and_a_quiet_healthz(client: TestClient) -> None:
    assert client.get("/docs").status_code == 404 and client.get("/redoc").status_code == 404
    assert client.get("/healthz").json() == {"status": "ok"}
    page = client.get("/")
    assert "script-src 'self'" in page.headers["content-security-policy"]
    assert page.headers["x-frame-options"] == "DENY"


def test_draws_kept_per_run_have_a_quota(client: TestClient) -> None:
    answer = client.post("/api/run?draws=120", content=BASE, headers=YAML)
    assert answer.status_code == 200 and answer.json()["kept_draws"] == 50 and answer.json()["draws"] == 120
    record = client.get(f"/api/runs/{answer.json()['run_id']}").json()
    assert (record["draws"], record["kept_draws"]) == (120, 50)


def test_loopback_is_the_default_host_list() -> None:
    assert set(LOOPBACK_HOSTS) == {"127.0.0.1", "localhost", "::1"}


# --- generated hostile YAML -------------------------------------------------------------------------------

NUMERIC_FIELDS = (
    ("buildout", "delay_months"),
    ("finance", "discount_rate"),
    ("finance", "utilisation"),
    ("workload", "params"),
    ("site", "land_acres"),
)
BAD_NUMBERS = st.sampled_from([".nan", ".inf", "-.inf", "1e308", "-1e308", "1e999", "9" * 40, "'1e400'"])
CONTROL_CHARACTERS = st.sampled_from(["\\0", "\\x01", "\\x07", "\\x1b", "\\x7f", "\\x85", "\\x9b", "\\r"])
CATALOG_CELLS = st.sampled_from(["abc", "[1, 2]", "{a: 1}", ".nan", "-1e30", "true", "''"])


@st.composite
def hostile_yaml(draw: st.DrawFn) -> str:
    """A scenario made hostile in one of five ways: aliases, depth, control characters, numbers, catalog."""
    kind = draw(st.sampled_from(["aliases", "depth", "control", "number", "catalog"]))
    if kind == "aliases":
        width, levels = draw(st.integers(12, 40)), draw(st.integers(4, 8))
        lines = ["l0: &l0 [" + ",".join(["x"] * width) + "]"]
        for level in range(1, levels):
            lines.append(f"l{level}: &l{level} [" + ",".join([f"*l{level - 1}"] * width) + "]")
        return BASE + "\n".join(lines) + "\n"
    if kind == "depth":
        depth = draw(st.integers(65, 4000))
        opener, closer = draw(st.sampled_from([("[", "]"), ("{a: ", "}")]))
        return BASE + "extra: " + opener * depth + "1" + closer * depth + "\n"
    if kind == "control":
        character = draw(CONTROL_CHARACTERS)
        return BASE.replace("name: hostile", f'name: "host{character}ile"')
    if kind == "number":
        section, field = draw(st.sampled_from(NUMERIC_FIELDS))
        if section == "site":
            return BASE.replace("region: ercot-tx}", f"region: ercot-tx, {field}: {draw(BAD_NUMBERS)}}}")
        return BASE + f"{section}: {{{field}: {draw(BAD_NUMBERS)}}}\n"
    column = draw(st.sampled_from(["pue_min", "max_rack_kw", "free_cooling_below_c", "id"]))
    return BASE + f"catalog: {{cooling: [{{id: direct-liquid, {column}: {draw(CATALOG_CELLS)}}}]}}\n"


@pytest.fixture(scope="module")
def hostile_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("generated")


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(text=hostile_yaml())
def test_generated_hostile_yaml_is_refused_cheaply(client: TestClient, hostile_folder: Path,
                                                   capsys: pytest.CaptureFixture[str], text: str) -> None:
    path = scenario_file(hostile_folder, text)
    started = time.perf_counter()
    code, err = cli(capsys, "validate", str(path))
    answer = client.post("/api/validate", content=text, headers=YAML)
    elapsed = time.perf_counter() - started
    tracemalloc.start()
    try:
        with pytest.raises(ScenarioError):
            load(path)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert code == 2 and err.startswith("error: ") and err.count("\n") == 1, (text[:200], err)
    assert answer.status_code == 422, (text[:200], answer.text)
    detail = answer.json()["detail"]
    assert isinstance(detail, str) and "\n" not in detail
    assert elapsed < 5, elapsed  # both faces, on a machine shared with other work
    assert peak < 50_000_000, peak  # bytes allocated at the peak of loading the file


def test_the_store_keeps_only_seeds_of_the_one_range(tmp_path: Path) -> None:
    from neocloud import run

    results = run(scenario_file(tmp_path, BASE), seed=2**63)  # a generator seed, as a sweep derives
    with pytest.raises(ScenarioError, match="is not a seed"):
        Store(f"sqlite:///{tmp_path / 'runs.db'}").save(results)
