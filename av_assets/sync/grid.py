"""Derived 10 Hz SI grid of a drive's signals (mean per bin), long format."""

from __future__ import annotations


def resample(frame, *, hz: float = 10.0, si: dict[str, tuple[str, float]]):
    import polars as pl

    period = int(round(1e9 / hz))
    if frame.height == 0:
        return pl.DataFrame(
            schema={
                "drive_id": pl.String,
                "t_ns": pl.Int64,
                "source": pl.String,
                "signal": pl.String,
                "value": pl.Float64,
                "unit": pl.String,
                "n_samples": pl.UInt32,
            }
        )
    keep_deg = frame["signal"].is_in(["latitude", "longitude"])
    units = pl.DataFrame(
        {"unit": list(si), "si_unit": [v[0] for v in si.values()], "factor": [v[1] for v in si.values()]}
    )
    f = frame.join(units, on="unit", how="left").with_columns(
        pl.when(keep_deg | pl.col("factor").is_null())
        .then(pl.lit(1.0))
        .otherwise(pl.col("factor"))
        .alias("factor"),
        pl.when(keep_deg | pl.col("si_unit").is_null())
        .then(pl.col("unit"))
        .otherwise(pl.col("si_unit"))
        .alias("unit"),
        ((pl.col("t_ns") // period) * period).alias("t_bin"),
    )
    return (
        f.group_by("drive_id", "t_bin", "source", "signal", "unit")
        .agg((pl.col("value") * pl.col("factor")).mean().alias("value"), pl.len().alias("n_samples"))
        .rename({"t_bin": "t_ns"})
        .select("drive_id", "t_ns", "source", "signal", "value", "unit", "n_samples")
        .sort("t_ns", "source", "signal")
    )
