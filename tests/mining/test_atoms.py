"""Atoms and combinators on the hand-built drive of tests/mining/drive.py: exact objects and ticks."""

import numpy as np
import polars as pl
import pytest

from av_assets.mining.atoms import and_, episodes, not_, or_, then_
from av_assets.mining.dsl import compile_query
from tests.mining import drive
from tests.mining.drive import ns, ticks


@pytest.fixture(scope="module")
def inputs():
    return drive.inputs()


def refer(inputs, query) -> dict[str, list[int]]:
    r = compile_query(query).run(inputs)
    assert r.columns == ["drive_id", "track_id", "t_ns"] and set(r["drive_id"]) <= {drive.DRIVE}
    return {k: sorted(g["t_ns"].to_list()) for (k,), g in r.group_by("track_id")}


def test_grid_and_snapping(inputs):
    assert (
        inputs.grid.size == 201 and inputs.grid[0] == drive.T0 and np.all(np.diff(inputs.grid) == 100_000_000)
    )
    # 20 Hz updates at +10 ms and +60 ms fall into one 100 ms tick each
    a = inputs.tracks.filter(pl.col("track_id") == "A")
    assert a.height == 51 and a["t_ns"].to_list() == ticks(0, 5.0)
    ego = inputs.ego
    assert ego.filter(pl.col("t_ns") == ns(6.0))["speed_mps"].item() == pytest.approx(12.0)
    assert ego.filter(pl.col("t_ns") == ns(6.5))["accel_mps2"].item() == pytest.approx(2.0)
    assert ego.filter(pl.col("t_ns") == ns(11.0))["yaw_rate"].item() == pytest.approx(0.3)


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        # events atoms: event interval on the grid, actor from the event (or nearest in-lane track)
        ("cut_in", {"A": ticks(2.0, 3.0)}),
        ("stationary_hazard", {"D": ticks(6.0, 7.0)}),
        ("harsh_braking", {"ego": ticks(15.0, 16.0)}),
        ("ego_lane_change", {"ego": ticks(8.0, 9.0) + ticks(18.0, 19.0)}),
        ('ego_lane_change(direction="left")', {"ego": ticks(8.0, 9.0)}),
        ('ego_lane_change(direction="right")', {"ego": ticks(18.0, 19.0)}),
        ("speeding", {}),
        ("disengagement", {}),
        # object atoms from tracks
        ("changing_lanes", {"A": ticks(1.0, 4.0)}),  # step at 2.5 s +- 1.5 s; C's lane-index jumps at
        ('changing_lanes(direction="right")', {"A": ticks(1.0, 4.0)}),  # the ego's lane changes are not
        ('changing_lanes(direction="left")', {}),  # object lane changes (A moved right, into our lane)
        ("following(max_gap_m=20)", {"B": ticks(0, 5.9)}),
        ("following(max_gap_m=10)", {}),
        ("pedestrian_nearby", {"C": ticks(0, 20)}),
        ("pedestrian_nearby(within_m=5)", {}),
        ("vehicle_in_ego_lane", {"A": ticks(2.5, 5.0), "B": ticks(0, 5.9), "D": ticks(5.0, 8.0)}),
        ("oncoming", {"E": ticks(10, 12)}),
        ("stationary_object", {"D": ticks(5, 8)}),
        # ego atoms from road context and the signals grid
        ("at_night", {"ego": ticks(0, 9.9)}),
        ("at_twilight", {"ego": ticks(10, 14.9)}),
        ("in_daylight", {"ego": ticks(15, 20)}),
        ("in_rain", {"ego": ticks(0, 4.9)}),
        ("in_fog", {}),
        ("in_snow", {}),
        ("near_construction", {"ego": ticks(3.0, 3.9)}),
        ("on_highway", {"ego": ticks(0, 4.9)}),
        ("in_urban", {"ego": ticks(5, 20)}),
        ("at_junction", {"ego": ticks(12, 13.9)}),
        ("at_junction(within_m=5)", {}),
        ("stopped", {"ego": ticks(17, 20)}),
        ("high_speed(min_kmh=50)", {"ego": ticks(7.0, 15.2)}),  # 13.89 m/s reached at 6.95 s, left at 15.26 s
        ("high_speed", {}),
        ("accelerating", {"ego": ticks(5.0, 8.0)}),
        (
            'turning(direction="left")',
            {"ego": ticks(10.0, 12.7)},
        ),  # 25 deg over 3 s; the right turn from 14 s
        ('turning(direction="right")', {"ego": ticks(14.3, 16.9)}),  # eats into the window's end
    ],
)
def test_atom_values(inputs, query, expected):
    assert refer(inputs, query) == expected


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("cut_in and at_night", {"A": ticks(2.0, 3.0)}),  # object kept where the ego condition holds
        ("cut_in and in_daylight", {}),
        ("harsh_braking and in_daylight", {"ego": ticks(15, 16)}),
        ("not at_night", {"ego": ticks(10, 20)}),
        ("cut_in or harsh_braking", {"A": ticks(2, 3), "ego": ticks(15, 16)}),
        ("(cut_in or harsh_braking) and in_daylight", {"ego": ticks(15, 16)}),
        ("following(max_gap_m=20) and vehicle_in_ego_lane", {"B": ticks(0, 5.9)}),  # same object both
        ("vehicle_in_ego_lane and not following(max_gap_m=20)", {"A": ticks(2.5, 5), "D": ticks(5, 8)}),
        ("cut_in and following(max_gap_m=20)", {}),  # different objects: no intersection
        ("then(cut_in, ego_lane_change, within_s=6)", {"ego": ticks(8, 9)}),  # 8 s <= 3 s + 6 s; 18 s is not
        ("then(cut_in, ego_lane_change, within_s=4)", {}),
        ("then(at_night, cut_in)", {"A": ticks(2, 3)}),  # started after night started, within night
        ("then(cut_in, at_night)", {}),  # night started before the cut-in
        ("during(pedestrian_nearby, harsh_braking)", {"C": ticks(15, 16)}),
        ("during(harsh_braking, pedestrian_nearby)", {"ego": ticks(15, 16)}),
        ("during(cut_in, oncoming)", {}),
        ("stationary_hazard and near_construction", {}),
    ],
)
def test_combinators(inputs, query, expected):
    assert refer(inputs, query) == expected


def test_not_of_objects_is_the_complement_of_tracked_rows(inputs):
    got = refer(inputs, "not cut_in")
    assert got["A"] == [t for t in ticks(0, 5) if t not in ticks(2, 3)]
    assert got["C"] == ticks(0, 20) and "ego" not in got
    mixed = refer(inputs, "not (cut_in or at_night)")
    assert mixed["ego"] == ticks(10, 20) and mixed["A"] == got["A"]
    total = inputs.tracks.height
    assert sum(len(v) for v in got.values()) == total - 11


def _f(rows):
    return pl.DataFrame(rows, schema={"track_id": pl.String, "t_ns": pl.Int64}, orient="row")


def test_and_or_rules_on_tiny_frames():
    x = _f([("a", 1), ("a", 2), ("b", 2), ("ego", 3)])
    y = _f([("a", 2), ("ego", 1), ("ego", 3), ("c", 3)])
    # a@2 both; a@1 object where y's ego holds; c@3 where x's ego holds; ego@3 both
    assert and_(x, y).rows() == [("a", 1), ("a", 2), ("c", 3), ("ego", 3)]
    assert or_(x, y).rows() == [("a", 1), ("a", 2), ("b", 2), ("c", 3), ("ego", 1), ("ego", 3)]


def test_then_uses_episodes_and_refers_to_b():
    a = _f([("ego", t) for t in (10, 11, 12)])
    b = _f([("x", t) for t in (13, 14)] + [("y", t) for t in (30, 31)] + [("z", t) for t in (11, 12)])
    got = then_(a, b, within_s=0)  # no slack: B must start after A starts, by A's end
    assert got.rows() == [("z", 11), ("z", 12)]
    assert then_(a, b, within_s=0.000_000_002).rows() == [("x", 13), ("x", 14), ("z", 11), ("z", 12)]
    assert episodes(np.array([0, 100_000_000, 200_000_000, 900_000_000])) == [
        (0, 200_000_000),
        (900_000_000, 900_000_000),
    ]


def test_not_scope_and_empty_inputs():
    empty = drive.inputs(tracks=None, events=None, road=None)
    assert refer(empty, "cut_in") == {} and refer(empty, "at_night") == {} and refer(empty, "following") == {}
    assert refer(empty, "not at_night") == {"ego": ticks(0, 20)}
    assert refer(empty, "not cut_in") == {}
    assert not_(_f([]), "ego", empty).height == 201
