"""A quarantined drive released by a person goes on through `av process`, signed again; a drive
ingested earlier with `av ingest` only is processed by a later `av process`."""

import dagster as dg

from av_assets.ingest.cli import process_path
from av_assets.ingest.core import release_quarantine
from av_assets.shared.bronze_verify import verify_drive
from av_resources.lake import LakeStorage
from tests.ingest.synth import SENSORS, sensor_drive


def test_released_drive_is_processed_and_still_verifies(tmp_path, monkeypatch):
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("AV_LAKE_ROOT", str(tmp_path / "lake"))
    (tmp_path / "home").mkdir()
    lake = LakeStorage(root=str(tmp_path / "lake"))
    radar = {"name": "radar", "topic": "/radar", "type": "sensor_msgs/msg/Range"}  # declared, never written
    sensor_drive(tmp_path / "fleet", "rel-001", sensors=[*SENSORS, radar])
    with dg.DagsterInstance.get() as instance:
        (row,) = process_path(tmp_path / "fleet", lake=lake, instance=instance)
        assert (row["status"], row["reason"]) == ("quarantined", "sensor_missing")
        assert "run" not in row and row["source"].endswith("rel-001")

        release_quarantine(lake, "rel-001", note="radar was unplugged on purpose for this test drive")
        assert verify_drive(lake, "rel-001")["ok"]  # the released manifest is signed again

        (row,) = process_path(tmp_path / "fleet", lake=lake, instance=instance)
        assert row["status"] == "skipped" and row["run"]["success"], row
        assert "silver/redacted_frames" in row["run"]["materialized"]

        (row,) = process_path(tmp_path / "fleet", lake=lake, instance=instance)
        assert row["status"] == "skipped" and "run" not in row  # nothing left to do: no second run
