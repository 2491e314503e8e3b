"""The embedding tables: LanceDB `<lake>/ml/embeddings` (one row per clip, key `clip_id`) and
`<lake>/ml/keyframe_embeddings` (one row per redacted keyframe, key `keyframe_id`), upserted by key
(merge_insert), with an ANN index once a table holds enough rows, and nearest-neighbour search.

Index policy (`ensure_index`, measured in tests/embeddings/test_vector_index.py and bench/bench_vectors.py):
- below `INDEX_MIN_ROWS` rows: no index, a flat scan is exact and fast;
- from `INDEX_MIN_ROWS` rows: IVF_PQ (cosine), `num_partitions` = round(sqrt(rows)), at most rows / 256
  (Lance trains IVF k-means on >= 256 rows per partition and warns/clamps otherwise) and 4096; the count
  is in the index name `vector_ivfpq_p<partitions>` (index stats do not report it);
  `num_sub_vectors` = dim / 4 (4 dims per 8-bit code; PQ needs >= 256 rows to train its codebooks);
- later runs `optimize()` (folds new rows into the existing partitions, compacts), and retrain the index
  (`replace=True`) when the table grew past 4x the rows the index was trained on (partitions too few);
- searches on an indexed table probe `nprobes(partitions)` = max(20, partitions / 20) partitions and
  re-rank `REFINE_FACTOR` x k PQ candidates with exact distances (`refine_factor`), so small tables get
  exact-quality results and large ones stay fast (recall@10 >= 0.9 is asserted on 1,000 rows).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

TABLE = "embeddings"
KEYFRAME_TABLE = "keyframe_embeddings"
INDEX_MIN_ROWS = 256  # below this a flat scan is exact and fast; above, an IVF_PQ index
METRIC = "cosine"
REFINE_FACTOR = 10  # re-rank 10 x k PQ candidates with exact distances
MIN_NPROBES = 20
RETRAIN_GROWTH = 4.0  # retrain the index when rows > 4x the rows it was trained on


def _schema(dim: int):
    """The clip table."""
    import pyarrow as pa

    return pa.schema(
        [
            ("clip_id", pa.string()),
            ("drive_id", pa.string()),
            ("t_start_ns", pa.int64()),
            ("t_end_ns", pa.int64()),
            ("event_types", pa.string()),
            ("day_night", pa.string()),
            ("weather", pa.string()),
            ("road_class", pa.string()),
            ("speed_mean_mps", pa.float64()),
            ("model", pa.string()),
            ("model_version", pa.string()),
            ("vector", pa.list_(pa.float32(), dim)),
        ]
    )


def keyframe_schema(dim: int):
    """The keyframe table."""
    import pyarrow as pa

    return pa.schema(
        [
            ("keyframe_id", pa.string()),
            ("drive_id", pa.string()),
            ("clip_id", pa.string()),
            ("sensor_id", pa.string()),
            ("t_ns", pa.int64()),
            ("event_types", pa.string()),
            ("day_night", pa.string()),
            ("weather", pa.string()),
            ("model", pa.string()),
            ("model_version", pa.string()),
            ("vector", pa.list_(pa.float32(), dim)),
        ]
    )


def index_partitions(rows: int) -> int:
    """round(sqrt(rows)), at most rows / 256 (Lance trains k-means with >= 256 rows per partition)."""
    return max(1, min(4096, round(rows**0.5), rows // 256))


def _index_name(partitions: int) -> str:
    return f"vector_ivfpq_p{partitions}"


def _partitions_of(name: str) -> int | None:
    """The partition count is in the index name (index stats do not report it)."""
    tail = name.rsplit("_p", 1)[-1]
    return int(tail) if name.startswith("vector_ivfpq_p") and tail.isdigit() else None


def index_sub_vectors(dim: int) -> int:
    return next(s for s in (dim // 4, dim // 8, 16, 8, 4, 2, 1) if s >= 1 and dim % s == 0)


def search_nprobes(partitions: int) -> int:
    return max(MIN_NPROBES, partitions // 20)


class EmbeddingStore:
    def __init__(
        self,
        uri: str,
        storage_options: dict | None = None,
        table: str = TABLE,
        key: str = "clip_id",
        schema=_schema,
    ):
        self.uri, self.storage_options, self.table_name = uri, storage_options or None, table
        self.key, self.schema = key, schema

    @classmethod
    def for_lake(cls, lake, table: str = TABLE) -> EmbeddingStore:
        from av_resources.clip_store import lance_storage_options

        uri = lake.uri("ml")
        opts = lance_storage_options(lake) if "://" in uri else None
        if table == KEYFRAME_TABLE:
            return cls(uri, storage_options=opts, table=table, key="keyframe_id", schema=keyframe_schema)
        return cls(uri, storage_options=opts, table=table)

    @classmethod
    def keyframes_for_lake(cls, lake) -> EmbeddingStore:
        return cls.for_lake(lake, table=KEYFRAME_TABLE)

    def _db(self):
        import lancedb

        return lancedb.connect(self.uri, storage_options=self.storage_options)

    def table(self, dim: int | None = None):
        """The table (None when absent and `dim` is None). With `dim`: created when absent, and
        replaced when its vectors have another width (a new model version: old vectors are not
        comparable with new ones; the drives are re-embedded as they are processed)."""
        db = self._db()
        try:
            t = db.open_table(self.table_name)
            if dim is None or t.schema.field("vector").type.list_size == dim:
                return t
            db.drop_table(self.table_name, ignore_missing=True)
            raise FileNotFoundError(self.table_name)
        except (FileNotFoundError, ValueError):
            if dim is None:
                return None
            try:
                return db.create_table(self.table_name, schema=self.schema(dim), exist_ok=True)
            except Exception:  # noqa: BLE001 - a concurrent creator won: open theirs
                return db.open_table(self.table_name)

    def upsert(self, rows: Sequence[dict[str, Any]]) -> int:
        """Insert or replace rows by key (idempotent: the same rows twice leave the same table)."""
        if not rows:
            return 0
        import pyarrow as pa

        from av_resources.clip_store import retry_on_conflict

        dim = len(rows[0]["vector"])

        def once():
            table = self.table(dim)
            data = pa.Table.from_pylist(list(rows), schema=table.schema)
            table.merge_insert(self.key).when_matched_update_all().when_not_matched_insert_all().execute(data)

        retry_on_conflict(once)
        return len(rows)

    def count(self) -> int:
        t = self.table()
        return 0 if t is None else t.count_rows()

    def _vector_index(self, t=None):
        t = t if t is not None else self.table()
        if t is None:
            return None
        return next((i for i in t.list_indices() if "vector" in list(getattr(i, "columns", []) or [])), None)

    def has_vector_index(self) -> bool:
        return self._vector_index() is not None

    def index_info(self) -> dict[str, Any] | None:
        """{name, index_type, num_partitions, num_indexed_rows, num_unindexed_rows} or None."""
        t = self.table()
        idx = self._vector_index(t)
        if idx is None:
            return None
        st = t.index_stats(idx.name)
        return {
            "name": idx.name,
            "index_type": str(getattr(st, "index_type", getattr(idx, "index_type", ""))),
            "num_partitions": _partitions_of(idx.name),
            "num_indexed_rows": getattr(st, "num_indexed_rows", None),
            "num_unindexed_rows": getattr(st, "num_unindexed_rows", None),
        }

    def ensure_index(self, min_rows: int = INDEX_MIN_ROWS) -> str:
        """Create the ANN index when the table reached `min_rows`; afterwards fold new rows in with
        `optimize()`, and retrain when the table outgrew the index (see the module docstring)."""
        from av_resources.clip_store import retry_on_conflict

        t = self.table()
        if t is None:
            return "empty"
        n = t.count_rows()
        info = self.index_info()
        if info is not None:
            parts = info.get("num_partitions") or 0
            if parts and index_partitions(n) <= RETRAIN_GROWTH**0.5 * parts:
                retry_on_conflict(lambda: t.optimize())
                return f"optimized (IVF_PQ partitions={parts})"
        elif n < min_rows:
            return f"flat (<{min_rows} rows)"
        return self.create_index()

    def create_index(self) -> str:
        from lancedb.index import IvfPq

        from av_resources.clip_store import retry_on_conflict

        t = self.table()
        n = t.count_rows()
        dim = t.schema.field("vector").type.list_size
        parts, subv = index_partitions(n), index_sub_vectors(dim)
        config = IvfPq(distance_type=METRIC, num_partitions=parts, num_sub_vectors=subv)
        name = _index_name(parts)
        retry_on_conflict(lambda: t.create_index("vector", config=config, replace=True, name=name))
        for old in t.list_indices():
            if old.name != name and "vector" in list(old.columns or []):
                retry_on_conflict(lambda old=old: t.drop_index(old.name))
        return f"IVF_PQ partitions={parts} sub_vectors={subv}"

    def get(self, key: str) -> dict[str, Any] | None:
        t = self.table()
        if t is None:
            return None
        safe = key.replace("'", "''")
        hits = t.search().where(f"{self.key} = '{safe}'").limit(1).to_list()
        return hits[0] if hits else None

    def search_query(self, vector, k: int = 20, where: str | None = None):
        """The LanceDB query `search_vector` runs (None without a table): the ANN index when there is
        one (nprobes + exact re-ranking of refine_factor x k candidates), else an exact flat scan."""
        t = self.table()
        if t is None:
            return None
        q = t.search(list(map(float, vector)), vector_column_name="vector").metric(METRIC)
        info = self.index_info()
        if info is not None:
            q = q.nprobes(search_nprobes(info.get("num_partitions") or 1)).refine_factor(REFINE_FACTOR)
        if where:
            q = q.where(where, prefilter=True)
        return q.limit(k)

    def search_vector(self, vector, k: int = 20, where: str | None = None) -> list[dict[str, Any]]:
        """The k rows nearest to `vector` (cosine, `_distance` = 1 - cosine similarity), best first."""
        q = self.search_query(vector, k=k, where=where)
        return [] if q is None else q.to_list()

    def like(self, clip_id: str, k: int = 20, where: str | None = None) -> list[dict[str, Any]]:
        """The k clips nearest to `clip_id` (cosine), best first, de-duplicated, the query excluded.
        Raises KeyError when the clip has no vector."""
        query = self.get(clip_id)
        if query is None:
            raise KeyError(clip_id)
        safe = clip_id.replace("'", "''")
        cond = f"clip_id != '{safe}'" + (f" AND ({where})" if where else "")
        hits = self.search_vector(query["vector"], k=k + 1, where=cond)
        out, seen = [], {clip_id}
        for h in hits:
            if h["clip_id"] in seen:
                continue
            seen.add(h["clip_id"])
            out.append(
                {
                    "clip_id": h["clip_id"],
                    "drive_id": h["drive_id"],
                    "t_start_ns": int(h["t_start_ns"]),
                    "t_end_ns": int(h["t_end_ns"]),
                    "score": round(1.0 - float(h["_distance"]), 6),
                    "event_types": [e for e in (h.get("event_types") or "").split(",") if e],
                    "day_night": h.get("day_night"),
                    "weather": h.get("weather"),
                    "road_class": h.get("road_class"),
                    "model": h.get("model"),
                    "model_version": h.get("model_version"),
                }
            )
            if len(out) >= k:
                break
        return out
