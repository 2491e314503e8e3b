"""The clip embedding table: LanceDB `<lake>/ml/embeddings`, upserted by clip_id (merge_insert),
with an ANN index once it holds enough rows, and a `like(clip_id)` nearest-neighbour search."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

TABLE = "embeddings"
INDEX_MIN_ROWS = 256  # below this a flat scan is exact and fast; above, an IVF_PQ index
METRIC = "cosine"


def _schema(dim: int):
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


class EmbeddingStore:
    def __init__(self, uri: str, storage_options: dict | None = None, table: str = TABLE):
        self.uri, self.storage_options, self.table_name = uri, storage_options or None, table

    @classmethod
    def for_lake(cls, lake) -> EmbeddingStore:
        from av_resources.clip_store import lance_storage_options

        uri = lake.uri("ml")
        return cls(uri, storage_options=lance_storage_options(lake) if "://" in uri else None)

    def _db(self):
        import lancedb

        return lancedb.connect(self.uri, storage_options=self.storage_options)

    def table(self, dim: int | None = None):
        db = self._db()
        try:
            return db.open_table(self.table_name)
        except (FileNotFoundError, ValueError):
            if dim is None:
                return None
            try:
                return db.create_table(self.table_name, schema=_schema(dim), exist_ok=True)
            except Exception:  # noqa: BLE001 - a concurrent creator won: open theirs
                return db.open_table(self.table_name)

    def upsert(self, rows: Sequence[dict[str, Any]]) -> int:
        if not rows:
            return 0
        import pyarrow as pa

        from av_resources.clip_store import retry_on_conflict

        dim = len(rows[0]["vector"])

        def once():
            table = self.table(dim)
            data = pa.Table.from_pylist(list(rows), schema=table.schema)
            table.merge_insert("clip_id").when_matched_update_all().when_not_matched_insert_all().execute(
                data
            )

        retry_on_conflict(once)
        return len(rows)

    def count(self) -> int:
        t = self.table()
        return 0 if t is None else t.count_rows()

    def has_vector_index(self) -> bool:
        t = self.table()
        if t is None:
            return False
        return any("vector" in list(getattr(i, "columns", []) or []) for i in t.list_indices())

    def ensure_index(self, min_rows: int = INDEX_MIN_ROWS) -> str:
        """Create the ANN index when the table reached `min_rows` (once; later upserts are searched
        by the index plus a flat scan of unindexed rows, and `optimize()` folds them in)."""
        from av_resources.clip_store import retry_on_conflict

        t = self.table()
        if t is None:
            return "empty"
        n = t.count_rows()
        if self.has_vector_index():
            retry_on_conflict(lambda: t.optimize())
            return "optimized"
        if n < min_rows:
            return f"flat (<{min_rows} rows)"
        dim = t.schema.field("vector").type.list_size
        subv = next(s for s in (16, 8, 4, 2, 1) if dim % s == 0)
        parts = max(1, min(256, int(n**0.5)))
        retry_on_conflict(
            lambda: t.create_index(
                metric=METRIC,
                vector_column_name="vector",
                num_partitions=parts,
                num_sub_vectors=subv,
                replace=True,
            )
        )
        return f"IVF_PQ partitions={parts} sub_vectors={subv}"

    def get(self, clip_id: str) -> dict[str, Any] | None:
        t = self.table()
        if t is None:
            return None
        safe = clip_id.replace("'", "''")
        hits = t.search().where(f"clip_id = '{safe}'").limit(1).to_list()
        return hits[0] if hits else None

    def like(self, clip_id: str, k: int = 20, where: str | None = None) -> list[dict[str, Any]]:
        """The k clips nearest to `clip_id` (cosine), best first, de-duplicated, the query excluded.
        Raises KeyError when the clip has no vector."""
        query = self.get(clip_id)
        if query is None:
            raise KeyError(clip_id)
        safe = clip_id.replace("'", "''")
        cond = f"clip_id != '{safe}'" + (f" AND ({where})" if where else "")
        hits = (
            self.table()
            .search(query["vector"], vector_column_name="vector")
            .metric(METRIC)
            .where(cond, prefilter=True)
            .limit(k + 1)
            .to_list()
        )
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
