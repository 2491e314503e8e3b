"""Operations: what the lake holds (cost telemetry, lifecycle and GC build on it)."""

from av_assets.contracts.registry import DemoStep, Extension, View


def _definitions():
    from av_assets.contracts.defs import domain_definitions
    from av_assets.ops.assets import lake_inventory

    return domain_definitions(assets=[lake_inventory])


EXTENSION = Extension(
    name="ops",
    definitions=_definitions,
    views=[
        View(
            name="lake_inventory",
            path="ops/lake_inventory/*.parquet",
            columns={
                "layer": "VARCHAR",
                "dataset": "VARCHAR",
                "objects": "BIGINT",
                "bytes": "BIGINT",
                "drives": "BIGINT",
            },
            description="objects, bytes and drives per lake layer and dataset",
        )
    ],
    demo_steps=[DemoStep(name="lake inventory", order=90, run=lambda ctx: _inventory_step(ctx))],
)


def _inventory_step(ctx):
    from av_assets.ops.demo import inventory_step

    return inventory_step(ctx)
