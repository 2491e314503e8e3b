"""`av lineage`: from a per-drive and a fan-in materialisation down to signed drive manifests."""

import json
import os
import subprocess
import sys

import dagster as dg
import pytest

from av_assets.ingest.cli import process_path
from av_assets.lineage.audit import LineageError, lineage_report
from av_assets.ops.assets import lake_inventory
from av_assets.platform.runs import quiet_run_config
from av_contracts.schemas import validation_errors
from av_resources.lake import LakeStorage
from tests.ingest.synth import sensor_drive


@pytest.fixture(scope="module")
def processed(tmp_path_factory):
    """Two drives through `av process` and a fan-in inventory over them, on one instance and lake."""
    root = tmp_path_factory.mktemp("lineage")
    home, lake_root, fleet = root / "home", root / "lake", root / "fleet"
    home.mkdir()
    mp = pytest.MonkeyPatch()
    mp.setenv("DAGSTER_HOME", str(home))
    mp.setenv("AV_LAKE_ROOT", str(lake_root))
    for d in ("lin-a01", "lin-b02"):
        sensor_drive(fleet, d)
    lake = LakeStorage(root=str(lake_root))
    with dg.DagsterInstance.get() as instance:
        rows = process_path(fleet, lake=lake, instance=instance)
        assert {r["drive_id"]: r["status"] for r in rows} == {"lin-a01": "ingested", "lin-b02": "ingested"}
        assert all(r["run"]["success"] for r in rows)
        dg.materialize(
            [lake_inventory], resources={"lake": lake}, instance=instance, run_config=quiet_run_config()
        )
    yield {"home": home, "lake": lake}
    mp.undo()


def _report(processed, **kw):
    from av_assets.definitions import defs

    with dg.DagsterInstance.from_config(str(processed["home"])) as instance:
        return lineage_report(defs=defs(), instance=instance, lake=processed["lake"], **kw)


def test_per_drive_asset_reaches_its_signed_manifest(processed):
    rep = _report(processed, asset="silver/redacted_frames", partition="lin-a01")
    assert rep["upstream"] == ["bronze/drive_files", "bronze/drive_manifest"]
    assert all(u["materialized"] for u in rep["upstream_materializations"])
    assert [d["drive_id"] for d in rep["drives"]] == ["lin-a01"]
    drive = rep["drives"][0]
    assert drive["signature_ok"] is True
    assert {f["path"] for f in drive["files"]} >= {"bag/lin-a01_0.mcap", "drive.json", "logs.txt"}
    assert rep["ok"]


def test_fan_in_asset_reaches_every_drive(processed):
    rep = _report(processed, asset="ops/lake_inventory")
    assert [d["drive_id"] for d in rep["drives"]] == ["lin-a01", "lin-b02"]
    assert all(d["signature_ok"] for d in rep["drives"])


def test_unknown_asset_and_missing_partition_are_clear_errors(processed):
    with pytest.raises(LineageError, match="unknown asset"):
        _report(processed, asset="silver/nope")
    with pytest.raises(LineageError, match="never been materialised"):
        _report(processed, asset="silver/redacted_frames", partition="lin-zzz")


def test_cli_json_and_verify_catch_a_tampered_bronze_file(processed):
    env = dict(os.environ, DAGSTER_HOME=str(processed["home"]), AV_LAKE_ROOT=processed["lake"].root)
    cmd = [sys.executable, "-m", "av_cli", "lineage", "ops/lake_inventory", "--json"]
    out = subprocess.run(cmd + ["--verify"], env=env, capture_output=True, text=True, timeout=180)
    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout)
    assert validation_errors(doc, "cli_lineage") == []
    assert all(f["status"] == "ok" for d in doc["drives"] for f in d["files"])

    lake = processed["lake"]
    rel = "bronze/drives/lin-b02/logs.txt"
    original = lake.read_bytes(rel)
    lake.write_bytes(rel, b"tampered\n")
    try:
        out = subprocess.run(cmd + ["--verify"], env=env, capture_output=True, text=True, timeout=180)
        assert out.returncode == 1
        doc = json.loads(out.stdout)
        bad = {d["drive_id"]: [f["path"] for f in d["files"] if f["status"] != "ok"] for d in doc["drives"]}
        assert bad == {"lin-a01": [], "lin-b02": ["logs.txt"]}
        # without --verify the audit reads the records only and still exits 0
        assert subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=180).returncode == 0
    finally:
        lake.write_bytes(rel, original)
