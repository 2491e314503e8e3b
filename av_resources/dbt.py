"""dbt, as the gold layer runs it: where its project is read from, when the manifest is parsed, and
the `dbt` resource (`dbt_resource()`, built in av_resources/env.py).

| where | dbt project | manifest (`target/manifest.json`) |
|---|---|---|
| a checkout, AV_ENV local / ci | `<repo>/dbt_project/` | `dbt parse` while the definitions load when missing or older than any model, macro or config file: never committed, never stale |
| an image, AV_ENV=prod | `av_resources/dbt_project/` inside the installed package | prepared at build time (av_resources/dbt_packaging.py); never parsed while the definitions load |

AV_ENV=prod prefers the packaged copy and falls back to the source tree (a checkout), but never runs
dbt there either: a missing manifest is an error naming the build step. An installed package without
a source tree (local or ci on a wheel) reads the packaged copy, also without parsing.
"""

import os
import shutil
import sys
import tempfile
from pathlib import Path

SOURCE_DIR = Path(__file__).resolve().parents[1] / "dbt_project"  # only in a checkout / build context
PACKAGED_DIR = Path(__file__).resolve().parent / "dbt_project"  # only where the image build packaged it
PACKAGE_COMMAND = "dagster-dbt project prepare-and-package --file av_resources/dbt_packaging.py"


def _has_manifest(project_dir: Path) -> bool:
    return (project_dir / "target" / "manifest.json").is_file()


def project_dir(env: str) -> Path:
    """The dbt project directory the definitions read for AV_ENV `env`."""
    if env == "prod" and _has_manifest(PACKAGED_DIR):
        return PACKAGED_DIR
    return SOURCE_DIR if (SOURCE_DIR / "dbt_project.yml").is_file() else PACKAGED_DIR


def manifest_is_stale(project_dir: Path, manifest: Path) -> bool:
    if not manifest.exists():
        return True
    sources = [
        p
        for p in project_dir.rglob("*")
        if p.suffix in (".sql", ".yml", ".yaml") and not {"target", "logs", "dbt_packages"} & set(p.parts)
    ]
    return any(p.stat().st_mtime > manifest.stat().st_mtime for p in sources)


def dbt_executable() -> str:
    beside = Path(sys.executable).with_name("dbt")  # the venv's dbt, even when the venv is not on PATH
    return str(beside) if beside.exists() else (shutil.which("dbt") or "dbt")


def gold_dbt_project():
    """The DbtProject (see the module docstring for which directory, and when it is parsed)."""
    from dagster_dbt import DbtCliResource, DbtProject

    from av_resources.env import current_env

    env = current_env()
    where = project_dir(env)
    if not (where / "dbt_project.yml").is_file():
        raise FileNotFoundError(
            f"no dbt project at {SOURCE_DIR} (a checkout) nor {PACKAGED_DIR} (an image): build the "
            f"image with deploy/Dockerfile, which packages it ({PACKAGE_COMMAND})"
        )
    # no packaged_project_dir here: DbtProject would silently switch to a copy whenever one exists
    project = DbtProject(project_dir=where, profiles_dir=where)
    if where == SOURCE_DIR and env != "prod":
        if manifest_is_stale(where, project.manifest_path):
            # what `project.preparer.prepare` does, but with the venv's dbt: the venv need not be on PATH
            DbtCliResource(project_dir=project, profiles_dir=str(where), dbt_executable=dbt_executable()).cli(
                ["parse", "--quiet"], target_path=project.target_path
            ).wait()
    elif not project.manifest_path.is_file():
        raise FileNotFoundError(
            f"{project.manifest_path}: no prepared dbt manifest, and AV_ENV={env} never runs dbt while the "
            f"definitions load. Images prepare it at build time ({PACKAGE_COMMAND}, deploy/Dockerfile); "
            "in a checkout, load the definitions once with AV_ENV=local (that parses it)."
        )
    return project


def run_target_path(project) -> Path | None:
    """Where one dbt invocation writes its artefacts and logs: dagster-dbt's default (a fresh folder
    under the project's target/) where the project is writable, a fresh temp folder where it is not
    (the packaged copy in an image is root-owned; the image runs as uid 10001)."""
    target = project.project_dir / project.target_path
    if os.access(target if target.exists() else project.project_dir, os.W_OK):
        return None
    return Path(tempfile.mkdtemp(prefix="av-dbt-target-"))


def dbt_resource(env: str | None = None):
    """The `dbt` resource: dagster-dbt's CLI over the project above, with the venv's dbt executable.
    Cheap to build (no parse): the gold assets prepare the manifest when they load."""
    from dagster_dbt import DbtCliResource

    from av_resources.env import current_env

    where = project_dir(env or current_env())
    return DbtCliResource(project_dir=str(where), profiles_dir=str(where), dbt_executable=dbt_executable())
