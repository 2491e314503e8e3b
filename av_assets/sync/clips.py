"""The clip policy (versioned) and fixed-length clips over a drive's corrected time span.

`CLIP_POLICY` is a constant for now; workflow 36 (map / trigger policy updates) turns policies into
observable assets with data versions, so a policy change shows in lineage and re-triggers clips.
Every clip row records the policy version, length and overlap.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from av_contracts.ids import clip_id

NS = 1_000_000_000


@dataclass(frozen=True)
class ClipPolicy:
    length_s: float = 20.0
    overlap_s: float = 0.0
    min_length_s: float = 2.0  # a shorter tail is merged into no clip (dropped); a short drive is one clip
    version: str = "clip-v1"

    def as_dict(self) -> dict:
        return asdict(self)


CLIP_POLICY = ClipPolicy()

CLIPS_SCHEMA = {
    "clip_id": "String",
    "drive_id": "String",
    "t_start_ns": "Int64",
    "t_end_ns": "Int64",
    "duration_s": "Float64",
    "clip_index": "Int32",
    "policy_version": "String",
    "clip_length_s": "Float64",
    "overlap_s": "Float64",
    "n_keyframes": "Int64",
    "n_lidar_sweeps": "Int64",
    "n_signal_rows": "Int64",
    "frames_shard": "String",
}


def clip_windows(t_first_ns: int, t_last_ns: int, policy: ClipPolicy = CLIP_POLICY) -> list[tuple[int, int]]:
    """[(t_start_ns, t_end_ns)) windows of `policy.length_s`, stepping by length - overlap; the last
    one ends at the drive's end; a tail shorter than `min_length_s` is dropped unless it is the only one."""
    if t_last_ns < t_first_ns:
        return []
    length = int(round(policy.length_s * NS))
    step = int(round((policy.length_s - policy.overlap_s) * NS))
    if step <= 0:
        raise ValueError("clip overlap must be shorter than the clip")
    end = t_last_ns + 1
    out = []
    start = t_first_ns
    while start < end:
        stop = min(start + length, end)
        if stop - start >= policy.min_length_s * NS or not out:
            out.append((start, stop))
        if stop >= end:
            break
        start += step
    return out


def clips_frame(
    drive_id: str,
    windows: list[tuple[int, int]],
    *,
    keyframe_t: np.ndarray,
    lidar_t: np.ndarray,
    signal_t: np.ndarray,
    policy: ClipPolicy = CLIP_POLICY,
    shard_of=lambda t_start: "",
):
    """One row per clip with counts of what falls in it (vectorised with searchsorted)."""
    import polars as pl

    starts = np.array([w[0] for w in windows], dtype=np.int64)
    ends = np.array([w[1] for w in windows], dtype=np.int64)

    def count(ts):
        ts = np.sort(np.asarray(ts, dtype=np.int64))
        return np.searchsorted(ts, ends, "left") - np.searchsorted(ts, starts, "left")

    return pl.DataFrame(
        {
            "clip_id": [clip_id(drive_id, int(s)) for s in starts],
            "drive_id": [drive_id] * len(starts),
            "t_start_ns": starts,
            "t_end_ns": ends,
            "duration_s": (ends - starts) / NS,
            "clip_index": np.arange(len(starts), dtype=np.int32),
            "policy_version": [policy.version] * len(starts),
            "clip_length_s": [float(policy.length_s)] * len(starts),
            "overlap_s": [float(policy.overlap_s)] * len(starts),
            "n_keyframes": count(keyframe_t),
            "n_lidar_sweeps": count(lidar_t),
            "n_signal_rows": count(signal_t),
            "frames_shard": [shard_of(int(s)) for s in starts],
        },
        schema={k: getattr(pl, v) for k, v in CLIPS_SCHEMA.items()},
    )
