"""Ingestion end to end on plain functions: bronze copy, manifest, tables/views, quarantine, idempotency."""

import hashlib
import json
import shutil

import pytest

from av_assets.ingest.core import (
    LakeSource,
    LocalSource,
    copy_tree_to_landing,
    ingest_drive,
    list_quarantine,
    manifest_frames,
    release_quarantine,
)
from av_contracts import tables
from av_contracts.schemas import validation_errors
from av_resources.catalog import connect
from av_resources.lake import LakeStorage
from tests.helpers import shared_data_dir
from tests.ingest.conftest import BAGS, make_drive
from tests.ingest.synth import sensor_drive


@pytest.fixture(scope="module")
def good_drive(tmp_path_factory):
    return sensor_drive(tmp_path_factory.mktemp("fleet"), "syn-good")


def test_core_ingest_on_local_and_s3(lake, good_drive):
    res = ingest_drive(LocalSource(good_drive), lake)
    assert (res.status, res.reason) == ("ingested", None)
    assert res.message_count == 100 and res.topics == 5
    m = lake.read_json(tables.BRONZE_MANIFEST.rel(drive_id="syn-good"))
    assert m["status"] == "ingested" and m["message_count"] == 100
    assert validation_errors(m, "manifest") == []
    files = {f["path"]: f for f in m["files"]}
    bag = files["bag/syn-good_0.mcap"]
    assert bag["format"] == "mcap"
    assert bag["sha256"] == hashlib.sha256((good_drive / "bag/syn-good_0.mcap").read_bytes()).hexdigest()
    assert files["drive.json"]["format"] == "other"
    assert (
        lake.read_bytes(tables.BRONZE_MANIFEST.sidecar("bag/syn-good_0.mcap", drive_id="syn-good"))
        == (good_drive / "bag/syn-good_0.mcap").read_bytes()
    )
    assert {t["topic"]: t["message_count"] for t in m["topics"]}["/imu"] == 20
    assert all(s["present"] for s in m["sensors"])
    assert "sensor_msgs/msg/PointCloud2" in m["sensor_types_present"]
    # what the writer writes is what the table declares: names, order and types
    duck = {"VARCHAR": "String", "BIGINT": "Int64", "BOOLEAN": "Boolean", "DOUBLE": "Float64"}
    for name, frame in manifest_frames(m).items():
        declared = tables.table(name).columns
        assert frame.columns == list(declared), name
        assert [str(t) for t in frame.dtypes] == [duck[t] for t in declared.values()], name
    con = connect(lake)
    assert con.execute("SELECT drive_id, status, message_count FROM drives").fetchall() == [
        ("syn-good", "ingested", 100)
    ]
    assert con.execute("SELECT count(*) FROM files WHERE drive_id = 'syn-good'").fetchone()[0] == 3
    assert con.execute(
        "SELECT message_count, t_first_ns < t_last_ns FROM topics WHERE topic = '/gnss'"
    ).fetchone() == (20, True)
    # the same bytes again: skipped, nothing rewritten
    before = lake.read_bytes(tables.BRONZE_MANIFEST.rel(drive_id="syn-good"))
    again = ingest_drive(LocalSource(good_drive), lake)
    assert again.status == "skipped" and again.message_count == 100
    assert lake.read_bytes(tables.BRONZE_MANIFEST.rel(drive_id="syn-good")) == before
    # from the landing zone of the same lake (the sensor's path): same bytes, skipped too
    copy_tree_to_landing(good_drive, lake, "landing/veh-001/syn-good")
    assert ingest_drive(LakeSource(lake, "landing/veh-001/syn-good"), lake).status == "skipped"


@pytest.mark.parametrize("name", sorted(BAGS))
def test_each_real_bag_as_a_drive_ingests(real_drives, tmp_path, name):
    lake = LakeStorage(root=str(tmp_path / "lake"))
    res = ingest_drive(LocalSource(real_drives[name]), lake)
    assert res.status == "ingested", res.detail
    assert res.message_count == BAGS[name][2]


def _reason(lake, drive_id):
    return lake.read_json(tables.QUARANTINE.sidecar("reason.json", drive_id=drive_id))


def test_bad_inputs_quarantine_with_the_right_reason(tmp_path):
    root, lake = tmp_path / "fleet", LakeStorage(root=str(tmp_path / "lake"))
    cases = {}
    # checksum mismatch: vehicle says one thing, the bytes say another
    d = sensor_drive(root, "bad-checksum")
    doc = json.loads((d / "drive.json").read_text())
    doc["checksums"]["logs.txt"] = "0" * 64
    (d / "drive.json").write_text(json.dumps(doc))
    cases["bad-checksum"] = "checksum_mismatch"
    # invalid drive.json (schema): no sensors, bad start_time
    d = sensor_drive(root, "bad-json")
    (d / "drive.json").write_text(
        json.dumps({"drive_id": "bad-json", "vehicle_id": "veh-001", "start_time": "yesterday"})
    )
    cases["bad-json"] = "invalid_drive_json"
    # empty bag
    make_drive(root, "bad-empty", "rosbag1/no-messages.bag", "std_msgs/String")
    cases["bad-empty"] = "empty_drive"
    # a non-bag file named .mcap
    d = sensor_drive(root, "bad-fake-mcap", checksums=False)
    (d / "bag" / "extra.mcap").write_bytes(b"this is a text file, not MCAP\n" * 10)
    cases["bad-fake-mcap"] = "structural_failure"
    # a declared sensor with no messages of its type
    sensor_drive(
        root,
        "bad-missing-sensor",
        sensors=[
            {"name": "radar", "topic": "/radar", "type": "radar_msgs/msg/RadarScan"},
            {"name": "imu", "topic": "/imu", "type": "sensor_msgs/msg/Imu"},
        ],
    )
    cases["bad-missing-sensor"] = "sensor_missing"
    # a declared radar whose type (PointCloud2) only the declared lidar publishes: still missing
    sensor_drive(
        root,
        "bad-missing-radar",
        sensors=[
            {"name": "lidar", "topic": "/lidar", "type": "sensor_msgs/msg/PointCloud2"},
            {"name": "radar", "topic": "/radar", "type": "sensor_msgs/msg/PointCloud2"},
        ],
    )
    cases["bad-missing-radar"] = "sensor_missing"
    # truncated bag (ROS 1 and MCAP)
    d = make_drive(root, "bad-truncated", "rosbag1/example.bag", "turtlesim/Pose")
    bag = d / "bag" / "example.bag"
    bag.write_bytes(bag.read_bytes()[:400_000])
    cases["bad-truncated"] = "structural_failure"
    d = sensor_drive(root, "bad-truncated-mcap", checksums=False)
    bag = next((d / "bag").glob("*.mcap"))
    bag.write_bytes(bag.read_bytes()[:-200])
    cases["bad-truncated-mcap"] = "structural_failure"
    # failed validation: a quaternion of norm 2
    sensor_drive(root, "bad-quat", bad="quat")
    cases["bad-quat"] = "validation_failed"

    for drive_id, reason in cases.items():
        res = ingest_drive(LocalSource(root / "veh-001" / drive_id), lake)
        assert (res.status, res.reason) == ("quarantined", reason), (drive_id, res.detail)
        rec = _reason(lake, drive_id)
        assert rec["reason"] == reason and rec["checks"] and rec["detail"]
    assert "0000" in json.dumps(_reason(lake, "bad-checksum")["checks"])  # evidence: expected vs actual
    assert _reason(lake, "bad-quat")["checks"][0]["evidence"][0]["evidence"][0]["norm"] == pytest.approx(2.0)
    # quarantined drives are in bronze with status quarantined (all but the refused drive.json)
    con = connect(lake)
    statuses = dict(con.execute("SELECT drive_id, status FROM drives").fetchall())
    assert set(statuses.values()) == {"quarantined"} and "bad-json" not in statuses
    assert dict(con.execute("SELECT drive_id, reason FROM quarantine").fetchall()) == cases

    # id conflict: the same id with other bytes is refused, the bronze original untouched
    good = sensor_drive(root, "conflict-a")
    assert ingest_drive(LocalSource(good), lake).status == "ingested"
    original = lake.read_bytes(tables.BRONZE_MANIFEST.rel(drive_id="conflict-a"))
    other = root / "veh-002" / "conflict-a"
    shutil.copytree(good, other)
    (other / "logs.txt").write_text("different bytes\n")
    res = ingest_drive(LocalSource(other), lake)
    assert (res.status, res.reason) == ("quarantined", "id_conflict") and "logs.txt" in res.detail
    assert lake.read_bytes(tables.BRONZE_MANIFEST.rel(drive_id="conflict-a")) == original

    # release: the record stays (released + note), bronze status becomes ingested
    release_quarantine(lake, "bad-missing-sensor", "radar not fitted on this vehicle")
    rows = {r["drive_id"]: r for r in list_quarantine(lake)}
    assert rows["bad-missing-sensor"]["released"] and rows["bad-missing-sensor"]["note"].startswith("radar")
    assert lake.read_json(tables.BRONZE_MANIFEST.rel(drive_id="bad-missing-sensor"))["status"] == "ingested"


def test_warn_flags_do_not_quarantine(tmp_path):
    root, lake = tmp_path / "fleet", LakeStorage(root=str(tmp_path / "lake"))
    d = sensor_drive(root, "warn-drive", vehicle="veh-xyz", checksums=False)
    doc = json.loads((d / "drive.json").read_text())
    doc.update(vehicle_id="veh-001", platform="moon-rover", start_time="2020-01-01T00:00:00Z")
    doc["sensors"][0]["rate_hz"] = 100
    doc["sensors"][2]["topic"] = "/points"  # the lidar's type is on an undeclared topic: found, flagged
    (d / "drive.json").write_text(json.dumps(doc))
    res = ingest_drive(LocalSource(d), lake)
    assert res.status == "ingested"
    flags = {w["flag"] for w in res.manifest["warnings"]}
    assert {"unknown_platform", "vehicle_folder_differs", "start_time_disagrees", "rate_off_nominal"} <= flags
    assert "sensor_topic_differs" in flags
    assert res.as_dict()["warning_flags"] == sorted(flags) and res.warnings == len(res.manifest["warnings"])
    # the same offload again: skipped, and it still reports the stored manifest's warnings
    again = ingest_drive(LocalSource(d), lake).as_dict()
    assert again["status"] == "skipped" and again["warnings"] == res.warnings
    assert again["warning_flags"] == sorted(flags)


def test_killed_copy_leaves_nothing_visible_and_reruns_cleanly(tmp_path, good_drive):
    lake = LakeStorage(root=str(tmp_path / "lake"))
    calls = []

    def boom(rel):
        calls.append(rel)
        if len(calls) == 2:
            raise KeyboardInterrupt("killed mid-copy")

    with pytest.raises(KeyboardInterrupt):
        ingest_drive(LocalSource(good_drive), lake, copy_hook=boom, workers=1)
    assert lake.list("bronze") == []
    assert not list((tmp_path / "lake").rglob("*.part"))
    res = ingest_drive(LocalSource(good_drive), lake)
    assert res.status == "ingested" and res.message_count == 100


def test_rosbags_iteration_trap_is_not_ours(tmp_path):
    """rosbags 0.11.9 iterates 0 of talker's 20 messages; our manifest says 20."""
    shared_data_dir("rosbag2")
    lake = LakeStorage(root=str(tmp_path / "lake"))
    d = make_drive(
        tmp_path / "fleet", "talker-both", "rosbag2/rosbag2_py/test/resources/mcap/talker", "std_msgs/String"
    )
    shutil.copy(
        shared_data_dir("rosbag2", "rosbag2_py", "test", "resources", "sqlite3", "talker", "talker.db3"),
        d / "bag2.db3",
    )
    res = ingest_drive(LocalSource(d), lake)
    topics = {t["topic"]: t for t in res.manifest["topics"]}
    assert res.message_count == 40 and topics["/topic"]["message_count"] == 20
    assert sorted(topics["/topic"]["files"]) == ["bag/talker.mcap", "bag2.db3"]


def test_ingested_drive_is_signed_and_verifies_until_tampered(lake, good_drive):
    from av_assets.shared.bronze_verify import verify_drive

    ingest_drive(LocalSource(good_drive), lake)
    report = verify_drive(lake, "syn-good")
    assert report["ok"] and report["signature_ok"], report
    assert {f["status"] for f in report["files"]} == {"ok"}
    # one flipped byte in a bronze bag is caught
    rel = "bronze/drives/syn-good/bag/syn-good_0.mcap"
    data = bytearray(lake.read_bytes(rel))
    data[len(data) // 2] ^= 0xFF
    lake.write_bytes(rel, bytes(data))
    tampered = verify_drive(lake, "syn-good")
    assert not tampered["ok"] and tampered["signature_ok"]
    assert [f["path"] for f in tampered["files"] if f["status"] == "mismatch"] == ["bag/syn-good_0.mcap"]


def test_a_damaged_compressed_chunk_quarantines_instead_of_crashing(tmp_path):
    """zstd/lz4 raise their own error types on damaged input: still a structural failure."""
    from mcap.reader import make_reader

    from av_assets.ingest.core import ingest_drive

    src = sensor_drive(tmp_path / "fleet", "bad-zstd", checksums=False)
    bag = src / "bag" / "bad-zstd_0.mcap"
    with open(bag, "rb") as fh:
        chunk = next(iter(make_reader(fh).get_summary().chunk_indexes))
    assert chunk.compression in ("zstd", "lz4")
    data = bytearray(bag.read_bytes())
    start = chunk.chunk_start_offset + 9 + 8 + 8 + 8 + 4 + 4 + len(chunk.compression) + 8  # into the payload
    data[start : start + 64] = bytes(64)
    bag.write_bytes(bytes(data))
    lake = LakeStorage(root=str(tmp_path / "lake"))
    res = ingest_drive(LocalSource(src), lake)
    assert (res.status, res.reason) == ("quarantined", "structural_failure"), res
    assert lake.read_json("quarantine/bad-zstd/reason.json")["reason"] == "structural_failure"


def test_ingest_table_explains_the_warnings_it_shows(capsys):
    """Every WARN flag of docs/ingest.md has a one-line meaning, printed under the table for the
    flags present (a flag name alone sends people to the docs)."""
    import re

    from av_assets.ingest.cli import WARNING_MEANINGS, _print
    from tests.helpers import REPO_ROOT

    doc = (REPO_ROOT / "docs" / "ingest.md").read_text()
    documented = {
        f
        for line in doc.splitlines()
        if line.startswith("| WARN |")
        for f in re.findall(r"`(\w+)`", line.split("|")[2])
    }
    assert documented == set(WARNING_MEANINGS)
    _print([{"drive_id": "d-1", "status": "ingested", "warning_flags": ["unknown_platform"]}])
    err = capsys.readouterr().err
    assert "unknown_platform: drive.json's platform has no profile yet" in err and "time_gap" not in err


def test_process_table_says_what_ran_after_ingest():
    """`av process` lists ingest's status (skipped = same bytes as before) and, beside it, whether
    the pipeline ran for the drive."""
    from av_assets.ingest.cli import _run_cell

    ok = {"run_id": "r1", "success": True, "materialized": ["a", "b", "c"]}
    assert _run_cell({"status": "skipped", "run": ok}) == "processed (3 assets)"
    assert _run_cell({"status": "ingested", "run": {**ok, "success": False}}) == "FAILED (run r1)"
    assert _run_cell({"status": "skipped"}) == "already processed"
    assert _run_cell({"status": "quarantined"}) == "quarantined"


def test_process_finds_a_fleets_ground_truth_and_sums_what_it_measured(tmp_path, capsys):
    from av_assets.ingest.cli import _print_events_vs_truth, ground_truth_beside

    drive = tmp_path / "fleet" / "veh-1" / "d-1"
    drive.mkdir(parents=True)
    assert ground_truth_beside(drive) is None
    (tmp_path / "fleet" / "_ground_truth").mkdir()
    for p in (tmp_path / "fleet", drive.parent, drive):  # the fleet, a vehicle, a drive
        assert ground_truth_beside(p) == tmp_path / "fleet" / "_ground_truth"

    def m(truth, found, det, right):
        return {"truth": truth, "matched_truth": found, "detections": det, "matched_detections": right}

    rows = [
        {"run": {"events_vs_truth": {"cut_in": m(1, 1, 2, 1), "speeding": m(0, 0, 0, 0)}}},
        {"run": {"events_vs_truth": {"cut_in": m(2, 1, 1, 1)}}},
        {"status": "skipped"},  # already processed: nothing measured this time
    ]
    _print_events_vs_truth(rows, "/fleet/_ground_truth")
    err = capsys.readouterr().err
    assert err.splitlines()[0] == "events vs ground truth: cut_in 2/3 found, 1 false"
    assert "truth: /fleet/_ground_truth" in err
    _print_events_vs_truth(rows[2:], "/fleet/_ground_truth")  # a second `av process`: nothing ran
    assert "no drive ran now, nothing measured" in capsys.readouterr().err.replace("\n", " ")
