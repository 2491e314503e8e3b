"""The per-drive sync + catalog assets on the S3 lake (SeaweedFS): Parquet, Zarr shards, the LanceDB
clip store and the LanceDB full-text index all under `s3://`."""

import subprocess
import sys
import uuid

import dagster as dg
import pytest

from av_assets.catalog.assets import clip_index
from av_assets.ingest.core import LocalSource, ingest_drive
from av_assets.platform.partitions import DRIVES
from av_assets.redaction.assets import redacted_frames
from av_assets.sync.assets import clips, frames, signals
from av_contracts import tables
from av_resources.clip_store import ClipStoreResource
from av_resources.evaluation import GroundTruthResource
from av_resources.lake import LakeStorage
from av_resources.notify import Notifier
from av_resources.text_index import TextIndexResource
from tests.helpers import REPO_ROOT


@pytest.fixture(scope="module")
def s3_drive(tmp_path_factory, s3_server):
    landing = tmp_path_factory.mktemp("fleet_s3") / "landing"
    cmd = [sys.executable, "-m", "av_cli", "fleet", "simulate", "--out", str(landing)]
    cmd += ["--drives", "1", "--duration", "12", "--seed", "3", "--camera", "320x180"]
    subprocess.run(cmd, check=True, cwd=REPO_ROOT, capture_output=True, timeout=300)
    (folder,) = [p.parent for p in landing.glob("*/*/drive.json")]
    bucket = f"lake-{uuid.uuid4().hex[:12]}"
    s3_server.create_bucket(bucket)
    lake = LakeStorage(
        root=f"s3://{bucket}/av",
        s3_endpoint_url=s3_server.endpoint_url,
        s3_access_key=s3_server.access_key,
        s3_secret_key=s3_server.secret_key,
    )
    res = ingest_drive(LocalSource(folder), lake)
    assert res.status == "ingested", res
    return {"lake": lake, "drive_id": res.drive_id, "gt_root": landing / "_ground_truth"}


def test_sync_and_catalog_assets_on_s3_lake(s3_drive):
    lake, drive_id = s3_drive["lake"], s3_drive["drive_id"]
    instance = dg.DagsterInstance.ephemeral()
    instance.add_dynamic_partitions(DRIVES.name, [drive_id])
    assets = [redacted_frames, signals, clips, frames, clip_index]
    result = dg.materialize(
        [*assets, dg.AssetSpec(["bronze", "drive_manifest"], partitions_def=DRIVES)],
        selection=[a.key for a in assets],
        resources={
            "lake": lake,
            "clip_store": ClipStoreResource(),
            "text_index": TextIndexResource(),
            "ground_truth": GroundTruthResource(root=str(s3_drive["gt_root"])),
            "notifier": Notifier(),
        },
        partition_key=drive_id,
        instance=instance,
    )
    assert result.success
    assert {e.asset_key.to_user_string() for e in result.get_asset_materialization_events()} == {
        "silver/redacted_frames",
        "silver/signals",
        "silver/clips",
        "silver/frames",
        "catalog/clip_index",
    }
    assert all(c.passed for c in result.get_asset_check_evaluations())

    sig = lake.read_parquet(tables.SIGNALS.rel(drive_id=drive_id))
    assert sig.height > 1000 and {"can0", "imu", "gnss"} <= set(sig["source"])
    clip_rows = lake.read_parquet(tables.CLIPS.rel(drive_id=drive_id))
    assert clip_rows.height >= 1

    # Zarr shards, one store per clip, readable straight from S3 through the lake's s3fs
    import zarr
    from zarr.storage import FsspecStore

    objects = lake.list(tables.FRAMES.folder(drive_id=drive_id))
    stores = sorted({r.split(".zarr/")[0] + ".zarr" for r in objects if ".zarr/" in r})
    assert len(stores) == clip_rows.height
    root = zarr.open_group(
        store=FsspecStore.from_url(lake.uri(stores[0]), storage_options=_s3fs_options(lake), read_only=True),
        mode="r",
    )
    assert root.attrs["drive_id"] == drive_id
    cams = list(root["camera"].group_keys())
    assert cams and root[f"camera/{cams[0]}/image"].shape[0] >= 1
    assert root[f"camera/{cams[0]}/image"][0].shape[-1] == 3

    # LanceDB clip store and full-text index under s3://
    store = ClipStoreResource().open(lake)
    assert store.count() == clip_rows.height
    row = store.get(clip_rows["clip_id"][0])
    assert row is not None and row["drive_id"] == drive_id
    text = TextIndexResource().open(lake)
    assert text.uri.startswith("s3://")
    hits = text.search(row["description"], limit=5)
    assert hits and hits[0]["drive_id"] == drive_id
    assert any(h["clip_id"] == row["clip_id"] for h in hits)


def _s3fs_options(lake: LakeStorage) -> dict:
    return {
        "key": lake.s3_access_key,
        "secret": lake.s3_secret_key,
        "client_kwargs": {"endpoint_url": lake.s3_endpoint_url, "region_name": lake.s3_region},
    }
