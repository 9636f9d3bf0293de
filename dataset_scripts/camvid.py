"""CamVid (Cambridge-driving Labeled Video Database), as the commonly shared 701-image archive lays it out.

This reads the layout of the Kaggle "CamVid" archive (carlolepelaars/camvid), not SegNet's
pre-grouped 11-class files: `{train,val,test}/<seq>_<frame>.png` with the colour label
`{train,val,test}_labels/<seq>_<frame>_L.png` (RGB, one colour per class of the original 32) and
`class_dict.csv` (name,r,g,b), which must agree with the built-in `camvid` table. Configuration `32`
keeps the 32 classes; `11` groups them as mseg-api's camvid-32 -> camvid-11 table does: the 11
classes keep their CamVid name and every other class becomes `unlabeled`. (SegNet's 11-class labels
merge more, e.g. lane markings into road; that table is not what `11` reproduces.)
"""

from __future__ import annotations

import csv
import functools
from pathlib import Path

import numpy as np

from dataset_scripts.base import DrivingConfig, DrivingDatasetBuilder, RawSample
from dataset_scripts.native_files import (
    check_class_table,
    color_table,
    pair_by_stem,
    read_color_coded,
    split_names,
)
from unify.core.errors import DataFileError
from unify.core.taxonomy import Taxonomy, get_taxonomy, hex_color

SPLITS = split_names(("train", "val", "test"))
"""Image folders of the archive (labels in <folder>_labels/) -> split names."""
_CLASS_DICT = "class_dict.csv"
_LABEL_TAXONOMY = "camvid"
"""The 32-class table that the colour labels are decoded with, whatever the configuration."""


_CITATION = """@article{brostow2009semantic,
  title   = {Semantic Object Classes in Video: A High-Definition Ground Truth Database},
  author  = {Brostow, Gabriel J. and Fauqueur, Julien and Cipolla, Roberto},
  journal = {Pattern Recognition Letters},
  volume  = {30},
  number  = {2},
  pages   = {88--97},
  year    = {2009}
}"""


class CamVid(DrivingDatasetBuilder):
    """CamVid (Kaggle archive) in train/validation/test; RGB labels decoded by the 32 colours, grouped for `11`.

    Layout as the archive unpacks (module docstring); colours of unify/taxonomies/camvid.csv, which the
    archive's class_dict.csv must match where it is present; grouping by mseg-api's camvid-32 -> camvid-11.
    """

    NAME = "camvid"
    DEFAULT_UNIFIED_TAXONOMY = "cityscapes19"
    DESCRIPTION = (
        "CamVid: 701 frames of driving video from Cambridge at 960x720, labelled in 32 colour-coded "
        "classes, or in 11 of them (mseg-api's camvid-11)."
    )
    HOMEPAGE = "http://mi.eng.cam.ac.uk/research/projects/VideoRec/CamVid/"
    LICENSE = "Research use; see the authors' page"
    CITATION = _CITATION
    REDISTRIBUTION_ALLOWED = False
    LAYOUT_HELP = "root containing train/, train_labels/, val/, val_labels/, test/, test_labels/ and class_dict.csv"
    BUILDER_CONFIGS = [
        DrivingConfig(name="32", native_taxonomy="camvid", description="the 32 original classes"),
        DrivingConfig(name="11", native_taxonomy="camvid11", description="mseg-api's 11-class grouping"),
    ]
    DEFAULT_CONFIG_NAME = "32"

    def list_samples(self, data_dir: Path) -> dict[str, list[RawSample]]:
        """Each split folder's PNGs with their `<folder>_labels/<stem>_L.png`, ids the stems.

        class_dict.csv, where present, is checked first (DataFileError).
        """
        class_dict = data_dir / _CLASS_DICT
        if class_dict.is_file():
            check_class_dict(class_dict, get_taxonomy(_LABEL_TAXONOMY))
        return {
            split: pair_by_stem((data_dir / folder).glob("*.png"), data_dir / f"{folder}_labels", "{stem}_L.png")
            for folder, split in SPLITS.items()
        }

    def read_label(self, sample: RawSample) -> tuple[np.ndarray, bytes | None]:
        """Ids of the configuration's table: the colour label decoded to the 32 classes, then grouped for `11`."""
        colors, to_native = self._decoding
        return to_native[read_color_coded(sample.label_path, colors)], None

    @functools.cached_property
    def _decoding(self) -> tuple[dict[tuple[int, int, int], int], np.ndarray]:
        """The colour table of the 32 classes, and a table from their ids to the configuration's ids."""
        full = get_taxonomy(_LABEL_TAXONOMY)
        native = get_taxonomy(self.config.native_taxonomy)
        if native.name == full.name:
            to_native = np.arange(full.max_id + 1, dtype=np.uint8)
        else:
            to_native = grouping_table(full, native)
        return color_table(full), to_native


def grouping_table(full: Taxonomy, grouped: Taxonomy) -> np.ndarray:
    """Full ids -> grouped ids: a class the grouped table also has keeps its name, the rest become `unlabeled`."""
    unlabeled = grouped.by_name["unlabeled"].id
    table = np.full(full.max_id + 1, unlabeled, dtype=np.uint8)
    for c in full.classes:
        if c.name in grouped.by_name:
            table[c.id] = grouped.by_name[c.name].id
    return table


def check_class_dict(path: Path, taxonomy: Taxonomy) -> None:
    """The archive's class_dict.csv (name,r,g,b) must list the colours and names of `taxonomy`.

    Raises DataFileError naming `path`: for a file without those columns or with a colour that is no
    integer, or listing every difference (`check_class_table`).
    """
    try:
        with path.open(newline="", encoding="utf-8") as f:
            rows = list(csv.DictReader(f, skipinitialspace=True))
        entries = [(hex_color((int(r["r"]), int(r["g"]), int(r["b"]))), r["name"].strip()) for r in rows]
    except (OSError, KeyError, TypeError, ValueError) as exc:
        raise DataFileError(path, [f"expected CSV columns name,r,g,b with integer colours ({exc!r})"]) from exc
    check_class_table(path, entries, taxonomy, by_color=True)
