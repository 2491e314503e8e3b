"""World model: ego and traffic on a `Route`, simple kinematics, a 100 Hz step, a full state log.

Every agent lives in the route's Frenet frame (s along the centreline, d to the left). Kinematics are
those of a point-mass bicycle: body speed v, heading relative to the road psi; ds/dt = v cos(psi) /
(1 - kappa d), dd/dt = v sin(psi). Lateral moves (lane changes, drifts) are quintic smoothsteps in d
that set psi; longitudinal control is a jerk-limited speed tracker, a gap controller behind a lead in
the same lane, or a scripted brake profile. Scenario scripts (events.py) steer agents through this API.

The world knows nothing about sensors or file formats: it produces `WorldLog`, a complete record of
the true state that sensors, writers and ground truth read.
"""

from __future__ import annotations

import math
import uuid
from dataclasses import dataclass, field

import numpy as np

from av_fleet import params as P
from av_fleet.roads import Route

TRACK_NAMESPACE = uuid.UUID("6f1c2b1e-5d0a-4f7e-9a51-3c0f6a7e2b10")
EGO_FRONT = 3.7  # m from base_link (rear axle) to the front bumper
EGO_REAR = 0.9


def smoothstep5(u: float) -> float:
    u = min(max(u, 0.0), 1.0)
    return u * u * u * (10 - 15 * u + 6 * u * u)


def dsmoothstep5(u: float) -> float:
    if u <= 0.0 or u >= 1.0:
        return 0.0
    return 30 * u * u * (1 - u) * (1 - u)


@dataclass
class LateralMove:
    t0: float
    duration: float
    d0: float
    d1: float

    def at(self, t: float) -> tuple[float, float] | None:
        """(d, dd/dt) while the move is active (or finished), None before it starts."""
        if t < self.t0:
            return None
        u = (t - self.t0) / self.duration
        return (
            self.d0 + (self.d1 - self.d0) * smoothstep5(u),
            (self.d1 - self.d0) * dsmoothstep5(u) / self.duration,
        )

    @property
    def t1(self) -> float:
        return self.t0 + self.duration


@dataclass
class BrakeProfile:
    """Jerk-limited brake: ramp to `peak`, hold, release so that speed ends near `v_end`."""

    t0: float
    peak: float
    jerk: float
    v_end: float
    phase: str = "wait"
    a_min: float = 0.0

    def accel(self, t: float, v: float, a_prev: float, dt: float) -> float | None:
        if self.phase == "done" or t < self.t0:
            return None
        if self.phase == "wait":
            self.phase = "in"
        release_dv = a_prev * a_prev / (2 * self.jerk)
        if self.phase in ("in", "hold") and v - self.v_end <= release_dv:
            self.phase = "out"
        if self.phase == "in":
            a = max(self.peak, min(a_prev, 0.0) - self.jerk * dt)
            if a <= self.peak:
                self.phase = "hold"
        elif self.phase == "hold":
            a = self.peak
        else:  # out
            a = min(0.0, a_prev + self.jerk * dt)
            if a >= 0.0:
                self.phase = "done"
        self.a_min = min(self.a_min, a)
        return a


@dataclass
class Agent:
    index: int
    uid: str
    cls: str
    size: tuple[float, float, float]
    role: str
    s: float
    d: float
    v: float
    a: float = 0.0
    psi: float = 0.0  # heading relative to the road
    direction: int = 1  # -1: moves against the route direction (pedestrians)
    v_target: float = 0.0
    accel_limits: tuple[float, float] = (-2.0, 1.5)
    static: bool = False
    follow: bool = True  # the ego's gap controller reacts to it
    moves: list[LateralMove] = field(default_factory=list)
    brake: BrakeProfile | None = None
    spawn_k: int = 0
    despawn_k: int | None = None
    radar_id: int = 0
    meta: dict = field(default_factory=dict)

    @property
    def active(self) -> bool:
        return self.despawn_k is None

    def lateral(self, t: float) -> tuple[float, float]:
        d, dd = self.d, 0.0
        for m in self.moves:
            r = m.at(t)
            if r is not None:
                d, dd = r
        return d, dd


@dataclass
class EgoState:
    s: float
    d: float
    v: float
    a: float = 0.0
    psi: float = 0.0
    moves: list[LateralMove] = field(default_factory=list)
    brake: BrakeProfile | None = None
    speed_factor: float | None = None  # x posted limit (speeding scripts); None = cruise
    speed_cap: float | None = None  # m/s
    engaged: bool = True
    ignore_follow: set[int] = field(default_factory=set)


class Sim:
    """One drive's world, stepped at 100 Hz. Scripts call spawn / lane_change / brake / set_speed."""

    def __init__(self, route: Route, rng: np.random.Generator, drive_id: str, duration_s: float):
        self.route = route
        self.rng = rng
        self.drive_id = drive_id
        self.dt = P.SIM_DT_NS / 1e9
        self.n = int(round(duration_s / self.dt))
        self.k = 0
        self.cruise_factor = float(rng.uniform(*P.CRUISE_FACTOR))
        self.time_gap = float(rng.uniform(*P.FOLLOW_TIME_GAP))
        s0 = 40.0
        self.v_profile = self._speed_profile()
        # other drivers: curvature and route end only, and bolder in curves than the ego
        self.curve_profile = self._speed_profile(factor=10.0, lat_accel=1.6 * P.LAT_ACCEL_MAX)
        v0 = float(np.interp(s0, route.s, self.v_profile))
        self.ego = EgoState(s=s0, d=P.EGO_LANE_D, v=v0)
        self.agents: list[Agent] = []
        self.records: dict[str, list] = {
            "lane_changes": [],
            "cut_ins": [],
            "hazards": [],
            "near_misses": [],
            "episodes": [],
            "construction": [],
        }
        # logs
        n = self.n
        self.log = {k: np.zeros(n) for k in ("s", "d", "v", "a", "psi", "x", "y", "yaw", "v_des")}
        self.log["engaged"] = np.zeros(n, dtype=bool)
        self.log["turn"] = np.zeros(n, dtype=np.int8)  # 0 none, 1 left, 2 right
        self.agent_logs: dict[int, dict[str, np.ndarray]] = {}
        self.min_gap = math.inf

    # ---- planning helpers -------------------------------------------------------------------------
    def _speed_profile(self, factor: float | None = None, lat_accel: float = P.LAT_ACCEL_MAX) -> np.ndarray:
        r = self.route
        f = self.cruise_factor if factor is None else factor
        v = r.limit_kmh / 3.6 * f
        v = np.minimum(v, np.sqrt(lat_accel / np.maximum(np.abs(r.kappa), 1e-4)))
        # stop gracefully before the end of the route
        v = np.minimum(v, np.sqrt(np.maximum(0.0, 2 * 1.5 * (r.s[-1] - 30 - r.s))))
        b, ds = 1.4, P.ROUTE_STEP_M
        for i in range(len(v) - 2, -1, -1):  # anticipate lower limits and curves ahead
            v[i] = min(v[i], math.sqrt(v[i + 1] ** 2 + 2 * b * ds))
        return v

    @property
    def t(self) -> float:
        return self.k * self.dt

    def uid(self, index: int) -> str:
        return str(uuid.uuid5(TRACK_NAMESPACE, f"{self.drive_id}/{index}"))

    def spawn(self, cls: str, role: str, s: float, d: float, v: float, **kw) -> Agent:
        lo = [self.rng.uniform(*r) for r in P.OBJECT_SIZES[cls]]
        idx = len(self.agents)
        a = Agent(
            index=idx,
            uid=self.uid(idx),
            cls=cls,
            size=(lo[0], lo[1], lo[2]),
            role=role,
            s=s,
            d=d,
            v=v,
            v_target=kw.pop("v_target", v),
            spawn_k=self.k,
            radar_id=idx + 1,
            **kw,
        )
        self.agents.append(a)
        self.agent_logs[idx] = {k: np.full(self.n, np.nan) for k in ("s", "d", "v", "psi")}
        return a

    def lane_change_ego(self, d1: float, duration: float, t0: float | None = None) -> LateralMove:
        t0 = self.t if t0 is None else t0
        m = LateralMove(t0, duration, self.ego.moves[-1].d1 if self.ego.moves else self.ego.d, d1)
        self.ego.moves.append(m)
        self.records["lane_changes"].append(m)
        return m

    def ego_lateral(self, t: float) -> tuple[float, float]:
        d, dd = self.ego.d, 0.0
        for m in self.ego.moves:
            r = m.at(t)
            if r is not None:
                d, dd = r
        return d, dd

    def lead_of_ego(self) -> tuple[Agent | None, float]:
        e = self.ego
        best, gap_best = None, math.inf
        for a in self.agents:
            if not a.active or a.index in e.ignore_follow or not a.follow or a.direction < 0:
                continue
            if abs(a.d - e.d) > (a.size[1] + P.EGO_SIZE[1]) / 2 + 0.2:
                continue
            gap = (a.s - a.size[0] / 2) - (e.s + EGO_FRONT)
            if -a.size[0] - 4 < gap < gap_best:
                best, gap_best = a, gap
        return best, gap_best

    def agent_gap_ahead(self, a: Agent) -> float:
        return (a.s - a.size[0] / 2) - (self.ego.s + EGO_FRONT)

    # ---- stepping ------------------------------------------------------------------------------------
    def _kin(self, s: float, d: float, v: float, dd: float) -> tuple[float, float]:
        """psi from the lateral rate, ds/dt from the body speed (Frenet kinematics)."""
        if v > 0.3:
            psi = math.asin(max(-0.6, min(0.6, dd / v)))
        else:
            psi = 0.0
        kappa = float(self.route.curvature(s))
        ds = v * math.cos(psi) / max(0.5, 1.0 - kappa * d)
        return psi, ds

    def step_agents(self) -> None:
        t, dt = self.t, self.dt
        for a in self.agents:
            if not a.active:
                continue
            if not a.static:
                acc = a.brake.accel(t, a.v, a.a, dt) if a.brake else None
                if acc is None:
                    lo, hi = a.accel_limits
                    vt = a.v_target
                    if a.direction > 0:
                        vt = min(vt, float(np.interp(a.s + 5.0, self.route.s, self.curve_profile)))
                    acc = max(lo, min(hi, 0.8 * (vt - a.v)))
                    acc = max(a.a - 8 * dt, min(a.a + 8 * dt, acc))
                a.a = acc
                a.v = max(0.0, a.v + acc * dt)
                d, dd = a.lateral(t)
                a.d = d
                a.psi, ds = self._kin(a.s, a.d, a.v, dd)
                a.s += a.direction * ds * dt
            lg = self.agent_logs[a.index]
            lg["s"][self.k], lg["d"][self.k], lg["v"][self.k], lg["psi"][self.k] = a.s, a.d, a.v, a.psi
            gap = a.s - self.ego.s
            if gap < -P.DESPAWN_BEHIND or gap > P.DESPAWN_AHEAD:
                a.despawn_k = self.k

    def step_ego(self) -> None:
        e, t, dt = self.ego, self.t, self.dt
        prof = self.v_profile if e.speed_factor is None else self._factor_profile(e.speed_factor)
        v_des = float(np.interp(e.s, self.route.s, prof))
        if e.speed_cap is not None:
            v_des = min(v_des, e.speed_cap)
        acc = e.brake.accel(t, e.v, e.a, dt) if e.brake else None
        if acc is None:
            lo, hi = P.EGO_ACCEL_LIMITS
            a_cmd = max(lo, min(hi, 0.9 * (v_des - e.v)))
            lead, gap = self.lead_of_ego()
            if lead is not None:
                self.min_gap = min(self.min_gap, gap)
                want = P.FOLLOW_STANDSTILL_GAP + self.time_gap * e.v
                a_f = 0.22 * (gap - want) + 0.75 * (lead.v - e.v)
                a_cmd = min(a_cmd, max(P.EGO_FOLLOW_DECEL_LIMIT, min(hi, a_f)))
            j = P.EGO_JERK * dt
            acc = max(e.a - j, min(e.a + j, a_cmd))
        v_new = max(0.0, e.v + acc * dt)
        e.a = (v_new - e.v) / dt
        e.v = v_new
        d, dd = self.ego_lateral(t)
        e.d = d
        e.psi, ds = self._kin(e.s, e.d, e.v, dd)
        e.s += ds * dt
        lg, k = self.log, self.k
        lg["s"][k], lg["d"][k], lg["v"][k], lg["a"][k], lg["psi"][k] = e.s, e.d, e.v, e.a, e.psi
        lg["v_des"][k] = v_des
        lg["engaged"][k] = e.engaged
        turn = 0
        for m in e.moves:
            if m.t0 - 1.5 <= t <= m.t1:
                turn = 1 if m.d1 > m.d0 else 2
        lg["turn"][k] = turn

    _profiles: dict[float, np.ndarray]

    def _factor_profile(self, f: float) -> np.ndarray:
        if not hasattr(self, "_profiles"):
            self._profiles = {}
        if f not in self._profiles:
            self._profiles[f] = self._speed_profile(f)
        return self._profiles[f]

    def finish(self) -> WorldLog:
        r = self.route
        lg = self.log
        x, y, h = r.pose(lg["s"], lg["d"])
        lg["x"], lg["y"], lg["yaw"] = x, y, h + lg["psi"]
        agents = []
        for a in self.agents:
            al = self.agent_logs[a.index]
            mask = ~np.isnan(al["s"])
            ax, ay, ah = r.pose(np.nan_to_num(al["s"]), np.nan_to_num(al["d"]))
            yaw = ah + np.nan_to_num(al["psi"]) + (math.pi if a.direction < 0 else 0.0)
            agents.append(
                AgentTrack(
                    a.index,
                    a.uid,
                    a.cls,
                    a.size,
                    a.role,
                    a.radar_id,
                    mask,
                    ax,
                    ay,
                    yaw,
                    np.nan_to_num(al["v"]),
                    al["s"],
                    al["d"],
                    a.direction,
                    dict(a.meta),
                )
            )
        return WorldLog(self.n, self.dt, lg, agents, self.records, r, self.min_gap)


@dataclass
class AgentTrack:
    index: int
    uid: str
    cls: str
    size: tuple[float, float, float]
    role: str
    radar_id: int
    mask: np.ndarray  # present at step k
    x: np.ndarray
    y: np.ndarray
    yaw: np.ndarray
    speed: np.ndarray
    s: np.ndarray
    d: np.ndarray
    direction: int
    meta: dict

    def velocity(self) -> tuple[np.ndarray, np.ndarray]:
        return self.speed * np.cos(self.yaw), self.speed * np.sin(self.yaw)


@dataclass
class WorldLog:
    n: int
    dt: float
    ego: dict[str, np.ndarray]
    agents: list[AgentTrack]
    records: dict[str, list]
    route: Route
    min_gap: float

    def ego_yaw_rate(self) -> np.ndarray:
        return np.gradient(np.unwrap(self.ego["yaw"]), self.dt)
