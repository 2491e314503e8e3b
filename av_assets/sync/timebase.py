"""Reconciling a logger's time bases onto UTC epoch nanoseconds.

Loggers like comma's openpilot stamp messages with a monotonic *boot* clock (seconds since boot),
while the GNSS receiver reports UTC (epoch milliseconds in its fix) and GPS time (week, seconds of
week). The boot clock maps to UTC by one offset, estimated robustly (median) from the fixes that
carry both; GPS time maps to UTC by the GPS epoch and the leap seconds in force. Checking that the
two routes agree on a third stream (camera frames stamped in boot time *and* GPS time) proves the
reconciliation.
"""

from __future__ import annotations

import numpy as np

GPS_EPOCH_UNIX_S = 315_964_800  # 1980-01-06T00:00:00Z
SECONDS_PER_WEEK = 604_800
# GPS - UTC leap seconds: 18 since 2017-01-01 (enough for the drives we hold; extend with a table).
LEAP_SECONDS = ((1_483_228_800, 18), (1_435_708_800, 17), (1_341_100_800, 16))


def gps_leap_seconds(unix_s: float) -> int:
    for since, leap in LEAP_SECONDS:
        if unix_s >= since:
            return leap
    raise ValueError("GPS time before 2012-07-01 needs a longer leap-second table")


def gps_to_utc_ns(week: np.ndarray, seconds: np.ndarray) -> np.ndarray:
    """UTC epoch ns of GPS (week, seconds of week) pairs."""
    week = np.asarray(week, dtype=np.float64)
    seconds = np.asarray(seconds, dtype=np.float64)
    gps_unix = GPS_EPOCH_UNIX_S + week * SECONDS_PER_WEEK + seconds
    leap = gps_leap_seconds(float(np.nanmedian(gps_unix)))
    whole = np.floor(seconds)
    ns = (GPS_EPOCH_UNIX_S + week.astype(np.int64) * SECONDS_PER_WEEK + whole.astype(np.int64) - leap).astype(
        np.int64
    ) * 1_000_000_000
    return ns + np.round((seconds - whole) * 1e9).astype(np.int64)


def boot_to_utc_offset_ns(boot_s: np.ndarray, utc_ms: np.ndarray) -> tuple[int, float]:
    """(offset, spread ms): utc_ns = boot_ns + offset, from samples that carry both clocks; the median
    is robust to the receiver's reporting latency jitter; spread = median absolute deviation (ms)."""
    boot_ns = np.round(np.asarray(boot_s, dtype=np.float64) * 1e9).astype(np.int64)
    utc_ns = np.round(np.asarray(utc_ms, dtype=np.float64)).astype(np.int64) * 1_000_000
    d = utc_ns - boot_ns
    off = int(np.median(d))
    return off, float(np.median(np.abs(d - off)) / 1e6)


def boot_to_utc_ns(boot_s: np.ndarray, offset_ns: int) -> np.ndarray:
    """Boot seconds -> UTC ns without losing precision (split whole and fractional seconds)."""
    b = np.asarray(boot_s, dtype=np.float64)
    whole = np.floor(b)
    return whole.astype(np.int64) * 1_000_000_000 + np.round((b - whole) * 1e9).astype(np.int64) + offset_ns
