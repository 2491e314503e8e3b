"""Sun elevation from NOAA's solar position equations (the NOAA Solar Calculator spreadsheet, after
Meeus, "Astronomical Algorithms"), vectorised; and the day / dusk / night label derived from it.

The elevation is geometric (no atmospheric refraction). Thresholds: `day` above -0.833 deg (the
sunrise/sunset definition: refraction plus the sun's semi-diameter), `dusk` down to -6 deg (civil
twilight, dawn included), `night` below.
"""

from __future__ import annotations

import numpy as np

DAY_MIN_DEG = -0.833
CIVIL_TWILIGHT_DEG = -6.0


def sun_elevation_deg(t_ns, lat_deg, lon_deg) -> np.ndarray:
    t_ns = np.asarray(t_ns, dtype=np.int64)
    lat = np.radians(np.asarray(lat_deg, dtype=float))
    lon = np.asarray(lon_deg, dtype=float)
    jd = t_ns / 86_400e9 + 2440587.5
    jc = (jd - 2451545.0) / 36525.0
    L0 = (280.46646 + jc * (36000.76983 + jc * 0.0003032)) % 360.0
    M = 357.52911 + jc * (35999.05029 - 0.0001537 * jc)
    e = 0.016708634 - jc * (0.000042037 + 0.0000001267 * jc)
    Mr = np.radians(M)
    C = (
        np.sin(Mr) * (1.914602 - jc * (0.004817 + 0.000014 * jc))
        + np.sin(2 * Mr) * (0.019993 - 0.000101 * jc)
        + np.sin(3 * Mr) * 0.000289
    )
    true_long = L0 + C
    omega = np.radians(125.04 - 1934.136 * jc)
    app_long = true_long - 0.00569 - 0.00478 * np.sin(omega)
    mean_obliq = 23.0 + (26.0 + (21.448 - jc * (46.815 + jc * (0.00059 - jc * 0.001813))) / 60.0) / 60.0
    obliq = np.radians(mean_obliq + 0.00256 * np.cos(omega))
    decl = np.arcsin(np.sin(obliq) * np.sin(np.radians(app_long)))
    var_y = np.tan(obliq / 2) ** 2
    L0r = np.radians(L0)
    eq_time = 4 * np.degrees(
        var_y * np.sin(2 * L0r)
        - 2 * e * np.sin(Mr)
        + 4 * e * var_y * np.sin(Mr) * np.cos(2 * L0r)
        - 0.5 * var_y**2 * np.sin(4 * L0r)
        - 1.25 * e**2 * np.sin(2 * Mr)
    )  # minutes
    minutes_utc = (t_ns % 86_400_000_000_000) / 60e9
    tst = (minutes_utc + eq_time + 4.0 * lon) % 1440.0
    ha = np.radians(tst / 4.0 - 180.0)
    cos_zen = np.sin(lat) * np.sin(decl) + np.cos(lat) * np.cos(decl) * np.cos(ha)
    return 90.0 - np.degrees(np.arccos(np.clip(cos_zen, -1.0, 1.0)))


def day_night(elevation_deg) -> np.ndarray:
    el = np.asarray(elevation_deg, dtype=float)
    return np.where(el >= DAY_MIN_DEG, "day", np.where(el >= CIVIL_TWILIGHT_DEG, "dusk", "night"))
