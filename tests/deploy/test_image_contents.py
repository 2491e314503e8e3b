"""What the production image contains loads as a code location (issue 15).

No image builder can run here or in CI: buildah installs from Debian and works as root, but the base
images (Docker Hub, nvidia/cuda, ghcr.io uv) and download.pytorch.org are out of reach. So the slow
test does what deploy/Dockerfile's build stage does, read from the Dockerfile itself (BuildKit's
parser, the `dockerfile` package; no second list of files here):

1. lay out exactly what the build stage COPYs from the build context, minus the .dockerignore;
2. run the build stage's dbt step as the Dockerfile spells it (`dagster-dbt project
   prepare-and-package ...`, with the project's venv standing in for /opt/venv);
3. build a non-editable wheel from that layout and install it into a fresh venv whose dependencies
   come from the project's venv through a .pth file (the project's editable finder is a .pth inside
   that folder, and .pth files there are not processed, so the checkout is not importable);
4. with AV_ENV=prod, a temp DAGSTER_HOME, a temp cwd and nothing else in the environment, load
   `av_assets.definitions` and check: the asset graph is the checkout's, gold/* included; the code
   and the dbt project come from the installed package; `dbt` never ran and the packaged manifest is
   untouched; nothing of the checkout or the build context was read; av_fleet is not importable.

The image's final stage copies only the build stage's venv (checked below), so the venv is what
the image contains.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import sysconfig
import tomllib
from pathlib import Path

import pytest

from tests.helpers import REPO_ROOT

DEPLOY = REPO_ROOT / "deploy"
DEV_ONLY = {"av_fleet"}  # in the dev install (pyproject's package list), never in an image
IMAGE_VENV_BIN = "/opt/venv/bin"
GOLD_MODELS = ("clip_metadata_enriched", "event_windows", "slices", "odd_coverage")


# ----------------------------------------------------------------------------- reading the Dockerfile
def _stages(name: str) -> list[dict]:
    import dockerfile

    stages: list[dict] = []
    for c in dockerfile.parse_file(str(DEPLOY / name)):
        cmd = c.cmd.upper()
        if cmd == "FROM":
            alias = c.value[2] if len(c.value) == 3 and c.value[1].upper() == "AS" else None
            stages.append({"alias": alias, "instructions": []})
        elif stages:
            stages[-1]["instructions"].append((cmd, tuple(c.flags), tuple(c.value)))
    return stages


def _build_stage(name: str) -> list[tuple]:
    (build,) = [s["instructions"] for s in _stages(name) if s["alias"] == "build"]
    return build


def _context_copies(instructions) -> list[tuple[tuple[str, ...], str]]:
    """(sources, absolute destination) of every COPY from the build context, WORKDIR applied."""
    workdir, copies = "/", []
    for cmd, flags, value in instructions:
        assert cmd != "ADD", "COPY, not ADD"
        if cmd == "WORKDIR":
            workdir = os.path.join(workdir, value[0])
        elif cmd == "COPY" and not any(f.startswith("--from") for f in flags):
            *srcs, dest = value
            copies.append((tuple(srcs), os.path.join(workdir, dest) + ("/" if dest.endswith("/") else "")))
    return copies


def _build_workdir(instructions) -> str:
    (workdir,) = {v[0] for c, _, v in instructions if c == "WORKDIR"}
    return workdir


def _run_steps(instructions) -> list[str]:
    """Every shell command of the stage's RUN instructions, split at `&&`."""
    return [
        step.strip()
        for c, _, v in instructions
        if c == "RUN"
        for step in " ".join(v).split("&&")
        if step.strip()
    ]


def _dbt_package_step(instructions) -> str:
    steps = _run_steps(instructions)
    (step,) = [s for s in steps if "prepare-and-package" in s]
    # the package is (re)installed after the dbt project is packaged, so the wheel carries it
    later = steps[steps.index(step) + 1 :]
    assert any(re.search(r"\binstall\b.*(\s|^)\.(\s|$)", s) for s in later), steps
    return step


def _dockerignore(name: str) -> list[re.Pattern]:
    patterns = []
    for line in (DEPLOY / f"{name}.dockerignore").read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        assert not line.startswith("!"), "exceptions are not modelled here"
        rx = re.escape(line.strip("/")).replace(r"\*\*/", "(?:.*/)?").replace(r"\*\*", ".*")
        rx = rx.replace(r"\*", "[^/]*").replace(r"\?", "[^/]")
        patterns.append(re.compile(rx))
    return patterns


def _ignored(rel: str, patterns: list[re.Pattern]) -> bool:
    parts = rel.split("/")
    prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    return any(p.fullmatch(prefix) for p in patterns for prefix in prefixes)


def _lay_out_context(name: str, root: Path) -> Path:
    """The build stage's files from this checkout, as BuildKit would send and COPY them; returns the
    folder standing for the stage's WORKDIR."""
    instructions = _build_stage(name)
    ignore = _dockerignore(name)

    def copy_one(src: Path, dst: Path) -> None:
        rel = src.relative_to(REPO_ROOT).as_posix()
        if _ignored(rel, ignore):
            return
        if src.is_dir():
            dst.mkdir(parents=True, exist_ok=True)
            for child in sorted(src.iterdir()):
                copy_one(child, dst / child.name)
        elif src.is_file():
            dst.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dst)

    for srcs, dest in _context_copies(instructions):
        for src in srcs:
            path = REPO_ROOT / src
            assert path.exists(), f"COPY {src}: not in the build context"
            target = root / dest.lstrip("/")
            copy_one(path, target / path.name if dest.endswith("/") and path.is_file() else target)
    return root / _build_workdir(instructions).lstrip("/")


# ----------------------------------------------------------------------------- fast structural checks
@pytest.mark.parametrize("name", ["Dockerfile", "Dockerfile.gpu"])
def test_image_holds_only_the_build_stage_venv(name):
    """The final stage copies nothing from the build context: the image's code is the installed package."""
    final = _stages(name)[-1]["instructions"]
    copies = [(flags, value) for c, flags, value in final if c == "COPY"]
    assert copies and all(any(f.startswith("--from=") for f in flags) for flags, _ in copies), copies
    assert ("/opt/venv", "/opt/venv") in [tuple(v) for _, v in copies]


def test_both_images_package_the_same_files_the_same_way():
    cpu, gpu = _build_stage("Dockerfile"), _build_stage("Dockerfile.gpu")
    assert _context_copies(cpu) == _context_copies(gpu)
    assert _dbt_package_step(cpu) == _dbt_package_step(gpu)
    assert (DEPLOY / "Dockerfile.dockerignore").read_text() == (
        DEPLOY / "Dockerfile.gpu.dockerignore"
    ).read_text()


def test_images_copy_every_production_package_and_no_dev_one():
    """Every top-level package pyproject.toml installs is in the image, except the dev-only ones."""
    pyproject = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())
    include = pyproject["tool"]["setuptools"]["packages"]["find"]["include"]
    packages = {
        p.name
        for p in REPO_ROOT.iterdir()
        if (p / "__init__.py").is_file()
        and any(re.fullmatch(pat.replace("*", ".*"), p.name) for pat in include)
    }
    copied = {src for srcs, _ in _context_copies(_build_stage("Dockerfile")) for src in srcs}
    assert packages - DEV_ONLY <= copied, f"not in the image: {sorted(packages - DEV_ONLY - copied)}"
    assert not DEV_ONLY & copied
    assert "dbt_project" in copied


# ----------------------------------------------------------------------------- the image's contents load
PROBE = r"""
import importlib.util, json, os, sys

repo, context = sys.argv[1], sys.argv[2]
touched, spawned = set(), []


def audit(event, args):
    if event in ("open", "os.listdir", "os.scandir") and args and isinstance(args[0], (str, bytes, os.PathLike)):
        touched.add(os.path.abspath(os.fsdecode(args[0])))
    elif event == "subprocess.Popen":
        spawned.append([os.fsdecode(a) for a in (args[1] if isinstance(args[1], (list, tuple)) else [args[1]])])
    elif event in ("os.posix_spawn", "os.exec", "os.system"):
        spawned.append([str(a) for a in args[:2]])


sys.addaudithook(audit)

import dagster as dg

import av_assets
import av_resources.dbt as gold_project
from av_assets.definitions import defs

d = defs()
dg.Definitions.validate_loadable(d)
project = gold_project.gold_dbt_project()
print(json.dumps({
    "av_assets": av_assets.__file__,
    "dbt_project_dir": str(project.project_dir),
    "manifest": str(project.manifest_path),
    "assets": sorted(k.to_user_string() for k in d.resolve_all_asset_keys()),
    "fleet_modules": sorted(m for m in sys.modules if m.split(".")[0] == "av_fleet"),
    "fleet_importable": importlib.util.find_spec("av_fleet") is not None,
    "packaging_imported": "av_assets.gold.packaging" in sys.modules,
    "spawned": spawned,
    # the checkout, less its venv (which stands in for the image's dependencies), and the build context
    "read_from_checkout": sorted(
        p for p in touched
        if (p == repo or p.startswith(repo + os.sep)) and not p.startswith(os.path.join(repo, ".venv") + os.sep)
        or p == context or p.startswith(context + os.sep)
    ),
    # the dbt project's files (not modules such as dagster_dbt/dbt_project.py)
    "read_dbt": sorted(p for p in touched if "dbt_project" in p and not p.endswith((".py", ".pyc"))),
}))
"""


def _final_env(name: str, venv_bin: Path, dagster_home: Path) -> dict[str, str]:
    """The final stage's ENV, with the project's venv for /opt/venv/bin and a temp DAGSTER_HOME."""
    env: dict[str, str] = {}
    for cmd, _, value in _stages(name)[-1]["instructions"]:
        if cmd == "ENV":
            for k, v in zip(value[::2], value[1::2], strict=True):
                env[k] = v.replace("$PATH", "/usr/local/bin:/usr/bin:/bin").replace(
                    IMAGE_VENV_BIN, str(venv_bin)
                )
    assert env.get("AV_ENV") == "prod" and "DAGSTER_HOME" in env, env
    return {**env, "DAGSTER_HOME": str(dagster_home)}


def _tree(root: Path) -> dict[str, int]:
    return {
        p.relative_to(root).as_posix(): p.stat().st_mtime_ns for p in sorted(root.rglob("*")) if p.is_file()
    }


@pytest.mark.slow  # 17-27 s on 2 shared cores: dbt parse, a wheel build, one definitions load
def test_image_contents_load_as_the_production_code_location(tmp_path):
    project_bin = Path(sys.executable).parent
    deps = {sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]}
    clean = {"PATH": f"{project_bin}:/usr/local/bin:/usr/bin:/bin", "HOME": str(tmp_path / "home")}
    (tmp_path / "home").mkdir()

    # 1-2. the build context as the build stage sees it, then its dbt step, spelled as in the Dockerfile
    src = _lay_out_context("Dockerfile", tmp_path / "context")
    assert not (src / "av_fleet").exists() and not (src / "av_resources/dbt_project").exists()
    step = _dbt_package_step(_build_stage("Dockerfile"))
    assert IMAGE_VENV_BIN in step
    out = subprocess.run(
        ["bash", "-c", step.replace(IMAGE_VENV_BIN, str(project_bin))],
        cwd=src,
        env=clean,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    assert (src / "av_resources/dbt_project/target/manifest.json").is_file(), shlex.quote(step)

    # 3. a non-editable wheel, installed into a fresh venv; dependencies from the project's venv
    dist = tmp_path / "dist"
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "--no-input"]
    out = subprocess.run(
        [*pip, "wheel", "--no-deps", "--no-build-isolation", "--no-index", "-q", "-w", str(dist), str(src)],
        env=clean,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    (wheel,) = dist.glob("av_platform-*.whl")
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    site = venv / "lib" / f"python{sys.version_info.major}.{sys.version_info.minor}" / "site-packages"
    assert site.is_dir()
    # --target installs into that folder only (pip ignores what the project's venv has installed)
    out = subprocess.run(
        [*pip, "install", "--no-deps", "--no-index", "-q", "--target", str(site), str(wheel)],
        env=clean,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    (site / "_project_dependencies.pth").write_text("".join(f"{d}\n" for d in sorted(deps)))
    packaged = site / "av_resources/dbt_project"
    assert (packaged / "target/manifest.json").is_file(), "the wheel carries the prepared dbt project"
    before = _tree(packaged)

    # 4. load as the code server does: the image's ENV (AV_ENV=prod; its PATH, where dbt is found,
    # with the project's venv/bin for /opt/venv/bin), a temp DAGSTER_HOME and cwd, nothing else set
    cwd, home = tmp_path / "cwd", tmp_path / "dagster_home"
    cwd.mkdir()
    home.mkdir()
    out = subprocess.run(
        [str(venv / "bin" / "python"), "-c", PROBE, str(REPO_ROOT), str(tmp_path / "context")],
        cwd=cwd,
        env=_final_env("Dockerfile", project_bin, home),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr[-6000:]
    probe = json.loads(out.stdout.strip().splitlines()[-1])

    assert Path(probe["av_assets"]).is_relative_to(site), probe["av_assets"]
    assert Path(probe["dbt_project_dir"]) == packaged
    assert Path(probe["manifest"]) == packaged / "target/manifest.json"
    snapshot = json.loads((REPO_ROOT / "tests/snapshots/definitions.json").read_text())
    assert probe["assets"] == snapshot["assets"], "the image loads the checkout's asset graph"
    assert {f"gold/{m}" for m in GOLD_MODELS} <= set(probe["assets"])
    assert probe["fleet_modules"] == [] and probe["fleet_importable"] is False
    assert probe["packaging_imported"] is False, "the build step's module is not part of loading"
    assert not [c for c in probe["spawned"] if any("dbt" in a for a in c)], probe["spawned"]
    assert _tree(packaged) == before, "dbt wrote into the packaged project while the definitions loaded"
    assert probe["read_from_checkout"] == [], probe["read_from_checkout"][:20]
    read_dbt = [p for p in probe["read_dbt"] if not any(Path(p).is_relative_to(d) for d in deps)]
    assert read_dbt and all(Path(p).is_relative_to(packaged) for p in read_dbt), read_dbt
