"""Every tunable of the synthetic fleet, in one place (and only here).

Project rule: the generator and the detectors are written by the same people, so they never share
constants. Nothing outside `av_fleet` may import this module; detectors must find events from the
data alone. Event parameters are *ranges*: each drive draws its own values from its seed, so a
detector cannot win by thresholding a fixed number. docs/fleet.md documents these ranges.
"""

from __future__ import annotations

from dataclasses import dataclass

GENERATOR_NAME = "av_fleet"
GENERATOR_VERSION = "0.3.0"  # bump on any change that alters output bytes for a given seed
SOFTWARE_VERSION = "avstack-sim 0.1.0"  # what drive.json reports as the vehicle software
PLATFORM = "sim-toyota-rav4"
CAN_DBC = "toyota_nodsu_pt_generated"  # an opendbc DBC name (opendbc.get_generated_dbcs())

# Time: every drive starts inside this window, chosen from the seed (never from the clock).
EPOCH_WINDOW_START = "2026-03-02T00:00:00+00:00"
EPOCH_WINDOW_DAYS = 60
START_HOUR_RANGE = (6, 21)  # local-ish UTC hours, mostly daylight

SIM_DT_NS = 10_000_000  # 100 Hz world step; every sensor stamp lies on this grid

# ---- road model --------------------------------------------------------------------------------
LANE_WIDTH = 3.5  # m; ego lane centre d=0, left (same direction) lane d=+LANE_WIDTH
EGO_LANE_D = 0.0
LEFT_LANE_D = LANE_WIDTH
PARKING_D = (-3.6, -3.1)  # parked cars (right shoulder)
CYCLIST_D = (-2.6, -2.3)  # cyclists keep right of the ego lane
SIDEWALK_D = (-6.0, -5.0)  # pedestrians
DRIVABLE_HIGHWAYS = (
    "primary",
    "primary_link",
    "secondary",
    "secondary_link",
    "tertiary",
    "tertiary_link",
    "residential",
    "unclassified",
)
DEFAULT_MAXSPEED_KMH = {"residential": 30, "unclassified": 30}
FALLBACK_MAXSPEED_KMH = 40
ROUTE_SMOOTHING_M = 4.0  # gaussian sigma applied to the OSM polyline (rounds street corners)
ROUTE_STEP_M = 0.5

# ---- ego dynamics ---------------------------------------------------------------------------------
WHEELBASE = 2.69
STEER_RATIO = 15.74
EGO_SIZE = (4.6, 1.86, 1.7)  # l, w, h (RAV4)
EGO_ACCEL_LIMITS = (-2.2, 1.6)  # comfortable tracking limits outside scripted brakes
EGO_FOLLOW_DECEL_LIMIT = -2.6  # gap controller never brakes harder than this (well above near-miss)
EGO_JERK = 6.0  # m/s^3 for comfortable changes
BRAKE_JERK = (14.0, 24.0)  # m/s^3 ramp of scripted brakes
LAT_ACCEL_MAX = 2.2  # m/s^2, limits speed in curves
CRUISE_FACTOR = (0.84, 0.93)  # fraction of the posted limit while cruising
FOLLOW_TIME_GAP = (1.3, 1.9)  # s
FOLLOW_STANDSTILL_GAP = 4.0  # m

# ---- scripted events (ranges drawn per drive) ----------------------------------------------------
CUT_IN_REL_SPEED = (2.5, 5.5)  # m/s faster than ego
CUT_IN_GAP = (5.0, 12.0)  # m, bumper to bumper when the lateral move starts
CUT_IN_DURATION = (1.3, 2.6)  # s of lateral motion
HARSH_BRAKE_EGO_PEAK = (-7.0, -4.6)  # m/s^2 (event: ego accel < -4)
HARSH_BRAKE_LEAD_PEAK = (-8.0, -5.0)
HARSH_BRAKE_REACTION = (0.35, 0.9)  # s between lead brake and ego brake
HARSH_BRAKE_END_SPEED_FACTOR = (0.15, 0.5)
HAZARD_KINDS = ("broken_down_car", "construction", "debris_barrier")
HAZARD_LANE_CHANGE_DISTANCE = (28.0, 45.0)  # m before the hazard the ego starts moving over
HAZARD_PASS_SPEED_FACTOR = (0.55, 0.85)
HAZARD_RETURN_MARGIN = (6.0, 14.0)  # m past the hazard before moving back
LANE_CHANGE_DURATION = (2.6, 4.4)  # s of ego lateral motion
SPEEDING_FACTOR = (1.12, 1.30)  # x posted limit
SPEEDING_DURATION = (4.0, 8.0)  # s
DISENGAGED_DURATION = (2.0, 7.0)  # s of manual driving after a disengagement

# ---- hard negatives (near-threshold, NOT events) -----------------------------------------------------
NEAR_BRAKE_EGO_PEAK = (-3.8, -3.0)  # m/s^2: braking that is not harsh
NEAR_BRAKE_LEAD_PEAK = (-3.6, -2.6)
ADJACENT_PASS_REL_SPEED = (2.0, 6.0)
ADJACENT_PASS_DRIFT = (0.15, 0.6)  # m the passing car drifts toward our lane (stays in its own)
SLOW_TRAFFIC_MIN_SPEED = (1.5, 4.0)  # m/s: slow, never stationary
SLOW_TRAFFIC_HOLD = (2.5, 5.0)  # s
NEAR_SPEEDING_FACTOR = (0.955, 0.99)
NEAR_SPEEDING_DURATION = (4.0, 7.0)

# ---- ambient traffic ---------------------------------------------------------------------------------
PARKED_SPACING = (25.0, 70.0)  # m between parked cars
PEDESTRIAN_SPACING = (35.0, 110.0)
CYCLIST_SPACING = (120.0, 300.0)
SPAWN_AHEAD = 85.0
DESPAWN_BEHIND = 35.0
DESPAWN_AHEAD = 110.0

# Ground-truth derivation (how evaluation defines an event from the true state)
GT_HARSH_BRAKE_ACCEL = -4.0
GT_SPEEDING_MIN_S = 1.0
GT_HAZARD_RELEVANT_M = 60.0

OBJECT_SIZES = {  # (l, w, h) ranges
    "car": ((4.2, 4.9), (1.75, 1.95), (1.4, 1.7)),
    "truck": ((6.5, 9.0), (2.3, 2.55), (2.8, 3.6)),
    "bus": ((11.0, 12.5), (2.5, 2.55), (3.0, 3.3)),
    "pedestrian": ((0.45, 0.65), (0.5, 0.7), (1.55, 1.9)),
    "cyclist": ((1.6, 1.85), (0.55, 0.7), (1.6, 1.85)),
    "motorcyclist": ((2.0, 2.3), (0.7, 0.9), (1.4, 1.6)),
    "traffic_cone": ((0.35, 0.4), (0.35, 0.4), (0.7, 0.8)),
    "barrier": ((0.4, 0.6), (2.0, 3.0), (1.0, 1.1)),
}


@dataclass(frozen=True)
class SensorRates:
    camera_hz: float = 10.0
    lidar_hz: float = 10.0
    radar_hz: float = 20.0
    imu_hz: float = 100.0
    gnss_hz: float = 10.0


CAMERA_WIDTH = 640
CAMERA_HEIGHT = 360
CAMERA_HFOV_DEG = 75.0
CAMERA_JPEG_QUALITY = 85
LIDAR_BEAMS = 16
LIDAR_COLUMNS = 512
LIDAR_VFOV_DEG = (-15.0, 15.0)
LIDAR_MAX_RANGE = 100.0
RADAR_MAX_RANGE = 120.0
RADAR_HFOV_DEG = 100.0

# Sensor noise (1 sigma)
IMU_ACCEL_NOISE = 0.05
IMU_GYRO_NOISE = 0.002
GNSS_POS_NOISE = 0.35
LIDAR_RANGE_NOISE = 0.02
RADAR_RANGE_NOISE = 0.12
RADAR_AZIMUTH_NOISE = 0.004
RADAR_VEL_NOISE = 0.08

# ---- part 2: camera realism ----------------------------------------------------------------------------
RENDER_STYLES = ("default", "heldout")
CAMERA_MAX_SIDE = 4096  # --camera WxH accepted up to this
LIDAR_BEAMS_CHOICES = (16, 32, 64, 128)
# Faces: lfw_subset (skimage) has 100 faces (25x25 grey) then 100 non-faces; styles use disjoint faces.
FACE_SOURCES = {
    "default": {"lfw": (0, 50), "astronaut": False},
    "heldout": {"lfw": (50, 100), "astronaut": True},
}
FACE_SIZE_M = (0.15, 0.19)  # face width (m); height = 1.25 x width, billboarded toward the camera
FACE_MIN_PX = 6  # faces narrower than this are flagged too_small (kept in the tables, not in pii_boxes)
PLATE_MIN_PX = 4  # plates lower than this (px) are flagged too_small
PII_MIN_VISIBLE = 0.5  # below this visible fraction a face/plate is flagged occluded
# Plate styles: (name, size_m (w, h), background BGR, text BGR, band BGR or None, layout, font)
# fonts: cv2 Hershey ids or "pil" (PIL's built-in bitmap/default font); layout "one_line" | "two_line"
PLATE_STYLES = {
    "default": (
        ("eu_white", (0.52, 0.11), (245, 245, 245), (20, 20, 20), (160, 60, 10), "one_line", 0),  # SIMPLEX
        ("fi_white", (0.44, 0.12), (240, 240, 236), (15, 15, 15), (150, 55, 0), "one_line", 3),  # COMPLEX
    ),
    "heldout": (
        ("uk_yellow", (0.52, 0.11), (40, 200, 245), (10, 10, 10), None, "one_line", 2),  # DUPLEX
        ("us_two_line", (0.305, 0.152), (235, 225, 215), (120, 40, 10), None, "two_line", "pil"),
        ("black_silver", (0.52, 0.11), (25, 25, 25), (215, 215, 215), None, "one_line", 4),  # TRIPLEX
    ),
}
PLATE_CHARS = "ABCDEFGHJKLMNPRSTUVXYZ"
PLATE_HEIGHT_M = {"car": (0.42, 0.55), "truck": (0.55, 0.75), "bus": (0.45, 0.6)}  # plate centre above ground
# Lighting per style: the held-out style shifts colours and contrast so tuned thresholds are tested.
STYLE_LIGHT = {
    "default": {"gain": 1.0, "tint": (1.0, 1.0, 1.0)},
    "heldout": {"gain": 0.9, "tint": (0.92, 1.0, 1.1)},
}
LIGHT_GAIN = {"day": 1.0, "dusk": 0.62, "night": 0.2}  # ambient light
HEADLIGHT_RANGE_M = 35.0  # ego low beams: full light near, falling off with distance and angle
FOG_VISIBILITY_M = (45.0, 90.0)  # drawn per drive (extinction = 3 / visibility)
RAIN_VISIBILITY_M = (160.0, 260.0)
RAIN_STREAKS = (250, 500)  # streaks per frame layer at 640x360 (scaled with the image area)
CAMERA_NOISE_STD = {"day": 2.5, "dusk": 4.0, "night": 6.0}  # read noise, grey levels

# ---- part 2: lidar and radar realism ---------------------------------------------------------------------
LIDAR_DROPOUT = (0.005, 0.02)  # random ray dropout probability, drawn per drive
LIDAR_FAR_DROPOUT = 0.35  # extra dropout probability at max range for dark targets (linear in range)
LIDAR_RANGE_NOISE_RANGE = (0.015, 0.03)  # m (1 sigma), drawn per drive
RADAR_RANGE_NOISE_RANGE = (0.08, 0.16)  # m
RADAR_AZIMUTH_NOISE_RANGE = (0.003, 0.006)  # rad
RADAR_VEL_NOISE_RANGE = (0.05, 0.12)  # m/s
RADAR_MISS_PROB = (0.03, 0.08)  # missed detection probability at short range, drawn per drive
RADAR_MISS_FAR = 0.25  # extra miss probability at max range (linear in range)
RADAR_CLUTTER_RATE = (0.4, 1.5)  # clutter points per scan (Poisson mean), drawn per drive

# ---- part 2: clocks and dropped frames ------------------------------------------------------------------
# header stamp = true time + offset + N(0, jitter); log time = the logger's clock (true time)
CLOCK_OFFSET_NS = {  # per sensor, uniform in +-range (ns)
    "camera_front": 40_000_000,
    "lidar_top": 15_000_000,
    "radar_front": 25_000_000,
    "imu": 2_000_000,
    "gnss": 1_000_000,
    "can0": 5_000_000,
}
CLOCK_JITTER_NS = (100_000, 1_500_000)  # per-sensor jitter std, drawn per drive (stays < period / 6)
DROP_PROB = {"camera_front": (0.002, 0.01), "lidar_top": (0.002, 0.01), "radar_front": (0.002, 0.01)}

# ---- part 2: faults --------------------------------------------------------------------------------------
FAULTS = (
    "truncated_bag",
    "flipped_bytes",
    "sensor_missing",
    "clock_jump",
    "duplicate_drive",
    "id_reused",
    "empty_bag",
    "not_a_bag",
    "invalid_drive_json",
)
TRUNCATE_FRACTION = (0.35, 0.75)  # the bag keeps this fraction of its bytes
FLIP_BYTES = (4, 16)  # bytes flipped inside one chunk
CLOCK_JUMP_NS = (-3_000_000_000, -500_000_000)  # logger clock steps back by 0.5-3 s
CLOCK_JUMP_AT = (0.3, 0.7)  # fraction of the drive
