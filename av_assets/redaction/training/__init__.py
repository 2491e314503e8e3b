"""Reproducible training of our PII models on DEFAULT-style synthetic renders only: the small detector
`pii_net` (`train_pii_net.py`) and its second-stage verifier (`train_pii_verifier.py`).

Each script's docstring has the exact commands; see docs/redaction.md. Nothing here runs at run time.
"""
