"""WildScenes 2D: Australian forest trails; 19 classes in indexLabel PNGs, split by the official CSVs.

Layout: the WildScenes download and the 2D split files of the WildScenes repository
(data/splits/opt2d/{train,val,test}.csv, columns id,im_path,label_path) beside it:

    WildScenes2d/<sequence>/image/<id>.png
    WildScenes2d/<sequence>/indexLabel/<id>.png     (pixel = class index 0..18)
    train.csv  val.csv  test.csv                     (or opt2d/*.csv, or data/splits/opt2d/*.csv)

The CSVs hold paths like /WildScenes2d/K-01/image/<id>.png relative to the dataset root; the case of
the top folder differs between releases (WildScenes2d, Wildscenes2d), so it is matched regardless of case.
"""

from __future__ import annotations

import csv
from collections import Counter
from pathlib import Path

from dataset_scripts.base import DrivingConfig, DrivingDatasetBuilder, RawSample
from dataset_scripts.native_files import first_folder_with, split_names
from unify.core.errors import DataFileError

SPLITS = split_names(("train", "val", "test"))
"""The split files <name>.csv of the WildScenes repository's data/splits/opt2d/, by name."""
_SPLIT_FOLDERS = (".", "opt2d", "data/splits/opt2d")  # where the split files may sit, relative to the root
_COLUMNS = ("id", "im_path", "label_path")
_CITATION = """\
@inproceedings{vidanapathirana2023wildscenes,
  title = {WildScenes: A Benchmark for 2D and 3D Semantic Segmentation in Large-scale Natural Environments},
  author = {Kavisha Vidanapathirana and Joshua Knights and Stephen Hausler and Mark Cox and Milad Ramezani and
            Jason Jooste and Ethan Griffiths and Shaheer Mohamed and Sridha Sridharan and Clinton Fookes and
            Peyman Moghadam},
  journal = {The International Journal of Robotics Research},
  year = {2024}
}
"""


class WildScenes(DrivingDatasetBuilder):
    """WildScenes 2D in train/validation/test as the official opt2d split files say; indexLabel PNGs as they are.

    Layout of the download and the repository's split files (module docstring); ids of
    unify/taxonomies/wildscenes.csv (pixel = class index 0..18).
    """

    NAME = "wildscenes"
    DEFAULT_UNIFIED_TAXONOMY = "offroad34"
    DESCRIPTION = (
        "WildScenes 2D: 9,306 images of natural forest trails in Brisbane and Karawatha, Australia, with "
        "dense labels in 19 classes and the official 2D train/val/test split."
    )
    HOMEPAGE = "https://csiro-robotics.github.io/WildScenes/"
    LICENSE = "see https://data.csiro.au/collection/csiro:61541"
    CITATION = _CITATION
    LAYOUT_HELP = (
        "WildScenes root containing WildScenes2d/<sequence>/{image,indexLabel}/*.png and the split files "
        "train.csv, val.csv, test.csv (from the WildScenes repository's data/splits/opt2d/)"
    )
    BUILDER_CONFIGS = [DrivingConfig(name="default", native_taxonomy="wildscenes")]

    def list_samples(self, data_dir: Path) -> dict[str, list[RawSample]]:
        """The samples each split file lists, sorted by id.

        Their paths are resolved under `data_dir`, the top folder's case as found. No train.csv, or no
        WildScenes2d folder, is a layout error.
        """
        folder = first_folder_with((data_dir / f for f in _SPLIT_FOLDERS), "train.csv")
        if folder is None:
            raise self.layout_error(data_dir, f"has no split file train.csv (looked in {', '.join(_SPLIT_FOLDERS)})")
        resolve = _path_resolver(data_dir)
        if not resolve("/WildScenes2d").is_dir():
            raise self.layout_error(data_dir, "has no WildScenes2d folder")
        return {
            split: _samples(folder / f"{name}.csv", resolve)
            for name, split in SPLITS.items()
            if (folder / f"{name}.csv").is_file()
        }


def _samples(split_file: Path, resolve) -> list[RawSample]:
    """The samples a split file lists, sorted by id."""
    rows = read_split_file(split_file)
    return sorted(
        (
            RawSample(image_id=row["id"], image_path=resolve(row["im_path"]), label_path=resolve(row["label_path"]))
            for row in rows
        ),
        key=lambda s: s.image_id,
    )


def read_split_file(path: Path) -> list[dict[str, str]]:
    """The rows (id, im_path, label_path) of an official 2D split file, in file order.

    Raises DataFileError naming the file when its header is not exactly those columns or an id is listed twice.
    """
    with path.open(newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        if tuple(reader.fieldnames or ()) != _COLUMNS:
            raise DataFileError(path, [f"expected the columns {','.join(_COLUMNS)}, got {reader.fieldnames}"])
        rows = list(reader)
    duplicates = sorted(i for i, n in Counter(row["id"] for row in rows).items() if n > 1)
    if duplicates:
        raise DataFileError(path, [f"id {i} appears more than once" for i in duplicates])
    return rows


def _path_resolver(data_dir: Path):
    """Split-file paths -> paths under `data_dir`, their top folder matched regardless of case."""
    folders = {p.name.lower(): p.name for p in data_dir.iterdir()}

    def resolve(listed: str) -> Path:
        top, *rest = Path(listed.lstrip("/")).parts
        return data_dir.joinpath(folders.get(top.lower(), top), *rest)

    return resolve
