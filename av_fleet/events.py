"""Scenario scripts (episodes), ambient traffic, and the ground-truth events derived from the true state.

A drive is a queue of episodes played one after another (each with parameters drawn from the ranges
in params.py), with disengagements overlaid. The required events come first so that every drive of
60 s or more holds at least one cut_in, harsh_brake, stationary_hazard and disengagement; the hard
negatives (near-threshold brakes, adjacent passes, slow traffic, near-limit driving) follow.

Ground-truth events are *derived from the simulated state*, not copied from the scripts: a harsh brake
is wherever the ego's true acceleration is below -4 m/s^2, speeding wherever its speed exceeds the
posted limit for at least a second, and so on, so ground truth stays right whatever the scripts did.
"""

from __future__ import annotations

import math
from collections import Counter

import numpy as np

from av_fleet import params as P
from av_fleet.world import EGO_FRONT, EGO_REAR, Agent, BrakeProfile, LateralMove, Sim, WorldLog


def U(rng: np.random.Generator, r: tuple[float, float]) -> float:
    return float(rng.uniform(r[0], r[1]))


class Episode:
    name = "episode"
    min_duration = 8.0
    timeout = 30.0

    def __init__(self, sim: Sim):
        self.sim = sim
        self.rng = sim.rng
        self.t_start = 0.0
        self.params: dict = {}
        self.actors: list[Agent] = []

    def begin(self) -> None:
        self.t_start = self.sim.t
        self.start()

    def start(self) -> None: ...

    def step(self) -> bool:
        return True

    def succeeded(self) -> bool:
        return True

    def record(self) -> dict:
        return {
            "name": self.name,
            "t_start": self.t_start,
            "t_end": self.sim.t,
            "actors": [a.uid for a in self.actors],
            "params": self.params,
        }

    # helpers
    def lane0_free(self, s: float, margin: float = 18.0) -> bool:
        ego_s = self.sim.ego.s
        return not any(
            a.active and a.follow and not a.static and abs(a.d) < 1.75 and ego_s < a.s < s + margin
            for a in self.sim.agents
        )

    def spawn_lead(self, cls: str, gap: float, v: float, v_target: float) -> Agent:
        sim = self.sim
        s = sim.ego.s + EGO_FRONT + gap
        for _ in range(6):
            if self.lane0_free(s):
                break
            s += 20.0
        return sim.spawn(cls, self.name, s, P.EGO_LANE_D, v, v_target=v_target, accel_limits=(-1.6, 1.4))

    def leave_left(self, a: Agent, extra_speed: float = 5.0) -> LateralMove:
        m = LateralMove(self.sim.t, 3.0, a.d, P.LEFT_LANE_D)
        a.moves.append(m)
        a.v_target = max(a.v, self.sim.ego.v) + extra_speed
        a.accel_limits = (-1.6, 2.2)
        return m


class CutIn(Episode):
    name = "cut_in"
    min_duration = 10.0
    timeout = 20.0

    def start(self):
        sim, rng = self.sim, self.rng
        self.params = {
            "rel_speed": U(rng, P.CUT_IN_REL_SPEED),
            "gap": U(rng, P.CUT_IN_GAP),
            "duration": U(rng, P.CUT_IN_DURATION),
        }
        cls = "car" if rng.random() < 0.85 else "truck"
        v = sim.ego.v + self.params["rel_speed"]
        self.a = sim.spawn(cls, "cut_in", sim.ego.s - 3.0, P.LEFT_LANE_D, v, v_target=v)
        self.actors = [self.a]
        self.move: LateralMove | None = None
        self.leave: LateralMove | None = None

    def succeeded(self) -> bool:
        return self.move is not None

    def step(self):
        sim, a = self.sim, self.a
        if self.move is None:
            a.v_target = sim.ego.v + self.params["rel_speed"]
            gap = sim.agent_gap_ahead(a)
            if gap >= self.params["gap"] or (sim.t - self.t_start > 8.0 and gap > 5.0):
                self.params["gap_at_start"] = gap
                self.move = LateralMove(sim.t, self.params["duration"], a.d, P.EGO_LANE_D)
                a.moves.append(self.move)
                a.v_target = sim.ego.v + 0.5 * self.params["rel_speed"]
                sim.records["cut_ins"].append({"uid": a.uid, "t0": self.move.t0, "t1": self.move.t1})
            return sim.t - self.t_start > self.timeout
        if sim.t > self.move.t1 + 0.5 and a.v_target < sim.ego.v + 7.0:
            a.v_target = sim.ego.v + 8.0
            a.accel_limits = (-1.6, 2.5)
        if sim.t > self.move.t1 + 3.5 and self.leave is None and sim.agent_gap_ahead(a) < 25.0:
            self.leave = self.leave_left(a, 6.0)  # overtakes onward in the left lane
        if self.leave is not None:
            if sim.t > self.leave.t0 + 0.6 * self.leave.duration:
                a.follow = False
                return True
            return False
        return (sim.t > self.move.t1 and sim.agent_gap_ahead(a) > 25.0) or not a.active


class AdjacentPass(Episode):
    """Hard negative for cut_in: a car passes in the next lane, drifts toward us, never enters our lane."""

    name = "adjacent_pass"
    min_duration = 7.0
    timeout = 20.0

    def start(self):
        sim, rng = self.sim, self.rng
        self.params = {"rel_speed": U(rng, P.ADJACENT_PASS_REL_SPEED), "drift": U(rng, P.ADJACENT_PASS_DRIFT)}
        v = sim.ego.v + self.params["rel_speed"]
        cls = "car" if rng.random() < 0.8 else ("truck" if rng.random() < 0.5 else "bus")
        self.a = sim.spawn(
            cls,
            "adjacent_pass",
            sim.ego.s - 10.0 - 0.5 * P.OBJECT_SIZES[cls][0][1],
            P.LEFT_LANE_D,
            v,
            v_target=v,
        )
        self.actors = [self.a]
        self.drifted = False
        self.t_along: float | None = None
        self.t_passed: float | None = None

    def step(self):
        sim, a = self.sim, self.a
        if self.t_passed is None:
            a.v_target = sim.ego.v + self.params["rel_speed"]
        rear_of_ego = sim.ego.s - EGO_REAR
        a_front = a.s + a.size[0] / 2
        if self.t_along is None and a_front >= rear_of_ego:
            self.t_along = sim.t
        if not self.drifted and a_front >= rear_of_ego - 2.0:
            self.drifted = True
            d_in = P.LEFT_LANE_D - self.params["drift"]
            a.moves.append(LateralMove(sim.t, 1.4, P.LEFT_LANE_D, d_in))
            a.moves.append(LateralMove(sim.t + 3.0, 1.6, d_in, P.LEFT_LANE_D))
            clearance = d_in - a.size[1] / 2 - P.EGO_SIZE[1] / 2
            self.params["min_lateral_clearance_m"] = clearance
            self.params["edge_to_lane_line_m"] = d_in - a.size[1] / 2 - P.LANE_WIDTH / 2
        if self.t_along is not None and self.t_passed is None and sim.agent_gap_ahead(a) > 0:
            self.t_passed = sim.t
            sim.records["near_misses"].append(
                {
                    "type": "adjacent_pass",
                    "resembles": "cut_in",
                    "t0": self.t_along,
                    "t1": self.t_passed,
                    "actors": [a.uid],
                    "params": dict(self.params),
                }
            )
        if self.t_passed is not None and (sim.agent_gap_ahead(a) > 25.0 or sim.t > self.t_passed + 1.0):
            a.follow = False
            return True
        return not a.active or sim.t - self.t_start > self.timeout


class LeadBrake(Episode):
    """A lead car brakes; the ego follows it, then brakes with a scripted jerk-limited profile."""

    name = "harsh_brake"
    min_duration = 10.0
    timeout = 28.0
    ego_peak = P.HARSH_BRAKE_EGO_PEAK
    lead_peak = P.HARSH_BRAKE_LEAD_PEAK
    min_end_speed = 0.8
    end_factor = P.HARSH_BRAKE_END_SPEED_FACTOR

    def start(self):
        sim, rng = self.sim, self.rng
        self.params = {
            "ego_peak": U(rng, self.ego_peak),
            "lead_peak": U(rng, self.lead_peak),
            "reaction": U(rng, P.HARSH_BRAKE_REACTION),
            "jerk": U(rng, P.BRAKE_JERK),
            "end_factor": U(rng, self.end_factor),
        }
        v_des = sim.log["v_des"][max(0, sim.k - 1)] or sim.ego.v
        self.lead = self.spawn_lead("car", 26.0, 0.9 * sim.ego.v, 0.86 * v_des)
        self.trigger = float(self.rng.uniform(1.0, 1.4))
        self.actors = [self.lead]
        self.t_brake: float | None = None
        self.t_leave: float | None = None
        self.leave: LateralMove | None = None

    def succeeded(self) -> bool:
        b = self.sim.ego.brake
        return b is not None and b.phase == "done" and b.a_min < P.GT_HARSH_BRAKE_ACCEL

    def step(self):
        sim, lead, e = self.sim, self.lead, self.sim.ego
        if self.t_brake is None:
            v_des = float(sim.log["v_des"][max(0, sim.k - 1)]) or e.v
            gap = sim.agent_gap_ahead(lead)
            lead.v_target = 0.85 * v_des if gap > 12.0 else 0.95 * v_des
            want = P.FOLLOW_STANDSTILL_GAP + sim.time_gap * e.v
            ready = gap < self.trigger * want and e.v >= 6.0
            if ready or sim.t - self.t_start > 14.0:
                self.t_brake = sim.t
                v_end = max(self.min_end_speed, lead.v * self.params["end_factor"])
                lead.brake = BrakeProfile(sim.t, self.params["lead_peak"], 20.0, v_end)
                peak, jerk = self.params["ego_peak"], self.params["jerk"]
                # leave enough speed to reach the peak and release it again
                v_end_ego = max(0.0, min(v_end, e.v - peak * peak / jerk - 0.8))
                e.brake = BrakeProfile(sim.t + self.params["reaction"], peak, jerk, v_end_ego)
                self.params["speed_at_brake"] = e.v
                self.params["gap_at_brake"] = gap
            return False
        if e.brake is not None and e.brake.phase == "done" and self.t_leave is None:
            self.t_leave = sim.t + self.hold_after()
            self.on_brake_done(e.brake)
            lead.v_target = lead.v
        if self.t_leave is not None and sim.t >= self.t_leave and self.leave is None:
            self.on_leave()
            self.leave = self.leave_left(lead)
        if self.leave is not None and sim.t > self.leave.t0 + 0.6 * self.leave.duration:
            lead.follow = False
            return True
        return sim.t - self.t_start > self.timeout

    def hold_after(self) -> float:
        return 0.8

    def on_leave(self) -> None:
        pass

    def on_brake_done(self, b: BrakeProfile) -> None:
        self.sim.records["episodes"].append(
            {"name": "harsh_brake", "t_brake": b.t0, "actors": [self.lead.uid], "peak": b.a_min}
        )


class NearBrake(LeadBrake):
    """Hard negative for harsh_brake: the same situation, braking between -3.0 and -3.8 m/s^2."""

    name = "near_brake"
    ego_peak = P.NEAR_BRAKE_EGO_PEAK
    lead_peak = P.NEAR_BRAKE_LEAD_PEAK
    min_end_speed = P.SLOW_TRAFFIC_MIN_SPEED[0] + 0.3
    end_factor = (0.3, 0.55)

    def succeeded(self) -> bool:
        return True

    def hold_after(self) -> float:
        # the lead then crawls on (slow traffic, never stationary) before it moves out of our lane
        self.slow_hold = U(self.rng, P.SLOW_TRAFFIC_HOLD)
        return self.slow_hold

    def on_leave(self) -> None:
        sim = self.sim
        vs = sim.agent_logs[self.lead.index]["v"][int(round(self.t_brake / sim.dt)) : sim.k]
        vs = vs[~np.isnan(vs)] if len(vs) else np.array([self.lead.v])
        self.sim.records["near_misses"].append(
            {
                "type": "slow_traffic",
                "resembles": "stationary_hazard",
                "t0": self.t_brake,
                "t1": sim.t,
                "actors": [self.lead.uid],
                "params": {
                    "hold": self.slow_hold,
                    "observed_min_speed": float(vs.min()) if len(vs) else None,
                },
            }
        )

    def on_brake_done(self, b: BrakeProfile) -> None:
        self.sim.records["near_misses"].append(
            {
                "type": "near_harsh_brake",
                "resembles": "harsh_brake",
                "t0": b.t0,
                "t1": self.sim.t,
                "actors": [self.lead.uid],
                "params": {**self.params, "scripted_peak": b.peak},
            }
        )


class StationaryHazard(Episode):
    name = "stationary_hazard"
    min_duration = 13.0
    timeout = 40.0

    def start(self):
        sim, rng = self.sim, self.rng
        kind = P.HAZARD_KINDS[int(rng.integers(len(P.HAZARD_KINDS)))]
        self.params = {
            "kind": kind,
            "lane_change_distance": U(rng, P.HAZARD_LANE_CHANGE_DISTANCE),
            "pass_speed_factor": U(rng, P.HAZARD_PASS_SPEED_FACTOR),
            "return_margin": U(rng, P.HAZARD_RETURN_MARGIN),
            "lane_change_duration": U(rng, P.LANE_CHANGE_DURATION),
        }
        s_h = sim.ego.s + EGO_FRONT + 64.0
        objs: list[Agent] = []

        def static(cls, s, d, yaw_jitter=0.0):
            a = sim.spawn(cls, "stationary_hazard", s, d, 0.0, static=True, follow=False)
            a.psi = yaw_jitter
            objs.append(a)
            return a

        if kind == "broken_down_car":
            static(
                "car" if rng.random() < 0.7 else "truck",
                s_h,
                float(rng.uniform(-0.35, 0.35)),
                float(rng.uniform(-0.12, 0.12)),
            )
            static("traffic_cone", s_h - float(rng.uniform(9, 16)), float(rng.uniform(-0.6, 0.6)))
        elif kind == "construction":
            n = int(rng.integers(4, 7))
            for i in range(n):
                u = i / (n - 1)
                static("traffic_cone", s_h - 20.0 * (1 - u), -1.5 + 2.8 * u)
            static("barrier", s_h + 1.0, float(rng.uniform(-0.2, 0.2)))
        else:
            static("barrier", s_h, float(rng.uniform(-0.4, 0.4)), float(rng.uniform(-0.2, 0.2)))
        self.actors = objs
        self.s_rear = min(a.s - a.size[0] / 2 for a in objs)
        self.s_front = max(a.s + a.size[0] / 2 for a in objs)
        v_cruise = float(np.interp(sim.ego.s, sim.route.s, sim.v_profile))
        sim.ego.speed_cap = max(4.0, self.params["pass_speed_factor"] * v_cruise)
        self.out: LateralMove | None = None
        self.back: LateralMove | None = None
        sim.records["hazards"].append(
            {"uids": [a.uid for a in objs], "s_rear": self.s_rear, "s_front": self.s_front, "kind": kind}
        )
        if kind == "construction":
            sim.records["construction"].append(
                {"uids": [a.uid for a in objs], "s_rear": self.s_rear, "s_front": self.s_front}
            )

    def succeeded(self) -> bool:
        return self.out is not None

    def step(self):
        sim, e = self.sim, self.sim.ego
        if self.out is None:
            if self.s_rear - (e.s + EGO_FRONT) <= self.params["lane_change_distance"]:
                self.out = sim.lane_change_ego(P.LEFT_LANE_D, self.params["lane_change_duration"])
            return False
        if self.back is None:
            if e.s - EGO_REAR > self.s_front + self.params["return_margin"] and sim.t > self.out.t1:
                self.back = sim.lane_change_ego(P.EGO_LANE_D, self.params["lane_change_duration"])
            return sim.t - self.t_start > self.timeout
        if sim.t > self.back.t0 + 0.5 * self.back.duration:
            e.speed_cap = None
            return True
        return False


class SlowTraffic(Episode):
    """Hard negative for stationary_hazard: a lead slows to walking-bike pace but never stops."""

    name = "slow_traffic"
    min_duration = 13.0
    timeout = 40.0

    def start(self):
        sim, rng = self.sim, self.rng
        self.params = {"min_speed": U(rng, P.SLOW_TRAFFIC_MIN_SPEED), "hold": U(rng, P.SLOW_TRAFFIC_HOLD)}
        cls = "car" if rng.random() < 0.7 else ("truck" if rng.random() < 0.6 else "bus")
        self.lead = self.spawn_lead(cls, 40.0, 0.85 * sim.ego.v, self.params["min_speed"])
        self.lead.accel_limits = (-1.3, 1.2)
        self.actors = [self.lead]
        self.t_slow: float | None = None
        self.t_hold_end: float | None = None
        self.leave: LateralMove | None = None
        self.min_v = math.inf

    def step(self):
        sim, lead = self.sim, self.lead
        self.min_v = min(self.min_v, lead.v)
        if self.t_slow is None and lead.v < 5.0:
            self.t_slow = sim.t
        if self.t_hold_end is None and lead.v <= self.params["min_speed"] + 0.05:
            self.t_hold_end = sim.t + self.params["hold"]
        if self.t_hold_end is not None and sim.t >= self.t_hold_end and self.leave is None:
            lead.v_target = sim.ego.v + 3.0
            if lead.v > 6.0 or sim.t > self.t_hold_end + 4.0:
                self.leave = self.leave_left(lead)
                sim.records["near_misses"].append(
                    {
                        "type": "slow_traffic",
                        "resembles": "stationary_hazard",
                        "t0": self.t_slow if self.t_slow is not None else self.t_start,
                        "t1": sim.t,
                        "actors": [lead.uid],
                        "params": {**self.params, "observed_min_speed": self.min_v},
                    }
                )
        if self.leave is not None and sim.t > self.leave.t0 + 0.6 * self.leave.duration:
            lead.follow = False
            return True
        return sim.t - self.t_start > self.timeout


class Speeding(Episode):
    name = "speeding"
    min_duration = 8.0
    factor = P.SPEEDING_FACTOR
    duration = P.SPEEDING_DURATION

    def start(self):
        self.params = {"factor": U(self.rng, self.factor), "duration": U(self.rng, self.duration)}
        self.min_duration = self.params["duration"] + 3.0
        self.sim.ego.speed_factor = self.params["factor"]

    def step(self):
        if self.sim.t - self.t_start >= self.params["duration"]:
            self.sim.ego.speed_factor = None
            self.on_end()
            return True
        return False

    def on_end(self):
        pass


class NearSpeeding(Speeding):
    """Hard negative for speeding: close to, but under, the posted limit."""

    name = "near_speeding"
    min_duration = 7.0
    factor = P.NEAR_SPEEDING_FACTOR
    duration = P.NEAR_SPEEDING_DURATION

    def on_end(self):
        self.sim.records["near_misses"].append(
            {
                "type": "near_speeding",
                "resembles": "speeding",
                "t0": self.t_start,
                "t1": self.sim.t,
                "actors": [],
                "params": dict(self.params),
            }
        )


REQUIRED = (CutIn, LeadBrake, StationaryHazard)
LANE0_ONLY = ("harsh_brake", "near_brake", "speeding", "near_speeding")
NEGATIVES = (NearBrake, SlowTraffic, AdjacentPass, Speeding, NearSpeeding)


class Ambient:
    """Parked cars, pedestrians on the sidewalk, cyclists at the kerb: spawned ahead as the ego drives."""

    def __init__(self, sim: Sim):
        self.sim = sim
        r = sim.rng
        s0 = sim.ego.s - 20
        self.next = {
            "parked": s0 + U(r, (0, 20)),
            "pedestrian": s0 + U(r, (0, 30)),
            "cyclist": s0 + U(r, (40, 120)),
        }

    def step(self):
        sim, r = self.sim, self.sim.rng
        horizon = sim.ego.s + P.SPAWN_AHEAD
        while self.next["parked"] < horizon:
            s = self.next["parked"]
            if float(np.abs(sim.route.curvature(s))) < 0.02:
                cls = "car" if r.random() < 0.9 else "truck"
                a = sim.spawn(cls, "parked", s, U(r, P.PARKING_D), 0.0, static=True, follow=False)
                a.psi = U(r, (-0.05, 0.05))
            self.next["parked"] += U(r, P.PARKED_SPACING)
        while self.next["pedestrian"] < horizon:
            s = self.next["pedestrian"]
            direction = 1 if r.random() < 0.5 else -1
            v = U(r, (1.0, 1.6))
            sim.spawn(
                "pedestrian",
                "pedestrian",
                s,
                U(r, P.SIDEWALK_D),
                v,
                v_target=v,
                direction=direction,
                follow=False,
            )
            self.next["pedestrian"] += U(r, P.PEDESTRIAN_SPACING)
        while self.next["cyclist"] < horizon:
            s = self.next["cyclist"]
            v = U(r, (3.5, 6.0))
            cls = "cyclist" if r.random() < 0.8 else "motorcyclist"
            sim.spawn(cls, "kerb_rider", s, U(r, P.CYCLIST_D), v, v_target=v, follow=False)
            self.next["cyclist"] += U(r, P.CYCLIST_SPACING)


def disengagement_plan(rng: np.random.Generator, duration: float) -> list[tuple[float, float]]:
    if duration < 12.0:
        return []
    count = max(1, int(round(duration / 60.0)))
    out: list[tuple[float, float]] = []
    slot = duration / count
    for i in range(count):
        lo, hi = i * slot + 0.15 * slot, i * slot + 0.75 * slot
        t0 = float(rng.uniform(lo, hi))
        length = min(U(rng, P.DISENGAGED_DURATION), duration - 0.5 - t0)
        out.append((t0, t0 + max(0.5, length)))
    return out


def run(sim: Sim) -> WorldLog:
    """Play the episodes, ambient traffic and disengagements over the whole drive."""
    rng = sim.rng
    duration = sim.n * sim.dt
    queue: list[type[Episode]] = list(rng.permutation(np.array(REQUIRED, dtype=object)))
    queue += [NEGATIVES[0]] + list(rng.permutation(np.array(NEGATIVES[1:], dtype=object)))
    ambient = Ambient(sim)
    dis = disengagement_plan(rng, duration)
    active: Episode | None = None
    retries: Counter = Counter()
    overlay: Episode | None = None
    overlay_done = False
    next_start = U(rng, (2.0, 3.0))
    for k in range(sim.n):
        sim.k = k
        t = sim.t
        sim.ego.engaged = not any(t0 <= t < t1 for t0, t1 in dis)
        if active is None and t >= next_start and (overlay is None or overlay_done):
            remaining = duration - t
            for i, cls in enumerate(queue):
                if cls.min_duration <= remaining - 0.5:
                    active = queue.pop(i)(sim)
                    active.begin()
                    break
            if not queue:
                queue = list(rng.permutation(np.array(REQUIRED + NEGATIVES, dtype=object)))
            next_start = math.inf if active is None else next_start
        if (
            overlay is None
            and active is not None
            and active.name in LANE0_ONLY
            and t - active.t_start > 1.0
            and duration - t > AdjacentPass.min_duration
            and sim.ego.d < 1.0
        ):
            overlay = AdjacentPass(sim)  # a car passes in the next lane while we deal with our own lane
            overlay.begin()
        if overlay is not None and not overlay_done and overlay.step():
            sim.records["episodes"].append(overlay.record())
            overlay_done = True
        if active is not None and active.step():
            sim.records["episodes"].append(active.record())
            if not active.succeeded() and retries[active.name] < 2:  # required events must happen
                retries[active.name] += 1
                queue.insert(0, type(active))
            active = None
            next_start = t + U(rng, (0.5, 1.5))
        ambient.step()
        sim.step_agents()
        sim.step_ego()
    if active is not None:
        sim.records["episodes"].append(active.record())
    return sim.finish()


# ---- ground-truth events from the true state -------------------------------------------------------------


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """Inclusive [k0, k1] index runs where mask is true."""
    m = np.concatenate([[False], mask.astype(bool), [False]])
    d = np.diff(m.astype(np.int8))
    starts = np.flatnonzero(d == 1)
    ends = np.flatnonzero(d == -1) - 1
    return list(zip(starts.tolist(), ends.tolist(), strict=True))


def derive_events(log: WorldLog, t0_ns: int) -> tuple[list[dict], list[dict]]:
    dt_ns = P.SIM_DT_NS
    ego = log.ego
    n = log.n

    def ns(k: float) -> int:
        return t0_ns + int(round(k)) * dt_ns

    def k_of(t: float) -> int:
        return int(min(n - 1, max(0, round(t / log.dt))))

    events: list[dict] = []
    brakes = [e for e in log.records["episodes"] if e.get("name") == "harsh_brake" and "t_brake" in e]
    for k0, k1 in _runs(ego["a"] < P.GT_HARSH_BRAKE_ACCEL):
        actors: list[str] = []
        for b in brakes:
            if b["t_brake"] - 0.5 <= k0 * log.dt <= b["t_brake"] + 5.0:
                actors = list(b["actors"])
        events.append(
            {
                "type": "harsh_brake",
                "t_start_ns": ns(k0),
                "t_end_ns": ns(k1),
                "actors": actors,
                "attributes": {"min_accel": float(ego["a"][k0 : k1 + 1].min())},
            }
        )
    limit = log.route.limit(ego["s"]) / 3.6
    for k0, k1 in _runs(ego["v"] > limit):
        if (k1 - k0) * log.dt >= P.GT_SPEEDING_MIN_S:
            events.append(
                {
                    "type": "speeding",
                    "t_start_ns": ns(k0),
                    "t_end_ns": ns(k1),
                    "actors": [],
                    "attributes": {"max_ratio": float((ego["v"][k0 : k1 + 1] / limit[k0 : k1 + 1]).max())},
                }
            )
    for m in log.records["lane_changes"]:
        if m.t0 < n * log.dt:
            events.append(
                {
                    "type": "lane_change",
                    "t_start_ns": ns(k_of(m.t0)),
                    "t_end_ns": ns(k_of(m.t1)),
                    "actors": [],
                    "attributes": {"direction": "left" if m.d1 > m.d0 else "right"},
                }
            )
    for c in log.records["cut_ins"]:
        if c["t0"] < n * log.dt:
            events.append(
                {
                    "type": "cut_in",
                    "t_start_ns": ns(k_of(c["t0"])),
                    "t_end_ns": ns(k_of(c["t1"])),
                    "actors": [c["uid"]],
                    "attributes": {},
                }
            )
    for h in log.records["hazards"]:
        ahead = h["s_rear"] - (ego["s"] + EGO_FRONT)
        relevant = (ahead <= P.GT_HAZARD_RELEVANT_M) & (ego["s"] - EGO_REAR <= h["s_front"])
        runs = _runs(relevant)
        if runs:
            k0, k1 = runs[0][0], runs[-1][1]
            events.append(
                {
                    "type": "stationary_hazard",
                    "t_start_ns": ns(k0),
                    "t_end_ns": ns(k1),
                    "actors": list(h["uids"]),
                    "attributes": {"kind": h["kind"]},
                }
            )
    for k0, k1 in _runs(~ego["engaged"]):
        if k0 == 0:
            continue
        events.append(
            {
                "type": "disengagement",
                "t_start_ns": ns(k0),
                "t_end_ns": ns(k1),
                "actors": [],
                "attributes": {"manual_s": round((k1 - k0 + 1) * log.dt, 3)},
            }
        )
    events.sort(key=lambda e: (e["t_start_ns"], e["type"]))

    near: list[dict] = []
    for r in log.records["near_misses"]:
        k0, k1 = k_of(r["t0"]), k_of(r["t1"])
        attrs = {
            k: (float(v) if isinstance(v, (int, float, np.floating)) else v) for k, v in r["params"].items()
        }
        if r["type"] == "near_harsh_brake":
            attrs["min_accel"] = float(ego["a"][k0 : k1 + 1].min())
        if r["type"] == "near_speeding":
            attrs["max_ratio"] = float((ego["v"][k0 : k1 + 1] / limit[k0 : k1 + 1]).max())
        near.append(
            {
                "type": r["type"],
                "resembles": r["resembles"],
                "t_start_ns": ns(k0),
                "t_end_ns": ns(k1),
                "actors": list(r["actors"]),
                "attributes": attrs,
            }
        )
    near.sort(key=lambda e: (e["t_start_ns"], e["type"]))
    return events, near
