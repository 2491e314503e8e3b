"""One processed fleet for the labels package: a seed, render style and light nobody tuned the
labeller on (development used seeds 5, 41 and 59). `av process` leaves ml/labels per drive."""

import json

import pytest

from tests.helpers import processed_fleet

FLEET_ARGS = [
    "--drives",
    "2",
    "--duration",
    "30",
    "--seed",
    "67",
    "--render-style",
    "heldout",
    "--light",
    "day",
]


@pytest.fixture(scope="package")
def label_fleet(tmp_path_factory):
    with processed_fleet(tmp_path_factory.mktemp("labels"), *FLEET_ARGS) as f:
        gts = [json.loads(p.read_text()) for p in (f["landing"] / "_ground_truth").glob("*.json")]
        f["gt"] = {g["drive_id"]: g for g in gts}
        f["gt_root"] = f["landing"] / "_ground_truth"
        f["drives"] = sorted(r["drive_id"] for r in f["rows"] if r["status"] != "quarantined")
        yield f
