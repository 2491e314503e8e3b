"""The true scene at one world step, in map and base_link coordinates (what sensors and GT read)."""

from __future__ import annotations

import math

import numpy as np

from av_fleet.world import WorldLog


class Scene:
    def __init__(self, log: WorldLog):
        self.log = log
        self.vel = {a.index: a.velocity() for a in log.agents}
        self.present = np.array([a.mask for a in log.agents]) if log.agents else np.zeros((0, log.n), bool)

    def ego_pose(self, k: int) -> tuple[float, float, float]:
        e = self.log.ego
        return float(e["x"][k]), float(e["y"][k]), float(e["yaw"][k])

    def objects(self, k: int) -> list[dict]:
        ex, ey, eyaw = self.ego_pose(k)
        c, s = math.cos(eyaw), math.sin(eyaw)
        out = []
        for i in np.flatnonzero(self.present[:, k]) if len(self.present) else []:
            a = self.log.agents[int(i)]
            x, y, yaw = float(a.x[k]), float(a.y[k]), float(a.yaw[k])
            vx, vy = float(self.vel[a.index][0][k]), float(self.vel[a.index][1][k])
            dx, dy = x - ex, y - ey
            yawb = math.atan2(math.sin(yaw - eyaw), math.cos(yaw - eyaw))
            out.append(
                {
                    "uid": a.uid,
                    "cls": a.cls,
                    "size": a.size,
                    "role": a.role,
                    "radar_id": a.radar_id,
                    "x": x,
                    "y": y,
                    "yaw": yaw,
                    "vx": vx,
                    "vy": vy,
                    "speed": float(a.speed[k]),
                    "xb": c * dx + s * dy,
                    "yb": -s * dx + c * dy,
                    "yawb": yawb,
                    "vxb": c * vx + s * vy,
                    "vyb": -s * vx + c * vy,
                }
            )
        return out
