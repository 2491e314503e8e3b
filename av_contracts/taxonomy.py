"""The one class taxonomy shared by generator, labels, models and evaluation. Extend only here."""

OBJECT_CLASSES: tuple[str, ...] = (
    "car",
    "truck",
    "bus",
    "pedestrian",
    "cyclist",
    "motorcyclist",
    "traffic_cone",
    "barrier",
)

# the segmentation taxonomy (CONTRACTS.md, `label_masks.classes`): a mask pixel's value is the index
# into this tuple
SEG_CLASSES: tuple[str, ...] = ("background", "drivable", "lane_marking")

EVENT_TYPES: tuple[str, ...] = (
    "cut_in",
    "harsh_brake",
    "stationary_hazard",
    "disengagement",
    "lane_change",
    "speeding",
)
