"""Operations: what the lake holds (cost telemetry, lifecycle and GC build on it)."""

from av_assets.platform.registry import DemoStep, Extension


def _definitions():
    from av_assets.ops.assets import lake_inventory
    from av_assets.platform.defs import domain_definitions

    return domain_definitions(assets=[lake_inventory])


EXTENSION = Extension(
    name="ops",
    definitions=_definitions,
    demo_steps=[DemoStep(name="lake inventory", order=90, run="av_assets.ops.demo:inventory_step")],
)
