"""`python -m bench.<module> --help` prints the module's cases and knobs and measures nothing (the
vector module's default is a 1M-vector run); an unknown flag exits 2."""

import importlib
import pkgutil
import subprocess
import sys

import pytest

from tests.helpers import REPO_ROOT

MODULES = sorted(
    m.name for m in pkgutil.iter_modules([str(REPO_ROOT / "bench")]) if m.name.startswith("bench_")
)


@pytest.mark.parametrize("module", MODULES)
def test_module_help_measures_nothing(module, tmp_path):
    doc = importlib.import_module(f"bench.{module}").__doc__.strip()
    for flag, code in (("--help", 0), ("--no-such-flag", 2)):
        out = subprocess.run(
            [sys.executable, "-m", f"bench.{module}", flag],
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            timeout=120,
            env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "AV_BENCH_VECTORS_N": "1000"},
        )
        assert out.returncode == code, out.stderr[-2000:]
        assert out.stdout.strip() == doc and " vs ref " not in out.stderr  # no case ran
