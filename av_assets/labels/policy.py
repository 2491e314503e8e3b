"""The labeller's settings (code, versioned with it) and the routing policy (a versioned policy asset:
thresholds change without a release, and every label records the policy version that routed it)."""

from __future__ import annotations

from dataclasses import dataclass, field

LABELLER_VERSION = "offline-labeller-1"


@dataclass(frozen=True)
class ClassPrior:
    """A class's typical size (m): real-world priors (ISO/UNECE vehicle classes, anthropometry),
    used when the lidar saw too little of the object to measure it."""

    length: float
    width: float
    height: float


@dataclass(frozen=True)
class LabellerPolicy:
    accel_sigma: float = 3.0  # m/s^2: process noise of the constant-velocity smoother
    lidar_sigma_m: float = 0.3
    radar_sigma_m: float = 0.8
    min_track_updates: int = 5  # shorter tracks are clutter
    max_gap_s: float = 1.0  # gaps up to this are filled by the smoother; longer ones are not labelled
    pad_s: float = 0.25  # label this far past a track's first/last measurement
    near_plane_m: float = 0.5
    max_range_m: float = 80.0
    min_box_px: float = 4.0
    max_footprint_overlap: float = 0.3  # more of the smaller footprint than this: one object, two tracks
    min_visible: float = 0.15  # share of the silhouette seen: below it, no label (nothing to draw)
    lidar_sweep_tolerance_s: float = 0.06  # nearest sweep to a keyframe for the lidar evidence
    near_face_radius_m: float = 1.0  # lidar points this close to a track's near face are its own
    min_height_points: int = 3  # points needed to measure a height
    person_max_width_m: float = 1.2  # narrower across the line of sight: a person (walking or riding)
    # the top of a person (shoulders, ~0.5 m; a rider's handlebar ~0.7 m) is narrower than a car's
    # roof (>= 1.2 m): the width across the line of sight of the top `upper_band_m` of lidar points
    upper_band_m: float = 0.4
    person_max_upper_width_m: float = 0.95
    cyclist_min_speed_mps: float = 2.5  # a person faster than a brisk walk rides a bike
    min_points_above_m: float = 0.3  # lidar points lower than this are ground
    moving_speed_mps: float = 1.0  # heading from the smoothed velocity above this speed
    truck_min_height_m: float = 2.4  # a vehicle taller than this is a truck
    bus_min_length_m: float = 10.5
    cyclist_min_length_m: float = 1.2  # a person-wide track this long rides a bike
    parked_car_min_height_m: float = 1.1  # a standing object this tall and vehicle-wide is a parked car
    cone_max_height_m: float = 1.0  # a standing object this short and small is a cone
    cone_max_extent_m: float = 0.8
    barrier_max_height_m: float = 1.5
    barrier_min_length_m: float = 1.5
    priors: dict[str, ClassPrior] = field(
        default_factory=lambda: {
            "car": ClassPrior(4.5, 1.8, 1.5),
            "truck": ClassPrior(9.0, 2.5, 3.4),
            "bus": ClassPrior(12.0, 2.55, 3.2),
            "pedestrian": ClassPrior(0.6, 0.6, 1.75),
            "cyclist": ClassPrior(1.8, 0.6, 1.7),
            "motorcyclist": ClassPrior(2.1, 0.8, 1.5),
            "traffic_cone": ClassPrior(0.4, 0.4, 0.7),
            "barrier": ClassPrior(2.0, 0.5, 1.0),
        }
    )


@dataclass(frozen=True)
class RoutingPolicy:
    """Where a label goes by its calibrated confidence (the label model's probability)."""

    accept_min: float = 0.8  # >= accept: accepted without review
    review_min: float = 0.35  # [review, accept): human QA; below: rejected
    # accept only when no labelling function voted "wrong": the label model weighs votes as if
    # independent, and ours are not (range, visibility and lidar support move together)
    veto: bool = True
    version: str = "code-default"

    @classmethod
    def from_doc(cls, doc: dict, version: str | None = None) -> RoutingPolicy:
        if not isinstance(doc, dict):
            raise ValueError("the routing policy is a JSON object {accept_min, review_min}")
        unknown = set(doc) - {"accept_min", "review_min", "veto", "version"}
        if unknown:
            raise ValueError(f"unknown routing field(s): {', '.join(sorted(unknown))}")
        accept, review = (
            float(doc.get("accept_min", cls.accept_min)),
            float(doc.get("review_min", cls.review_min)),
        )
        if not 0.0 <= review <= accept <= 1.0:
            raise ValueError(f"need 0 <= review_min ({review}) <= accept_min ({accept}) <= 1")
        veto = doc.get("veto", cls.veto)
        if not isinstance(veto, bool):
            raise ValueError("veto is true or false")
        return cls(accept, review, veto, version or str(doc.get("version") or cls.version))

    def as_doc(self) -> dict:
        return {"accept_min": self.accept_min, "review_min": self.review_min, "veto": self.veto}

    def route(self, score, vetoed=None):
        """accepted | needs_review | rejected per label; `vetoed`: some function voted wrong."""
        import numpy as np

        s = np.asarray(score, float)
        v = np.zeros(s.shape, bool) if vetoed is None or not self.veto else np.asarray(vetoed, bool)
        accept = (s >= self.accept_min) & ~v
        return np.where(accept, "accepted", np.where(s >= self.review_min, "needs_review", "rejected"))
