"""Message validation: deserialise every message and check what a sensor message must satisfy.

Deserialisation uses `rosbags`' typestores (ROS 2 Humble for CDR, ROS 1 Noetic for ROS 1), extended
with the definitions the container carries (MCAP schemas, ROS 1 connection headers, rosbag2
`message_definitions`). Checks are gathered per type into numpy arrays and evaluated in one go:

| type | check |
|---|---|
| sensor_msgs/Imu | orientation, angular_velocity, linear_acceleration, covariances finite; orientation \\|q\\| within `QUAT_TOL` of 1 unless orientation_covariance[0] == -1 (orientation unknown, REP-145) |
| sensor_msgs/NavSatFix | latitude, longitude, altitude, position_covariance finite; \\|lat\\| <= 90, \\|lon\\| <= 180 |
| sensor_msgs/PointCloud2 | len(data) == row_step * height; row_step >= point_step * width; every field's offset + size * count <= point_step |
| sensor_msgs/CameraInfo | K (k) and P (p), D finite |
| sensor_msgs/Image | len(data) == step * height |
| sensor_msgs/CompressedImage (jpeg) | the JPEG decodes (Pillow, draft mode, full entropy decode) |
| geometry_msgs/*Pose*, Odometry, TFMessage, TransformStamped | position/translation finite, \\|q\\| within `QUAT_TOL` of 1 |

A message that fails to deserialise is a validation failure (structural). Types we cannot deserialise
(no definition anywhere, or a non-ROS encoding) are counted as `undecodable` and reported as a WARN.
"""

from __future__ import annotations

import io
import time
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from av_assets.shared.bag_containers import RawMessage, Typestores

QUAT_TOL = 1e-3  # | |q| - 1 | allowed; float32 round-trips stay well inside, real corruption does not
MAX_EVIDENCE = 5

_PC2_SIZES = {1: 1, 2: 1, 3: 2, 4: 2, 5: 4, 6: 4, 7: 4, 8: 8}


@dataclass
class ValidationReport:
    messages: int = 0
    validated: int = 0  # deserialised and checked
    undecodable: dict[str, int] = field(default_factory=dict)  # type -> count (WARN)
    failures: list[dict[str, Any]] = field(default_factory=list)  # {check, topic, type, count, evidence}
    checks_run: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def passed(self) -> bool:
        return not self.failures

    def fail(self, check: str, topic: str, type_: str, count: int, evidence: list[Any]) -> None:
        self.failures.append(
            {
                "check": check,
                "topic": topic,
                "type": type_,
                "count": int(count),
                "evidence": evidence[:MAX_EVIDENCE],
            }
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "messages": self.messages,
            "validated": self.validated,
            "undecodable": dict(sorted(self.undecodable.items())),
            "failures": self.failures,
            "checks_run": dict(sorted(self.checks_run.items())),
            "seconds": round(self.seconds, 4),
            "messages_per_s": round(self.messages / self.seconds, 1) if self.seconds else None,
            "passed": self.passed,
        }


def _quat(o) -> tuple[float, float, float, float]:
    return (o.x, o.y, o.z, o.w)


def _vec(v) -> tuple[float, float, float]:
    return (v.x, v.y, v.z)


class _Collector:
    """Per (check, topic, type): rows gathered while deserialising, evaluated vectorised at the end."""

    def __init__(self) -> None:
        self.finite: dict[tuple[str, str], list[np.ndarray]] = defaultdict(list)
        self.quats: dict[tuple[str, str], list[tuple]] = defaultdict(list)
        self.seq: dict[tuple[str, str], list[int]] = defaultdict(list)
        self.qseq: dict[tuple[str, str], list[int]] = defaultdict(list)
        self.latlon: dict[tuple[str, str], list[tuple[float, float]]] = defaultdict(list)

    def numbers(self, key, seq: int, values: Iterable[float]) -> None:
        self.finite[key].append(np.asarray(list(values), dtype=np.float64))
        self.seq[key].append(seq)

    def row(self, key, seq: int, scalars: tuple, *arrays) -> None:
        """`numbers(key, seq, [*scalars, *arrays[0], *arrays[1], ...])` with one C-level concatenate
        instead of a Python list of numpy scalars; anything that is not a plain 1-D numeric array
        takes the `numbers` path, so its result (or its error) is exactly that of `numbers`."""
        try:
            r = np.concatenate((scalars, *arrays), dtype=np.float64)
        except Exception:  # noqa: BLE001 - the exact path decides (and raises what it raises)
            r = None
        if r is None or r.ndim != 1:
            self.numbers(key, seq, [*scalars, *(v for a in arrays for v in a)])
            return
        self.finite[key].append(r)
        self.seq[key].append(seq)

    def quat(self, key, seq: int, q) -> None:
        self.quats[key].append(q)
        self.qseq[key].append(seq)


_CHECKED_PACKAGES = ("sensor_msgs", "geometry_msgs", "nav_msgs", "tf2_msgs", "tf")
_SHORT: dict[str, str | None] = {}  # type -> its short name when its package is checked, else None


def _short_name(t: str) -> str | None:
    short = _SHORT.get(t, "")
    if short == "":
        parts = t.split("/")
        short = _SHORT[t] = parts[-1] if parts[0] in _CHECKED_PACKAGES else None
    return short


def _check_message(t: str, obj, key, seq: int, col: _Collector, report: ValidationReport, topic: str) -> None:
    short = _short_name(t)
    if short is None:
        return
    if short == "Imu":
        o, av, la = obj.orientation, obj.angular_velocity, obj.linear_acceleration
        col.row(
            key,
            seq,
            (o.x, o.y, o.z, o.w, av.x, av.y, av.z, la.x, la.y, la.z),
            obj.orientation_covariance,
            obj.angular_velocity_covariance,
            obj.linear_acceleration_covariance,
        )
        if obj.orientation_covariance[0] != -1:
            col.quat(key, seq, _quat(obj.orientation))
    elif short == "NavSatFix":
        col.row(key, seq, (obj.latitude, obj.longitude, obj.altitude), obj.position_covariance)
        col.latlon[key].append((obj.latitude, obj.longitude))
    elif short == "CameraInfo":
        k = getattr(obj, "k", None)
        k = k if k is not None else obj.K
        p = getattr(obj, "p", None)
        p = p if p is not None else obj.P
        d = getattr(obj, "d", None)
        d = d if d is not None else getattr(obj, "D", [])
        col.row(key, seq, (), k, p, d)
    elif short == "PointCloud2":
        bad = None
        if len(obj.data) != obj.row_step * obj.height:
            bad = f"len(data)={len(obj.data)} != row_step*height={obj.row_step}*{obj.height}"
        elif obj.row_step < obj.point_step * obj.width:
            bad = f"row_step={obj.row_step} < point_step*width={obj.point_step}*{obj.width}"
        else:
            for f in obj.fields:
                end = f.offset + _PC2_SIZES.get(f.datatype, 0) * max(f.count, 1)
                if f.datatype not in _PC2_SIZES or end > obj.point_step:
                    bad = f"field {f.name!r} (offset {f.offset}, datatype {f.datatype}) exceeds point_step {obj.point_step}"
                    break
        report.checks_run["pointcloud_layout"] = report.checks_run.get("pointcloud_layout", 0) + 1
        if bad:
            report.fail("pointcloud_layout", topic, t, 1, [{"sequence": seq, "detail": bad}])
    elif short == "Image":
        report.checks_run["image_layout"] = report.checks_run.get("image_layout", 0) + 1
        if len(obj.data) != obj.step * obj.height:
            report.fail(
                "image_layout",
                topic,
                t,
                1,
                [
                    {
                        "sequence": seq,
                        "detail": f"len(data)={len(obj.data)} != step*height={obj.step}*{obj.height}",
                    }
                ],
            )
    elif short == "CompressedImage":
        if (
            "jpeg" in obj.format.lower()
            or "jpg" in obj.format.lower()
            or bytes(obj.data[:3]) == b"\xff\xd8\xff"
        ):
            report.checks_run["jpeg_decodes"] = report.checks_run.get("jpeg_decodes", 0) + 1
            err = jpeg_error(bytes(obj.data))
            if err:
                report.fail("jpeg_decodes", topic, t, 1, [{"sequence": seq, "detail": err}])
    elif short in ("PoseStamped", "Pose", "PoseWithCovarianceStamped", "Odometry"):
        pose = obj
        if hasattr(pose, "pose"):
            pose = pose.pose
        if hasattr(pose, "pose"):
            pose = pose.pose
        col.numbers(key, seq, [*_vec(pose.position), *_quat(pose.orientation)])
        col.quat(key, seq, _quat(pose.orientation))
    elif short in ("TFMessage", "tfMessage"):
        for tr in obj.transforms:
            col.numbers(key, seq, [*_vec(tr.transform.translation), *_quat(tr.transform.rotation)])
            col.quat(key, seq, _quat(tr.transform.rotation))
    elif short == "TransformStamped":
        col.numbers(key, seq, [*_vec(obj.transform.translation), *_quat(obj.transform.rotation)])
        col.quat(key, seq, _quat(obj.transform.rotation))
    elif short in ("Twist", "TwistStamped"):
        tw = obj.twist if hasattr(obj, "twist") else obj
        col.numbers(key, seq, [*_vec(tw.linear), *_vec(tw.angular)])


def jpeg_error(data: bytes) -> str | None:
    """None when the JPEG decodes completely, else the decoder's complaint."""
    from PIL import Image

    try:
        with Image.open(io.BytesIO(data)) as im:
            if im.format != "JPEG":
                return f"not a JPEG ({im.format})"
            im.draft("L", (max(1, im.width // 8), max(1, im.height // 8)))
            im.load()
    except Exception as exc:  # noqa: BLE001 - any decoder error is the evidence
        return f"{type(exc).__name__}: {exc}"
    return None


def validate_messages(
    messages: Iterable[RawMessage], report: ValidationReport | None = None
) -> ValidationReport:
    """Deserialise and check every message; failures carry the evidence (topic, sequence, values)."""
    report = report or ValidationReport()
    stores = Typestores()
    col = _Collector()
    deser_fail: dict[tuple[str, str], list] = defaultdict(list)
    t0 = time.perf_counter()
    for msg in messages:
        report.messages += 1
        if not stores.ensure(msg):
            name = msg.type or f"<{msg.encoding or 'no'} encoding>"
            report.undecodable[name] = report.undecodable.get(name, 0) + 1
            continue
        try:
            obj = stores.deserialise(msg)
        except Exception as exc:  # noqa: BLE001 - the failure is the finding
            deser_fail[(msg.topic, msg.type)].append(
                {
                    "sequence": msg.sequence,
                    "log_time": msg.log_time,
                    "error": f"{type(exc).__name__}: {exc}"[:200],
                }
            )
            continue
        report.validated += 1
        try:
            _check_message(msg.type, obj, (msg.topic, msg.type), msg.sequence, col, report, msg.topic)
        except (AttributeError, TypeError) as exc:
            deser_fail[(msg.topic, msg.type)].append(
                {"sequence": msg.sequence, "error": f"shape: {exc}"[:200]}
            )
    for (topic, type_), ev in deser_fail.items():
        report.fail("deserialises", topic, type_, len(ev), ev)
    for key, rows in col.finite.items():
        topic, type_ = key
        report.checks_run["finite"] = report.checks_run.get("finite", 0) + len(rows)
        width = max(len(r) for r in rows)
        if all(len(r) == width for r in rows):
            arr = np.stack(rows) if width else np.zeros((len(rows), 0))
        else:  # ragged (e.g. CameraInfo D of several lengths): zero-padded, as zeros are finite
            arr = np.full((len(rows), width), 0.0)
            for i, r in enumerate(rows):
                arr[i, : len(r)] = r
        bad = ~np.isfinite(arr).all(axis=1)
        if bad.any():
            seqs = np.asarray(col.seq[key])[bad]
            report.fail(
                "finite",
                topic,
                type_,
                int(bad.sum()),
                [
                    {"sequence": int(s), "values": arr[i].tolist()[:12]}
                    for s, i in zip(seqs, np.flatnonzero(bad), strict=False)
                ],
            )
    for key, latlon in col.latlon.items():
        a = np.asarray(latlon, dtype=np.float64)
        bad = (np.abs(a[:, 0]) > 90) | (np.abs(a[:, 1]) > 180)
        if bad.any():
            report.fail(
                "navsat_range",
                key[0],
                key[1],
                int(bad.sum()),
                [{"lat": float(x), "lon": float(y)} for x, y in a[bad][:MAX_EVIDENCE]],
            )
    for key, qs in col.quats.items():
        q = np.asarray(qs, dtype=np.float64)
        report.checks_run["quaternion_normalised"] = report.checks_run.get("quaternion_normalised", 0) + len(
            q
        )
        norm = np.linalg.norm(q, axis=1)
        bad = ~(np.abs(norm - 1.0) <= QUAT_TOL)
        if bad.any():
            seqs = np.asarray(col.qseq[key])[bad]
            report.fail(
                "quaternion_normalised",
                key[0],
                key[1],
                int(bad.sum()),
                [
                    {"sequence": int(s), "norm": float(n), "q": q[i].tolist()}
                    for s, n, i in zip(seqs, norm[bad], np.flatnonzero(bad), strict=False)
                ],
            )
    report.seconds += time.perf_counter() - t0
    return report
