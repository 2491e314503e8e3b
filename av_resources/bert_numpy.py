"""all-MiniLM-L6-v2 (a 6-layer BERT + mean pooling + L2 norm) as a numpy forward pass.

Why: importing sentence-transformers (torch, transformers) takes 8-9 s on 2 cores, which every
`av search text` call paid before its first result; the weights are 90 MB of safetensors and the
tokenizer is the Rust `tokenizers` library, both of which load in well under a second. The forward
pass is the one of Hugging Face's `BertModel` in inference mode (no dropout), and sentence-
transformers' Transformer(max_seq_length 256) -> Pooling(mean) -> Normalize modules; a test holds it
to sentence-transformers' own output (cosine > 0.99999 per text), so vectors from either are
interchangeable in one index.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np


def _erf(x: np.ndarray) -> np.ndarray:
    """erf (Abramowitz & Stegun 7.1.26, |error| < 1.5e-7): BERT's GELU is the exact, erf-based one."""
    s = np.sign(x)
    a = np.abs(x)
    t = 1.0 / (1.0 + 0.3275911 * a)
    poly = t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429))))
    return s * (1.0 - poly * np.exp(-a * a))


def _gelu(x: np.ndarray) -> np.ndarray:
    return 0.5 * x * (1.0 + _erf(x * np.float32(0.5**0.5)))


def _layer_norm(x: np.ndarray, w: np.ndarray, b: np.ndarray, eps: float) -> np.ndarray:
    mu = x.mean(-1, keepdims=True)
    var = ((x - mu) ** 2).mean(-1, keepdims=True)
    return (x - mu) / np.sqrt(var + eps) * w + b


class NumpySentenceEncoder:
    """`encode(texts)` -> (n, hidden) float32 unit rows, for a sentence-transformers folder whose
    modules are a BERT Transformer, mean Pooling and Normalize (all-MiniLM-L6-v2's)."""

    def __init__(self, model_dir: str | Path, batch_size: int = 64):
        from safetensors.numpy import load_file
        from tokenizers import Tokenizer

        d = Path(model_dir)
        cfg = json.loads((d / "config.json").read_text())
        if cfg.get("model_type") != "bert" or cfg.get("hidden_act") != "gelu":
            raise ValueError(
                f"{d}: not a BERT model with GELU ({cfg.get('model_type')}, {cfg.get('hidden_act')})"
            )
        pooling = json.loads((d / "1_Pooling" / "config.json").read_text())
        if not pooling.get("pooling_mode_mean_tokens"):
            raise ValueError(f"{d}: only mean pooling is implemented")
        st = json.loads((d / "sentence_bert_config.json").read_text())
        self.max_len = int(st.get("max_seq_length") or cfg["max_position_embeddings"])
        self.heads, self.eps = int(cfg["num_attention_heads"]), float(cfg["layer_norm_eps"])
        self.layers = int(cfg["num_hidden_layers"])
        self.dim = int(cfg["hidden_size"])
        self.batch_size = batch_size
        self.w = load_file(str(d / "model.safetensors"))
        self.tok = Tokenizer.from_file(str(d / "tokenizer.json"))
        self.tok.no_padding()
        self.tok.enable_truncation(max_length=self.max_len)

    def _forward(self, ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
        """Token states of a padded batch (b, L) -> (b, L, hidden)."""
        w, eps, h = self.w, self.eps, self.heads
        b, n = ids.shape
        x = (
            w["embeddings.word_embeddings.weight"][ids]
            + w["embeddings.position_embeddings.weight"][:n][None]
            + w["embeddings.token_type_embeddings.weight"][0]
        )
        x = _layer_norm(x, w["embeddings.LayerNorm.weight"], w["embeddings.LayerNorm.bias"], eps)
        bias = np.where(mask[:, None, None, :] > 0, 0.0, np.finfo(np.float32).min).astype(np.float32)
        hd = self.dim // h
        x = x.reshape(b * n, self.dim)
        for i in range(self.layers):
            p = f"encoder.layer.{i}."

            def lin(t, name, p=p):  # on (b * L, features): one BLAS call, not one per batch row
                return t @ w[p + name + ".weight"].T + w[p + name + ".bias"]

            q, k, v = (
                lin(x, f"attention.self.{m}").reshape(b, n, h, hd).transpose(0, 2, 1, 3)
                for m in ("query", "key", "value")
            )
            s = q @ k.transpose(0, 1, 3, 2) * np.float32(hd**-0.5) + bias
            s = np.exp(s - s.max(-1, keepdims=True))
            ctx = (s / s.sum(-1, keepdims=True)) @ v
            ctx = ctx.transpose(0, 2, 1, 3).reshape(b * n, self.dim)
            x = _layer_norm(
                lin(ctx, "attention.output.dense") + x,
                w[p + "attention.output.LayerNorm.weight"],
                w[p + "attention.output.LayerNorm.bias"],
                eps,
            )
            ff = lin(_gelu(lin(x, "intermediate.dense")), "output.dense")
            x = _layer_norm(ff + x, w[p + "output.LayerNorm.weight"], w[p + "output.LayerNorm.bias"], eps)
        return x.reshape(b, n, self.dim)

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        out = np.zeros((len(texts), self.dim), np.float32)
        encs = self.tok.encode_batch(list(texts))
        # batches of similar length: padding costs compute, and the result does not depend on it
        order = sorted(range(len(encs)), key=lambda i: len(encs[i].ids))
        for a in range(0, len(order), self.batch_size):
            rows = order[a : a + self.batch_size]
            n = max(len(encs[i].ids) for i in rows)
            ids = np.zeros((len(rows), n), np.int64)
            mask = np.zeros((len(rows), n), np.float32)
            for j, i in enumerate(rows):
                ids[j, : len(encs[i].ids)] = encs[i].ids
                mask[j, : len(encs[i].ids)] = 1.0
            states = self._forward(ids, mask)
            pooled = (states * mask[..., None]).sum(1) / np.maximum(mask.sum(1, keepdims=True), 1e-9)
            out[rows] = pooled / np.maximum(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12)
        return out
