"""The clip key-value store (LanceDB locally, DynamoDB on moto), the text index and Glue registration."""

import subprocess
import sys

import pytest

from av_resources.clip_store import DynamoClipStore, LanceClipStore
from av_resources.text_index import LanceClipTextIndex
from tests.helpers import REPO_ROOT

WRITER = """
import sys
from av_resources.clip_store import LanceClipStore
uri, drive, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
store = LanceClipStore(uri)
for batch in range(0, n, 5):  # several upserts per writer, interleaving with the others
    rows = [{"clip_id": f"{drive}:{i}", "drive_id": drive, "t_start_ns": i, "speed_mean_mps": i / 10,
             "quality_flags": ["x"]} for i in range(batch, min(n, batch + 5))]
    store.upsert(rows)
print("ok")
"""


def _row(drive, i, v=1.0):
    return {
        "clip_id": f"{drive}:{i}",
        "drive_id": drive,
        "t_start_ns": i,
        "speed_mean_mps": v,
        "quality_flags": [],
    }


def test_lance_upsert_is_idempotent_and_updates(tmp_path):
    store = LanceClipStore(str(tmp_path / "kv"))
    assert store.upsert([_row("d-001", i) for i in range(3)]) == 3
    store.upsert([_row("d-001", 1, v=9.5), _row("d-001", 3)])
    assert store.count() == 4
    assert store.get("d-001:1")["speed_mean_mps"] == 9.5
    assert store.get("d-001:99") is None


def _conditions(clip_id, weather=None, events=("cut_in",)):
    return {
        "clip_id": clip_id,
        "day_night": "night",
        "weather": weather,
        "road_class": "motorway",
        "event_types": list(events),
    }


def test_lance_update_sets_fields_of_existing_items_only(tmp_path):
    store = LanceClipStore(str(tmp_path / "kv"))
    store.upsert([_row("d-001", i, v=2.0) for i in range(3)])
    # new fields become columns; None keeps what is stored; unknown clips are not created
    n = store.update([_conditions("d-001:0", "rain"), _conditions("d-001:1"), _conditions("d-404:0", "fog")])
    assert n == 2 and store.count() == 3 and store.get("d-404:0") is None
    a, b, c = (store.get(f"d-001:{i}") for i in range(3))
    assert (a["weather"], a["day_night"], a["road_class"]) == ("rain", "night", "motorway")
    assert a["event_types"] == '["cut_in"]' and a["speed_mean_mps"] == 2.0  # untouched fields stay
    assert b["weather"] is None and b["day_night"] == "night"
    assert c["weather"] is None and c["day_night"] is None  # not updated: the new columns are null
    store.update([_conditions("d-001:1", "snow", events=())])  # again, with other values
    b = store.get("d-001:1")
    assert (b["weather"], b["event_types"]) == ("snow", "[]") and store.count() == 3
    # a later whole-item upsert of the catalog row keeps the table's columns, and a field no
    # earlier row had is kept too (a new column), not dropped
    store.upsert([{**_row("d-001", 2, v=7.0), "route_id": "route-1"}])
    c = store.get("d-001:2")
    assert (c["speed_mean_mps"], c["route_id"]) == (7.0, "route-1") and store.count() == 3
    assert store.get("d-001:0")["route_id"] is None and store.get("d-001:0")["weather"] == "rain"
    # the catalog row upserted again (clip_index re-materialised alone, weather unknown to it) keeps
    # the conditions clip_text set
    store.upsert([{**_row("d-001", 0, v=3.0), "weather": None}])
    a = store.get("d-001:0")
    assert (a["speed_mean_mps"], a["weather"], a["day_night"], a["event_types"]) == (
        3.0,
        "rain",
        "night",
        '["cut_in"]',
    )


def test_public_item_decodes_lists_and_hides_internal_fields():
    from av_resources.clip_store import _flatten, public_item

    stored = {**_flatten({"clip_id": "d-1:0", "event_types": ["cut_in"], "box": {"a": 1}}), "_rowid": 3}
    assert stored["event_types"] == '["cut_in"]'
    assert public_item({**stored, "note": "[not json"}) == {
        "clip_id": "d-1:0",
        "event_types": ["cut_in"],
        "box": {"a": 1},
        "note": "[not json",
    }


def test_lance_update_of_a_field_that_was_null_in_every_row(tmp_path):
    """The catalog row's weather is None when drive.json has none: the column is a nullable string
    (and a legacy table with an Arrow null-typed column gets it replaced on update)."""
    import lancedb
    import pyarrow as pa

    store = LanceClipStore(str(tmp_path / "kv"))
    store.upsert([{**_row("d-001", i), "weather": None} for i in range(2)])
    assert store._table().schema.field("weather").type == pa.string()
    assert store.update([_conditions("d-001:0", "clear")]) == 1 and store.get("d-001:0")["weather"] == "clear"
    legacy = lancedb.connect(str(tmp_path / "old")).create_table(
        "clip_index", data=pa.table({"clip_id": ["d-002:0"], "weather": pa.nulls(1)})
    )
    assert pa.types.is_null(legacy.schema.field("weather").type)
    old = LanceClipStore(str(tmp_path / "old"))
    assert old.update([_conditions("d-002:0", "fog")]) == 1
    assert old.get("d-002:0")["weather"] == "fog" and old.count() == 1


def test_concurrent_writers_lose_no_rows(tmp_path):
    """Four processes upsert 30 clips each into one table at the same time."""
    uri = str(tmp_path / "kv")
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", WRITER, uri, f"drive-{k}", "30"],
            cwd=REPO_ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for k in range(4)
    ]
    for p in procs:
        out, err = p.communicate(timeout=240)
        assert p.returncode == 0, err[-2000:]
    store = LanceClipStore(uri)
    assert store.count() == 120
    ids = {r["clip_id"] for r in store.all()}
    assert ids == {f"drive-{k}:{i}" for k in range(4) for i in range(30)}


def test_dynamodb_backend_on_moto(moto_endpoint):
    store = DynamoClipStore("av-clip-index-test", client=moto_endpoint.client("dynamodb"))
    store.ensure_table()
    store.upsert([_row("d-002", i, v=0.5 * i) for i in range(30)])  # more than one 25-item batch
    store.upsert([_row("d-002", 4, v=42.0)])
    assert store.count() == 30
    item = store.get("d-002:4")
    assert float(item["speed_mean_mps"]) == 42.0 and item["drive_id"] == "d-002"
    assert item["quality_flags"] == "[]"  # lists stored as JSON text, as in LanceDB
    assert store.update([_conditions("d-002:4", "rain"), _conditions("d-404:0", "fog")]) == 1
    item = store.get("d-002:4")
    assert (item["weather"], item["day_night"], item["event_types"]) == ("rain", "night", '["cut_in"]')
    assert float(item["speed_mean_mps"]) == 42.0 and store.get("d-404:0") is None and store.count() == 30
    store.upsert([{**_row("d-002", 4, v=43.0), "weather": None}])  # the catalog row again
    item = store.get("d-002:4")
    assert (item["weather"], item["day_night"], float(item["speed_mean_mps"])) == ("rain", "night", 43.0)


def test_text_index_finds_clips_by_words(tmp_path):
    idx = LanceClipTextIndex(str(tmp_path / "text"))
    rows = [
        {
            "clip_id": "d-003:1",
            "drive_id": "d-003",
            "t_start_ns": 1,
            "t_end_ns": 2,
            "text": "highway driving at night in heavy rain",
        },
        {
            "clip_id": "d-003:2",
            "drive_id": "d-003",
            "t_start_ns": 2,
            "t_end_ns": 3,
            "text": "slow urban driving, clear weather, construction zone",
        },
    ]
    idx.upsert(rows)
    hits = idx.search("rain highway")
    assert [h["clip_id"] for h in hits][:1] == ["d-003:1"] and hits[0]["score"] > 0
    assert [h["clip_id"] for h in idx.search("construction")] == ["d-003:2"]
    idx.upsert([{**rows[1], "text": "now it is snowing"}])  # upsert replaces the text
    assert [h["clip_id"] for h in idx.search("snowing")] == ["d-003:2"]
    assert idx.search("construction") == []


def test_glue_registration_on_moto(moto_endpoint):
    from av_assets.catalog.glue import register_views
    from av_contracts.tables import views as table_views

    glue = moto_endpoint.client("glue")
    out = register_views(glue, "av_test", "s3://lake-bucket/av")
    names = {v.name for v in table_views()}
    assert {"signals", "clips", "clip_index", "drives"} <= names == set(out)
    assert set(out.values()) == {"created"}
    t = glue.get_table(DatabaseName="av_test", Name="signals")["Table"]
    assert t["StorageDescriptor"]["Location"] == "s3://lake-bucket/av/silver/signals/"
    cols = {c["Name"]: c["Type"] for c in t["StorageDescriptor"]["Columns"]}
    assert cols["t_ns"] == "bigint" and cols["value"] == "double"
    assert set(register_views(glue, "av_test", "s3://lake-bucket/av").values()) == {"updated"}


@pytest.mark.parametrize("bad", ["d'; DROP", "x' OR '1'='1"])
def test_get_quotes_clip_ids(tmp_path, bad):
    store = LanceClipStore(str(tmp_path / "kv"))
    store.upsert([_row("d-004", 1)])
    assert store.get(bad) is None
