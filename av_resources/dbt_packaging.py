"""The image build's dbt step (deploy/Dockerfile*, build stage):

    dagster-dbt project prepare-and-package --file av_resources/dbt_packaging.py

finds `GOLD_DBT_PACKAGING` below, runs `dbt parse` on the source tree's `dbt_project/` and copies the
project, `target/manifest.json` included, to `av_resources/dbt_project/`, which the wheel then
carries as package data (pyproject.toml). With AV_ENV=prod the definitions read only that copy and
never run dbt while they load (av_resources/dbt.py).

Loaded as a file by that command, never imported by the definitions: it imports only the standard
library and dagster_dbt, and its paths come from where this file is (the build context), not from
wherever av_assets is installed. Run it in a build context: a copy of the repository's files, as the
Dockerfile's build stage and tests/deploy/test_image_contents.py do.
"""

import shutil
from pathlib import Path

from dagster_dbt import DbtProject

SOURCE_DIR = Path(__file__).resolve().parents[1] / "dbt_project"
PACKAGED_DIR = Path(__file__).resolve().parent / "dbt_project"

# Outside `dagster dev`, DbtProject reads from packaged_project_dir whenever that exists, and the copy
# step deletes it first: a copy left by an earlier packaging would be parsed, then deleted under
# itself. Packaging always starts from the source tree.
if PACKAGED_DIR.exists():
    shutil.rmtree(PACKAGED_DIR)

GOLD_DBT_PACKAGING = DbtProject(project_dir=SOURCE_DIR, packaged_project_dir=PACKAGED_DIR)
