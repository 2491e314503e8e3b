"""The HTTP retrieval API over real HTTP: `av api serve` in a subprocess on a free loopback port,
called with httpx, on a lake seeded through the real stores (text index with the real sentence
embedder, clip embeddings, clip key-value store)."""

import json
import os
import socket
import subprocess
import sys
import time

import httpx
import pytest

from av_contracts.schemas import validation_errors
from tests.helpers import REPO_ROOT

TEXT_ROWS = [
    {
        "clip_id": "d-101:100",
        "drive_id": "d-101",
        "t_start_ns": 100,
        "t_end_ns": 200,
        "weather": "rain",
        "day_night": "night",
        "event_types": "cut_in",
        "speed_mean_mps": 24.0,
        "text": "Drive at night in rain weather on a motorway road, highway driving at 86 km/h, "
        "with a cut-in by another vehicle.",
    },
    {
        "clip_id": "d-101:200",
        "drive_id": "d-101",
        "t_start_ns": 200,
        "t_end_ns": 300,
        "weather": "rain",
        "day_night": "night",
        "event_types": "",
        "speed_mean_mps": 6.0,
        "text": "Drive at night in rain weather on a residential road, slow urban driving at 22 km/h, uneventful.",
    },
    {
        "clip_id": "d-102:0",
        "drive_id": "d-102",
        "t_start_ns": 0,
        "t_end_ns": 100,
        "weather": "clear",
        "day_night": "day",
        "event_types": "harsh_brake",
        "speed_mean_mps": 27.0,
        "text": "Drive by day in clear weather on a motorway road, highway driving at 97 km/h, "
        "with harsh braking.",
    },
]
# clip embeddings: d-101:100 is nearest to d-102:0, then d-101:200
VECTORS = {"d-101:100": [1.0, 0.0, 0.0], "d-101:200": [0.0, 1.0, 0.0], "d-102:0": [0.8, 0.6, 0.0]}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _seed(lake):
    from av_resources.clip_store import ClipStoreResource
    from av_resources.minilm import minilm
    from av_resources.text_index import TextIndexResource
    from av_resources.vector_store import EmbeddingStore

    assert TextIndexResource().open(lake, embedder=minilm()).upsert(TEXT_ROWS) == 3
    EmbeddingStore.for_lake(lake).upsert(
        [
            {
                **{
                    k: r[k] for k in ("clip_id", "drive_id", "t_start_ns", "t_end_ns", "weather", "day_night")
                },
                "event_types": r["event_types"],
                "road_class": "motorway",
                "speed_mean_mps": r["speed_mean_mps"],
                "model": "test-vectors",
                "model_version": "1",
                "vector": VECTORS[r["clip_id"]],
            }
            for r in TEXT_ROWS
        ]
    )
    ClipStoreResource().open(lake).upsert(
        [
            {
                "clip_id": r["clip_id"],
                "drive_id": r["drive_id"],
                "t_start_ns": r["t_start_ns"],
                "speed_mean_mps": r["speed_mean_mps"],
                "quality_flags": ["short_clip"],
            }
            for r in TEXT_ROWS
        ]
    )


@pytest.fixture(scope="module")
def api(tmp_path_factory):
    from av_resources.lake import LakeStorage

    root = tmp_path_factory.mktemp("api") / "lake"
    lake = LakeStorage(root=str(root))
    _seed(lake)
    port = _free_port()
    env = {**os.environ, "AV_LAKE_ROOT": str(root), "AV_ENV": "local", "HF_HUB_OFFLINE": "1"}
    cmd = [sys.executable, "-m", "av_cli", "api", "serve", "--host", "127.0.0.1", "--port", str(port)]
    log = open(root.parent / "server.log", "w+")  # noqa: SIM115 - closed below
    proc = subprocess.Popen(cmd, cwd=REPO_ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    client = httpx.Client(base_url=base, timeout=180.0)
    try:
        deadline = time.monotonic() + 180
        while True:
            if proc.poll() is not None:
                log.seek(0)
                pytest.fail(f"api server exited {proc.returncode}: {log.read()[-3000:]}")
            try:
                if client.get("/health").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                pytest.fail("api server did not come up in 180 s")
            time.sleep(0.5)
        yield {"client": client, "lake": lake, "base": base}
    finally:
        client.close()
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


def test_health_counts_the_lake(api):
    r = api["client"].get("/health")
    assert r.status_code == 200
    assert r.json() == {
        "status": "ok",
        "version": "1.0.0",
        "lake": api["lake"].uri(),
        "text_rows": 3,
        "embedding_rows": 3,
    }


def test_get_clip_and_404_422(api):
    c = api["client"]
    r = c.get("/clips/d-101:200")
    assert r.status_code == 200, r.text
    item = r.json()
    assert item["drive_id"] == "d-101" and item["speed_mean_mps"] == 6.0
    assert item["quality_flags"] == ["short_clip"]  # stored as JSON text, served as a list
    r = c.get("/clips/d-999:1")
    assert r.status_code == 404 and "d-999:1" in r.json()["detail"]
    assert c.get("/clips/NOT A CLIP").status_code == 422


def test_search_text_contract_ranking_and_filters(api):
    from av_assets.catalog.search_cli import search_text
    from av_resources.minilm import minilm
    from av_resources.text_index import TextIndexResource

    c = api["client"]
    r = c.get("/search/text", params={"q": "night rain highway", "k": 10})
    assert r.status_code == 200, r.text
    doc = r.json()
    assert validation_errors(doc, "cli_results") == []
    ids = [x["clip_id"] for x in doc["results"]]
    assert ids[0] == "d-101:100" and len(ids) == len(set(ids)) == 3
    # the API answers what the CLI's function answers on the same lake
    local = search_text(
        "night rain highway", k=10, index=TextIndexResource().open(api["lake"], embedder=minilm())
    )
    assert ids == [x["clip_id"] for x in local]
    assert [x["score"] for x in doc["results"]] == pytest.approx([x["score"] for x in local])

    r = c.get("/search/text", params={"q": "someone braking hard", "k": 1, "mode": "semantic"})
    assert [x["clip_id"] for x in r.json()["results"]] == ["d-102:0"]
    assert r.json()["results"][0]["event_types"] == ["harsh_brake"]
    r = c.get("/search/text", params={"q": "highway", "where": "weather = 'rain' AND speed_mean_mps > 10"})
    assert [x["clip_id"] for x in r.json()["results"]] == ["d-101:100"]

    bad = c.get("/search/text", params={"q": "highway", "where": "no_such_col = 1"})
    assert bad.status_code == 400 and bad.json()["detail"].startswith(
        "where 'no_such_col = 1' is not a filter"
    )
    assert "no column no_such_col" in bad.json()["detail"]
    for route in ("/search/text", "/search/like/d-101:100"):  # a value of the wrong type: 400, not 500
        bad = c.get(route, params={"q": "highway", "where": "speed_mean_mps > 'fast'"})
        assert bad.status_code == 400 and bad.json()["detail"].endswith(
            '"fast" is text, but the column holds numbers'
        ), bad.text
    assert c.get("/search/text").status_code == 422  # q is required
    assert c.get("/search/text", params={"q": "x", "k": 0}).status_code == 422
    assert c.get("/search/text", params={"q": "x", "mode": "magic"}).status_code == 422
    assert c.get("/search/text", params={"q": "   "}).status_code == 422


def test_search_like_contract_and_errors(api):
    c = api["client"]
    r = c.get("/search/like/d-101:100", params={"k": 5})
    assert r.status_code == 200, r.text
    doc = r.json()
    assert validation_errors(doc, "cli_results") == []
    assert [x["clip_id"] for x in doc["results"]] == ["d-102:0", "d-101:200"]  # query excluded
    assert doc["results"][0]["score"] == pytest.approx(0.8, abs=1e-5)  # cosine of [1,0,0] and [.8,.6,0]
    r = c.get("/search/like/d-101:100", params={"where": "drive_id = 'd-101'"})
    assert [x["clip_id"] for x in r.json()["results"]] == ["d-101:200"]
    assert c.get("/search/like/d-999:1").status_code == 404
    bad = c.get("/search/like/d-101:100", params={"where": "nonsense ==== 3"})
    assert bad.status_code == 400 and bad.json()["detail"].startswith(
        "where 'nonsense ==== 3' is not a filter"
    )
    assert "SELECT" not in bad.json()["detail"] and "d-101:100" not in bad.json()["detail"]  # our wrapper
    assert c.get("/search/like/d-101:100", params={"k": 100000}).status_code == 422


def test_openapi_committed_spec_is_current(api):
    from av_assets.catalog.api import API_TITLE, API_VERSION, openapi_spec

    committed = json.loads((REPO_ROOT / "docs" / "openapi.json").read_text())
    current = openapi_spec()
    assert committed == current, "docs/openapi.json is stale: run `av api openapi --out docs/openapi.json`"
    served = api["client"].get("/openapi.json").json()
    assert served == committed
    assert (served["info"]["title"], served["info"]["version"]) == (API_TITLE, API_VERSION)
    assert {"/health", "/clips/{clip_id}", "/search/text", "/search/like/{clip_id}"} <= set(served["paths"])
    assert "400" in served["paths"]["/search/text"]["get"]["responses"]
    assert "404" in served["paths"]["/search/like/{clip_id}"]["get"]["responses"]


def test_docs_page_works_offline_in_a_real_browser(api):
    """Swagger UI from the wheel's assets: no CDN in the page, and Chromium renders the operations."""
    c = api["client"]
    html = c.get("/docs").text
    assert "/static/swagger-ui/swagger-ui-bundle.js" in html and "/openapi.json" in html
    assert "cdn" not in html.lower() and "https://" not in html
    js = c.get("/static/swagger-ui/swagger-ui-bundle.js")
    css = c.get("/static/swagger-ui/swagger-ui.css")
    assert js.status_code == 200 and "javascript" in js.headers["content-type"] and len(js.content) > 500_000
    assert css.status_code == 200 and css.headers["content-type"].startswith("text/css")
    assert c.get("/redoc").status_code == 404  # ReDoc would load from a CDN: not served

    from tests.e2e.browser import chromium, open_page

    with chromium() as browser:
        text = open_page(
            browser,
            f"{api['base']}/docs",
            ["/search/like/{clip_id}", "/search/text", "/health"],
            REPO_ROOT / "test-artifacts" / "api-docs.png",
        )
    assert "/search/like/{clip_id}" in text and "/clips/{clip_id}" in text, text[:2000]


def test_api_serve_help():
    from typer.testing import CliRunner

    from av_cli.main import app

    out = CliRunner().invoke(app, ["api", "serve", "--help"])
    assert out.exit_code == 0 and "--port" in out.output and "--host" in out.output


def test_a_missing_lake_answers_empty_and_is_not_created(tmp_path):
    """Read-only endpoints on a lake that does not exist yet: counts 0, 404s, and no folder written."""
    from fastapi.testclient import TestClient

    from av_assets.catalog.api import create_app
    from av_resources.lake import LakeStorage

    root = tmp_path / "no-lake-yet"
    with TestClient(create_app(LakeStorage(root=str(root)))) as c:
        assert c.get("/health").json() == {
            "status": "ok",
            "version": "1.0.0",
            "lake": str(root),
            "text_rows": 0,
            "embedding_rows": 0,
        }
        assert c.get("/clips/d-001:0").status_code == 404
        assert c.get("/search/like/d-001:0").status_code == 404
    # the CLI's text search says the lake has no clips (exit 2), as `av search like` does
    from typer.testing import CliRunner

    from av_cli.main import app

    res = CliRunner().invoke(app, ["search", "text", "night rain"], env={"AV_LAKE_ROOT": str(root)})
    assert res.exit_code == 2 and "no clips in the text index" in res.output, res.output
    assert not root.exists()
