"""TAS500: unstructured driving around Munich from the MuCAR-3 vehicle; 23 classes plus undefined (255).

Layout of tas500v1.1, as the dataset's release lays it out:

    train/<name>.png   train_labels_ids/<name>.png      (grey PNG, pixel = class id)
    val/<name>.png     val_labels_ids/<name>.png
    test/<name>.png                                      (no labels: left out)

Built for that documented layout; a label stored in any other encoding than a single-channel id
image is reported as a bad sample.
"""

from __future__ import annotations

from pathlib import Path

from dataset_scripts.base import DrivingConfig, DrivingDatasetBuilder, RawSample
from dataset_scripts.native_files import image_files, pair_by_stem, require_layout, split_names

SPLITS = split_names(("train", "val"))
"""The labelled split folders of tas500v1.1 (labels in <folder>_labels_ids/); test/ has no labels."""

_CITATION = """\
@inproceedings{tas:metzger2020icpr-dataset-semantic-segmentation,
  author = {Kai A. Metzger and Peter Mortimer and Hans-Joachim Wuensche},
  title = {A Fine-Grained Dataset and its Efficient Semantic Segmentation for Unstructured Driving Scenarios},
  booktitle = {International Conference on Pattern Recognition (ICPR2020)},
  year = {2021}
}
"""


class Tas500(DrivingDatasetBuilder):
    """TAS500 v1.1 in train/validation; grey id PNGs (255 undefined) as they are.

    Layout as the release lays it out (module docstring); ids of unify/taxonomies/tas500.csv.
    """

    NAME = "tas500"
    DEFAULT_UNIFIED_TAXONOMY = "offroad34"
    DESCRIPTION = (
        "TAS500: 640 images of unstructured roads, tracks and fields from the MuCAR-3 vehicle, with "
        "fine-grained vegetation and terrain classes."
    )
    HOMEPAGE = "https://mucar3.de/icpr2020-tas500/"
    LICENSE = "CC BY-NC-SA 3.0 US"
    CITATION = _CITATION
    REDISTRIBUTION_ALLOWED = True
    LAYOUT_HELP = "tas500v1.1 folder containing train/, train_labels_ids/, val/ and val_labels_ids/"
    BUILDER_CONFIGS = [DrivingConfig(name="default", native_taxonomy="tas500")]

    def list_samples(self, data_dir: Path) -> dict[str, list[RawSample]]:
        """The images of train/ and val/ (where present), labels in <folder>_labels_ids/ by stem.

        Ids are '<folder>_<stem>'.
        """
        require_layout(self, data_dir, "train", "train_labels_ids")
        return {
            split: pair_by_stem(
                image_files(data_dir / folder), data_dir / f"{folder}_labels_ids", id_prefix=f"{folder}_"
            )
            for folder, split in SPLITS.items()
            if (data_dir / folder).is_dir()
        }
