"""The FastAPI application: the dashboard's page and the JSON API under ``/api``.

Safety (docs/web.md has the threat model): ``neocloud serve`` binds to loopback unless given a token;
the ``Host`` header must name the server, and requests that change anything must come from its own origin
as JSON or YAML (``guard.py``); request bodies are size-limited; scenarios are validated (a
``ScenarioError`` is a 422 with its one line); draws per request are capped; no request names a path the
server reads or writes; an optional bearer token protects ``/api``; reports are served sandboxed; any
other error is a JSON 500, logged and counted (``GET /api/metrics``). The preview workers stop with the
application's lifespan.
"""

from __future__ import annotations

import asyncio
import math
import os
import secrets
import time
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Annotated, Any

import numpy as np
from fastapi import APIRouter, Depends, FastAPI, HTTPException, Query, Request
from fastapi import Path as PathParameter
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from fastapi.staticfiles import StaticFiles
from plotly.offline import get_plotlyjs
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from neocloud.catalog import META_TABLES, Catalog, load_catalog
from neocloud.errors import NeocloudError, ScenarioError, unknown_id
from neocloud.limits import DEFAULT_MAX_DRAWS, MAX_SEED, TOKEN_ENV
from neocloud.report import render
from neocloud.store import DEFAULT_KEPT_DRAWS, RunNotFoundError, Store
from neocloud.version import neocloud_version
from neocloud.web.faults import Faults
from neocloud.web.guard import LOOPBACK_HOSTS, RequestGuard
from neocloud.web.limits import BodyLimit
from neocloud.web.previews import Previewer
from neocloud.web.whatif import (
    MAX_PREVIEW_DRAWS,
    REPOSITORY_EXAMPLES,
    Inputs,
    parse_scenario,
    read_examples,
    run_checked,
    supported_inputs,
)

DEFAULT_MAX_UPLOAD_BYTES = 1_000_000
MAX_RUN_ID = 2_147_483_647
STATIC = Path(__file__).parent / "static"
# A report is the run's own page: served sandboxed (an opaque origin: no access to the dashboard's storage
# or API), its inline plotly allowed to draw, nothing fetched or sent anywhere.
REPORT_POLICY = (
    "sandbox allow-scripts allow-popups; default-src 'none'; script-src 'unsafe-inline'; "
    "style-src 'unsafe-inline'; img-src data: blob:; font-src data:; connect-src 'none'; base-uri 'none'; "
    "form-action 'none'"
)
DASHBOARD_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; "
    "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
)

SCENARIO_BODY = {
    "required": True,
    "description": "A scenario as YAML or JSON (the format of `neocloud schema`).",
    "content": {
        "application/yaml": {"schema": {"type": "string"}},
        "application/json": {"schema": {"type": "object"}},
    },
}
ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    400: {"description": "The Host header does not name this server."},
    403: {"description": "A request that changes something came from another origin."},
    404: {"description": "No such run, example or catalog table."},
    413: {"description": "Request body larger than the server allows."},
    415: {"description": "A body that is neither JSON nor YAML."},
    422: {
        "description": "Invalid input: `detail` is one line naming the field, value and what is allowed."
    },
}

BEARER = HTTPBearer(auto_error=False)
RunId = Annotated[int, PathParameter(ge=1, le=MAX_RUN_ID, description="Run id.")]


class PreviewRequest(BaseModel):
    """A what-if: a scenario's text and the dashboard inputs to change in it."""

    scenario: str = Field(min_length=1, description="The base scenario as YAML or JSON text.")
    inputs: Inputs = Field(default_factory=Inputs, description="Inputs to change; the rest stay.")
    draws: int = Field(default=1, ge=1, description="Monte Carlo draws (capped by the server).")
    seed: int = Field(default=0, ge=0, le=MAX_SEED, description="Random seed (0 to 2**63 - 1).")


def one_line(err: Exception, limit: int = 1000) -> str:
    """An error as one line of valid UTF-8 (a lone surrogate from a JSON body shown escaped), cut to ``limit``."""
    text = " ".join(str(err).split()).encode("utf-8", "backslashreplace").decode("utf-8")
    return text if len(text) <= limit else text[: limit - 3] + "..."


def plain(value: Any) -> Any:
    """A catalog cell as JSON: NaN becomes null, numpy numbers become Python numbers."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


async def body_text(request: Request) -> str:
    """The request body as UTF-8 text (a ScenarioError when it is not)."""
    raw = await request.body()
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as err:
        raise ScenarioError(f"is not UTF-8 text (byte {err.start})", field="body") from None


@asynccontextmanager
async def lifespan(application: FastAPI) -> AsyncIterator[None]:
    """The application's life: when it stops, its preview workers stop and are waited for."""
    yield
    await run_in_threadpool(application.state.previewer.close)


def create_app(
    store_url: str | None = None,
    token: str | None = None,
    max_upload_bytes: int = DEFAULT_MAX_UPLOAD_BYTES,
    max_draws: int = DEFAULT_MAX_DRAWS,
    examples_folder: Path | None = REPOSITORY_EXAMPLES,
    allowed_hosts: Sequence[str] | None = None,
    max_kept_draws: int = DEFAULT_KEPT_DRAWS,
    preview_processes: bool = False,
) -> FastAPI:
    """The neocloud web application.

    Parameters
    ----------
    store_url
        SQLAlchemy URL of the store that keeps every run (default: ``store.store_url()``).
    token
        Bearer token ``/api`` requires (default ``$NEOCLOUD_TOKEN``; none: open, for loopback use).
    max_upload_bytes
        Largest request body accepted (bytes); larger is a 413.
    max_draws
        Most Monte Carlo draws one request may ask for; more is a 422.
    examples_folder
        Folder of example scenarios offered by the dashboard (the repository's ``examples/`` when present);
        a built-in default scenario is always offered.
    allowed_hosts
        Host names the ``Host`` header may give (default: the loopback names; ``["*"]`` for any, which
        only a server behind a token should use).
    max_kept_draws
        Draws whose full results a kept run stores (its summary covers every draw).
    preview_processes
        Run previews in worker processes (``neocloud serve`` does), not threads of the server's process.
    """
    token = token if token is not None else (os.environ.get(TOKEN_ENV) or None)
    application = FastAPI(
        title="neocloud",
        version=neocloud_version(),
        description="A digital twin of AI data-center campuses: run scenarios, keep and "
        "compare runs, read the catalog.",
        docs_url=None,  # the interactive pages load their scripts from a CDN: the schema is /openapi.json
        redoc_url=None,
        lifespan=lifespan,
    )
    application.state.store = Store(store_url, max_kept_draws=max_kept_draws)
    application.state.examples = read_examples(examples_folder)
    application.state.previewer = Previewer(max_draws=min(max_draws, MAX_PREVIEW_DRAWS),
                                            processes=preview_processes)
    application.state.max_draws = max_draws
    application.state.faults = Faults()
    application.add_middleware(BodyLimit, max_bytes=max_upload_bytes)
    application.add_middleware(RequestGuard, allowed_hosts=allowed_hosts or LOOPBACK_HOSTS)
    application.state.shipped = load_catalog()  # the catalog the API shows: built once, read by every request
    add_error_handlers(application)
    add_pages(application)
    guarded: dict[int | str, dict[str, Any]] = (
        {401: {"description": "Missing or wrong bearer token."}} if token is not None else {})
    api = APIRouter(prefix="/api", dependencies=[Depends(bearer_check(token))] if token is not None else [],
                    responses={**ERROR_RESPONSES, **guarded})
    add_scenario_routes(api, application)
    add_example_routes(api, application)
    add_run_routes(api, application.state.store)
    add_catalog_routes(api, application.state.shipped)
    application.include_router(api)
    return application


def bearer_check(token: str) -> Callable[..., None]:
    """The dependency that lets a request through only with ``token`` as its bearer token (else a 401)."""

    def authorised(credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(BEARER)]) -> None:
        given = credentials.credentials if credentials is not None else ""
        if not secrets.compare_digest(given.encode(), token.encode()):
            raise HTTPException(
                401, "a valid bearer token is required", headers={"WWW-Authenticate": "Bearer"}
            )

    return authorised


def add_error_handlers(application: FastAPI) -> None:
    """A missing run is a 404, a user's mistake (``ScenarioError``) a 422, anything else a 500, logged and
    counted with an incident id."""

    @application.exception_handler(RunNotFoundError)
    async def run_not_found(request: Request, err: RunNotFoundError) -> JSONResponse:
        return JSONResponse({"detail": one_line(err)}, status_code=404)

    @application.exception_handler(ScenarioError)
    async def scenario_error(request: Request, err: ScenarioError) -> JSONResponse:
        return JSONResponse({"detail": one_line(err)}, status_code=422)

    faults: Faults = application.state.faults

    @application.exception_handler(NeocloudError)
    async def neocloud_error(request: Request, err: NeocloudError) -> JSONResponse:
        # raised on purpose but not the request's fault (a run's results file gone, the store down): a 500,
        # logged and counted like any fault, with its one line for the reader
        incident = faults.record(request.method, request.url.path, err)
        return JSONResponse({"detail": f"{one_line(err)} (incident {incident})"}, status_code=500)

    @application.exception_handler(Exception)
    async def server_error(request: Request, err: Exception) -> JSONResponse:
        incident = faults.record(request.method, request.url.path, err)
        return JSONResponse({"detail": f"internal error; logged as incident {incident}"}, status_code=500)


def add_pages(application: FastAPI) -> None:
    """The dashboard, plotly.js, the static files and the liveness probe."""

    @application.get("/", include_in_schema=False)
    def dashboard() -> FileResponse:
        return FileResponse(STATIC / "index.html", media_type="text/html",
                            headers={"Content-Security-Policy": DASHBOARD_POLICY})

    @application.get("/plotly.min.js", include_in_schema=False)
    def plotly_js() -> Response:
        return Response(
            get_plotlyjs(), media_type="text/javascript", headers={"Cache-Control": "public, max-age=86400"}
        )

    application.mount("/static", StaticFiles(directory=STATIC), name="static")

    @application.get("/healthz", tags=["service"])
    async def healthz() -> dict[str, str]:
        """Liveness: ``{"status": "ok"}`` and nothing else, answered on the event loop (no worker thread)."""
        return {"status": "ok"}


def add_scenario_routes(api: APIRouter, application: FastAPI) -> None:
    """``/run`` (kept), ``/validate`` and ``/preview`` (what if, not kept)."""
    store: Store = application.state.store
    previewer: Previewer = application.state.previewer
    max_draws: int = application.state.max_draws
    draws_query = Query(1, ge=1, le=max_draws, description=f"Monte Carlo draws (at most {max_draws}).")
    seed_query = Query(0, ge=0, le=MAX_SEED, description="Random seed (0 to 2**63 - 1).")

    def run_and_keep(text: str, draws: int, seed: int) -> dict[str, Any]:
        scenario, _ = parse_scenario(text)
        results = run_checked(scenario, draws, seed)
        run_id = store.save(results, origin="api", scenario_text=text)
        return {**results.summary(), "run_id": run_id, "kept_draws": min(draws, store.max_kept_draws)}

    @api.post("/run", tags=["runs"], openapi_extra={"requestBody": SCENARIO_BODY})
    async def run_scenario(
        request: Request, draws: int = draws_query, seed: int = seed_query
    ) -> dict[str, Any]:
        """Run a scenario (YAML or JSON body), keep the run, and return its JSON summary with ``run_id``.

        The summary covers every draw; the kept run stores the full results of the first ``kept_draws``.
        """
        text = await body_text(request)
        return await run_in_threadpool(run_and_keep, text, draws, seed)

    @api.post("/validate", tags=["scenarios"], openapi_extra={"requestBody": SCENARIO_BODY})
    async def validate_scenario(request: Request) -> dict[str, Any]:
        """Check a scenario (YAML or JSON body): ``valid`` and its name, or a 422 naming the problem."""
        scenario, _ = await run_in_threadpool(parse_scenario, await body_text(request))
        return {"valid": True, "name": scenario.name, "phases": len(scenario.campus.phases)}

    @api.post("/preview", tags=["scenarios"], response_class=Response,
              responses={200: {"content": {"application/json": {"schema": {"type": "object"}}},
                               "description": "summary, inputs, charts, scenario_text, draws, seed, elapsed_ms"}})
    async def preview(body: PreviewRequest) -> Response:
        """What if: the scenario with the dashboard's inputs changed; summary and chart series (not kept).

        Runs in the server's preview workers, at most ``min(max_draws, 200)`` draws.
        """
        if body.draws > previewer.max_draws:
            raise ScenarioError(
                f"{body.draws} draws asked; a preview on this server runs at most {previewer.max_draws}",
                field="draws",
                value=body.draws,
            )
        started = time.perf_counter()
        payload = await asyncio.wrap_future(previewer.submit_json(body.scenario, body.inputs, body.draws, body.seed))
        elapsed = f', "elapsed_ms": {1000 * (time.perf_counter() - started):.2f}}}'.encode()
        return Response(payload[:-1] + elapsed, media_type="application/json")  # serialised by the worker

    @api.get("/metrics", tags=["service"])
    def metrics() -> dict[str, Any]:
        """Server faults (500s, each logged) since start, and how previews were answered."""
        return {"server_errors": application.state.faults.count,
                "last_incident": application.state.faults.last_incident, "previews": previewer.stats()}


def add_example_routes(api: APIRouter, application: FastAPI) -> None:
    """``/inputs`` the dashboard can change, and the example scenarios on offer."""
    shipped: Catalog = application.state.shipped
    examples = application.state.examples
    max_draws: int = application.state.max_draws

    @api.get("/inputs", tags=["scenarios"])
    def inputs() -> dict[str, Any]:
        """The inputs the dashboard can change, with their bounds, and the systems to choose from."""
        fields = Inputs.model_json_schema()["properties"]
        systems = shipped.table("systems")
        return {
            "inputs": {name: fields[name] for name in supported_inputs()},
            "systems": [
                {
                    "id": system_id,
                    "name": str(row["name"]),
                    "accelerator": str(row["accelerator"]),
                    "accelerators_per_system": plain(row["accelerators_per_system"]),
                }
                for system_id, row in systems.iterrows()
            ],
            "max_draws": max_draws,
        }

    @api.get("/examples", tags=["scenarios"])
    def list_examples() -> list[dict[str, str]]:
        """The example scenarios on offer: id, name and description."""
        return [
            {"id": example.id, "name": example.name, "description": example.description}
            for example in examples.values()
        ]

    @api.get("/examples/{example_id}", tags=["scenarios"])
    def get_example(example_id: Annotated[str, PathParameter(max_length=100)]) -> dict[str, str]:
        """One example scenario's text, by id (never by path)."""
        if example_id not in examples:
            raise HTTPException(404, str(unknown_id("example", example_id, examples, field="example")))
        example = examples[example_id]
        return {"id": example.id, "name": example.name, "text": example.text}


def add_run_routes(api: APIRouter, store: Store) -> None:
    """The kept runs: list, one run, two compared, a run's report (drawn as kept) and its results."""

    @api.get("/runs", tags=["runs"])
    def list_runs(
        limit: Annotated[int, Query(ge=1, le=1000)] = 100,
        offset: Annotated[int, Query(ge=0, le=MAX_RUN_ID)] = 0,
    ) -> dict[str, Any]:
        """The kept runs, newest first."""
        return {"count": store.count(), "runs": store.list(limit=limit, offset=offset)}

    @api.get("/runs/{run_id}", tags=["runs"])
    def get_run(run_id: RunId) -> dict[str, Any]:
        """One run: its record, scenario text and summary."""
        return store.get(run_id).record()

    @api.get("/runs/{run_id}/compare/{other_id}", tags=["runs"])
    def compare_runs(run_id: RunId, other_id: RunId) -> dict[str, Any]:
        """Two runs' summaries side by side, with B - A and the relative change."""
        return store.compare(run_id, other_id)

    @api.get("/runs/{run_id}/report", tags=["runs"], response_class=HTMLResponse)
    def run_report(run_id: RunId, download: bool = True) -> HTMLResponse:
        """The run's self-contained HTML report."""
        html = render(store.get(run_id).results())
        disposition = "attachment" if download else "inline"
        return HTMLResponse(
            html,
            headers={
                "Content-Disposition": f'{disposition}; filename="neocloud-run-{run_id}-report.html"',
                "Content-Security-Policy": REPORT_POLICY,
            },
        )

    @api.get(
        "/runs/{run_id}/results",
        tags=["runs"],
        responses={200: {"content": {"application/x-netcdf": {}}, "description": "netCDF-4 file."}},
    )
    def run_results(run_id: RunId) -> Response:
        """The run's results as a netCDF-4 file."""
        return Response(
            store.get(run_id).netcdf(),
            media_type="application/x-netcdf",
            headers={"Content-Disposition": f'attachment; filename="neocloud-run-{run_id}-results.nc"'},
        )


def add_catalog_routes(api: APIRouter, shipped: Catalog) -> None:
    """The catalog's tables and one table's rows with their sources."""

    @api.get("/catalog", tags=["catalog"])
    def catalog_tables() -> list[str]:
        """The catalog's tables."""
        return [*shipped.names, *META_TABLES]

    @api.get("/catalog/{table}", tags=["catalog"])
    def catalog_table(table: Annotated[str, PathParameter(max_length=100)]) -> dict[str, Any]:
        """One catalog table's rows (with their sources), by table name."""
        catalog = shipped
        if table not in (*catalog.names, *META_TABLES):
            raise HTTPException(
                404, str(unknown_id("catalog table", table, [*catalog.names, *META_TABLES], field="table"))
            )
        frame = catalog.table(table)
        records = (
            frame.reset_index().to_dict("records") if table not in META_TABLES else frame.to_dict("records")
        )
        return {
            "table": table,
            "rows": [{key: plain(value) for key, value in row.items()} for row in records],
        }
