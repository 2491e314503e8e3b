"""Resources and the AV_ENV switch (env.py)."""

import os

# LanceDB logs a WARN line per small-table index training ("training 1 of the 16 requested IVF
# partitions"): expected while a table grows, noise in every run's stderr. Errors still show; set
# LANCEDB_LOG=warn (or info) to see them.
os.environ.setdefault("LANCEDB_LOG", "error")
