"""`av search text` (contract shape, filters, de-duplication) and the OpenSearch adapter's requests."""

import json
import subprocess
import sys

import pytest

from av_contracts.schemas import validation_errors
from av_resources.text_index import (
    LanceClipTextIndex,
    OpenSearchClipTextIndex,
    bulk_body,
    dedupe,
    index_mapping,
    parse_where,
    search_body,
)
from tests.helpers import REPO_ROOT

ROWS = [
    {
        "clip_id": "d-010:100",
        "drive_id": "d-010",
        "t_start_ns": 100,
        "t_end_ns": 200,
        "weather": "rain",
        "speed_mean_mps": 24.0,
        "vehicle_id": "v1",
        "description": "highway at night in heavy rain",
    },
    {
        "clip_id": "d-010:200",
        "drive_id": "d-010",
        "t_start_ns": 200,
        "t_end_ns": 300,
        "weather": "rain",
        "speed_mean_mps": 6.0,
        "vehicle_id": "v1",
        "description": "urban street at night, rain, pedestrians",
    },
    {
        "clip_id": "d-011:0",
        "drive_id": "d-011",
        "t_start_ns": 0,
        "t_end_ns": 100,
        "weather": "clear",
        "speed_mean_mps": 27.0,
        "vehicle_id": "v2",
        "description": "highway by day, clear weather",
    },
]


@pytest.fixture
def lake_with_text(tmp_path, monkeypatch):
    monkeypatch.setenv("AV_LAKE_ROOT", str(tmp_path / "lake"))
    from av_assets.catalog.search_cli import open_text_index

    idx = open_text_index()
    idx.upsert(ROWS)
    idx.upsert(ROWS[:1])  # upserting again keeps one row per clip
    return idx


def _cli(*args):
    from typer.testing import CliRunner

    from av_cli.main import app

    return CliRunner().invoke(app, list(args))


def test_search_text_json_contract_and_ranking(lake_with_text):
    out = _cli("search", "text", "night rain highway", "--json")
    assert out.exit_code == 0, out.output
    doc = json.loads(out.stdout)
    assert validation_errors(doc, "cli_results") == []
    ids = [r["clip_id"] for r in doc["results"]]
    assert ids[0] == "d-010:100" and len(ids) == len(set(ids)) == 3  # clip-level, de-duplicated
    assert all(isinstance(r["score"], float) for r in doc["results"])


def test_search_text_k_and_where(lake_with_text):
    doc = json.loads(_cli("search", "text", "night rain highway", "-k", "1", "--json").stdout)
    assert [r["clip_id"] for r in doc["results"]] == ["d-010:100"]
    out = _cli("search", "text", "highway", "--where", "weather = 'clear' AND speed_mean_mps > 20", "--json")
    assert out.exit_code == 0, out.output
    assert [r["clip_id"] for r in json.loads(out.stdout)["results"]] == ["d-011:0"]
    assert _cli("search", "text", "highway", "--where", "no_such_col = 1", "--json").exit_code == 2
    alias = _cli("catalog", "search", "highway", "--json")  # the workflow-4 spelling still works
    assert alias.exit_code == 0 and validation_errors(json.loads(alias.stdout), "cli_results") == []


def test_search_text_plain_output(lake_with_text):
    out = _cli("search", "text", "night rain highway", "-k", "2")
    assert out.exit_code == 0, out.output
    lines = out.stdout.splitlines()
    assert lines[0].split() == ["score", "clip_id", "text"] and len(lines) == 3
    assert lines[1].split()[1] == "d-010:100" and float(lines[1].split()[0]) > 0


def test_usage_errors_under_json_still_print_one_document():
    """A bad option value is caught by the command-line parser, before the command runs: the entry
    point still prints CONTRACTS' {"error", "exit_code"} on stdout (through `python -m`, as `av`)."""
    for args, what in ((["-k", "0"], "-k"), (["-k", "1001"], "-k")):
        out = subprocess.run(
            [sys.executable, "-m", "av_cli", "search", "like", "d-001:0", *args, "--json"],
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert out.returncode == 2, out.stderr[-2000:]
        doc = json.loads(out.stdout)
        assert doc["exit_code"] == 2 and what in doc["error"], doc
    out = subprocess.run(
        [sys.executable, "-m", "av_cli", "no-such-command", "--json"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 2 and json.loads(out.stdout)["exit_code"] == 2


def test_empty_index_gives_empty_results(tmp_path):
    assert LanceClipTextIndex(str(tmp_path / "none")).search("anything") == []


def test_parse_where_and_dedupe():
    assert parse_where("weather = 'rain' and speed_mean_mps >= 15.5 AND route_id <> 'it''s'") == [
        ("weather", "=", "rain"),
        ("speed_mean_mps", ">=", 15.5),
        ("route_id", "!=", "it's"),
    ]
    assert parse_where(None) == [] and parse_where("t_start_ns < 5") == [("t_start_ns", "<", 5)]
    for bad in ("weather LIKE 'r%'", "x = 1", "weather = 'a' OR weather = 'b'"):
        with pytest.raises(ValueError):
            parse_where(bad)
    rows = [
        {"clip_id": "a:1", "score": 1.0},
        {"clip_id": "a:1", "score": 3.0},
        {"clip_id": "b:1", "score": 2.0},
    ]
    assert [(r["clip_id"], r["score"]) for r in dedupe(rows)] == [("a:1", 3.0), ("b:1", 2.0)]


class FakeTransport:
    """Records every request; answers like an OpenSearch 2.x node."""

    def __init__(self, exists=False, hits=()):
        self.requests, self.exists, self.hits = [], exists, list(hits)

    def perform(self, method, path, body=None, params=None):
        self.requests.append((method, path, body, params))
        if method == "HEAD":
            return {"status": 200 if self.exists else 404}
        if path.endswith("/_search"):
            return {"hits": {"hits": self.hits}}
        if path == "/_bulk":
            return {"errors": False, "items": []}
        return {"acknowledged": True}


def test_opensearch_mapping_and_bulk_upsert():
    t = FakeTransport()
    idx = OpenSearchClipTextIndex(t, index="clips", refresh=True)
    assert idx.upsert(ROWS) == 3
    (m1, p1, _, _), (m2, p2, mapping, _), (m3, p3, body, params) = t.requests
    assert (m1, p1, m2, p2, m3, p3) == ("HEAD", "/clips", "PUT", "/clips", "POST", "/_bulk")
    assert mapping == index_mapping()
    props = mapping["mappings"]["properties"]
    assert props["clip_id"]["type"] == "keyword" and props["text"] == {"type": "text", "analyzer": "english"}
    assert props["t_start_ns"]["type"] == "long" and props["weather"]["type"] == "keyword"
    assert props["speed_mean_mps"]["type"] == "double" and mapping["mappings"]["dynamic"] == "strict"
    assert params == {"refresh": "wait_for"} and body.endswith("\n")
    lines = [json.loads(x) for x in body.splitlines()]
    assert lines[0] == {"index": {"_index": "clips", "_id": "d-010:100"}}  # _id = clip_id: an upsert
    assert lines[1]["text"] == ROWS[0]["description"] and lines[1]["weather"] == "rain"
    assert "distance_m" not in lines[1]  # missing filters are omitted, not null
    assert set(lines[1]) <= set(props)  # strict mapping accepts every field
    assert body == bulk_body("clips", ROWS)
    t2 = FakeTransport(exists=True)
    OpenSearchClipTextIndex(t2, index="clips").upsert(ROWS[:1])
    assert [r[0] for r in t2.requests] == ["HEAD", "POST"] and t2.requests[1][3] is None


def test_opensearch_search_query_dsl_and_results():
    hits = [
        {"_id": "d-010:100", "_score": 3.5, "_source": {**ROWS[0], "text": ROWS[0]["description"]}},
        {"_id": "d-010:100", "_score": 1.0, "_source": {**ROWS[0], "text": "dup"}},
        {"_id": "d-011:0", "_score": 2.0, "_source": {**ROWS[2], "text": ROWS[2]["description"]}},
    ]
    t = FakeTransport(exists=True, hits=hits)
    res = OpenSearchClipTextIndex(t, index="clips").search(
        "night rain", limit=5, where="weather = 'rain' AND speed_mean_mps > 10 AND vehicle_id != 'v9'"
    )
    method, path, body, _ = t.requests[-1]
    assert (method, path) == ("POST", "/clips/_search")
    assert body["size"] == 5
    q = body["query"]["bool"]
    assert q["must"] == [{"match": {"text": {"query": "night rain", "operator": "or"}}}]
    assert q["filter"] == [{"term": {"weather": "rain"}}, {"range": {"speed_mean_mps": {"gt": 10}}}]
    assert q["must_not"] == [{"term": {"vehicle_id": "v9"}}]
    assert search_body("x", 3) == {
        "size": 3,
        "query": {"bool": {"must": [{"match": {"text": {"query": "x", "operator": "or"}}}]}},
        "_source": body["_source"],
    }
    assert [r["clip_id"] for r in res] == ["d-010:100", "d-011:0"] and res[0]["score"] == 3.5
    assert validation_errors({"results": res}, "cli_results") == []


def test_search_text_help_lists_every_filter_column():
    from av_resources.text_index import FILTER_COLUMNS

    out = _cli("search", "text", "--help")
    assert out.exit_code == 0
    words = set(out.output.replace(",", " ").replace(";", " ").split())
    assert set(FILTER_COLUMNS) <= words, set(FILTER_COLUMNS) - words
