"""GOOSE and GOOSE-Ex 2D: German outdoor and off-road scenes, 64 classes, label ids in grey PNGs.

Layout (both datasets, as the GOOSE documentation describes it):

    goose_label_mapping.csv          class_name,label_key[,has_instance,hex]
    images/{train,val,test}/<scenario>/<scenario>__<seq>_<timestamp>_<camera>.png
    labels/{train,val}/<scenario>/<scenario>__<seq>_<timestamp>_labelids.png   (+ _color, _instanceids)

The camera suffix differs between platforms (windshield_vis, camera_left, ...), so it is read from
the name, not assumed. The test split has no labels and is left out. When goose_label_mapping.csv is
present it is checked against unify/taxonomies/goose.csv, whose names the mappings rely on.
"""

from __future__ import annotations

import csv
import re
from pathlib import Path

from dataset_scripts.base import DrivingConfig, DrivingDatasetBuilder, RawSample
from dataset_scripts.native_files import check_class_table, require_layout, split_names
from unify.core.errors import DataFileError, UnifyError
from unify.core.taxonomy import get_taxonomy

MAPPING_FILE = "goose_label_mapping.csv"
_IMAGE_NAME = re.compile(r"^(?P<frame>.+_\d{6,})_(?P<camera>[A-Za-z][A-Za-z0-9_]*)\.png$")
"""<frame>_<camera>.png where the frame name ends in the capture timestamp."""
SPLITS = split_names(("train", "val"))
"""The labelled split folders of images/ and labels/; test/ has no labels and is left out."""

_CITATION = """\
@inproceedings{goose-dataset,
  author = {Peter Mortimer and Raphael Hagmanns and Miguel Granero and Thorsten Luettel and Janko Petereit
            and Hans-Joachim Wuensche},
  title = {The GOOSE Dataset for Perception in Unstructured Environments},
  booktitle = {IEEE International Conference on Robotics and Automation (ICRA)},
  year = {2024},
  url = {https://arxiv.org/abs/2310.16788}
}
@article{goose-ex-dataset,
  author = {Raphael Hagmanns and Peter Mortimer and Miguel Granero and Thorsten Luettel and Janko Petereit},
  title = {Excavating in the Wild: The GOOSE-Ex Dataset for Semantic Segmentation},
  year = {2024}
}
"""


class Goose(DrivingDatasetBuilder):
    """GOOSE or GOOSE-Ex 2D in train/validation; grey label-id PNGs as they are.

    Layout as the GOOSE documentation describes it (module docstring); ids of unify/taxonomies/goose.csv.
    """

    NAME = "goose"
    DEFAULT_UNIFIED_TAXONOMY = "offroad34"
    DESCRIPTION = (
        "GOOSE (German Outdoor and Offroad Dataset) and GOOSE-Ex: off-road and excavation scenes from "
        "several robot platforms, densely labelled with 64 classes. The off-road teacher learns from it."
    )
    HOMEPAGE = "https://goose-dataset.de/"
    LICENSE = "CC BY-SA 4.0"
    CITATION = _CITATION
    REDISTRIBUTION_ALLOWED = True
    LAYOUT_HELP = (
        f"root containing {MAPPING_FILE}, images/{{train,val}}/<scenario>/*_<camera>.png and "
        f"labels/{{train,val}}/<scenario>/*_labelids.png"
    )
    BUILDER_CONFIGS = [
        DrivingConfig(name="goose", native_taxonomy="goose", description="GOOSE 2D (goose_2d_train/val)"),
        DrivingConfig(name="goose_ex", native_taxonomy="goose", description="GOOSE-Ex 2D (gooseEx_2d_train/val)"),
    ]
    DEFAULT_CONFIG_NAME = "goose"

    def list_samples(self, data_dir: Path) -> dict[str, list[RawSample]]:
        """Every images/<split>/<scenario>/*.png with its labels/<split>/<scenario>/<frame>_labelids.png.

        Ids are the image stems. goose_label_mapping.csv, where present, is checked first (DataFileError);
        an image named otherwise than <frame>_<camera>.png raises UnifyError naming it.
        """
        require_layout(self, data_dir, "images", "labels")
        if (data_dir / MAPPING_FILE).is_file():
            rows, problems = read_label_mapping(data_dir / MAPPING_FILE)
            check_class_table(
                data_dir / MAPPING_FILE, rows, get_taxonomy(self.config.native_taxonomy), problems=problems
            )
        return {
            split: [
                self._sample(image, data_dir / "labels" / folder)
                for image in sorted((data_dir / "images" / folder).glob("*/*.png"))
            ]
            for folder, split in SPLITS.items()
        }

    def _sample(self, image: Path, label_root: Path) -> RawSample:
        match = _IMAGE_NAME.match(image.name)
        if match is None:
            raise UnifyError(
                f"{self.NAME}: {image} is not named like a GOOSE image "
                f"(<scenario>__<sequence>_<timestamp>_<camera>.png)"
            )
        scenario = image.parent.name
        label = label_root / scenario / f"{match['frame']}_labelids.png"
        return RawSample(image_id=image.stem, image_path=image, label_path=label)


def read_label_mapping(path: Path) -> tuple[list[tuple[int, str]], list[str]]:
    """(label_key, class_name) rows of a goose_label_mapping.csv in file order, and the lines that are not such rows.

    The columns are those of the GOOSE documentation (class_name, label_key, has_instance, hex); only the
    first two are read. A file without them raises DataFileError naming it.
    """
    with path.open(newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        missing = {"class_name", "label_key"} - set(reader.fieldnames or ())
        if missing:
            raise DataFileError(path, [f"expected the columns class_name and label_key, got {reader.fieldnames}"])
        rows, problems = [], []
        for line_no, row in enumerate(reader, start=2):
            key = (row["label_key"] or "").strip()
            if key.isdigit():
                rows.append((int(key), (row["class_name"] or "").strip()))
            else:
                problems.append(f"line {line_no}: label_key must be an integer, got {key!r}")
    return rows, problems
