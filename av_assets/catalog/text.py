"""Text search over clip descriptions and tags: LanceDB full-text index (works offline; DuckDB's fts
extension cannot be loaded here). OpenSearch is the production implementation of the same interface
(not built yet)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

from av_resources.clip_store import retry_on_conflict


class ClipTextIndex(Protocol):
    def upsert(self, rows: Sequence[dict[str, Any]]) -> int: ...
    def search(self, text: str, limit: int = 10) -> list[dict[str, Any]]: ...


TEXT_COLUMNS = ("clip_id", "drive_id", "t_start_ns", "t_end_ns", "text")


class LanceClipTextIndex:
    def __init__(self, uri: str, table: str = "clip_text", storage_options: dict | None = None):
        self.uri, self.table_name, self.storage_options = uri, table, storage_options

    def _db(self):
        import lancedb

        return lancedb.connect(self.uri, storage_options=self.storage_options)

    def upsert(self, rows: Sequence[dict[str, Any]]) -> int:
        import pyarrow as pa

        rows = [{k: r[k] for k in TEXT_COLUMNS} for r in rows]
        if not rows:
            return 0
        schema = pa.schema(
            [
                ("clip_id", pa.string()),
                ("drive_id", pa.string()),
                ("t_start_ns", pa.int64()),
                ("t_end_ns", pa.int64()),
                ("text", pa.string()),
            ]
        )
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

    def search(self, text: str, limit: int = 10) -> list[dict[str, Any]]:
        db = self._db()
        try:
            table = db.open_table(self.table_name)
        except (FileNotFoundError, ValueError):
            return []
        hits = table.search(text, query_type="fts").limit(limit).to_list()
        return [
            {
                "clip_id": h["clip_id"],
                "drive_id": h["drive_id"],
                "t_start_ns": int(h["t_start_ns"]),
                "t_end_ns": int(h["t_end_ns"]),
                "score": float(h.get("_score", 0.0)),
                "text": h["text"],
            }
            for h in hits
        ]
