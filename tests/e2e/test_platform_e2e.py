"""End to end as users run it: `dagster dev` (webserver + daemon) on a temporary home and lake;
simulated drives, healthy and faulty, dropped into the landing zone; everything observed through
the GraphQL API only: the sensor adds partitions and launches runs, healthy drives reach the deepest
per-drive layer, faulty ones are quarantined with their reasons and do not flow downstream."""

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from av_resources.local_services import dagster_dev
from tests.helpers import REPO_ROOT

DEEPEST = ["silver", "redacted_frames"]  # the deepest per-drive layer built so far
MARKER = "_OFFLOAD_COMPLETE"

RUNS = """{ runsOrError(filter: {tags: [{key: "dagster/sensor_name", value: "new_drive_sensor"}]}) {
  ... on Runs { results { runId status tags { key value } } } } }"""
PARTITIONED_MATS = """query($path: [String!]!) { assetOrError(assetKey: {path: $path}) {
  ... on Asset { assetMaterializations(limit: 100) { partition runId } } } }"""
STEPS = """query($id: ID!) { runOrError(runId: $id) { ... on Run { stepStats { stepKey status } } } }"""
NODE = """query($path: [String!]!) { assetNodeOrError(assetKey: {path: $path}) {
  ... on AssetNode { partitionKeys freshnessStatusInfo { freshnessStatus } } } }"""


def _land(src: Path, landing: Path, drive_id: str, mutate=None) -> str:
    """Copy a generated drive into <landing>/<vehicle>/<drive_id>/ as an offload tool would."""
    doc = json.loads((src / "drive.json").read_text())
    doc["drive_id"] = drive_id
    dst = landing / doc["vehicle_id"] / drive_id
    shutil.copytree(src, dst)
    if mutate:
        mutate(dst, doc)
    (dst / "drive.json").write_text(json.dumps(doc, indent=2))
    (dst / MARKER).write_text("")  # the offload tool writes its completion marker last
    return drive_id


def _flip_a_byte(folder: Path, doc: dict) -> None:
    bag = max(
        (p for p in folder.rglob("*") if p.suffix in (".mcap", ".bag", ".db3")),
        key=lambda p: p.stat().st_size,
    )
    data = bytearray(bag.read_bytes())
    data[len(data) // 2] ^= 0x5A
    bag.write_bytes(bytes(data))  # drive.json keeps the vehicle-side hash of the original


def _drop_sensors(folder: Path, doc: dict) -> None:
    doc.pop("sensors")


@pytest.fixture(scope="module")
def platform(tmp_path_factory):
    root = tmp_path_factory.mktemp("e2e")
    fleet, lake, home = root / "fleet", root / "lake", root / "home"
    sim = [sys.executable, "-m", "av_cli", "fleet", "simulate", "--out", str(fleet)]
    out = subprocess.run(
        sim + ["--drives", "2", "--duration", "20", "--seed", "11", "--format", "mixed", "--json"],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert out.returncode == 0, out.stderr
    generated = [Path(d["path"]) if "path" in d else None for d in json.loads(out.stdout)["drive_list"]]
    sources = sorted(p.parent for p in fleet.glob("*/*/drive.json"))
    assert len(sources) == 2, generated
    landing = lake / "landing"
    healthy = [_land(src, landing, f"e2e-ok-{i}") for i, src in enumerate(sources)]
    faulty = {
        _land(sources[0], landing, "e2e-bad-checksum", _flip_a_byte): "checksum_mismatch",
        _land(sources[1], landing, "e2e-bad-drivejson", _drop_sensors): "invalid_drive_json",
    }
    home.mkdir()
    shutil.copy(REPO_ROOT / "dagster.yaml", home / "dagster.yaml")
    env = dict(
        os.environ, AV_ENV="local", AV_LAKE_ROOT=str(lake), AV_GROUND_TRUTH_ROOT=str(fleet / "_ground_truth")
    )
    with dagster_dev(home, workspace=REPO_ROOT / "workspace.yaml", env=env) as dev:
        dev.wait_for_location("av_platform")
        yield {"dev": dev, "lake": lake, "healthy": healthy, "faulty": faulty}


def _wait_for_runs(dev, expected: int, timeout: float = 900.0) -> list[dict]:
    deadline = time.monotonic() + timeout
    runs: list[dict] = []
    while time.monotonic() < deadline:
        runs = dev.graphql(RUNS)["runsOrError"]["results"]
        done = [r for r in runs if r["status"] in ("SUCCESS", "FAILURE", "CANCELED")]
        if len(runs) >= expected and len(done) == len(runs):
            return runs
        time.sleep(3)
    raise AssertionError(
        f"runs not finished after {timeout:g} s: {[(r['runId'][:8], r['status']) for r in runs]}"
    )


@pytest.mark.slow
def test_drives_flow_from_landing_to_silver_and_faulty_ones_are_quarantined(platform):
    dev = platform["dev"]
    everyone = platform["healthy"] + list(platform["faulty"])
    runs = _wait_for_runs(dev, expected=len(everyone))
    by_drive = {next(t["value"] for t in r["tags"] if t["key"] == "av/drive_id"): r for r in runs}
    assert set(by_drive) == set(everyone)
    status = {d: r["status"] for d, r in by_drive.items()}
    # a quarantined drive fails its run at the blocking integrity check (red in the UI, on purpose);
    # the steps downstream of the check never execute
    assert status == {
        **dict.fromkeys(platform["healthy"], "SUCCESS"),
        **dict.fromkeys(platform["faulty"], "FAILURE"),
    }
    for drive_id in platform["faulty"]:
        steps = {
            s["stepKey"]: s["status"]
            for s in dev.graphql(STEPS, {"id": by_drive[drive_id]["runId"]})["runOrError"]["stepStats"]
        }
        # refused before any copy (no usable drive.json) fails at bronze/drive_files; a drive copied
        # then quarantined fails at the blocking check of bronze/drive_manifest
        failed_at = (
            "bronze__drive_files"
            if platform["faulty"][drive_id] == "invalid_drive_json"
            else "bronze__drive_manifest"
        )
        assert steps.get(failed_at) == "FAILURE", steps
        assert steps.get("silver__redacted_frames") in (None, "SKIPPED"), steps

    node = dev.graphql(NODE, {"path": ["bronze", "drive_manifest"]})["assetNodeOrError"]
    assert set(node["partitionKeys"]) >= set(everyone)  # the sensor added every partition

    deep = dev.graphql(PARTITIONED_MATS, {"path": DEEPEST})["assetOrError"]["assetMaterializations"]
    reached = {m["partition"] for m in deep}
    assert reached == set(platform["healthy"]), "healthy drives reach silver, quarantined ones never do"

    lake = platform["lake"]
    for drive_id, reason in platform["faulty"].items():
        record = json.loads((lake / "quarantine" / drive_id / "reason.json").read_text())
        assert record["reason"] == reason, record
    for drive_id in platform["healthy"]:
        assert not (lake / "quarantine" / drive_id).exists()
        assert (lake / "bronze" / "drives" / drive_id / "manifest.json").is_file()


@pytest.mark.slow
def test_freshness_is_reported_for_each_layer(platform):
    dev = platform["dev"]
    _wait_for_runs(dev, expected=len(platform["healthy"]) + len(platform["faulty"]))
    states = {}
    for path in (["bronze", "drive_manifest"], DEEPEST, ["ops", "lake_inventory"]):
        node = dev.graphql(NODE, {"path": path})["assetNodeOrError"]
        states["/".join(path)] = (node["freshnessStatusInfo"] or {}).get("freshnessStatus")
    assert all(s is not None for s in states.values()), states
    assert states["bronze/drive_manifest"] == "HEALTHY", states  # just materialised, inside its window
