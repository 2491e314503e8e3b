"""Fleet generation: plan drives from a seed, run the world, run the sensors, write offloads + ground truth.

Determinism: every random draw comes from numpy generators seeded by (fleet seed, drive index) through
`SeedSequence`, one independent stream per concern (world, each sensor, conditions), so the same seed
gives the same bytes whatever the number of workers. No absolute path and no clock of the generating
machine goes into any file: times derive from the seed.
"""

from __future__ import annotations

import hashlib
import json
import math
import shutil
from collections import Counter
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np

from av_fleet import events
from av_fleet import faults as faults_mod
from av_fleet import params as P
from av_fleet.ground_truth import GT_SCHEMA_VERSION, GroundTruthCollector, write_ground_truth
from av_fleet.roads import OSM_SOURCE, build_route
from av_fleet.scene import Scene
from av_fleet.sensors import camera as cam_mod
from av_fleet.sensors import lidar as lidar_mod
from av_fleet.sensors import radar as radar_mod
from av_fleet.sensors.can import can_frames
from av_fleet.sensors.inertial import gnss_fix, imu_series
from av_fleet.sensors.rig import EXTRINSICS, camera_intrinsics, cuboid_corners
from av_fleet.world import Sim
from av_fleet.writers.ros import FORMATS, BagWriter

GT_DIR = "_ground_truth"
FORMAT_CHOICES = (*FORMATS, "mixed")

# name, topic, ROS 2 type, frame_id, rate (Hz)
SENSORS = (
    (
        "camera_front",
        "/camera/front/image_raw/compressed",
        "sensor_msgs/msg/CompressedImage",
        "camera_front_optical",
    ),
    ("camera_front_info", "/camera/front/camera_info", "sensor_msgs/msg/CameraInfo", "camera_front_optical"),
    ("lidar_top", "/lidar/top/points", "sensor_msgs/msg/PointCloud2", "lidar_top"),
    ("radar_front", "/radar/front/objects", "sensor_msgs/msg/PointCloud2", "radar_front"),
    ("imu", "/imu/data", "sensor_msgs/msg/Imu", "imu_link"),
    ("gnss", "/gnss/fix", "sensor_msgs/msg/NavSatFix", "gnss_link"),
    ("can0", "/can/raw", "can_msgs/msg/Frame", "can0"),
    ("tf_static", "/tf_static", "tf2_msgs/msg/TFMessage", ""),
)
TOPIC = {name: topic for name, topic, _, _ in SENSORS}


@dataclass(frozen=True)
class DrivePlan:
    seed: int
    index: int
    drive_id: str
    vehicle_id: str
    start_ns: int
    fmt: str
    duration_s: float
    style: str = "default"
    camera_w: int = P.CAMERA_WIDTH
    camera_h: int = P.CAMERA_HEIGHT
    lidar_beams: int = P.LIDAR_BEAMS
    weather: str | None = None  # None: drawn from the seed
    light: str | None = None
    fault: str | None = None
    fault_ref: str | None = None  # the healthy drive a duplicate / reused id refers to


def _seq(seed: int, index: int) -> np.random.SeedSequence:
    return np.random.SeedSequence([int(seed) & 0xFFFFFFFF, (int(seed) >> 32) & 0xFFFFFFFF, int(index)])


def plan_fleet(
    seed: int, drives: int, duration_s: float, fmt: str = "mcap", faults: tuple[str, ...] = (), **opts
) -> list[DrivePlan]:
    """Healthy drives 0..drives-1, then one extra drive per fault (indices drives, drives + 1, ...)."""
    if fmt not in FORMAT_CHOICES:
        raise ValueError(f"unknown format {fmt!r}; expected one of {FORMAT_CHOICES}")
    n_vehicles = max(1, (drives + 2) // 3)
    window = datetime.fromisoformat(P.EPOCH_WINDOW_START)
    plans = []
    day_ref = 0
    for i in range(drives + len(faults)):
        rng = np.random.default_rng(_seq(seed, i).spawn(1)[0])
        day = int(rng.integers(P.EPOCH_WINDOW_DAYS))
        secs = int(rng.integers(P.START_HOUR_RANGE[0] * 3600, P.START_HOUR_RANGE[1] * 3600))
        micros = int(rng.integers(1_000_000))
        fault = faults[i - drives] if i >= drives else None
        if fault == "id_reused":  # a reused id comes from a later offload than the drive it collides with
            day = max(day, day_ref + 1)
        day_ref = day if i == 0 else day_ref
        start = window + timedelta(days=day, seconds=secs, microseconds=micros)
        start_ns = int(start.replace(microsecond=0).timestamp()) * 1_000_000_000 + micros * 1000
        vehicle_id = f"sim-veh-{i % n_vehicles + 1:02d}"
        tag = hashlib.sha256(f"av_fleet/{seed}/{i}".encode()).hexdigest()[:6]
        drive_id = f"{start:%Y%m%dt%H%M%S}-{vehicle_id}-{tag}"
        f = FORMATS[i % len(FORMATS)] if fmt == "mixed" else fmt
        if fault == "not_a_bag":
            f = "mcap"
        plans.append(
            DrivePlan(seed, i, drive_id, vehicle_id, start_ns, f, float(duration_s), fault=fault, **opts)
        )
    if faults:
        from dataclasses import replace

        plans = [replace(p, fault_ref=plans[0].drive_id) if p.fault else p for p in plans]
    return plans


def iso_utc(t_ns: int) -> str:
    dt = datetime.fromtimestamp(t_ns // 1_000_000_000, tz=UTC)
    return dt.strftime("%Y-%m-%dT%H:%M:%S") + f".{t_ns % 1_000_000_000 // 1000:06d}Z"


WEATHERS = ("clear", "overcast", "rain", "fog")
LIGHTS = ("day", "dusk", "night")


def _conditions_draw(rng: np.random.Generator, start_ns: int) -> tuple[str, str]:
    weather = WEATHERS[int(rng.choice(4, p=[0.55, 0.25, 0.15, 0.05]))]
    local_h = (datetime.fromtimestamp(start_ns // 1_000_000_000, tz=UTC).hour + 2) % 24  # Helsinki, UTC+2
    light = "day" if 7 <= local_h < 18 else ("dusk" if local_h in (6, 18, 19) else "night")
    return weather, light


def sensor_clocks(rng: np.random.Generator) -> dict[str, dict[str, int]]:
    """Per-sensor clock offset (uniform in +-CLOCK_OFFSET_NS[name]) and jitter std, drawn per drive."""
    out = {}
    for name, rng_ns in P.CLOCK_OFFSET_NS.items():
        off = int(rng.integers(-rng_ns, rng_ns + 1)) // 1000 * 1000
        jit = int(rng.integers(*P.CLOCK_JITTER_NS)) // 1000 * 1000
        out[name] = {"offset_ns": off, "jitter_ns_std": jit}
    out["camera_front_info"] = dict(out["camera_front"])  # published with each image, same stamp
    return out


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def generate_drive(out: Path, plan: DrivePlan) -> dict:
    """Write one drive's offload and ground truth; returns its summary."""
    ss = _seq(plan.seed, plan.index)
    r_world, r_cam, r_lidar, r_radar, r_imu, r_gnss, r_cond, r_clock, r_drop, r_fault = (
        np.random.default_rng(s) for s in ss.spawn(11)[1:]
    )
    drive_dir = out / plan.vehicle_id / plan.drive_id
    if drive_dir.exists():
        shutil.rmtree(drive_dir)
    drive_dir.mkdir(parents=True)
    gt_dir = out / GT_DIR

    route = build_route(r_world, plan.duration_s * 15.0 + 300.0)
    sim = Sim(route, r_world, plan.drive_id, plan.duration_s)
    log = events.run(sim)
    scene = Scene(log)
    graph = route.graph
    ego = log.ego
    yaw_rate = log.ego_yaw_rate()
    weather, light = _conditions_draw(r_cond, plan.start_ns)
    weather, light = plan.weather or weather, plan.light or light
    intr = camera_intrinsics(plan.camera_w, plan.camera_h)
    renderer = cam_mod.CameraRenderer(intr, route, r_cam, light, weather, plan.style)
    lidar = lidar_mod.Lidar(r_lidar, beams=plan.lidar_beams)
    radar = radar_mod.Radar(r_radar)
    imu = imu_series(ego, yaw_rate, r_imu)
    can = can_frames(ego, yaw_rate, log.n)
    gt = GroundTruthCollector()
    rates = P.SensorRates()
    every = {
        k: int(round(100 / getattr(rates, f"{k}_hz"))) for k in ("camera", "lidar", "radar", "imu", "gnss")
    }

    # clocks: header stamp = true time + offset + jitter (sensor clock); log time = the logger's clock
    clocks = sensor_clocks(r_clock)
    jitter = {
        n: np.round(r_clock.normal(0.0, c["jitter_ns_std"], log.n)).astype(np.int64)
        for n, c in clocks.items()
    }
    drop_p = {n: float(r_drop.uniform(*rng_)) for n, rng_ in P.DROP_PROB.items()}
    dropped: dict[str, list[int]] = {n: [] for n in drop_p}
    drops = {n: r_drop.random(log.n) < p for n, p in drop_p.items()}
    faults_gt: list[dict] = []
    k_jump, jump_ns = log.n + 1, 0
    if plan.fault == "clock_jump":
        k_jump = int(log.n * r_fault.uniform(*P.CLOCK_JUMP_AT))
        jump_ns = int(r_fault.integers(*P.CLOCK_JUMP_NS)) // 1000 * 1000
    skip_sensor = "gnss" if plan.fault == "sensor_missing" else None

    def stamp(name: str, k: int) -> int:
        return (
            t0
            + k * P.SIM_DT_NS
            + clocks[name]["offset_ns"]
            + int(jitter[name][k])
            + (jump_ns if k >= k_jump else 0)
        )

    w = BagWriter(plan.fmt, drive_dir, plan.drive_id)
    for name, topic, mtype, _frame in SENSORS:
        if name != skip_sensor:
            w.add_topic(topic, mtype, latched=topic == "/tf_static")
    t0 = plan.start_ns
    w.write(TOPIC["tf_static"], t0, w.tf_static(TOPIC["tf_static"], t0, EXTRINSICS))
    radar_points = 0
    for k in range(log.n):
        t_true = t0 + k * P.SIM_DT_NS
        t = t_true + (jump_ns if k >= k_jump else 0)  # the logger's clock
        objs = (
            scene.objects(k)
            if (k % every["camera"] == 0 or k % every["lidar"] == 0 or k % every["radar"] == 0)
            else None
        )
        if k % every["camera"] == 0 and drops["camera_front"][k]:
            dropped["camera_front"].append(t_true)
        elif k % every["camera"] == 0:
            pose = scene.ego_pose(k)
            jpeg, pii = renderer.render(pose, float(ego["s"][k]), objs)
            st = stamp("camera_front", k)
            topic = TOPIC["camera_front"]
            w.write(topic, t, w.compressed_image(topic, st, "camera_front_optical", jpeg))
            topic = TOPIC["camera_front_info"]
            w.write(topic, t, w.camera_info(topic, st, "camera_front_optical", intr))
            boxes = []
            for ob in objs:
                corners = cuboid_corners(
                    np.array([ob["xb"], ob["yb"], ob["size"][2] / 2]), ob["size"], ob["yawb"]
                )
                pb = cam_mod.project_box(corners, intr)
                if pb is not None:
                    boxes.append((ob, *pb))
            gt.add_frame(
                t_true,
                "camera_front",
                objs,
                boxes,
                graph.to_latlon,
                stamp_ns=st,
                pii=pii,
                visibility=renderer.visibility,
                segmentation=renderer.segmentation,
            )
        if k % every["lidar"] == 0 and drops["lidar_top"][k]:
            dropped["lidar_top"].append(t_true)
        elif k % every["lidar"] == 0:
            topic = TOPIC["lidar_top"]
            data = lidar.scan(objs)
            w.write(
                topic,
                t,
                w.pointcloud(
                    topic,
                    stamp("lidar_top", k),
                    "lidar_top",
                    lidar_mod.FIELDS,
                    lidar_mod.POINT_STEP,
                    lidar.beams,
                    lidar.columns,
                    data,
                    dense=False,
                ),
            )
        if k % every["radar"] == 0 and drops["radar_front"][k]:
            dropped["radar_front"].append(t_true)
        elif k % every["radar"] == 0:
            topic = TOPIC["radar_front"]
            data, npts = radar.scan(objs, float(ego["v"][k]), float(yaw_rate[k]))
            radar_points += npts
            w.write(
                topic,
                t,
                w.pointcloud(
                    topic,
                    stamp("radar_front", k),
                    "radar_front",
                    radar_mod.FIELDS,
                    radar_mod.POINT_STEP,
                    1,
                    npts,
                    data,
                    dense=True,
                ),
            )
        if k % every["imu"] == 0:
            topic = TOPIC["imu"]
            w.write(
                topic,
                t,
                w.imu(
                    topic,
                    stamp("imu", k),
                    "imu_link",
                    (0.0, 0.0, float(imu["qz"][k]), float(imu["qw"][k])),
                    (float(imu["wx"][k]), float(imu["wy"][k]), float(imu["wz"][k])),
                    (float(imu["ax"][k]), float(imu["ay"][k]), float(imu["az"][k])),
                    1e-4,
                    P.IMU_GYRO_NOISE**2,
                    P.IMU_ACCEL_NOISE**2,
                ),
            )
        if k % every["gnss"] == 0 and skip_sensor != "gnss":
            topic = TOPIC["gnss"]
            lat, lon, alt = gnss_fix(
                graph, float(ego["x"][k]), float(ego["y"][k]), float(ego["yaw"][k]), r_gnss
            )
            w.write(
                topic, t, w.navsatfix(topic, stamp("gnss", k), "gnss_link", lat, lon, alt, P.GNSS_POS_NOISE)
            )
        for can_id, data8, dlc in can.get(k, ()):
            topic = TOPIC["can0"]
            w.write(topic, t, w.can_frame(topic, stamp("can0", k), "can0", can_id, data8, dlc))
    w.close()
    counts = dict(w.counts)
    if plan.fault == "clock_jump":
        faults_gt.append(
            {
                "type": "clock_jump",
                "t_start_ns": t0 + k_jump * P.SIM_DT_NS,
                "t_end_ns": t0 + (log.n - 1) * P.SIM_DT_NS,
                "jump_ns": jump_ns,
                "detail": "the logger clock (log time) and every sensor clock step back by jump_ns at t_start_ns",
                "expected": {"status": "ingested", "warning": "clock_backwards"},
            }
        )
    if plan.fault == "sensor_missing":
        faults_gt.append(
            {
                "type": "sensor_missing",
                "t_start_ns": t0,
                "t_end_ns": t0 + (log.n - 1) * P.SIM_DT_NS,
                "sensor": "gnss",
                "detail": "drive.json declares gnss (sensor_msgs/msg/NavSatFix); the bag has no such messages",
                "expected": {"status": "quarantined", "reason": "sensor_missing"},
            }
        )

    # drive.json: what the vehicle logger writes
    files = sorted(p for p in drive_dir.rglob("*") if p.is_file())
    checksums = {p.relative_to(drive_dir).as_posix(): sha256_file(p) for p in files}
    end_ns = t0 + (log.n - 1) * P.SIM_DT_NS
    rate_of = {
        "camera_front": rates.camera_hz,
        "camera_front_info": rates.camera_hz,
        "lidar_top": rates.lidar_hz,
        "radar_front": rates.radar_hz,
        "imu": rates.imu_hz,
        "gnss": rates.gnss_hz,
    }
    drive_doc = {
        "drive_id": plan.drive_id,
        "vehicle_id": plan.vehicle_id,
        "start_time": iso_utc(t0),
        "end_time": iso_utc(end_ns),
        "sensors": [
            dict(
                {"name": n, "topic": tp, "type": ty, "frame_id": fr},
                **({"rate_hz": rate_of[n]} if n in rate_of else {}),
            )
            for n, tp, ty, fr in SENSORS
        ],
        "platform": P.PLATFORM,
        "software_version": P.SOFTWARE_VERSION,
        "can_dbc": P.CAN_DBC,
        "bag_format": {"mcap": "ros2-mcap", "ros2-sqlite": "ros2-sqlite3", "ros1": "ros1"}[plan.fmt],
        "checksums": checksums,
    }
    (drive_dir / "drive.json").write_text(json.dumps(drive_doc, indent=2) + "\n")

    # ground truth
    ev, near = events.derive_events(log, t0)
    limit = route.limit(ego["s"]) / 3.6
    lat, lon = graph.to_latlon(ego["x"], ego["y"])
    ego_cols = {
        "t_ns": t0 + np.arange(log.n, dtype=np.int64) * P.SIM_DT_NS,
        "lat": lat,
        "lon": lon,
        "x_map": ego["x"],
        "y_map": ego["y"],
        "yaw_map": ego["yaw"],
        "speed": ego["v"],
        "accel": ego["a"],
        "yaw_rate": yaw_rate,
        "engaged": ego["engaged"],
        "turn_signal": ego["turn"],
        "speed_limit": limit,
        "lane_offset": ego["d"],
    }
    zones = []
    for c in log.records["construction"]:
        ahead = c["s_rear"] - ego["s"]
        mask = (ahead <= 100.0) & (ego["s"] - 1.0 <= c["s_front"])
        idx = np.flatnonzero(mask)
        if len(idx):
            zx, zy, _ = route.pose((c["s_rear"] + c["s_front"]) / 2)
            zlat, zlon = graph.to_latlon(zx, zy)
            zones.append(
                {
                    "t_start_ns": t0 + int(idx[0]) * P.SIM_DT_NS,
                    "t_end_ns": t0 + int(idx[-1]) * P.SIM_DT_NS,
                    "lat": float(zlat),
                    "lon": float(zlon),
                    "length_m": c["s_front"] - c["s_rear"],
                    "actors": c["uids"],
                }
            )
    tracks = {}
    for a in log.agents:
        ks = np.flatnonzero(a.mask)
        if not len(ks):
            continue
        tracks[a.uid] = {
            "class": a.cls,
            "role": a.role,
            "size": list(a.size),
            "radar_track_id": a.radar_id,
            "t_first_ns": t0 + int(ks[0]) * P.SIM_DT_NS,
            "t_last_ns": t0 + int(ks[-1]) * P.SIM_DT_NS,
        }
    gt_doc = {
        "schema_version": GT_SCHEMA_VERSION,
        "drive_id": plan.drive_id,
        "vehicle_id": plan.vehicle_id,
        "generator": {
            "name": P.GENERATOR_NAME,
            "version": P.GENERATOR_VERSION,
            "seed": plan.seed,
            "drive_index": plan.index,
        },
        "t_start_ns": t0,
        "t_end_ns": end_ns,
        "map": {
            "source": OSM_SOURCE,
            "frame": "map",
            "projection": "equirectangular ENU tangent plane",
            "origin_lat": graph.origin_lat,
            "origin_lon": graph.origin_lon,
            "osm_nodes": len(route.osm_nodes),
        },
        "events": ev,
        "near_misses": near,
        "tracks": tracks,
        "camera_frames": [
            {
                "sensor": "camera_front",
                "topic": TOPIC["camera_front"],
                "frame_id": "camera_front_optical",
                "width": intr.width,
                "height": intr.height,
                "count": len(gt.frames),
                "t_ns": gt.frames,
                "stamp_ns": gt.stamps,
            }
        ],
        "conditions": {
            "weather": [{"t_start_ns": t0, "t_end_ns": end_ns, "value": weather}],
            "light": [{"t_start_ns": t0, "t_end_ns": end_ns, "value": light}],
            "construction_zones": zones,
        },
        "faults": faults_gt,
        "render_style": plan.style,
        "sensor_clocks": {n: clocks[n] for n in sorted(clocks)},
        "dropped_frames": {
            n: {"drop_prob": drop_p[n], "count": len(v), "t_ns": v} for n, v in sorted(dropped.items())
        },
        "sensor_noise": {"lidar_top": lidar.noise_params(), "radar_front": radar.noise_params()},
        "sensor_messages": counts,
        "episodes": [
            {
                "name": e["name"],
                "t_start_ns": t0 + int(round(e["t_start"] * 100)) * P.SIM_DT_NS,
                "t_end_ns": t0 + int(round(min(e["t_end"], plan.duration_s - 0.01) * 100)) * P.SIM_DT_NS,
                "actors": e["actors"],
                "params": e["params"],
            }
            for e in log.records["episodes"]
            if "t_start" in e
        ],
    }
    gt_files = write_ground_truth(gt_dir, gt_doc, gt, ego_cols)
    if plan.fault in faults_mod.POST_HOC:
        entry = faults_mod.apply(plan, drive_dir, drive_doc, r_fault)
        entry.setdefault("t_start_ns", t0)
        entry.setdefault("t_end_ns", end_ns)
        gt_doc["faults"] = [entry]
        gt_files = write_ground_truth(gt_dir, gt_doc, gt, ego_cols)
        files = sorted(p for p in drive_dir.rglob("*") if p.is_file() and p.name != "drive.json")

    all_files = [*files, drive_dir / "drive.json"]
    return {
        "drive_id": plan.drive_id,
        "vehicle_id": plan.vehicle_id,
        "format": plan.fmt,
        "path": f"{plan.vehicle_id}/{plan.drive_id}",
        "start_time": drive_doc["start_time"],
        "duration_s": plan.duration_s,
        "messages": sum(counts.values()),
        "message_counts": counts,
        "files": len(all_files),
        "bytes": sum(p.stat().st_size for p in all_files),
        "ground_truth_files": len(gt_files),
        "ground_truth_bytes": sum(p.stat().st_size for p in gt_files),
        "events": dict(Counter(e["type"] for e in ev)),
        "near_misses": dict(Counter(e["type"] for e in near)),
        "radar_points": radar_points,
        "render_style": plan.style,
        "conditions": {"weather": weather, "light": light},
        "fault": plan.fault,
        "dropped_frames": {n: len(v) for n, v in sorted(dropped.items())},
    }


def _run_one(args: tuple[str, dict]) -> dict:
    out, plan = args
    return generate_drive(Path(out), DrivePlan(**plan))


def simulate_fleet(
    out: Path,
    drives: int,
    seed: int,
    duration_s: float,
    fmt: str = "mcap",
    workers: int = 1,
    on_drive_done=None,
    *,
    render_style: str = "default",
    camera: tuple[int, int] = (P.CAMERA_WIDTH, P.CAMERA_HEIGHT),
    lidar_beams: int = P.LIDAR_BEAMS,
    faults: tuple[str, ...] | str = (),
    weather: str | None = None,
    light: str | None = None,
) -> dict:
    """Generate the whole fleet; `on_drive_done(summary)` is called as each drive finishes.

    `faults` adds one drive per named fault after the healthy drives (see av_fleet/faults.py);
    `weather` / `light` override the per-drive draw (None: drawn from the seed)."""
    if isinstance(faults, str):
        faults = faults_mod.parse_faults(faults)
    if render_style not in P.RENDER_STYLES:
        raise ValueError(f"unknown render style {render_style!r}; expected one of {P.RENDER_STYLES}")
    if weather is not None and weather not in WEATHERS:
        raise ValueError(f"unknown weather {weather!r}; expected one of {WEATHERS}")
    if light is not None and light not in LIGHTS:
        raise ValueError(f"unknown light {light!r}; expected one of {LIGHTS}")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    all_plans = plan_fleet(
        seed,
        drives,
        duration_s,
        fmt,
        tuple(faults),
        style=render_style,
        camera_w=int(camera[0]),
        camera_h=int(camera[1]),
        lidar_beams=int(lidar_beams),
        weather=weather,
        light=light,
    )
    plans = [p for p in all_plans if p.fault != "duplicate_drive"]
    results: dict[int, dict] = {}
    if workers <= 1 or len(plans) <= 1:
        for p in plans:
            results[p.index] = generate_drive(out, p)
            if on_drive_done:
                on_drive_done(results[p.index])
    else:
        import multiprocessing as mp
        from concurrent.futures import ProcessPoolExecutor, as_completed

        ctx = mp.get_context("fork") if hasattr(mp, "get_context") else None
        with ProcessPoolExecutor(max_workers=workers, mp_context=ctx) as ex:
            futs = {ex.submit(_run_one, (str(out), asdict(p))): p.index for p in plans}
            for f in as_completed(futs):
                results[futs[f]] = f.result()
                if on_drive_done:
                    on_drive_done(results[futs[f]])
    for p in all_plans:
        if p.fault == "duplicate_drive":
            results[p.index] = faults_mod.duplicate(out, results[0], p, out / GT_DIR)
            if on_drive_done:
                on_drive_done(results[p.index])
    ordered = [results[i] for i in range(len(all_plans))]
    ev: Counter = Counter()
    nm: Counter = Counter()
    for r in ordered:
        ev.update(r["events"])
        nm.update(r["near_misses"])
    return {
        "seed": seed,
        "drives": len(ordered),
        "healthy_drives": drives,
        "duration_s": duration_s,
        "format": fmt,
        "render_style": render_style,
        "camera": {"width": int(camera[0]), "height": int(camera[1])},
        "lidar_beams": int(lidar_beams),
        "faults": [
            {
                "type": r["fault"],
                "drive_id": r["drive_id"],
                "path": r["path"],
                "expected": faults_mod.EXPECTED[r["fault"]],
            }
            for r in ordered
            if r.get("fault")
        ],
        "files": sum(r["files"] + r["ground_truth_files"] for r in ordered),
        "bytes": sum(r["bytes"] + r["ground_truth_bytes"] for r in ordered),
        "offload_files": sum(r["files"] for r in ordered),
        "offload_bytes": sum(r["bytes"] for r in ordered),
        "messages": sum(r["messages"] for r in ordered),
        "events": {k: ev.get(k, 0) for k in sorted(ev)},
        "near_misses": {k: nm.get(k, 0) for k in sorted(nm)},
        "ground_truth_dir": GT_DIR,
        "drive_list": ordered,
    }


def fleet_seconds(summary: dict) -> float:
    return math.fsum(r["duration_s"] for r in summary["drive_list"])
