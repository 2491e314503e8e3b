"""Text search over clip descriptions: one interface (`ClipTextIndex`), two backends.

- `LanceClipTextIndex`: a LanceDB table under the lake with a native FTS index on `text` (works
  offline, local folder or s3://; DuckDB's fts extension cannot be loaded here). Default everywhere.
- `OpenSearchClipTextIndex`: the production backend, the same `upsert`/`search` over OpenSearch's
  REST API (index mapping, `_bulk` upserts keyed by clip_id, a `bool` query: `multi_match` on `text`
  plus filters). It talks through a tiny transport (`perform(method, path, body, params)`), the stdlib
  `UrllibTransport` by default, so it needs no extra package and tests record the requests it builds.

Rows are clip-level: `clip_id` is the key of both backends, so a clip is indexed once and results are
de-duplicated by construction (and again in `dedupe`). Besides the text, a few catalog columns are
stored for filtering (`FILTER_COLUMNS`): `--where` takes SQL on them for LanceDB, and the simple
`col op literal [AND ...]` subset (`parse_where`) that both backends understand.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import Any, Protocol

import dagster as dg
from pydantic import Field

from av_resources.clip_store import retry_on_conflict


class ClipTextIndex(Protocol):
    def upsert(self, rows: Sequence[dict[str, Any]]) -> int: ...
    def search(self, text: str, limit: int = 10, where: str | None = None) -> list[dict[str, Any]]: ...


KEY_COLUMNS = ("clip_id", "drive_id", "t_start_ns", "t_end_ns")
# catalog columns kept beside the text for filters: name -> (arrow type name, OpenSearch type)
FILTER_COLUMNS = {
    "vehicle_id": ("string", "keyword"),
    "weather": ("string", "keyword"),
    "route_id": ("string", "keyword"),
    "duration_s": ("float64", "double"),
    "distance_m": ("float64", "double"),
    "speed_mean_mps": ("float64", "double"),
    "speed_max_mps": ("float64", "double"),
    "lat_centroid": ("float64", "double"),
    "lon_centroid": ("float64", "double"),
}
TEXT_COLUMNS = (*KEY_COLUMNS, *FILTER_COLUMNS, "text")


def text_rows(rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Catalog rows -> index rows (`text` from `description` when absent; missing filters None)."""
    out = []
    for r in rows:
        row = {k: r.get(k) for k in TEXT_COLUMNS}
        if row["text"] is None:
            row["text"] = r.get("description") or ""
        out.append(row)
    return out


def dedupe(results: list[dict[str, Any]], limit: int | None = None) -> list[dict[str, Any]]:
    """One result per clip_id (the best score wins), best first."""
    best: dict[str, dict[str, Any]] = {}
    for r in results:
        if r["clip_id"] not in best or r["score"] > best[r["clip_id"]]["score"]:
            best[r["clip_id"]] = r
    ranked = sorted(best.values(), key=lambda r: (-r["score"], r["clip_id"]))
    return ranked[:limit] if limit is not None else ranked


_COND = re.compile(
    r"^\s*([A-Za-z_][A-Za-z0-9_]*)\s*(<=|>=|!=|<>|=|<|>)\s*('(?:[^']|'')*'|-?[0-9]+(?:\.[0-9]+)?(?:[eE]-?[0-9]+)?)\s*$"
)


def parse_where(where: str | None) -> list[tuple[str, str, Any]]:
    """`col op literal [AND col op literal ...]` -> [(col, op, value)]; ops = != <> < <= > >=,
    literals 'quoted text' or numbers. Anything else raises ValueError (full SQL: LanceDB only)."""
    if not where or not where.strip():
        return []
    out = []
    for part in re.split(r"\s+AND\s+", where.strip(), flags=re.IGNORECASE):
        m = _COND.match(part)
        if not m:
            raise ValueError(f"unsupported filter {part!r}: use col op literal [AND ...]")
        col, op, lit = m.groups()
        if col not in (*KEY_COLUMNS, *FILTER_COLUMNS):
            raise ValueError(f"unknown filter column {col!r}")
        value: Any = lit[1:-1].replace("''", "'") if lit.startswith("'") else float(lit)
        if isinstance(value, float) and value.is_integer() and "." not in lit and "e" not in lit.lower():
            value = int(value)
        out.append((col, "!=" if op == "<>" else op, value))
    return out


class LanceClipTextIndex:
    def __init__(self, uri: str, table: str = "clip_text_v2", storage_options: dict | None = None):
        # v2: filter columns beside the text (v1 held the keys and the text only)
        self.uri, self.table_name, self.storage_options = uri, table, storage_options

    def _db(self):
        import lancedb

        return lancedb.connect(self.uri, storage_options=self.storage_options)

    @staticmethod
    def _schema():
        import pyarrow as pa

        fields = [("clip_id", pa.string()), ("drive_id", pa.string())]
        fields += [("t_start_ns", pa.int64()), ("t_end_ns", pa.int64())]
        fields += [(k, getattr(pa, t)()) for k, (t, _os) in FILTER_COLUMNS.items()]
        return pa.schema([*fields, ("text", pa.string())])

    def upsert(self, rows: Sequence[dict[str, Any]]) -> int:
        import pyarrow as pa

        rows = text_rows(rows)
        if not rows:
            return 0
        schema = self._schema()
        data = pa.Table.from_pylist(rows, schema=schema)

        def once():
            db = self._db()
            table = db.create_table(self.table_name, schema=schema, exist_ok=True)
            table.merge_insert("clip_id").when_matched_update_all().when_not_matched_insert_all().execute(
                data
            )
            from lancedb.index import FTS

            table.create_index("text", config=FTS(), replace=True)

        retry_on_conflict(once)
        return len(rows)

    def search(self, text: str, limit: int = 10, where: str | None = None) -> list[dict[str, Any]]:
        db = self._db()
        try:
            table = db.open_table(self.table_name)
        except (FileNotFoundError, ValueError):
            return []
        q = table.search(text, query_type="fts")
        if where:
            q = q.where(where, prefilter=True)
        hits = q.limit(limit).to_list()
        return dedupe([_result(h, float(h.get("_score", 0.0))) for h in hits], limit)


def _result(h: dict[str, Any], score: float) -> dict[str, Any]:
    out = {
        "clip_id": h["clip_id"],
        "drive_id": h["drive_id"],
        "t_start_ns": int(h["t_start_ns"]),
        "t_end_ns": int(h["t_end_ns"]),
        "score": score,
    }
    out.update({k: h.get(k) for k in FILTER_COLUMNS if h.get(k) is not None})
    out["text"] = h.get("text")
    return out


# ---- OpenSearch --------------------------------------------------------------------------------------


class UrllibTransport:
    """`perform(method, path, body, params)` over plain HTTP(S) with the stdlib; JSON in and out,
    NDJSON for `_bulk`. Basic auth when given (AWS SigV4 is not implemented here)."""

    def __init__(self, url: str, username: str | None = None, password: str | None = None, timeout=30.0):
        self.url, self.username, self.password, self.timeout = url.rstrip("/"), username, password, timeout

    def perform(self, method: str, path: str, body: Any = None, params: dict | None = None) -> dict:
        import base64
        import urllib.error
        import urllib.parse
        import urllib.request

        url = self.url + path + ("?" + urllib.parse.urlencode(params) if params else "")
        if isinstance(body, str):
            data, ctype = body.encode(), "application/x-ndjson"
        else:
            data, ctype = (json.dumps(body).encode() if body is not None else None), "application/json"
        req = urllib.request.Request(url, data=data, method=method, headers={"Content-Type": ctype})
        if self.username:
            token = base64.b64encode(f"{self.username}:{self.password or ''}".encode()).decode()
            req.add_header("Authorization", f"Basic {token}")
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as resp:  # noqa: S310 - configured URL
                raw = resp.read()
        except urllib.error.HTTPError as exc:
            if method == "HEAD" and exc.code == 404:
                return {"status": 404}
            raise RuntimeError(f"OpenSearch {method} {path}: {exc.code} {exc.read()[:500]!r}") from exc
        return json.loads(raw) if raw else {"status": 200}


def index_mapping() -> dict[str, Any]:
    """The index body: `text` analysed with the english analyzer, keys and filters typed."""
    props: dict[str, Any] = {
        "clip_id": {"type": "keyword"},
        "drive_id": {"type": "keyword"},
        "t_start_ns": {"type": "long"},
        "t_end_ns": {"type": "long"},
        "text": {"type": "text", "analyzer": "english"},
    }
    props.update({k: {"type": os_type} for k, (_t, os_type) in FILTER_COLUMNS.items()})
    return {
        "settings": {"index": {"number_of_shards": 1, "number_of_replicas": 1}},
        "mappings": {"dynamic": "strict", "properties": props},
    }


def bulk_body(index: str, rows: Sequence[dict[str, Any]]) -> str:
    """NDJSON for `_bulk`: one `index` action per clip with `_id = clip_id` (an upsert by key)."""
    lines = []
    for r in text_rows(rows):
        lines.append(json.dumps({"index": {"_index": index, "_id": r["clip_id"]}}))
        lines.append(json.dumps({k: v for k, v in r.items() if v is not None}, sort_keys=True))
    return "\n".join(lines) + "\n"


_RANGE = {"<": "lt", "<=": "lte", ">": "gt", ">=": "gte"}


def search_body(text: str, limit: int, where: str | None = None) -> dict[str, Any]:
    """`bool`: `must` a `multi_match` on text, `filter`/`must_not` from `parse_where`."""
    filters: list[dict[str, Any]] = []
    must_not: list[dict[str, Any]] = []
    for col, op, value in parse_where(where):
        if op == "=":
            filters.append({"term": {col: value}})
        elif op == "!=":
            must_not.append({"term": {col: value}})
        else:
            filters.append({"range": {col: {_RANGE[op]: value}}})
    query: dict[str, Any] = {"must": [{"match": {"text": {"query": text, "operator": "or"}}}]}
    if filters:
        query["filter"] = filters
    if must_not:
        query["must_not"] = must_not
    return {"size": int(limit), "query": {"bool": query}, "_source": list(TEXT_COLUMNS)}


class OpenSearchClipTextIndex:
    """The production text index. `transport` is anything with `perform(method, path, body, params)`."""

    def __init__(self, transport, index: str = "av-clip-text-v2", refresh: bool = False):
        self.transport, self.index, self.refresh = transport, index, refresh

    def ensure_index(self) -> bool:
        """Create the index with its mapping when missing; True when it was created."""
        if self.transport.perform("HEAD", f"/{self.index}").get("status") != 404:
            return False
        self.transport.perform("PUT", f"/{self.index}", index_mapping())
        return True

    def upsert(self, rows: Sequence[dict[str, Any]]) -> int:
        if not rows:
            return 0
        self.ensure_index()
        params = {"refresh": "wait_for"} if self.refresh else None
        out = self.transport.perform("POST", "/_bulk", bulk_body(self.index, rows), params)
        if out.get("errors"):
            failed = [i for i in out.get("items", []) if next(iter(i.values())).get("error")]
            raise RuntimeError(f"OpenSearch bulk upsert: {len(failed)} items failed: {failed[:3]}")
        return len(rows)

    def search(self, text: str, limit: int = 10, where: str | None = None) -> list[dict[str, Any]]:
        out = self.transport.perform("POST", f"/{self.index}/_search", search_body(text, limit, where))
        hits = (out.get("hits") or {}).get("hits") or []
        return dedupe([_result(h["_source"], float(h.get("_score") or 0.0)) for h in hits], limit)


class TextIndexResource(dg.ConfigurableResource):
    """Where clip descriptions are indexed for `av search text`: LanceDB full-text under the lake
    (local and CI; `s3://` lakes included) or OpenSearch (production)."""

    backend: str = Field(default="lancedb", description="lancedb | opensearch")
    opensearch_url: str | None = None
    opensearch_index: str = "av-clip-text-v2"
    opensearch_username: str | None = None
    opensearch_password: str | None = None

    def open(self, lake) -> ClipTextIndex:
        if self.backend == "opensearch":
            if not self.opensearch_url:
                raise ValueError("text index backend 'opensearch' needs opensearch_url ($AV_OPENSEARCH_URL)")
            transport = UrllibTransport(
                self.opensearch_url, self.opensearch_username, self.opensearch_password
            )
            index = OpenSearchClipTextIndex(transport, index=self.opensearch_index)
            index.ensure_index()
            return index
        if self.backend != "lancedb":
            raise ValueError(f"unknown text index backend {self.backend!r}")
        from av_resources.clip_store import lance_storage_options

        uri = lake.uri("catalog/text")
        return LanceClipTextIndex(uri, storage_options=lance_storage_options(lake) if "://" in uri else None)
