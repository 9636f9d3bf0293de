"""Names and numbers that every part of the package agrees on, defined once."""

IGNORE_INDEX = 255
"""Label id for pixels that are void: not trained on, not evaluated."""

# Column names of every dataset the package writes.
IMAGE = "image"
LABEL = "label"
UNIFIED_LABEL = "unified_label"
PROVENANCE = "provenance"
IMAGE_ID = "image_id"
DATASET = "dataset"
FINE_LABEL = "fine_label"
"""Hidden fine truth of the synthetic extras, used only to measure pseudo-label accuracy."""

# Provenance of a unified pseudo-label pixel.
FROM_GROUND_TRUTH = 0
"""The native class allows exactly one unified class: copied from the ground truth."""
TEACHER_CHOSE = 1
"""The native class allows several unified classes (or lists void beside some): the teacher chose among them."""
TEACHER_FILLED = 2
"""The native class allows every unified class ("unlabeled"): the teacher filled it in."""
IGNORED = 3
"""The native class is void: the pixel is ignored."""
TEACHER_VOIDED = 4
"""The native class lists void beside classes, and the teacher saw none of them there: the pixel is void."""
PROVENANCE_NAMES = ("ground_truth", "teacher_chose", "teacher_filled", "ignored", "teacher_voided")
"""Provenance names indexed by code; codes are stable, new ones are appended."""

FORMAT_VERSION = "2"
"""Version of the on-disk layout (Parquet columns and metadata) written by this package."""
NATIVE_LABEL = "native_label"
"""Native ids in a pseudo-labelled dataset, whose `label` column holds the unified pseudo-labels."""
REPORT_FILE = "pseudo_label_report.json"
"""Statistics written beside a pseudo-labelled dataset: pixels by provenance and class."""
METADATA_FILE = "unify.json"
"""Metadata written beside every Parquet dataset: taxonomies, mapping, counts, skipped samples."""
