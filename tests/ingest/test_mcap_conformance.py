"""The official MCAP conformance suite: every file reads to the end, and the Message records we read
are exactly those of its expected record stream (channel, sequence, log_time, publish_time, data),
in order; the channel/schema records we resolve them with match too."""

import json
from pathlib import Path

import pytest

from av_assets.shared.bag_containers import detect_format, iter_mcap, iter_mcap_records, summarise
from tests.helpers import shared_data_dir


def _files() -> list[Path]:
    try:
        base = shared_data_dir("mcap_conformance")
    except pytest.skip.Exception:
        return []
    return sorted(base.rglob("*.mcap"))


def _expected(path: Path) -> dict:
    doc = json.loads(path.with_suffix(".json").read_text())
    records = doc["records"]
    fields = [(r["type"], dict(r["fields"])) for r in records]
    return {
        "messages": [
            (
                int(f["channel_id"]),
                int(f["sequence"]),
                int(f["log_time"]),
                int(f["publish_time"]),
                bytes(int(b) for b in f["data"]),
            )
            for t, f in fields
            if t == "Message"
        ],
        "channels": {int(f["id"]): f["topic"] for t, f in fields if t == "Channel"},
        "types": [t for t, _ in fields],
    }


def test_suite_is_complete():
    files = _files()
    if not files:
        pytest.skip("mcap_conformance not present")
    assert len(files) == 416


def test_every_conformance_file_yields_exactly_its_expected_messages():
    files = _files()
    if not files:
        pytest.skip("mcap_conformance not present")
    with_messages = 0
    for path in files:
        assert detect_format(path.read_bytes()[:16]) == "mcap", path.name
        exp = _expected(path)
        got = [(m.channel_id, m.sequence, m.log_time, m.publish_time, m.data) for m in iter_mcap(path)]
        assert got == exp["messages"], path.name
        # the record stream (MessageIndex excluded, as the suite specifies) has the same record types
        types = [type(r).__name__ for r in iter_mcap_records(path) if type(r).__name__ != "MessageIndex"]
        assert types == exp["types"], path.name
        summary = summarise(path, "mcap")
        assert summary.message_count == len(exp["messages"]), path.name
        for m in iter_mcap(path):
            assert m.topic == exp["channels"][m.channel_id]
        with_messages += bool(exp["messages"])
    assert with_messages > 100
