import dagster as dg

from av_assets.platform.gpu import gpu_step
from av_assets.platform.lineage import (
    CONTENT_SHA_KEY,
    DRIVE_IDS_KEY,
    combine_hashes,
    drive_ids_of,
    lineage_result,
    sha256_json,
)
from av_contracts.schemas import validation_errors

GOOD_DRIVE = {
    "drive_id": "drive-001",
    "vehicle_id": "veh-01",
    "start_time": "2026-03-01T08:00:00Z",
    "sensors": [{"name": "imu", "topic": "/imu", "type": "sensor_msgs/msg/Imu"}],
    "checksums": {"bag/drive.mcap": "a" * 64},
}


def test_lineage_result_carries_the_convention():
    res = lineage_result(
        drive_ids=["b-drive", "a-drive", "a-drive"],
        content_sha256="f" * 64,
        uri="/lake/x.parquet",
        row_count=3,
        schema={"drive_id": "String", "t_ns": "Int64"},
        metadata={"av/extra": 1},
    )
    assert res.data_version == dg.DataVersion("f" * 64)
    assert res.metadata[CONTENT_SHA_KEY] == "f" * 64
    assert drive_ids_of(res.metadata) == ["a-drive", "b-drive"]
    assert res.metadata["dagster/row_count"] == 3
    assert [c.name for c in res.metadata["dagster/column_schema"].columns] == ["drive_id", "t_ns"]
    assert DRIVE_IDS_KEY in res.metadata and res.metadata["av/extra"] == 1


def test_hashes_are_canonical_and_order_free():
    assert sha256_json({"b": 1, "a": [1, 2]}) == sha256_json({"a": [1, 2], "b": 1})
    assert combine_hashes(["x", "y"]) == combine_hashes(["y", "x"])
    assert combine_hashes(["x", "y"]) != combine_hashes(["x", "z"])


def test_drive_schema_accepts_good_and_explains_bad():
    assert validation_errors(GOOD_DRIVE, "drive") == []
    bad = dict(GOOD_DRIVE, drive_id="../x", start_time="yesterday", checksums={"/etc/passwd": "zz"})
    bad.pop("sensors")
    errors = validation_errors(bad, "drive")
    joined = "\n".join(errors)
    assert "'sensors' is a required property" in joined
    assert any(e.startswith("drive_id:") for e in errors)
    assert any(e.startswith("start_time:") for e in errors)
    assert any(e.startswith("checksums") for e in errors)


def test_gpu_step_asks_for_a_gpu_and_the_pool():
    from dagster_k8s.job import get_user_defined_k8s_config

    kwargs = gpu_step()
    assert kwargs["pool"] == "gpu"

    @dg.asset(**kwargs)
    def gpu_thing():
        return 1

    config = get_user_defined_k8s_config(gpu_thing.op.tags)
    resources = config.container_config["resources"]
    assert resources["requests"]["nvidia.com/gpu"] == resources["limits"]["nvidia.com/gpu"] == "1"
    assert config.pod_spec_config["tolerations"][0]["key"] == "nvidia.com/gpu"
    assert config.pod_spec_config["node_selector"]
    assert gpu_thing.op.pool == "gpu"
