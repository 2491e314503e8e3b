"""Drives crafted from the real bags in ../shared/data (drive.json written in tmp)."""

import json
import shutil
from pathlib import Path

import pytest

from tests.helpers import shared_data_dir

BAGS = {
    "ros1": ("rosbag1/example.bag", "turtlesim/Pose", 8647),
    "ros1-lz4": ("rosbag1/example-lz4.bag", "turtlesim/Pose", 8647),
    "talker-mcap": ("rosbag2/rosbag2_py/test/resources/mcap/talker", "std_msgs/msg/String", 20),
    "talker-db3": ("rosbag2/rosbag2_py/test/resources/sqlite3/talker", "std_msgs/msg/String", 20),
    "wbag": ("rosbag2/rosbag2_py/test/resources/mcap/wbag/wbag_0.mcap", "std_msgs/msg/String", 1246),
    "cdr": ("rosbag2/rosbag2_tests/resources/mcap/cdr_test", "test_msgs/msg/BasicTypes", 7),
}


def make_drive(
    root: Path,
    drive_id: str,
    bag: str,
    sensor_type: str,
    *,
    vehicle="veh-001",
    checksums=None,
    extra: dict | None = None,
) -> Path:
    src = shared_data_dir(*bag.split("/"))
    folder = root / vehicle / drive_id
    folder.mkdir(parents=True)
    if src.is_dir():
        shutil.copytree(src, folder / "bag")
    else:
        (folder / "bag").mkdir()
        shutil.copy(src, folder / "bag" / src.name)
    doc = {
        "drive_id": drive_id,
        "vehicle_id": vehicle,
        "start_time": "2026-03-01T08:00:00Z",
        "sensors": [{"name": "main", "topic": "/x", "type": sensor_type}],
    }
    if checksums is not None:
        doc["checksums"] = checksums
    doc.update(extra or {})
    (folder / "drive.json").write_text(json.dumps(doc))
    return folder


@pytest.fixture(scope="session")
def real_drives(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("fleet")
    return {name: make_drive(root, f"real-{name}", bag, typ) for name, (bag, typ, _n) in BAGS.items()}
