"""The lake resource on a local folder and on a real S3 server (SeaweedFS on loopback)."""

import polars as pl
import pytest

from av_contracts.ids import InvalidIdentifier
from av_contracts.tables import Table
from av_resources.catalog import connect


def test_bytes_json_parquet_round_trip(lake):
    lake.ensure_root()
    uri = lake.write_bytes("bronze/drives/d-001/a.bin", b"\x00\x01raw")
    assert lake.read_bytes("bronze/drives/d-001/a.bin") == b"\x00\x01raw"
    assert uri.endswith("bronze/drives/d-001/a.bin")
    assert uri.startswith("s3://") == lake.is_s3

    lake.write_json("bronze/drives/d-001/manifest.json", {"b": 2, "a": [1, 2]})
    assert lake.read_json("bronze/drives/d-001/manifest.json") == {"a": [1, 2], "b": 2}
    # canonical JSON: same document, same bytes
    assert (
        lake.read_bytes("bronze/drives/d-001/manifest.json")
        == b'{\n  "a": [\n    1,\n    2\n  ],\n  "b": 2\n}\n'
    )

    frame = pl.DataFrame({"drive_id": ["d-001"] * 3, "t_ns": [1, 2, 3], "value": [0.5, 1.5, 2.5]})
    lake.write_parquet("silver/signals/drive_id=d-001/part-0.parquet", frame)
    assert lake.read_parquet("silver/signals/drive_id=d-001/part-0.parquet").equals(frame)

    assert lake.list("bronze") == ["bronze/drives/d-001/a.bin", "bronze/drives/d-001/manifest.json"]
    assert lake.sizes("silver")["silver/signals/drive_id=d-001/part-0.parquet"] > 0
    assert lake.exists("bronze/drives/d-001/a.bin")
    lake.delete("bronze/drives/d-001", recursive=True)
    assert not lake.exists("bronze/drives/d-001/a.bin")


def test_parquet_bytes_are_deterministic(lake):
    frame = pl.DataFrame({"x": list(range(100))})
    lake.write_parquet("a/one.parquet", frame)
    lake.write_parquet("a/two.parquet", frame)
    assert lake.read_bytes("a/one.parquet") == lake.read_bytes("a/two.parquet")


def test_a_failed_write_leaves_nothing_and_keeps_the_old_version(lake):
    lake.write_bytes("bronze/x/file.bin", b"version-1")

    class Boom(RuntimeError):
        pass

    with pytest.raises(Boom):
        with lake.open_atomic("bronze/x/file.bin") as fh:
            fh.write(b"half of version-2")
            raise Boom()
    with pytest.raises(Boom):
        with lake.open_atomic("bronze/x/new.bin") as fh:
            fh.write(b"partial")
            raise Boom()
    assert lake.read_bytes("bronze/x/file.bin") == b"version-1"
    assert not lake.exists("bronze/x/new.bin")
    assert lake.list("bronze/x") == ["bronze/x/file.bin"]  # no temp leftovers visible


@pytest.mark.parametrize("bad", ["../outside", "/etc/passwd", "a/../../b"])
def test_paths_from_outside_cannot_escape_the_root(lake, bad):
    with pytest.raises(InvalidIdentifier):
        lake.write_bytes(bad, b"x")


def test_catalog_views_over_the_lake(lake):
    view = Table(
        name="signals_test",
        asset_key="silver/signals_test",
        owner="test",
        path="silver/signals_test/drive_id={drive_id}/part-0.parquet",
        columns={"drive_id": "VARCHAR", "t_ns": "BIGINT", "value": "DOUBLE"},
    )
    con = connect(lake, views=[view])
    # before anything is written: an empty view with the contract's columns
    assert con.execute("SELECT * FROM signals_test").fetchall() == []
    assert [d[0] for d in con.execute("SELECT * FROM signals_test").description] == [
        "drive_id",
        "t_ns",
        "value",
    ]
    for drive in ("d-001", "d-002"):
        lake.write_parquet(
            f"silver/signals_test/drive_id={drive}/part-0.parquet",
            pl.DataFrame({"drive_id": [drive] * 2, "t_ns": [1, 2], "value": [1.0, 2.0]}),
        )
    con = connect(lake, views=[view])
    rows = con.execute(
        "SELECT drive_id, count(*), sum(value) FROM signals_test GROUP BY 1 ORDER BY 1"
    ).fetchall()
    assert rows == [("d-001", 2, 3.0), ("d-002", 2, 3.0)]


def test_a_view_over_a_single_object(lake):
    view = Table(
        name="one_file", asset_key="gold/one", owner="test", path="gold/one.parquet", columns={"x": "BIGINT"}
    )
    assert connect(lake, views=[view]).execute("SELECT count(*) FROM one_file").fetchone() == (0,)
    lake.write_parquet("gold/one.parquet", pl.DataFrame({"x": [1, 2, 3]}))
    assert connect(lake, views=[view]).execute("SELECT sum(x) FROM one_file").fetchone() == (6,)
