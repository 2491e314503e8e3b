"""The clip key-value store (the DynamoDB role): one item per clip, keyed by `clip_id`, upserted per
drive by concurrent per-drive runs.

- `LanceClipStore`: a LanceDB table under the lake (local folder), upserted with `merge_insert`
  keyed by clip_id. Lance commits are optimistic: a writer that loses a commit race retries on the
  new table version, so concurrent per-drive writers lose no rows.
- `DynamoClipStore`: DynamoDB (`UpdateItem` per item), tested against moto.
`ClipStoreResource` picks one (`backend = lancedb | dynamodb`).

Both write only the fields a row brings a value for (None leaves the stored value): `upsert` the
catalog row (`catalog/clip_index`, creating the item), `update` the conditions and event types
`catalog/clip_text` derives after enrichment (existing items only). So a clip's item carries what
search results say about it, and re-materialising `clip_index` alone does not erase them.
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Sequence
from decimal import Decimal
from typing import Any, Protocol

import dagster as dg
from pydantic import Field


class ClipStore(Protocol):
    def upsert(self, rows: Sequence[dict[str, Any]]) -> int: ...
    def update(self, items: Sequence[dict[str, Any]]) -> int: ...
    def get(self, clip_id: str) -> dict[str, Any] | None: ...
    def count(self) -> int: ...


def missing_local(uri: str) -> bool:
    """A local LanceDB folder that does not exist: readers answer "nothing" instead of connecting,
    which would create it (read-only commands and the API must not write to the lake)."""
    import os

    return "://" not in uri and not os.path.isdir(uri)


def _flatten(row: dict[str, Any]) -> dict[str, Any]:
    """Lists/dicts as JSON text so every backend stores the same flat item."""
    return {k: (json.dumps(v, sort_keys=True) if isinstance(v, (list, dict)) else v) for k, v in row.items()}


def public_item(item: dict[str, Any]) -> dict[str, Any]:
    """An item as `av catalog get` and `GET /clips/{id}` show it: lists and objects decoded from
    their JSON text, internal fields (`_...`) left out."""
    out = {}
    for k, v in item.items():
        if k.startswith("_"):
            continue
        if isinstance(v, str) and v[:1] in "[{":
            try:
                v = json.loads(v)
            except ValueError:
                pass
        out[k] = v
    return out


def retry_on_conflict(fn, attempts: int = 12):
    for i in range(attempts):
        try:
            return fn()
        except Exception as exc:  # noqa: BLE001 - commit conflicts surface as generic errors
            text = str(exc).lower()
            transient = any(
                w in text
                for w in ("conflict", "retry", "concurrent", "commit", "already exists", "not found")
            )
            if not transient or i == attempts - 1:
                raise
            time.sleep(0.05 * (2 ** min(i, 5)) * (0.5 + random.random()))
    return None


def _evolve(table, rows: Sequence[dict[str, Any]]) -> None:
    """Give a Lance table every field `rows` bring a value for (Arrow would drop unknown fields
    silently): new fields become nullable columns (schema evolution, no rewrite), and a null-typed
    column (from a first batch where the field was None everywhere) is retyped: it holds no value."""
    import pyarrow as pa

    touched = {k for r in rows for k, v in r.items() if v is not None}
    retype = sorted(touched & {f.name for f in table.schema if pa.types.is_null(f.type)})
    if retype:
        table.drop_columns(retype)
    have, new = set(table.schema.names), {}
    for r in rows:
        for k, v in r.items():
            if v is not None and k not in have and k not in new:
                new[k] = pa.array([v]).type
    if new:
        table.add_columns([pa.field(k, t, nullable=True) for k, t in new.items()])


class LanceClipStore:
    def __init__(self, uri: str, table: str = "clip_index", storage_options: dict | None = None):
        self.uri, self.table_name, self.storage_options = uri, table, storage_options or None

    def _db(self):
        import lancedb

        return lancedb.connect(self.uri, storage_options=self.storage_options)

    def _table(self, sample: list[dict] | None = None):
        if sample is None and missing_local(self.uri):
            return None
        db = self._db()
        try:
            return db.open_table(self.table_name)
        except (FileNotFoundError, ValueError):
            if sample is None:
                return None
            import pyarrow as pa

            schema = pa.Table.from_pylist(sample).schema
            # a field null in every sampled row (weather unknown...) becomes a nullable string, not
            # Arrow's null type, which no later value fits
            schema = pa.schema(
                [pa.field(f.name, pa.string()) if pa.types.is_null(f.type) else f for f in schema]
            )
            try:
                return db.create_table(self.table_name, schema=schema, exist_ok=True)
            except Exception:  # noqa: BLE001 - a concurrent creator won: open theirs
                return db.open_table(self.table_name)

    def upsert(self, rows: Sequence[dict[str, Any]]) -> int:
        return self._write(rows, insert=True)

    def update(self, items: Sequence[dict[str, Any]]) -> int:
        return self._write(items, insert=False)

    def _write(self, rows: Sequence[dict[str, Any]], *, insert: bool) -> int:
        """Merge each row's non-None fields into its item (read, merge, `merge_insert` in one retried
        attempt: a lost commit race re-reads); new items only when `insert`."""
        flat = [_flatten(r) for r in rows]
        items = [{k: v for k, v in r.items() if v is not None} for r in flat]
        items = [i for i in items if i.get("clip_id") and (insert or len(i) > 1)]
        if not items:
            return 0
        import pyarrow as pa

        def once() -> int:
            table = self._table(flat if insert else None)
            if table is None:
                return 0
            _evolve(table, items)
            ids = ", ".join("'" + i["clip_id"].replace("'", "''") + "'" for i in items)
            old = table.search().where(f"clip_id IN ({ids})").limit(len(items)).to_arrow().to_pylist()
            by_id = {r["clip_id"]: r for r in old}
            merged = [{**by_id.get(i["clip_id"], {}), **i} for i in items if insert or i["clip_id"] in by_id]
            if merged:
                merge = table.merge_insert("clip_id").when_matched_update_all()
                if insert:
                    merge = merge.when_not_matched_insert_all()
                merge.execute(pa.Table.from_pylist(merged, schema=table.schema))
            return len(merged)

        return retry_on_conflict(once)

    def get(self, clip_id: str) -> dict[str, Any] | None:
        table = self._table()
        if table is None:
            return None
        safe = clip_id.replace("'", "''")
        hits = table.search().where(f"clip_id = '{safe}'").limit(2).to_list()
        return hits[0] if hits else None

    def count(self) -> int:
        table = self._table()
        return 0 if table is None else table.count_rows()

    def all(self) -> list[dict[str, Any]]:
        table = self._table()
        return [] if table is None else table.to_arrow().to_pylist()


def _to_dynamo(v):
    if isinstance(v, float):
        return Decimal(repr(v)) if v == v and v not in (float("inf"), float("-inf")) else None
    return v


class DynamoClipStore:
    def __init__(
        self, table: str, client=None, *, endpoint_url: str | None = None, region: str = "us-east-1"
    ):
        import boto3

        self.table_name = table
        self.client = client or boto3.client("dynamodb", endpoint_url=endpoint_url, region_name=region)
        self.resource_kwargs = {"endpoint_url": endpoint_url, "region_name": region}

    def ensure_table(self) -> None:
        try:
            self.client.describe_table(TableName=self.table_name)
        except self.client.exceptions.ResourceNotFoundException:
            self.client.create_table(
                TableName=self.table_name,
                KeySchema=[{"AttributeName": "clip_id", "KeyType": "HASH"}],
                AttributeDefinitions=[{"AttributeName": "clip_id", "AttributeType": "S"}],
                BillingMode="PAY_PER_REQUEST",
            )
            self.client.get_waiter("table_exists").wait(TableName=self.table_name)

    def upsert(self, rows: Sequence[dict[str, Any]]) -> int:
        return sum(self._set_fields(r, must_exist=False) for r in rows)

    def update(self, items: Sequence[dict[str, Any]]) -> int:
        return sum(self._set_fields(i, must_exist=True) for i in items)

    def _set_fields(self, row: dict[str, Any], *, must_exist: bool) -> bool:
        """`UpdateItem` SET of the row's non-None fields (creates the item unless `must_exist`)."""
        from boto3.dynamodb.types import TypeSerializer

        ser = TypeSerializer()
        fields = {k: _to_dynamo(v) for k, v in _flatten(row).items() if k != "clip_id"}
        fields = {k: v for k, v in fields.items() if v is not None}
        if must_exist and not fields:
            return False
        kw: dict[str, Any] = {}
        if must_exist:
            kw["ConditionExpression"] = "attribute_exists(clip_id)"
        if fields:
            kw["UpdateExpression"] = "SET " + ", ".join(f"#f{i} = :v{i}" for i in range(len(fields)))
            kw["ExpressionAttributeNames"] = {f"#f{i}": k for i, k in enumerate(fields)}
            kw["ExpressionAttributeValues"] = {
                f":v{i}": ser.serialize(v) for i, v in enumerate(fields.values())
            }
        try:
            self.client.update_item(TableName=self.table_name, Key={"clip_id": {"S": row["clip_id"]}}, **kw)
        except self.client.exceptions.ConditionalCheckFailedException:
            return False
        return True

    def get(self, clip_id: str) -> dict[str, Any] | None:
        from boto3.dynamodb.types import TypeDeserializer

        out = self.client.get_item(TableName=self.table_name, Key={"clip_id": {"S": clip_id}})
        item = out.get("Item")
        if not item:
            return None
        de = TypeDeserializer()
        return {k: de.deserialize(v) for k, v in item.items()}

    def count(self) -> int:
        n, kw = 0, {"TableName": self.table_name, "Select": "COUNT"}
        while True:
            out = self.client.scan(**kw)
            n += out["Count"]
            if "LastEvaluatedKey" not in out:
                return n
            kw["ExclusiveStartKey"] = out["LastEvaluatedKey"]


class ClipStoreResource(dg.ConfigurableResource):
    """Where clip items go: `lancedb` (a table under the lake, the default locally) or `dynamodb`."""

    backend: str = Field(default="lancedb", description="lancedb | dynamodb")
    lance_uri: str | None = Field(default=None, description="default: <lake root>/catalog/kv")
    dynamodb_table: str = Field(default="av-clip-index")
    dynamodb_endpoint_url: str | None = None
    region: str = "us-east-1"

    def open(self, lake) -> ClipStore:
        if self.backend == "dynamodb":
            store = DynamoClipStore(
                self.dynamodb_table, endpoint_url=self.dynamodb_endpoint_url, region=self.region
            )
            store.ensure_table()
            return store
        if self.backend != "lancedb":
            raise ValueError(f"unknown clip store backend {self.backend!r}")
        uri = self.lance_uri or lake.uri("catalog/kv")
        return LanceClipStore(
            uri, storage_options=lance_storage_options(lake) if uri.startswith("s3://") else None
        )


def lance_storage_options(lake) -> dict[str, str]:
    """LanceDB takes the object-store options of the lake as strings."""
    return {k: str(v) for k, v in lake.storage_options().items()}
