"""new_drive_sensor's cursor stays bounded however many drives have landed, and every ready drive is
picked exactly once (the plain `evaluate_folders`, over simulated listings)."""

import json

from av_assets.ingest.core import COMPLETE_MARKER
from av_assets.ingest.sensors import evaluate_folders


def _folder(t: float, marker: bool = True) -> dict[str, tuple[int, float]]:
    files = {"drive.json": (100, t - 5), "data/a.mcap": (10_000, t - 3)}
    if marker:
        files[COMPLETE_MARKER] = (0, t)
    return files


def test_cursor_stays_bounded_and_no_drive_is_launched_twice_or_missed():
    landing: dict[str, dict] = {}
    cursor, launched, sizes = None, [], []
    n, per_tick, spacing = 5000, 25, 60.0
    for i in range(n):
        # every 7th drive lands with the same marker mtime as the one before it
        t = 1_700_000_000 + (i - (i % 7 == 0 and i > 0)) * spacing
        landing[f"landing/veh-{i % 40:03d}/drive-{i:05d}"] = _folder(t)
        if (i + 1) % per_tick == 0 or i == n - 1:
            ready, state = evaluate_folders(landing, cursor, now=t + 10, quiet_seconds=300)
            launched += [p for p, _ in ready]
            cursor = json.dumps(state, sort_keys=True)
            sizes.append(len(cursor))
    assert len(launched) == len(set(launched)) == n  # each once, none missed
    assert max(sizes) < 6_000, max(sizes)  # bounded by the lookback window, not by the fleet's history
    assert sizes[-1] <= sizes[len(sizes) // 5] + 200


def test_same_mtime_drive_listed_a_tick_later_is_picked():
    landing = {"landing/v/a": _folder(1000.0)}
    ready, state = evaluate_folders(landing, None, now=1010)
    assert [p for p, _ in ready] == ["landing/v/a"]
    landing["landing/v/b"] = _folder(1000.0)  # same marker mtime, seen only now
    ready, state = evaluate_folders(landing, json.dumps(state), now=1020)
    assert [p for p, _ in ready] == ["landing/v/b"]
    ready, _ = evaluate_folders(landing, json.dumps(state), now=1030)
    assert ready == []


def test_quiet_drive_older_than_the_mark_is_still_picked():
    """An offload without a marker waits for its quiet period while newer drives move the mark on."""
    landing = {"landing/v/slow": _folder(1000.0, marker=False)}
    ready, state = evaluate_folders(landing, None, now=1001, quiet_seconds=300, lookback=60)
    assert ready == [] and "landing/v/slow" in state["pending"]
    landing["landing/v/fast"] = _folder(1200.0)
    ready, state = evaluate_folders(landing, json.dumps(state), now=1201, quiet_seconds=300, lookback=60)
    assert [p for p, _ in ready] == ["landing/v/fast"] and state["hwm"] == 1200.0
    ready, state = evaluate_folders(landing, json.dumps(state), now=1400, quiet_seconds=300, lookback=60)
    assert [p for p, _ in ready] == ["landing/v/slow"] and not state["pending"]


def test_old_cursor_format_is_migrated_without_relaunching():
    landing = {f"landing/v/d{i}": _folder(1000.0 + i * 3600) for i in range(5)}
    old = json.dumps({"picked": {p: "sig" for p in landing}, "pending": {}})
    landing["landing/v/new"] = _folder(1000.0 + 5 * 3600)
    ready, state = evaluate_folders(landing, old, now=1e9)
    assert [p for p, _ in ready] == ["landing/v/new"]
    assert state["v"] == 2 and state["hwm"] == 1000.0 + 5 * 3600
    assert set(state["picked"]) <= {"landing/v/d4", "landing/v/new"}  # older ones aged out
    ready, _ = evaluate_folders(landing, json.dumps(state), now=1e9 + 10)
    assert ready == []
