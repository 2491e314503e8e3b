"""Clip embeddings (issue 8, workflow 7): `ml/clip_embeddings`, one L2-normalised vector per clip
(signal and track profile, event/condition tags, keyframe visual descriptor) in LanceDB
`<lake>/ml/embeddings`, and `av search like CLIP_ID` (nearest clips); `ml/keyframe_embeddings`, one
vector per redacted keyframe (VisualEncoder + driving context) in `<lake>/ml/keyframe_embeddings`.
Docs: docs/embeddings.md."""

from av_assets.platform.registry import Extension


def _definitions():
    from av_assets.embeddings.assets import clip_embeddings, keyframe_embeddings
    from av_assets.platform.defs import domain_definitions

    return domain_definitions(assets=[clip_embeddings, keyframe_embeddings])


EXTENSION = Extension(
    name="embeddings",
    definitions=_definitions,
    process_assets=["ml/clip_embeddings", "ml/keyframe_embeddings"],
)
