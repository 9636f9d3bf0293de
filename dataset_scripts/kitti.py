"""KITTI semantic segmentation (the 2015 pixel-level semantics benchmark), as data_semantics.zip unpacks.

`training/image_2/<id>_10.png` are labelled by `training/semantic/<id>_10.png`, grey PNGs of
Cityscapes label ids (the `kitti` taxonomy is an alias of `cityscapes`). `testing/image_2/` has no
labels: those images get an all-`unlabeled` (id 0) label, as Cityscapes' own test labels are, so
that a teacher may label them wherever the mapping lets it fill in `unlabeled`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from dataset_scripts.base import DrivingConfig, DrivingDatasetBuilder, RawSample
from dataset_scripts.native_files import image_shape, pair_by_stem, split_names
from unify.core.images import read_id_label
from unify.core.taxonomy import get_taxonomy

SPLITS = split_names(("training", "testing"))
"""The folders of data_semantics.zip, each with image_2/."""
LABEL_FOLDERS = {"training": "semantic"}
"""Split folder -> its label folder beside image_2/; testing/ has none."""


_CITATION = """@article{alhaija2018augmented,
  title   = {Augmented Reality Meets Computer Vision: Efficient Data Generation for Urban Driving Scenes},
  author  = {Alhaija, Hassan Abu and Mustikovela, Siva Karthik and Mescheder, Lars and Geiger, Andreas and
             Rother, Carsten},
  journal = {International Journal of Computer Vision},
  volume  = {126},
  number  = {9},
  pages   = {961--972},
  year    = {2018}
}"""


class Kitti(DrivingDatasetBuilder):
    """KITTI semantics 2015: `train` labelled, `test` all 'unlabeled'; Cityscapes label-id PNGs as they are.

    Layout as data_semantics.zip unpacks (module docstring); ids of unify/taxonomies/cityscapes.csv, which
    unify/taxonomies/aliases.txt names `kitti`.
    """

    NAME = "kitti"
    DEFAULT_UNIFIED_TAXONOMY = "cityscapes19"
    DESCRIPTION = (
        "KITTI semantic segmentation 2015: 200 labelled and 200 test frames from Karlsruhe, "
        "annotated with the Cityscapes classes."
    )
    HOMEPAGE = "https://www.cvlibs.net/datasets/kitti/eval_semseg.php?benchmark=semantics2015"
    LICENSE = "CC BY-NC-SA 3.0"
    CITATION = _CITATION
    REDISTRIBUTION_ALLOWED = True  # share-alike, non-commercial, with attribution
    LAYOUT_HELP = "root containing training/image_2/, training/semantic/ and testing/image_2/ (data_semantics.zip)"
    BUILDER_CONFIGS = [DrivingConfig(name="default", native_taxonomy="kitti")]
    DEFAULT_CONFIG_NAME = "default"

    def list_samples(self, data_dir: Path) -> dict[str, list[RawSample]]:
        """The image_2/ PNGs of training/ and testing/, ids '<folder>_<stem>'; labels in training/semantic/ only."""
        return {
            split: pair_by_stem(
                (data_dir / folder / "image_2").glob("*.png"),
                data_dir / folder / LABEL_FOLDERS[folder] if folder in LABEL_FOLDERS else None,
                id_prefix=f"{folder}_",
            )
            for folder, split in SPLITS.items()
        }

    def read_label(self, sample: RawSample) -> tuple[np.ndarray, bytes | None]:
        """The label-id PNG, or for a test frame an (H, W) uint8 map of 'unlabeled' (0) the image's size."""
        if sample.label_path is not None:
            return read_id_label(sample.label_path)
        unlabeled = get_taxonomy(self.config.native_taxonomy).by_name["unlabeled"].id
        return np.full(image_shape(sample.image_path), unlabeled, dtype=np.uint8), None
