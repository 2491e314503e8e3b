"""Text search over clips: one interface (`ClipTextIndex`), two backends, three ranking modes.

- `LanceClipTextIndex`: a LanceDB table under the lake (local folder or s3://) holding per clip the
  text, a native FTS (BM25) index on it, and the text's sentence embedding (`vector`, cosine). Default.
- `OpenSearchClipTextIndex`: the production backend, the same `upsert`/`search` over OpenSearch's
  REST API (mapping with a `knn_vector` field, `_bulk` upserts keyed by clip_id, a `match` query for
  words and a `knn` query for meaning, both with the same filters). It talks through a tiny transport
  (`perform(method, path, body, params)`), the stdlib `UrllibTransport` by default, so it needs no
  extra package and tests record the requests it builds.

Both take an optional `embedder` (anything with `name`, `version`, `dim` and `embed(texts)` returning
unit rows): with one, `upsert` stores each row's text embedding and `search` ranks by
`mode="semantic"` (cosine), `"fts"` (BM25) or `"hybrid"` (reciprocal-rank fusion of the two, the
default); without one the index is full-text only, as in workflow 4.

Rows are clip-level: `clip_id` is the key of both backends, so a clip is indexed once and results are
de-duplicated by construction (and again in `dedupe`). Besides the text, catalog columns are stored
for filtering (`FILTER_COLUMNS`): `--where` takes SQL on them for LanceDB (a prefilter), and the simple
`col op literal [AND ...]` subset (`parse_where`) that both backends understand.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import Any, Protocol

import dagster as dg
from pydantic import Field

from av_resources.clip_store import missing_local, retry_on_conflict


class TextEmbedder(Protocol):
    name: str
    version: str
    dim: int

    def embed(self, texts: Sequence[str]) -> Any: ...  # (n, dim) float array, unit rows


class ClipTextIndex(Protocol):
    def upsert(self, rows: Sequence[dict[str, Any]]) -> int: ...
    def search(
        self, text: str, limit: int = 10, where: str | None = None, mode: str | None = None
    ) -> list[dict[str, Any]]: ...


MODES = ("hybrid", "semantic", "fts")
VECTOR_DIM = 384  # all-MiniLM-L6-v2; the table's vector width
RRF_K = 60  # reciprocal-rank fusion constant (Cormack et al. 2009)
KEY_COLUMNS = ("clip_id", "drive_id", "t_start_ns", "t_end_ns")
# catalog columns kept beside the text for filters: name -> (arrow type name, OpenSearch type)
FILTER_COLUMNS = {
    "vehicle_id": ("string", "keyword"),
    "weather": ("string", "keyword"),
    "day_night": ("string", "keyword"),
    "road_class": ("string", "keyword"),
    "event_types": ("string", "keyword"),  # comma text, e.g. "cut_in,lane_change" (LIKE in LanceDB)
    "route_id": ("string", "keyword"),
    "duration_s": ("float64", "double"),
    "distance_m": ("float64", "double"),
    "speed_mean_mps": ("float64", "double"),
    "speed_max_mps": ("float64", "double"),
    "lat_centroid": ("float64", "double"),
    "lon_centroid": ("float64", "double"),
}
MODEL_COLUMNS = ("embedder", "embedder_version")  # which model wrote `vector` (null: none)
TEXT_COLUMNS = (*KEY_COLUMNS, *FILTER_COLUMNS, "text", *MODEL_COLUMNS)


def text_rows(rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Catalog rows -> index rows (`text` from `description` when absent; missing filters None;
    a list of event types becomes comma text)."""
    out = []
    for r in rows:
        row = {k: r.get(k) for k in TEXT_COLUMNS}
        if row["text"] is None:
            row["text"] = r.get("description") or ""
        if isinstance(row["event_types"], list | tuple):
            row["event_types"] = ",".join(row["event_types"])
        if r.get("vector") is not None:
            row["vector"] = r["vector"]
        if r.get("embed_text"):  # what to embed when not the whole text (not stored)
            row["embed_text"] = r["embed_text"]
        out.append(row)
    return out


def embed_rows(rows: list[dict[str, Any]], embedder: TextEmbedder | None) -> list[dict[str, Any]]:
    """Add `vector`, `embedder`, `embedder_version` to rows without a vector (in place)."""
    todo = [r for r in rows if r.get("vector") is None]
    if embedder is None or not todo:
        return rows
    vecs = embedder.embed([r.get("embed_text") or r["text"] or "" for r in todo])
    for r, v in zip(todo, vecs, strict=True):
        r["vector"] = [float(x) for x in v]
        r["embedder"], r["embedder_version"] = embedder.name, embedder.version
    return rows


def dedupe(results: list[dict[str, Any]], limit: int | None = None) -> list[dict[str, Any]]:
    """One result per clip_id (the best score wins), best first."""
    best: dict[str, dict[str, Any]] = {}
    for r in results:
        if r["clip_id"] not in best or r["score"] > best[r["clip_id"]]["score"]:
            best[r["clip_id"]] = r
    ranked = sorted(best.values(), key=lambda r: (-r["score"], r["clip_id"]))
    return ranked[:limit] if limit is not None else ranked


def rrf(
    semantic: list[dict[str, Any]], fts: list[dict[str, Any]], limit: int, k: int = RRF_K
) -> list[dict[str, Any]]:
    """Reciprocal-rank fusion: sum over the two rankings of 1 / (k + rank), rank from 1, reported
    as a share of the best possible sum (first in both = 1.0; first in one ranking only = 0.5), so a
    score says how well both agree. Every result has `similarity` (cosine) and `bm25`, null where
    that ranking did not find it."""
    fused: dict[str, dict[str, Any]] = {}
    for ranking, key in ((semantic, "similarity"), (fts, "bm25")):
        for rank, r in enumerate(dedupe(ranking), start=1):
            out = fused.setdefault(r["clip_id"], {**r, "score": 0.0, "similarity": None, "bm25": None})
            out["score"] += 1.0 / (k + rank)
            out[key] = r["score"]
    best = 2.0 / (k + 1)
    for r in fused.values():
        r["score"] = round(r["score"] / best, 6)
    return dedupe(list(fused.values()), limit)


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


def _mode(mode: str | None, embedder: TextEmbedder | None) -> str:
    mode = mode or ("hybrid" if embedder is not None else "fts")
    if mode not in MODES:
        raise ValueError(f"unknown search mode {mode!r}: one of {', '.join(MODES)}")
    if mode != "fts" and embedder is None:
        raise ValueError(f"search mode {mode!r} needs a text embedder (this index is full-text only)")
    return mode


def _candidates(limit: int) -> int:
    """How deep each ranking goes before fusion."""
    return max(4 * int(limit), 50)


class LanceClipTextIndex:
    def __init__(
        self,
        uri: str,
        table: str = "clip_text_v3",
        storage_options: dict | None = None,
        embedder: TextEmbedder | None = None,
    ):
        # v3: tag columns and the text embedding (v2: filter columns, no vector; v1: keys + text)
        self.uri, self.table_name, self.storage_options = uri, table, storage_options
        self.embedder = embedder

    def _db(self):
        import lancedb

        return lancedb.connect(self.uri, storage_options=self.storage_options)

    @staticmethod
    def _schema():
        import pyarrow as pa

        fields = [("clip_id", pa.string()), ("drive_id", pa.string())]
        fields += [("t_start_ns", pa.int64()), ("t_end_ns", pa.int64())]
        fields += [(k, getattr(pa, t)()) for k, (t, _os) in FILTER_COLUMNS.items()]
        fields += [("text", pa.string()), ("embedder", pa.string()), ("embedder_version", pa.string())]
        return pa.schema([*fields, ("vector", pa.list_(pa.float32(), VECTOR_DIM))])

    def _open(self):
        if missing_local(self.uri):
            return None
        try:
            return self._db().open_table(self.table_name)
        except (FileNotFoundError, ValueError):
            return None

    def upsert(self, rows: Sequence[dict[str, Any]], insert_only: bool = False) -> int:
        """Upsert by clip_id (`insert_only`: add new clips, leave existing rows as they are)."""
        import pyarrow as pa

        rows = embed_rows(text_rows(rows), self.embedder)
        if not rows:
            return 0
        if self.embedder is not None and self.embedder.dim != VECTOR_DIM:
            raise ValueError(f"embedder dim {self.embedder.dim} != table vector width {VECTOR_DIM}")
        schema = self._schema()
        data = pa.Table.from_pylist(
            [{"vector": None, **{k: v for k, v in r.items() if k != "embed_text"}} for r in rows],
            schema=schema,
        )

        def once():
            db = self._db()
            table = db.create_table(self.table_name, schema=schema, exist_ok=True)
            merge = table.merge_insert("clip_id")
            if not insert_only:
                merge = merge.when_matched_update_all()
            merge.when_not_matched_insert_all().execute(data, on_bad_vectors="null")  # no embedder: null
            from lancedb.index import FTS

            table.create_index("text", config=FTS(), replace=True)

        retry_on_conflict(once)
        return len(rows)

    def count(self) -> int:
        t = self._open()
        return 0 if t is None else t.count_rows()

    def search(
        self, text: str, limit: int = 10, where: str | None = None, mode: str | None = None
    ) -> list[dict[str, Any]]:
        mode = _mode(mode, self.embedder)
        table = self._open()
        if table is None:
            return []
        if mode == "fts":
            return self._fts(table, text, limit, where)
        sem = self._semantic(table, text, limit if mode == "semantic" else _candidates(limit), where)
        if mode == "semantic":
            return sem
        return rrf(sem, self._fts(table, text, _candidates(limit), where), limit)

    def _fts(self, table, text: str, limit: int, where: str | None) -> list[dict[str, Any]]:
        q = table.search(text, query_type="fts")
        if where:
            q = q.where(where, prefilter=True)
        hits = q.select([*TEXT_COLUMNS, "_score"]).limit(limit).to_list()
        return dedupe([_result(h, float(h.get("_score", 0.0))) for h in hits], limit)

    def _semantic(self, table, text: str, limit: int, where: str | None) -> list[dict[str, Any]]:
        vec = [float(x) for x in self.embedder.embed([text])[0]]
        cond = "vector IS NOT NULL" + (f" AND ({where})" if where else "")
        hits = (
            table.search(vec, vector_column_name="vector")
            .metric("cosine")
            .where(cond, prefilter=True)
            .select([*TEXT_COLUMNS, "_distance"])
            .limit(limit)
            .to_list()
        )
        return dedupe([_result(h, round(1.0 - float(h["_distance"]), 6)) for h in hits], limit)

    def ensure_vector_index(self, min_rows: int = 20_000) -> str:
        """An ANN index (IVF_HNSW_SQ, cosine) on `vector` once the table holds `min_rows` rows; below
        that the flat scan is exact and fast. Later calls fold new rows in (`optimize`)."""
        t = self._open()
        if t is None:
            return "empty"
        if any("vector" in list(getattr(i, "columns", []) or []) for i in t.list_indices()):
            retry_on_conflict(lambda: t.optimize())
            return "optimized"
        n = t.count_rows()
        if n < min_rows:
            return f"flat (<{min_rows} rows)"
        parts = max(1, min(256, n // 4096))
        from lancedb.index import IvfHnswSq

        config = IvfHnswSq(distance_type="cosine", num_partitions=parts)
        retry_on_conflict(lambda: t.create_index("vector", config=config, replace=True))
        return f"IVF_HNSW_SQ partitions={parts}"


def _result(h: dict[str, Any], score: float) -> dict[str, Any]:
    out = {
        "clip_id": h["clip_id"],
        "drive_id": h["drive_id"],
        "t_start_ns": int(h["t_start_ns"]),
        "t_end_ns": int(h["t_end_ns"]),
        "score": score,
    }
    out.update({k: h.get(k) for k in FILTER_COLUMNS if h.get(k) is not None})
    if "event_types" in out:
        out["event_types"] = [e for e in out["event_types"].split(",") if e]
    out.update({k: h.get(k) for k in MODEL_COLUMNS if h.get(k) is not None})
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


def index_mapping(dim: int = VECTOR_DIM) -> dict[str, Any]:
    """The index body: `text` analysed with the english analyzer, keys and filters typed, the text
    embedding as a `knn_vector` (HNSW, cosine, Lucene engine: filters apply inside the k-NN search)."""
    props: dict[str, Any] = {
        "clip_id": {"type": "keyword"},
        "drive_id": {"type": "keyword"},
        "t_start_ns": {"type": "long"},
        "t_end_ns": {"type": "long"},
        "text": {"type": "text", "analyzer": "english"},
        "embedder": {"type": "keyword"},
        "embedder_version": {"type": "keyword"},
        "vector": {
            "type": "knn_vector",
            "dimension": int(dim),
            "method": {"name": "hnsw", "space_type": "cosinesimil", "engine": "lucene"},
        },
    }
    props.update({k: {"type": os_type} for k, (_t, os_type) in FILTER_COLUMNS.items()})
    return {
        "settings": {"index": {"number_of_shards": 1, "number_of_replicas": 1, "knn": True}},
        "mappings": {"dynamic": "strict", "properties": props},
    }


def bulk_body(
    index: str, rows: Sequence[dict[str, Any]], embedder: TextEmbedder | None = None, action: str = "index"
) -> str:
    """NDJSON for `_bulk`: one `index` action per clip with `_id = clip_id` (an upsert by key; `create`:
    insert only, an existing clip answers 409); the text embedding in `vector` when an embedder is given."""
    lines = []
    for r in embed_rows(text_rows(rows), embedder):
        lines.append(json.dumps({action: {"_index": index, "_id": r["clip_id"]}}))
        doc = {k: v for k, v in r.items() if v is not None and k != "embed_text"}
        lines.append(json.dumps(doc, sort_keys=True))
    return "\n".join(lines) + "\n"


_RANGE = {"<": "lt", "<=": "lte", ">": "gt", ">=": "gte"}


def _filters(where: str | None) -> dict[str, Any]:
    """`parse_where` -> the `filter` / `must_not` clauses of a `bool` query."""
    filters: list[dict[str, Any]] = []
    must_not: list[dict[str, Any]] = []
    for col, op, value in parse_where(where):
        if op == "=":
            filters.append({"term": {col: value}})
        elif op == "!=":
            must_not.append({"term": {col: value}})
        else:
            filters.append({"range": {col: {_RANGE[op]: value}}})
    out: dict[str, Any] = {}
    if filters:
        out["filter"] = filters
    if must_not:
        out["must_not"] = must_not
    return out


def search_body(text: str, limit: int, where: str | None = None) -> dict[str, Any]:
    """`bool`: `must` a `match` on text, `filter`/`must_not` from `parse_where`."""
    query: dict[str, Any] = {"must": [{"match": {"text": {"query": text, "operator": "or"}}}]}
    query.update(_filters(where))
    return {"size": int(limit), "query": {"bool": query}, "_source": list(TEXT_COLUMNS)}


def knn_body(vector: Sequence[float], limit: int, where: str | None = None) -> dict[str, Any]:
    """A `knn` query on `vector` (k = size = limit); the same filters as `search_body`, inside the
    k-NN query so they prefilter (Lucene engine) instead of thinning the k results afterwards."""
    knn: dict[str, Any] = {"vector": [float(x) for x in vector], "k": int(limit)}
    filt = _filters(where)
    if filt:
        knn["filter"] = {"bool": filt}
    return {"size": int(limit), "query": {"knn": {"vector": knn}}, "_source": list(TEXT_COLUMNS)}


class OpenSearchClipTextIndex:
    """The production text index. `transport` is anything with `perform(method, path, body, params)`."""

    def __init__(
        self,
        transport,
        index: str = "av-clip-text-v3",
        refresh: bool = False,
        embedder: TextEmbedder | None = None,
    ):
        self.transport, self.index, self.refresh, self.embedder = transport, index, refresh, embedder

    def ensure_index(self) -> bool:
        """Create the index with its mapping when missing; True when it was created."""
        if self.transport.perform("HEAD", f"/{self.index}").get("status") != 404:
            return False
        dim = self.embedder.dim if self.embedder is not None else VECTOR_DIM
        self.transport.perform("PUT", f"/{self.index}", index_mapping(dim))
        return True

    def upsert(self, rows: Sequence[dict[str, Any]], insert_only: bool = False) -> int:
        """Upsert by clip_id (`insert_only`: `create` actions; clips already indexed are left as they are)."""
        if not rows:
            return 0
        self.ensure_index()
        params = {"refresh": "wait_for"} if self.refresh else None
        action = "create" if insert_only else "index"
        out = self.transport.perform(
            "POST", "/_bulk", bulk_body(self.index, rows, self.embedder, action), params
        )
        if out.get("errors"):
            failed = [
                i
                for i in out.get("items", [])
                if next(iter(i.values())).get("error")
                and not (insert_only and next(iter(i.values())).get("status") == 409)
            ]
        else:
            failed = []
        if failed:
            raise RuntimeError(f"OpenSearch bulk upsert: {len(failed)} items failed: {failed[:3]}")
        return len(rows)

    def _hits(self, body: dict[str, Any], cosine: bool = False) -> list[dict[str, Any]]:
        out = self.transport.perform("POST", f"/{self.index}/_search", body)
        hits = (out.get("hits") or {}).get("hits") or []
        res = []
        for h in hits:
            s = float(h.get("_score") or 0.0)
            # cosinesimil scores are (1 + cos) / 2: report the cosine, as LanceDB does
            res.append(_result(h["_source"], round(2.0 * s - 1.0, 6) if cosine else s))
        return dedupe(res)

    def search(
        self, text: str, limit: int = 10, where: str | None = None, mode: str | None = None
    ) -> list[dict[str, Any]]:
        mode = _mode(mode, self.embedder)
        if mode == "fts":
            return self._hits(search_body(text, limit, where))[:limit]
        n = limit if mode == "semantic" else _candidates(limit)
        sem = self._hits(knn_body(self.embedder.embed([text])[0], n, where), cosine=True)
        if mode == "semantic":
            return sem[:limit]
        return rrf(sem, self._hits(search_body(text, n, where)), limit)


class TextIndexResource(dg.ConfigurableResource):
    """Where clip texts are indexed for `av search text`: LanceDB (FTS + vectors) under the lake
    (local and CI; `s3://` lakes included) or OpenSearch (production)."""

    backend: str = Field(default="lancedb", description="lancedb | opensearch")
    opensearch_url: str | None = None
    opensearch_index: str = "av-clip-text-v3"
    opensearch_username: str | None = None
    opensearch_password: str | None = None

    def open(self, lake, embedder: TextEmbedder | None = None) -> ClipTextIndex:
        """The index; with `embedder` (the `text_embedder` resource's `get()`), rows get their text
        embedding and search ranks by meaning too; without, full text only (no model is loaded)."""
        if self.backend == "opensearch":
            if not self.opensearch_url:
                raise ValueError("text index backend 'opensearch' needs opensearch_url ($AV_OPENSEARCH_URL)")
            transport = UrllibTransport(
                self.opensearch_url, self.opensearch_username, self.opensearch_password
            )
            index = OpenSearchClipTextIndex(transport, index=self.opensearch_index, embedder=embedder)
            index.ensure_index()
            return index
        if self.backend != "lancedb":
            raise ValueError(f"unknown text index backend {self.backend!r}")
        from av_resources.clip_store import lance_storage_options

        uri = lake.uri("catalog/text")
        return LanceClipTextIndex(
            uri,
            storage_options=lance_storage_options(lake) if "://" in uri else None,
            embedder=embedder,
        )
