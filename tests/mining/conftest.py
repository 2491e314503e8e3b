"""One processed fleet for the whole mining package (DSL end to end and the golden evaluation): the
fleet through `av process` is the expensive part, so it is built once here."""

import json

import pytest

from tests.helpers import processed_fleet

FLEET_ARGS = ["--drives", "2", "--duration", "40", "--seed", "7", "--camera", "160x90"]


@pytest.fixture(scope="package")
def mining_fleet(tmp_path_factory):
    with processed_fleet(tmp_path_factory.mktemp("mine"), *FLEET_ARGS) as f:
        gts = [json.loads(p.read_text()) for p in (f["landing"] / "_ground_truth").glob("*.json")]
        f["gt"] = {g["drive_id"]: g for g in gts}
        f["drives"] = sorted(r["drive_id"] for r in f["rows"] if r["status"] != "quarantined")
        yield f
