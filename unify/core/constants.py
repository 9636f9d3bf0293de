"""Names and numbers that every part of the package agrees on, defined once."""

IGNORE_INDEX = 255
"""The ignore index: the label value of pixels that are neither trained on nor scored.

One name in code: this constant, and `ignore_index` for parameters (as torch's `CrossEntropyLoss`, transformers'
`semantic_loss_ignore_index` and `evaluate`'s `mean_iou` call it). Users meet it as the keyword `void` of the mapping
files (`ego vehicle : void`) and as the `ignore` flag of the class tables, whose ignored classes a unified
taxonomy puts at this id."""

# Column names of every dataset the package writes.
IMAGE = "image"
LABEL = "label"
UNIFIED_LABEL = "unified_label"
PROVENANCE = "provenance"
IMAGE_ID = "image_id"
DATASET = "dataset"
FINE_LABEL = "fine_label"
"""Hidden fine truth of the synthetic extras, used only to measure pseudo-label accuracy."""

# Provenance codes: what decided a unified pseudo-label pixel, stored per pixel in the `provenance` column.
# They are codes 0..4, not label values: IGNORED and TEACHER_VOIDED are the two reasons a label is IGNORE_INDEX.
FROM_GROUND_TRUTH = 0
"""The native class allows exactly one unified class: copied from the ground truth."""
TEACHER_CHOSE = 1
"""The native class allows several unified classes (or lists void beside some): the teacher chose among them."""
TEACHER_FILLED = 2
"""The native class allows every unified class ("unlabeled"): the teacher filled it in."""
IGNORED = 3
"""Provenance code 3: the native class's mapping line is `void` (it allows no unified class), so the label is
IGNORE_INDEX."""
TEACHER_VOIDED = 4
"""Provenance code 4: the native class lists `void` beside classes and the teacher saw none of them there, so the
label is IGNORE_INDEX."""
PROVENANCE_NAMES = ("ground_truth", "teacher_chose", "teacher_filled", "ignored", "teacher_voided")
"""Provenance names indexed by code (reports and cards use the names); codes are stable, new ones are appended."""

FORMAT_VERSION = "2"
"""Version of the on-disk layout (Parquet columns and metadata) written by this package."""
NATIVE_LABEL = "native_label"
"""Native ids in a pseudo-labelled dataset, whose `label` column holds the unified pseudo-labels."""
REPORT_FILE = "pseudo_label_report.json"
"""Statistics written beside a pseudo-labelled dataset: pixels by provenance and class."""
METADATA_FILE = "unify.json"
"""Metadata written beside every Parquet dataset: taxonomies, mapping, counts, skipped samples."""
