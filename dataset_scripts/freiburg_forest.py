"""Freiburg Forest (DeepScene): forest trails in multispectral images; 6 classes as colour-coded masks.

Layout, as freiburg_forest_annotated unpacks (only the RGB modality is read):

    train/rgb/<frame>_Clipped.jpg   train/GT_color/<frame>_<suffix>.png
    test/rgb/...                    test/GT_color/...

Built for the layout and colours the dataset's README documents; the README does not spell out the
file-name suffixes, so an image is paired with the mask that shares its frame name (the part before the
first '_', e.g. b1-09517). As the README says, a colour outside the table is void; Tree keeps its own
colour and id here (see unify/taxonomies/freiburg_forest.csv).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from dataset_scripts.base import DrivingConfig, DrivingDatasetBuilder, RawSample
from dataset_scripts.native_files import color_table, image_files, read_color_coded, require_layout, split_names
from unify.core.errors import UnifyError
from unify.core.taxonomy import get_taxonomy

SPLITS = split_names(("train", "test"))
"""The split folders of freiburg_forest_annotated, each with rgb/ and GT_color/."""

_CITATION = """\
@inproceedings{valada16iser,
  author = {Abhinav Valada and Gabriel Oliveira and Thomas Brox and Wolfram Burgard},
  title = {Deep Multispectral Semantic Scene Understanding of Forested Environments using Multimodal Fusion},
  booktitle = {International Symposium on Experimental Robotics (ISER)},
  year = {2016}
}
"""


class FreiburgForest(DrivingDatasetBuilder):
    """Freiburg Forest's RGB images in train/test; GT_color masks decoded by colour, other colours void.

    Layout and colours as the dataset's README documents them (module docstring); ids of
    unify/taxonomies/freiburg_forest.csv.
    """

    NAME = "freiburg_forest"
    DEFAULT_UNIFIED_TAXONOMY = "offroad34"
    DESCRIPTION = (
        "Freiburg Forest: 366 multispectral images of forest roads and trails around Freiburg, "
        "labelled with road, grass, vegetation, tree, sky and obstacle."
    )
    HOMEPAGE = "http://deepscene.cs.uni-freiburg.de/"
    LICENSE = "see the homepage (academic use)"
    CITATION = _CITATION
    LAYOUT_HELP = "freiburg_forest_annotated folder containing train/ and test/, each with rgb/ and GT_color/"
    BUILDER_CONFIGS = [DrivingConfig(name="default", native_taxonomy="freiburg_forest")]

    def list_samples(self, data_dir: Path) -> dict[str, list[RawSample]]:
        """The rgb/ images of train/ and test/ (where present), each with the GT_color/ mask of its frame name.

        Two masks of one frame raise UnifyError naming both.
        """
        require_layout(self, data_dir, "train/rgb", "train/GT_color")
        return {
            split: self._pair(data_dir / folder / "rgb", data_dir / folder / "GT_color")
            for folder, split in SPLITS.items()
            if (data_dir / folder / "rgb").is_dir()
        }

    def _pair(self, image_dir: Path, mask_dir: Path) -> list[RawSample]:
        """The images of `image_dir`, each with the mask of `mask_dir` that shares its frame name."""
        masks: dict[str, Path] = {}
        for mask in sorted(mask_dir.glob("*.png")):
            frame = _frame(mask)
            if frame in masks:
                raise UnifyError(f"{self.NAME}: {masks[frame]} and {mask} are both masks of frame {frame!r}")
            masks[frame] = mask
        return [
            RawSample(
                image_id=_frame(image),
                image_path=image,
                label_path=masks.get(_frame(image), mask_dir / f"{image.stem}.png"),
            )
            for image in image_files(image_dir)
        ]

    def read_label(self, sample: RawSample) -> tuple[np.ndarray, bytes | None]:
        """Native ids of a GT_color mask; a colour outside the table is void, as the dataset's README says."""
        taxonomy = get_taxonomy(self.config.native_taxonomy)
        return read_color_coded(sample.label_path, color_table(taxonomy), default=taxonomy.by_name["void"].id), None


def _frame(path: Path) -> str:
    return path.stem.split("_", 1)[0]
