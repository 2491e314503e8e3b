"""The HTTP retrieval API (workflow 7): FastAPI over the same lake and resources as the `av` CLI.

- `GET /health`: liveness plus what the lake holds (text index rows, embedding rows).
- `GET /clips/{clip_id}`: a clip's catalog item (the key-value store), 404 when unknown.
- `GET /search/text?q=&k=&where=&mode=`: `av search text` (meaning + words), `{"results": [...]}`.
- `GET /search/like/{clip_id}?k=&where=`: `av search like` (clip embeddings), `{"results": [...]}`.

Results have the CONTRACTS.md shape of `av search like|text --json`. Parameters are validated
(422: a missing `q`, `k` out of range, a malformed clip id); a `where` filter the backend rejects is a
400 with the reason; an unknown clip is a 404. The lake comes from the environment at app creation
(`AV_LAKE_ROOT`, `AV_ENV`), as for the CLI. `av api serve` runs it with uvicorn; `av api openapi`
prints the spec (committed as docs/openapi.json; a test keeps the two equal). `/docs` is Swagger UI
served from the `swagger-ui-py` wheel's assets: FastAPI's default page loads its scripts from a CDN, which
an air-gapped cluster (or a browser without internet) cannot reach.

No `from __future__ import annotations` here: FastAPI reads the endpoint annotations at runtime.
Everything heavy (fastapi, the embedder) is imported inside functions so `av` starts fast.
"""

import json
from pathlib import Path

import typer

from av_contracts.search_filters import MAX_RESULTS, where_error

API_TITLE = "av-platform retrieval API"
API_VERSION = "1.0.0"
CLIP_ID_PATTERN = r"^[a-z0-9][a-z0-9_-]{2,63}:-?[0-9]+$"  # CONTRACTS.md clip id
DESCRIPTION = """Clip retrieval over the av-platform lake.

* **Text to clip** (`/search/text`): each clip's summary (day/night, weather, road class, speed,
  detected events) and catalog description, embedded with all-MiniLM-L6-v2 and indexed for BM25;
  ranked by reciprocal-rank fusion of cosine and BM25 (`mode=hybrid`), or by either alone.
* **More like this** (`/search/like/{clip_id}`): cosine nearest clips over the clip embeddings
  (signal, track, event, condition and keyframe profile), the query clip excluded.
* **Clip lookup** (`/clips/{clip_id}`): the catalog item of one clip.

Results are clip-level, de-duplicated and best first: `{"results": [{clip_id, drive_id, t_start_ns,
t_end_ns, score, ...}]}` (the `av search ... --json` contract). `where` is a SQL prefilter on the
indexed columns (e.g. `day_night = 'night' AND event_types LIKE '%cut_in%'`); a filter the backend
rejects is a 400."""


def create_app(lake=None, warm: bool = False):
    """The FastAPI app. `lake`: a LakeStorage (default: the environment's, as the CLI's).
    `warm`: load the sentence embedder in the background at startup (first text query faster)."""
    import threading
    from contextlib import asynccontextmanager
    from typing import Literal

    from fastapi import FastAPI, HTTPException, Query
    from fastapi import Path as PathParam
    from pydantic import BaseModel, ConfigDict, Field

    from av_assets.catalog.search_cli import DEFAULT_MODE, open_text_index, search_text
    from av_resources.env import current_resources, local_lake
    from av_resources.vector_store import clip_results

    lake = lake or local_lake()
    resources = current_resources()
    text_index = resources["text_index"]
    cache: dict = {}

    def _index():
        # opened once per app (OpenSearch: one HEAD/PUT for the mapping); the embedder is per process
        if "text" not in cache:
            cache["text"] = open_text_index(lake)
        return cache["text"]

    class ClipResult(BaseModel):
        """One clip; further fields depend on the search (tags, similarity, bm25, text...)."""

        model_config = ConfigDict(extra="allow")
        clip_id: str = Field(examples=["20260320t175804-sim-veh-01-49ab65:1774029484203897000"])
        drive_id: str
        t_start_ns: int
        t_end_ns: int
        score: float = Field(
            description="higher is better: cosine, BM25, or the fused rank score (1.0 = first in both)"
        )

    class Results(BaseModel):
        results: list[ClipResult]

    class Health(BaseModel):
        status: str
        version: str
        lake: str = Field(description="the lake this server reads ($AV_LAKE_ROOT)")
        text_rows: int | None = Field(None, description="clips in the text index (null: not countable)")
        embedding_rows: int = Field(description="clips in the clip-embedding table")

    class Error(BaseModel):
        detail: str

    bad_request = {400: {"model": Error, "description": "a `where` filter the backend rejects"}}
    not_found = {404: {"model": Error, "description": "no such clip"}}

    @asynccontextmanager
    async def lifespan(_app):
        if warm:
            embedder = resources["text_embedder"].get()
            threading.Thread(target=lambda: embedder.embed(["warm up"]), daemon=True).start()
        yield

    app = FastAPI(
        title=API_TITLE,
        version=API_VERSION,
        description=DESCRIPTION,
        lifespan=lifespan,
        docs_url=None,  # served below from local assets
        redoc_url=None,  # ReDoc has no offline bundle here
        openapi_tags=[
            {"name": "search", "description": "text to clip, clip to clip"},
            {"name": "clips", "description": "catalog lookups"},
            {"name": "ops", "description": "health"},
        ],
    )

    _mount_docs(app)

    def _embeddings():
        return resources["vector_store"].clips(lake)

    def _searcher():
        # one open table for the server's lifetime (async, on the server's event loop); new rows and
        # a rebuilt index are seen within `refresh_s`
        if "like" not in cache:
            cache["like"] = _embeddings().searcher()
        return cache["like"]

    def _raise_if_bad_where(where: str | None, exc: Exception) -> None:
        if (message := where_error(exc, where, name="where")) is not None:
            raise HTTPException(400, message) from exc

    @app.get("/health", response_model=Health, tags=["ops"], summary="liveness and table sizes")
    def health() -> Health:
        count = getattr(_index(), "count", None) if text_index.backend == "lancedb" else None
        return Health(
            status="ok",
            version=API_VERSION,
            lake=lake.uri(),
            text_rows=count() if count else None,
            embedding_rows=_embeddings().count(),
        )

    @app.get(
        "/clips/{clip_id}",
        tags=["clips"],
        summary="a clip's catalog item",
        responses=not_found,
        response_model=dict,
    )
    def get_clip(
        clip_id: str = PathParam(..., pattern=CLIP_ID_PATTERN, description="`<drive_id>:<t_start_ns>`"),
    ) -> dict:
        from av_resources.clip_store import public_item

        item = resources["clip_store"].open(lake).get(clip_id)
        if item is None:
            raise HTTPException(404, f"no clip {clip_id!r} in the catalog")
        return public_item(item)

    @app.get(
        "/search/text",
        response_model=Results,
        tags=["search"],
        summary="clips matching a text (meaning and words)",
        responses=bad_request,
    )
    def text(
        q: str = Query(..., min_length=1, max_length=1000, description='e.g. "night rain highway"'),
        k: int = Query(10, ge=1, le=MAX_RESULTS, description="clips returned"),
        where: str | None = Query(None, max_length=2000, description="SQL prefilter on indexed columns"),
        mode: Literal["hybrid", "semantic", "fts"] = Query(DEFAULT_MODE, description="ranking"),
    ) -> Results:
        if not q.strip():
            raise HTTPException(422, "q is blank")
        try:
            return Results(results=search_text(q, k=k, where=where, mode=mode, index=_index()))
        except Exception as exc:  # LanceDB reports SQL errors as generic errors
            _raise_if_bad_where(where, exc)
            raise

    @app.get(
        "/search/like/{clip_id}",
        response_model=Results,
        tags=["search"],
        summary="clips most similar to a clip (clip embeddings)",
        responses={**bad_request, **not_found},
    )
    async def like(
        clip_id: str = PathParam(..., pattern=CLIP_ID_PATTERN, description="the query clip"),
        k: int = Query(20, ge=1, le=MAX_RESULTS, description="clips returned"),
        where: str | None = Query(None, max_length=2000, description="SQL prefilter on the embedding table"),
    ) -> Results:
        try:
            rows = clip_results(await _searcher().alike(clip_id, k=k, where=where or None))
        except KeyError as exc:
            raise HTTPException(404, f"no embedding for clip {clip_id!r}") from exc
        except Exception as exc:  # LanceDB reports SQL errors as generic errors
            _raise_if_bad_where(where, exc)
            raise
        return Results(results=rows)

    return app


def _mount_docs(app) -> None:
    """Swagger UI at /docs with its scripts and styles from the swagger-ui-py wheel (swagger-ui 5:
    4.x cannot render the OpenAPI 3.1 that FastAPI writes)."""
    from importlib.resources import files

    from fastapi.openapi.docs import get_swagger_ui_html
    from fastapi.staticfiles import StaticFiles

    static = files("swagger_ui") / "static"
    app.mount("/static/swagger-ui", StaticFiles(directory=str(static)), name="swagger-ui")

    @app.get("/docs", include_in_schema=False)
    def docs():
        return get_swagger_ui_html(
            openapi_url=app.openapi_url,
            title=f"{API_TITLE} - docs",
            swagger_js_url="/static/swagger-ui/swagger-ui-bundle.js",
            swagger_css_url="/static/swagger-ui/swagger-ui.css",
            swagger_favicon_url="/static/swagger-ui/favicon-32x32.png",
        )


def openapi_spec() -> dict:
    """The app's OpenAPI document (what docs/openapi.json holds)."""
    from av_resources.lake import LakeStorage

    return create_app(lake=LakeStorage(root="/nonexistent-lake")).openapi()


# ---- CLI: `av api` ---------------------------------------------------------------------------------

api_app = typer.Typer(
    help="The HTTP retrieval API (FastAPI): serve it, print its OpenAPI spec.", no_args_is_help=True
)


@api_app.command("serve")
def serve(
    host: str = typer.Option("127.0.0.1", help="interface to bind (0.0.0.0 to expose it)"),
    port: int = typer.Option(8000, min=1, max=65535, help="TCP port"),
    warm: bool = typer.Option(True, help="load the sentence embedder at startup"),
) -> None:
    """Serve /health, /clips/{id}, /search/text and /search/like/{id} over the lake ($AV_LAKE_ROOT)
    with uvicorn; docs at /docs, the spec at /openapi.json."""
    import uvicorn

    from av_cli.output import stderr_console
    from av_resources.env import local_lake

    lake = local_lake()
    stderr_console.print(f"serving the lake at {lake.uri()} on http://{host}:{port} (docs: /docs)")
    uvicorn.run(create_app(lake, warm=warm), host=host, port=port, log_level="info")


@api_app.command("openapi")
def openapi(out: Path = typer.Option(None, "--out", help="write here (default: stdout)")) -> None:
    """Print (or write) the OpenAPI spec; `av api openapi --out docs/openapi.json` refreshes the
    committed copy."""
    text = json.dumps(openapi_spec(), indent=2) + "\n"
    if out is None:
        typer.echo(text, nl=False)
    else:
        out.write_text(text)
