"""The sensor, the per-drive assets with their blocking checks, the notifier webhook, and the CLI."""

import http.server
import json
import threading

import dagster as dg
import pytest
from typer.testing import CliRunner

from av_assets.ingest.assets import INTEGRITY_CHECK, LANDING_TAG, drive_files, drive_manifest
from av_assets.ingest.checks import drive_manifest_tables_expectations
from av_assets.ingest.core import COMPLETE_MARKER, copy_tree_to_landing
from av_assets.ingest.sensors import JOB_NAME, evaluate, new_drive_sensor
from av_assets.platform.partitions import DRIVES
from av_resources.lake import LakeStorage
from av_resources.notify import Notifier
from tests.ingest.synth import sensor_drive


@pytest.fixture(scope="module")
def drives(tmp_path_factory):
    root = tmp_path_factory.mktemp("fleet")
    return {"good": sensor_drive(root, "dg-good"), "bad": sensor_drive(root, "dg-bad", bad="nan_imu")}


def test_sensor_picks_complete_drives_once(tmp_path, drives):
    lake = LakeStorage(root=str(tmp_path / "lake"))
    copy_tree_to_landing(drives["good"], lake, "landing/veh-001/dg-good")
    # an offload still in progress: no marker, listing just seen
    for p in sorted(drives["bad"].rglob("*")):
        if p.is_file():
            lake.put_file(p, f"landing/veh-001/dg-bad/{p.relative_to(drives['bad']).as_posix()}")
    instance = dg.DagsterInstance.ephemeral()
    ctx = dg.build_sensor_context(instance=instance, cursor=None, resources={"lake": lake})
    result = new_drive_sensor(ctx)
    assert [r.partition_key for r in result.run_requests] == ["dg-good"]
    assert result.run_requests[0].tags[LANDING_TAG] == "landing/veh-001/dg-good"
    assert [list(r.partition_keys) for r in result.dynamic_partitions_requests] == [["dg-good"]]
    cursor = json.loads(result.cursor)
    assert list(cursor["picked"]) == ["landing/veh-001/dg-good"]
    assert list(cursor["pending"]) == ["landing/veh-001/dg-bad"]
    # next tick: nothing new (the picked drive is not picked twice, the incomplete one still waits)
    instance.add_dynamic_partitions(DRIVES.name, ["dg-good"])
    again = new_drive_sensor(
        dg.build_sensor_context(instance=instance, cursor=result.cursor, resources={"lake": lake})
    )
    assert again.run_requests == [] and again.dynamic_partitions_requests == []
    # quiet period: unchanged listing for long enough makes it ready, without a marker
    t = json.loads(again.cursor)["pending"]["landing/veh-001/dg-bad"][1]
    ready, state = evaluate(lake, again.cursor, now=t + 10, quiet_seconds=60)
    assert ready == []
    ready, state = evaluate(lake, again.cursor, now=t + 61, quiet_seconds=60)
    assert [p for p, _ in ready] == ["landing/veh-001/dg-bad"] and not state["pending"]
    # the marker makes it ready at once
    lake.write_bytes(f"landing/veh-001/dg-bad/{COMPLETE_MARKER}", b"")
    third = new_drive_sensor(
        dg.build_sensor_context(instance=instance, cursor=again.cursor, resources={"lake": lake})
    )
    assert [r.partition_key for r in third.run_requests] == ["dg-bad"]


class _Hook(http.server.BaseHTTPRequestHandler):
    events: list = []

    def do_POST(self):  # noqa: N802
        body = self.rfile.read(int(self.headers["Content-Length"]))
        _Hook.events.append(json.loads(body))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def webhook():
    server = http.server.HTTPServer(("127.0.0.1", 0), _Hook)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}/hook"
    server.shutdown()


def test_assets_gate_downstream_and_notify(tmp_path, drives, webhook):
    lake = LakeStorage(root=str(tmp_path / "lake"))
    for key in ("good", "bad"):
        copy_tree_to_landing(drives[key], lake, f"landing/veh-001/dg-{key}")

    @dg.asset(key=["silver", "downstream_probe"], partitions_def=DRIVES, deps=[drive_manifest])
    def probe(context: dg.AssetExecutionContext) -> None:
        return None

    instance = dg.DagsterInstance.ephemeral()
    instance.add_dynamic_partitions(DRIVES.name, ["dg-good", "dg-bad"])
    assets = [drive_files, drive_manifest, drive_manifest_tables_expectations, probe]
    resources = {"lake": lake, "notifier": Notifier(webhook_url=webhook)}
    _Hook.events.clear()

    good = dg.materialize(assets, resources=resources, partition_key="dg-good", instance=instance)
    assert good.success
    mats = {e.asset_key.to_user_string(): e for e in good.get_asset_materialization_events()}
    assert set(mats) == {"bronze/drive_files", "bronze/drive_manifest", "silver/downstream_probe"}
    md = good.asset_materializations_for_node("bronze__drive_manifest")[0].metadata
    assert md["av/message_count"].value == 100 and md["av/status"].value == "ingested"
    assert md["av/drive_ids"].value == ["dg-good"] and len(md["av/content_sha256"].value) == 64
    checks = {c.check_name: c for c in good.get_asset_check_evaluations()}
    assert checks[INTEGRITY_CHECK].passed
    assert checks["drive_manifest_tables_expectations"].passed
    assert checks["drive_manifest_tables_expectations"].metadata["evaluated_expectations"].value == 9

    bad = dg.materialize(
        assets, resources=resources, partition_key="dg-bad", instance=instance, raise_on_error=False
    )
    mats = {e.asset_key.to_user_string() for e in bad.get_asset_materialization_events()}
    assert "silver/downstream_probe" not in mats and "bronze/drive_manifest" in mats
    checks = {c.check_name: c for c in bad.get_asset_check_evaluations()}
    assert not checks[INTEGRITY_CHECK].passed
    assert checks[INTEGRITY_CHECK].severity == dg.AssetCheckSeverity.ERROR
    assert checks[INTEGRITY_CHECK].metadata["reason"].value == "validation_failed"
    assert lake.exists("quarantine/dg-bad/reason.json")
    assert [(e["drive_id"], e["status"]) for e in _Hook.events] == [
        ("dg-good", "ingested"),
        ("dg-bad", "quarantined"),
    ]


def test_ingest_job_is_in_the_root_definitions():
    from av_assets.definitions import defs

    d = defs()
    job = d.resolve_job_def(JOB_NAME)
    keys = {k.to_user_string() for k in job.asset_layer.selected_asset_keys}
    assert {"bronze/drive_files", "bronze/drive_manifest"} <= keys


def test_cli_ingest_json_exit_codes_and_quarantine(tmp_path, drives, monkeypatch):
    from av_cli.main import app

    monkeypatch.setenv("AV_LAKE_ROOT", str(tmp_path / "lake"))
    runner = CliRunner()
    fleet = drives["good"].parent.parent
    res = runner.invoke(app, ["ingest", str(fleet), "--json"])
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    by = {d["drive_id"]: d for d in doc["drives"]}
    assert by["dg-good"]["status"] == "ingested" and by["dg-good"]["reason"] is None
    assert by["dg-bad"]["status"] == "quarantined" and by["dg-bad"]["reason"] == "validation_failed"
    assert set(by["dg-good"]) >= {"drive_id", "status", "reason", "message_count", "files"}
    res = runner.invoke(app, ["ingest", str(fleet), "--json"])
    assert {d["status"] for d in json.loads(res.stdout)["drives"]} == {"skipped"}
    assert runner.invoke(app, ["ingest", str(tmp_path / "nope"), "--json"]).exit_code == 2
    res = runner.invoke(app, ["quarantine", "list", "--json"])
    assert [r["drive_id"] for r in json.loads(res.stdout)] == ["dg-bad"]
    res = runner.invoke(app, ["quarantine", "release", "dg-bad", "--note", "known IMU glitch"])
    assert res.exit_code == 0
    assert runner.invoke(app, ["quarantine", "release", "nope-drive", "--note", "x"]).exit_code == 2


def test_cli_process_materialises_per_drive_assets(tmp_path, drives, monkeypatch):
    from av_assets.ingest.cli import process_path

    monkeypatch.setenv("AV_LAKE_ROOT", str(tmp_path / "lake"))
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "home"))
    (tmp_path / "home").mkdir()
    rows = process_path(drives["good"], instance=dg.DagsterInstance.ephemeral())
    assert rows[0]["status"] == "ingested"
    run = rows[0]["run"]
    assert run["success"] and {"bronze/drive_files", "bronze/drive_manifest"} <= set(run["materialized"])
    assert run["checks"][f"bronze/drive_manifest:{INTEGRITY_CHECK}"] is True
