"""Clip embeddings (issue 8, workflow 7): `ml/clip_embeddings`, one L2-normalised vector per clip
(signal and track profile, event/condition tags, keyframe visual descriptor) in LanceDB
`<lake>/ml/embeddings`, and `av search like CLIP_ID` (nearest clips); `ml/keyframe_embeddings`, one
vector per redacted keyframe (VisualEncoder + driving context) in `<lake>/ml/keyframe_embeddings`.
Docs: docs/embeddings.md."""

from av_assets.contracts.registry import Extension, View


def _definitions():
    from av_assets.contracts.defs import domain_definitions
    from av_assets.embeddings.assets import clip_embeddings, keyframe_embeddings

    return domain_definitions(assets=[clip_embeddings, keyframe_embeddings])


EXTENSION = Extension(
    name="embeddings",
    definitions=_definitions,
    views=[
        View(
            name="clip_embeddings",
            path="ml/clip_embeddings/*/part-0.parquet",
            columns={
                "clip_id": "VARCHAR",
                "drive_id": "VARCHAR",
                "t_start_ns": "BIGINT",
                "t_end_ns": "BIGINT",
                "event_types": "VARCHAR",
                "day_night": "VARCHAR",
                "weather": "VARCHAR",
                "road_class": "VARCHAR",
                "speed_mean_mps": "DOUBLE",
                "model": "VARCHAR",
                "model_version": "VARCHAR",
            },
            description="one embedding row per clip (vector in the LanceDB table ml/embeddings); "
            "`av search like --where` filters on these columns",
        ),
        View(
            name="keyframe_embeddings",
            path="ml/keyframe_embeddings/*/part-0.parquet",
            columns={
                "keyframe_id": "VARCHAR",
                "drive_id": "VARCHAR",
                "clip_id": "VARCHAR",
                "sensor_id": "VARCHAR",
                "t_ns": "BIGINT",
                "event_types": "VARCHAR",
                "day_night": "VARCHAR",
                "weather": "VARCHAR",
                "model": "VARCHAR",
                "model_version": "VARCHAR",
            },
            description="one embedding row per redacted keyframe (vector in the LanceDB table ml/keyframe_embeddings)",
        ),
    ],
    process_assets=["ml/clip_embeddings", "ml/keyframe_embeddings"],
)
