"""Raw CAN as a Toyota powertrain bus would carry it, encoded with cantools through a real opendbc DBC.

The DBC is `toyota_nodsu_pt_generated` from the opendbc wheel: opendbc builds it in memory from
`dbc/generator/toyota/toyota_nodsu_pt.dbc` with its `CM_ "IMPORT ..."` lines inlined
(`_toyota_2017.dbc`, `_toyota_adas_standard.dbc`), the same way opendbc's own generator does.
Messages with a CHECKSUM signal carry the Toyota checksum (address bytes + length + payload bytes).
"""

from __future__ import annotations

import math
from functools import cache

import numpy as np

from av_fleet import params as P

# message name -> rate (Hz); every period is a whole number of 10 ms world steps
SCHEDULE = (
    ("WHEEL_SPEEDS", 50),
    ("SPEED", 50),
    ("STEER_ANGLE_SENSOR", 50),
    ("KINEMATICS", 50),
    ("BRAKE_MODULE", 25),
    ("GAS_PEDAL", 25),
    ("PCM_CRUISE", 25),
    ("BLINKERS_STATE", 10),
)
TRACK_WIDTH = 1.6


def dbc_text(name: str = P.CAN_DBC) -> str:
    from opendbc import get_generated_dbcs

    dbcs = get_generated_dbcs()
    if name not in dbcs:
        raise KeyError(f"opendbc has no DBC named {name!r}")
    return dbcs[name]


@cache
def load_dbc(name: str = P.CAN_DBC):
    import cantools

    return cantools.database.load_string(dbc_text(name), "dbc", strict=False)


def toyota_checksum(addr: int, data: bytearray) -> int:
    return (addr & 0xFF) + ((addr >> 8) & 0xFF) + len(data) + sum(data[:-1]) & 0xFF


def _phys_range(sig) -> tuple[float, float]:
    """What the signal's bits can carry, in physical units (values outside are clamped, as an ECU would)."""
    if sig.is_signed:
        lo_raw, hi_raw = -(1 << (sig.length - 1)), (1 << (sig.length - 1)) - 1
    else:
        lo_raw, hi_raw = 0, (1 << sig.length) - 1
    a, b = lo_raw * sig.scale + sig.offset, hi_raw * sig.scale + sig.offset
    return (min(a, b), max(a, b))


def signals_for(
    name: str, i: int, v: float, a: float, yaw_rate: float, steer_deg: float, engaged: bool, turn: int
) -> dict[str, float]:
    kmh = v * 3.6
    if name == "WHEEL_SPEEDS":
        dv = yaw_rate * TRACK_WIDTH / 2 * 3.6
        return {
            "WHEEL_SPEED_FL": max(0.0, kmh - dv),
            "WHEEL_SPEED_FR": max(0.0, kmh + dv),
            "WHEEL_SPEED_RL": max(0.0, kmh - dv),
            "WHEEL_SPEED_RR": max(0.0, kmh + dv),
        }
    if name == "SPEED":
        return {"SPEED": kmh, "ENCODER": i % 256, "CHECKSUM": 0}
    if name == "STEER_ANGLE_SENSOR":
        coarse = round(steer_deg / 1.5) * 1.5
        frac = max(-0.7, min(0.7, round((steer_deg - coarse) * 10) / 10))
        return {"STEER_ANGLE": coarse, "STEER_FRACTION": frac, "STEER_RATE": 0}
    if name == "KINEMATICS":
        return {
            "ACCEL_X": max(-18.0, min(18.0, a)),
            "ACCEL_Y": max(-18.0, min(18.0, v * yaw_rate)),
            "YAW_RATE": math.degrees(yaw_rate),
        }
    if name == "BRAKE_MODULE":
        braking = a < -0.35
        p = min(511, int(max(0.0, -a) * 55)) if braking else 0
        return {"BRAKE_PRESSURE": p, "BRAKE_POSITION": min(511, int(p * 0.8)), "BRAKE_PRESSED": int(braking)}
    if name == "GAS_PEDAL":
        gas = 0.0 if a < -0.1 else min(100.0, 8.0 + 2.0 * v + 25.0 * max(0.0, a))
        if engaged:
            gas = 0.0  # the ACC drives; the pedal is released
        gas = round(gas * 2) / 2
        return {
            "GAS_RELEASED": int(gas == 0.0),
            "ETQLVSC": 0,
            "ETQREAL": 0,
            "ETQISC": -192,
            "GAS_PEDAL": gas,
            "CHECKSUM": 0,
        }
    if name == "PCM_CRUISE":
        return {
            "GAS_RELEASED": 1,
            "CRUISE_ACTIVE": int(engaged),
            "ACC_BRAKING": int(engaged and a < -0.3),
            "ACCEL_NET": max(-20.0, min(20.0, a)),
            "NEUTRAL_FORCE": 0,
            "CRUISE_STATE": 8 if engaged else 0,
            "CANCEL_REQ": 0,
            "CHECKSUM": 0,
        }
    if name == "BLINKERS_STATE":
        return {"BLINKER_BUTTON_PRESSED": 0, "HAZARD_LIGHT": 0, "TURN_SIGNALS": {0: 3, 1: 1, 2: 2}[turn]}
    raise KeyError(name)


def can_frames(ego: dict[str, np.ndarray], yaw_rate: np.ndarray, n: int, steps_per_s: int = 100):
    """Per world step k, the frames sent at that step: {k: [(can_id, data8, dlc), ...]}."""
    db = load_dbc()
    kappa = np.where(ego["v"] > 0.5, yaw_rate / np.maximum(ego["v"], 0.5), 0.0)
    steer = np.degrees(np.arctan(P.WHEELBASE * kappa)) * P.STEER_RATIO
    out: dict[int, list[tuple[int, bytes, int]]] = {}
    for name, hz in SCHEDULE:
        msg = db.get_message_by_name(name)
        period = steps_per_s // hz
        has_ck = any(s.name == "CHECKSUM" for s in msg.signals)
        ranges = {s.name: _phys_range(s) for s in msg.signals}
        for i, k in enumerate(range(0, n, period)):
            sig = signals_for(
                name,
                i,
                float(ego["v"][k]),
                float(ego["a"][k]),
                float(yaw_rate[k]),
                float(steer[k]),
                bool(ego["engaged"][k]),
                int(ego["turn"][k]),
            )
            sig = {
                n: min(hi, max(lo, val))
                for (n, val), (lo, hi) in zip(sig.items(), (ranges[n] for n in sig), strict=True)
            }
            data = bytearray(msg.encode(sig, scaling=True, padding=False, strict=False))
            if has_ck:
                data[-1] = toyota_checksum(msg.frame_id, data)
            dlc = len(data)
            out.setdefault(k, []).append((msg.frame_id, bytes(data.ljust(8, b"\0")), dlc))
    for k in out:
        out[k].sort()
    return out
