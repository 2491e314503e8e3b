"""`make bench`: every `bench/bench_*.py` exposes CASES; each case's value is measured side by side
with its reference in the same run, and reported as a ratio (never as a pass/fail timing).

A case is {"name", "unit", "run": () -> float, "reference": () -> float}; both callables return the
metric in `unit` (higher is better unless the unit says otherwise).
"""

from __future__ import annotations

import importlib
import json
import os
import pkgutil
import platform
import statistics
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def machine_info() -> dict:
    info = {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cpus": os.cpu_count(),
    }
    try:
        with open("/proc/meminfo") as fh:
            info["mem_kb"] = int(fh.readline().split()[1])
    except OSError:
        pass
    return info


def run_case(case: dict, repeats: int) -> dict:
    values, refs = [], []
    for _ in range(repeats):  # interleaved, so drift in machine load hits both alike
        refs.append(float(case["reference"]()))
        values.append(float(case["run"]()))
    value, reference = statistics.median(values), statistics.median(refs)
    return {
        "name": case["name"],
        "value": value,
        "reference": reference,
        "ratio": (value / reference) if reference else None,
        "unit": case["unit"],
        "repeats": repeats,
        "machine": machine_info(),
    }


def _modules() -> list[str]:
    return sorted(m.name for m in pkgutil.iter_modules([str(HERE)]) if m.name.startswith("bench_"))


def module_cli(doc: str, allowed: frozenset[str] = frozenset()) -> None:
    """For `python -m bench.<module> [...]`: `--help` (or a flag the module does not take) prints
    the module's docstring, its knobs, and exits before anything is measured."""
    args = set(sys.argv[1:]) - allowed
    if args:
        print(doc.strip())
        raise SystemExit(0 if args <= {"-h", "--help"} else 2)


def main(argv: list[str]) -> int:
    if {"-h", "--help"} & set(argv):
        print(
            "usage: python -m bench.run [MODULE|CASE_NAME ...]\n\n"
            f"{__doc__.strip()}\n\nModules: {', '.join(_modules())} (`python -m bench.<module> --help` prints "
            "a module's cases and knobs, e.g. AV_BENCH_VECTORS_N). AV_BENCH_REPEATS (default 3): passes per case, the median is reported.\n"
            "A run of some modules keeps the other cases' last results in bench/results.json."
        )
        return 0
    only = set(argv)
    repeats = int(os.environ.get("AV_BENCH_REPEATS", "3"))
    results = []
    unknown = only - set(_modules()) if all(a.startswith("bench_") for a in only) else set()
    if unknown:
        print(f"unknown benchmark module(s): {', '.join(sorted(unknown))}; modules: {', '.join(_modules())}")
        return 2
    for mod in _modules():
        module = importlib.import_module(f"bench.{mod}")
        for case in module.CASES:
            if only and case["name"] not in only and mod not in only:
                continue
            t0 = time.perf_counter()
            res = run_case(case, repeats)
            res["wall_s"] = round(time.perf_counter() - t0, 2)
            results.append(res)
            print(
                f"{res['name']:<40} {res['value']:>12.3f} vs ref {res['reference']:>12.3f} "
                f"{res['unit']:<24} ratio {res['ratio']:.3f}",
                file=sys.stderr,
            )
    out = HERE / "results.json"
    if only and out.exists():  # a partial run replaces its own cases and keeps the others' last results
        ran = {r["name"] for r in results}
        results = [r for r in json.loads(out.read_text()) if r["name"] not in ran] + results
    tmp = out.with_suffix(".json.part")
    tmp.write_text(json.dumps(results, indent=2) + "\n")
    tmp.replace(out)
    print(f"wrote {out} ({len(results)} benchmarks)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
