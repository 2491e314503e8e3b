"""Reproducible training of the small PII detector (`pii_net`) on DEFAULT-style synthetic renders.

See `train_pii_net.py` (docstring: the exact commands) and docs/redaction.md.
"""
