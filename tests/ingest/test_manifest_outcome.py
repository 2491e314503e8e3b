"""`core.integrity_outcome` / `core.result_from_manifest`: what bronze/drive_manifest reports of a
stored manifest (its blocking check's metadata and the notifier event)."""

from av_assets.ingest.core import integrity_outcome, result_from_manifest


def _manifest(status="ingested", quarantine=None):
    return {
        "drive_id": "d1",
        "status": status,
        "quarantine": quarantine,
        "files": [{"size": 10}, {"size": 5}],
        "topics": [{"topic": "/a"}, {"topic": "/b"}, {"topic": "/c"}],
        "message_count": 42,
        "checks": [{"check": "sha256", "passed": True}, {"check": "index", "passed": status == "ingested"}],
        "warnings": [{"flag": "W2"}, {"flag": "W1"}, {"flag": "W2"}],
    }


def test_integrity_outcome():
    assert integrity_outcome(_manifest()) == {
        "passed": True,
        "status": "ingested",
        "reason": "",
        "detail": "",
        "failed_checks": [],
        "warnings": ["W1", "W2"],
    }
    bad = integrity_outcome(_manifest("quarantined", {"reason": "corrupt_container", "detail": "x"}))
    assert not bad["passed"] and bad["reason"] == "corrupt_container" and bad["failed_checks"] == ["index"]


def test_result_from_manifest():
    r = result_from_manifest("d1", _manifest("quarantined", {"reason": "r", "detail": "d"}))
    assert (r.drive_id, r.status, r.reason, r.detail) == ("d1", "quarantined", "r", "d")
    assert (r.files, r.bytes, r.message_count, r.topics, r.warnings) == (2, 15, 42, 3, 3)
    assert result_from_manifest("d1", _manifest()).reason is None
