"""Record counting from the containers themselves, against known truths of the real bags."""

import shutil

import pytest

from av_assets.ingest.validate import validate_messages
from av_assets.shared.bag_containers import (
    StructuralError,
    detect_format,
    iter_messages,
    summarise,
)
from tests.helpers import shared_data_dir

R2 = ("rosbag2", "rosbag2_py", "test", "resources")


def test_ros1_example_counts_8647_and_compressions_yield_identical_messages():
    base = shared_data_dir("rosbag1")
    streams = {}
    for name in ("example.bag", "example-lz4.bag", "example-bz2.bag"):
        assert detect_format((base / name).read_bytes()[:16]) == "ros1-bag"
        streams[name] = sorted(
            (m.log_time, m.topic, m.type, m.data) for m in iter_messages(base / name, "ros1-bag")
        )
        assert len(streams[name]) == 8647
    # chunking differs between the three files; the messages (time, topic, type, bytes) are the same
    assert streams["example.bag"] == streams["example-lz4.bag"] == streams["example-bz2.bag"]
    s = summarise(base / "example.bag", "ros1-bag")
    assert (
        s.topics["/tf"].message_count == 2688
        and s.topics["/turtle1/cmd_vel"].type == "geometry_msgs/msg/Twist"
    )
    assert summarise(base / "no-messages.bag", "ros1-bag").message_count == 0
    assert summarise(base / "example-unsorted-chunks.bag", "ros1-bag").message_count == 3


def test_ros1_count_agrees_with_rosbags_reader():
    from rosbags.rosbag1 import Reader

    path = shared_data_dir("rosbag1", "example.bag")
    with Reader(path) as r:
        assert r.message_count == 8647 == sum(1 for _ in r.messages())
    assert summarise(path, "ros1-bag").message_count == 8647


@pytest.mark.parametrize(
    "kind,fname,fmt", [("mcap", "talker.mcap", "mcap"), ("sqlite3", "talker.db3", "ros2-sqlite3")]
)
def test_rosbag2_talker_is_20_messages_in_both_storages(kind, fname, fmt):
    path = shared_data_dir(*R2, kind, "talker", fname)
    assert detect_format(path.read_bytes()[:16]) == fmt
    s = summarise(path, fmt)
    assert s.message_count == 20
    assert {t: st.message_count for t, st in s.topics.items()} == {
        "/topic": 10,
        "/rosout": 10,
        "/parameter_events": 0,
    }
    assert s.topics["/topic"].t_first_ns <= s.topics["/topic"].t_last_ns
    rep = validate_messages(iter_messages(path, fmt))
    assert rep.messages == rep.validated == 20 and rep.passed


def test_truncated_and_fake_containers_are_structural_errors(tmp_path):
    for name, fmt in (
        ("rosbag1/example.bag", "ros1-bag"),
        (f"{'/'.join(R2)}/mcap/talker/talker.mcap", "mcap"),
    ):
        src = shared_data_dir(*name.split("/"))
        cut = tmp_path / ("cut-" + src.name)
        cut.write_bytes(src.read_bytes()[: src.stat().st_size // 2])
        with pytest.raises(StructuralError):
            summarise(cut, fmt)
    fake = tmp_path / "fake.db3"
    fake.write_bytes(b"SQLite format 3\x00" + b"\x00" * 100)
    with pytest.raises(StructuralError):
        summarise(fake, "ros2-sqlite3")
    shutil.copy(shared_data_dir("rosbag1", "example.bag"), tmp_path / "ok.bag")
    assert detect_format(b"hello world") == "other"
    assert detect_format(b"\xff\xd8\xff\xe0\x00\x10JFIF") == "jpeg"
    assert detect_format(b"\x00\x00\x00\x18ftypmp42") == "mp4"
