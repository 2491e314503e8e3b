"""A hand-built drive for the atom and combinator tests: every value is set here, so tests can state
exactly which objects and ticks each atom must refer to. Times in seconds from T0."""

import numpy as np
import polars as pl

from av_assets.mining.inputs import build_inputs

T0 = 1_700_000_000_000_000_000  # a multiple of 100 ms: grid ticks are T0 + k * 0.1 s
DRIVE = "test-drive-01"
DURATION_S = 20.0


def ns(t_s: float) -> int:
    return T0 + int(round(t_s * 1e9))


def ticks(a_s: float, b_s: float) -> list[int]:
    """Grid ticks from a to b seconds inclusive."""
    return [ns(k / 10) for k in range(int(round(a_s * 10)), int(round(b_s * 10)) + 1)]


def speed_at(t: np.ndarray) -> np.ndarray:
    """10 m/s, +2 m/s^2 over 5-8 s, 16 m/s, -8 m/s^2 over 15-17 s, then stopped."""
    return np.select(
        [t < 5, t < 8, t < 15, t < 17],
        [10.0, 10.0 + 2 * (t - 5), 16.0, 16.0 - 8 * (t - 15)],
        default=0.0,
    )


def yaw_at(t: np.ndarray) -> np.ndarray:
    """A left turn (0.3 rad/s) over 10-13 s, a right turn over 14-17 s."""
    return np.select([(t >= 10) & (t < 13), (t >= 14) & (t < 17)], [0.3, -0.3], default=0.0)


def signals_grid() -> pl.DataFrame:
    t = np.arange(0, int(DURATION_S * 10) + 1) / 10
    rows = []
    for name, values, unit in (
        ("SPEED.SPEED", speed_at(t), "m/s"),
        ("angular_velocity.z", yaw_at(t), "rad/s"),
    ):
        rows.append(
            pl.DataFrame(
                {
                    "drive_id": DRIVE,
                    "t_ns": [ns(x) for x in t],
                    "source": "can0",
                    "signal": name,
                    "value": values,
                    "unit": unit,
                }
            )
        )
    return pl.concat(rows)


def road() -> pl.DataFrame:
    t = np.arange(0, int(DURATION_S * 10) + 1) / 10
    return pl.DataFrame(
        {
            "drive_id": DRIVE,
            "t_ns": [ns(x) for x in t],
            "road_class": np.where(t < 5, "motorway", "residential"),
            "speed_limit_kph": np.where(t < 5, 100.0, 50.0),
            "junction_dist_m": np.where((t >= 12) & (t < 14), 10.0, 100.0),
            "in_construction_zone": (t >= 3) & (t < 4),
            "day_night": np.select([t < 10, t < 15], ["night", "dusk"], default="day"),
            "weather": np.where(t < 5, "rain", "clear"),
        }
    )


def _track(track_id, a_s, b_s, *, x, y, lane, vxg, speed=None, length=np.nan, width=np.nan):
    t = np.arange(a_s, b_s + 1e-9, 0.05)  # 20 Hz updates, 10 ms after each tick
    n = t.size
    f = lambda v: v(t) if callable(v) else np.full(n, v)  # noqa: E731
    return pl.DataFrame(
        {
            "drive_id": DRIVE,
            "track_id": track_id,
            "t_ns": [ns(x) + 10_000_000 for x in t],
            "x": f(x),
            "y": f(y),
            "vx_ground": f(vxg),
            "vy_ground": np.zeros(n),
            "ground_speed_mps": np.abs(f(vxg)) if speed is None else f(speed),
            "lane": f(lane).astype(np.int8),
            "length_m": np.full(n, length),
            "width_m": np.full(n, width),
            "source": "lidar",
        }
    )


def tracks() -> pl.DataFrame:
    return pl.concat(
        [
            # A: cuts in from the left lane at 2.5 s, 20 m ahead
            _track("A", 0, 5, x=20.0, y=lambda t: np.where(t < 2.5, 3.5, 0.0),
                   lane=lambda t: np.where(t < 2.5, 1, 0), vxg=12.0),
            # B: the lead, 15 m ahead in our lane until 5.9 s
            _track("B", 0, 5.9, x=15.0, y=0.0, lane=0, vxg=10.0),
            # C: a pedestrian on the right, 7.1 m away, walking across (ground speed 1.4 m/s)
            _track("C", 0, 20, x=5.0, y=-5.0, lane=-1, vxg=0.0, speed=1.4, length=0.5, width=0.5),
            # D: a parked car 40 m ahead in our lane, 5-8 s
            _track("D", 5, 8, x=40.0, y=0.0, lane=0, vxg=0.0, length=4.5, width=1.8),
            # E: oncoming in the left lane, 10-12 s
            _track("E", 10, 12, x=30.0, y=3.5, lane=1, vxg=-12.0),
        ]
    )  # fmt: skip


def events() -> pl.DataFrame:
    rows = [
        ("cut_in", 2.0, 3.0, "A", None),
        ("stationary_hazard", 6.0, 7.0, None, None),  # no actor recorded: nearest in-lane track (D)
        ("lane_change", 8.0, 9.0, None, "left (signal)"),
        ("harsh_brake", 15.0, 16.0, None, None),
        ("lane_change", 18.0, 19.0, None, "right (signal)"),
    ]
    return pl.DataFrame(
        {
            "drive_id": DRIVE,
            "type": [r[0] for r in rows],
            "t_start_ns": [
                ns(r[1]) + 30_000_000 for r in rows
            ],  # not on the grid: the tick holding it counts
            "t_end_ns": [ns(r[2]) for r in rows],
            "severity": 1.0,
            "clip_id": f"{DRIVE}:{T0}",
            "track_id": [r[3] for r in rows],
            "detail": [r[4] for r in rows],
        },
        schema_overrides={"track_id": pl.String, "detail": pl.String},
    )


def clips(length_s: float = 5.0) -> pl.DataFrame:
    starts = np.arange(0, DURATION_S, length_s)
    return pl.DataFrame(
        {
            "clip_id": [f"{DRIVE}:{ns(s)}" for s in starts],
            "drive_id": DRIVE,
            "t_start_ns": [ns(s) for s in starts],
            "t_end_ns": [ns(s + length_s) for s in starts],
        }
    )


def inputs(**overrides):
    parts = {
        "tracks": tracks(),
        "events": events(),
        "signals_grid": signals_grid(),
        "road": road(),
        "clips": clips(),
    }
    parts.update(overrides)
    return build_inputs(DRIVE, **parts)
