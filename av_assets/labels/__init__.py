"""Labels (issue 16, workflows 9-10): the offline auto-labeller (`autolabel`, `smoothing`,
`projection`, `masks`), weak supervision (`weak`), routing (`ops/label_routing`), the per-drive label
set `ml/labels` (tables labels, label_frames, label_masks), human QA through Label Studio
(`label_studio`, `qa`, `ml/label_reviews`) and `av labels`. Docs: docs/labels.md."""

from av_assets.platform.registry import DemoStep, Extension


def _definitions():
    from av_assets.labels.assets import label_reviews, label_routing, labels, verified_labels_pass_qa
    from av_assets.platform.defs import domain_definitions

    return domain_definitions(
        assets=[label_routing, label_reviews, labels], asset_checks=[verified_labels_pass_qa]
    )


EXTENSION = Extension(
    name="labels",
    definitions=_definitions,
    cli={"labels": "av_assets.labels.cli:app"},
    process_assets=["ml/labels"],
    demo_steps=[DemoStep(name="labels QA", order=80, run="av_assets.labels.demo:qa_round_step")],
)
