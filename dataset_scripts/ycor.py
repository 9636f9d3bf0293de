"""Yamaha-CMU Off-Road (YCOR): off-road trails from a Yamaha vehicle; 8 classes as colour-coded masks.

Layout, as the yamaha_v0 archive unpacks:

    train/iid000000/rgb.jpg  train/iid000000/labels.png     (palette PNG)
    valid/iid000008/rgb.jpg  valid/iid000008/labels.png

The archive documents neither its layout nor its colours: this builder reads the layout and the
colours (unify/taxonomies/ycor.csv) that public YCOR loaders agree on; the ids are this package's own.
A labels.png is a palette image: each pixel is decoded through the file's own palette to its colour,
and the colour to the class, so the palette's index order (undocumented) does not matter; an RGB
mask would decode the same way. A colour outside the table is an error, as it means a damaged or
foreign file.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from dataset_scripts.base import DrivingConfig, DrivingDatasetBuilder, RawSample
from dataset_scripts.native_files import color_table, read_color_coded, require_layout, split_names
from unify.core.taxonomy import get_taxonomy

SPLITS = split_names(("train", "valid"))
"""The split folders of yamaha_v0, each holding one iid* folder per image."""

_CITATION = """\
@inproceedings{maturana2018real,
  title = {Real-time Semantic Mapping for Autonomous Off-Road Navigation},
  author = {Maturana, Daniel and Chou, Po-Wei and Uenoyama, Masashi and Scherer, Sebastian},
  booktitle = {Field and Service Robotics},
  pages = {335--350},
  year = {2018}
}
"""


class Ycor(DrivingDatasetBuilder):
    """Yamaha-CMU Off-Road in train/validation (valid/); palette or RGB masks read by colour.

    Layout and colours as public YCOR loaders agree on them (module docstring); the ids are this package's
    own (unify/taxonomies/ycor.csv).
    """

    NAME = "ycor"
    DEFAULT_UNIFIED_TAXONOMY = "offroad34"
    DESCRIPTION = (
        "Yamaha-CMU Off-Road dataset: 1,076 images of trails and fields in Pittsburgh, labelled by "
        "traversability (smooth and rough trail, grass, vegetation, obstacle, puddle, sky)."
    )
    HOMEPAGE = "https://theairlab.org/yamaha-offroad-dataset/"
    LICENSE = "see the homepage (no licence is stated with the archive)"
    CITATION = _CITATION
    LAYOUT_HELP = "yamaha_v0 folder containing train/ and valid/, each with iid*/rgb.jpg and iid*/labels.png"
    BUILDER_CONFIGS = [DrivingConfig(name="default", native_taxonomy="ycor")]

    def list_samples(self, data_dir: Path) -> dict[str, list[RawSample]]:
        """One sample per iid folder of train/ and valid/, id '<folder>_<iid>'."""
        require_layout(self, data_dir, *SPLITS)
        return {split: self._samples(data_dir / folder) for folder, split in SPLITS.items()}

    def _samples(self, split_dir: Path) -> list[RawSample]:
        """One sample per iid folder of `split_dir`, its id '<split folder>_<iid folder>'."""
        samples = []
        for sample_dir in sorted(p for p in split_dir.iterdir() if p.is_dir()):
            if not (sample_dir / "rgb.jpg").is_file() and not (sample_dir / "labels.png").is_file():
                raise self.layout_error(sample_dir, "holds neither rgb.jpg nor labels.png")
            samples.append(
                RawSample(
                    image_id=f"{split_dir.name}_{sample_dir.name}",
                    image_path=sample_dir / "rgb.jpg",
                    label_path=sample_dir / "labels.png",
                )
            )
        return samples

    def read_label(self, sample: RawSample) -> tuple[np.ndarray, bytes | None]:
        """Native ids of a labels.png, read by colour (a colour outside the table is a bad sample)."""
        return read_color_coded(sample.label_path, color_table(get_taxonomy(self.config.native_taxonomy))), None
