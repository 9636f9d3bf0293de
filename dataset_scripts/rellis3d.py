"""RELLIS-3D images: off-road campus trails, 20 classes with ids 0..34 (gaps), label ids in grey PNGs.

Layout: the sequence folders of Rellis_3D_pylon_camera_node and Rellis_3D_pylon_camera_node_label_id
unpacked into one folder, with the official split lists of Rellis_3D_image_split beside them:

    train.lst  val.lst  test.lst     "<seq>/pylon_camera_node/<frame>.jpg <seq>/pylon_camera_node_label_id/<frame>.png"
    00000/pylon_camera_node/frame000000-1581624652_750.jpg
    00000/pylon_camera_node_label_id/frame000000-1581624652_750.png
    ...

The sequences may also sit in a Rellis-3D/ subfolder, as the zips unpack. The line format is the one
public RELLIS-3D loaders read; a line holding only the image path gets the label path by the
dataset's naming rule, and any other line is refused.
"""

from __future__ import annotations

from pathlib import Path

from dataset_scripts.base import DrivingConfig, DrivingDatasetBuilder, RawSample
from dataset_scripts.native_files import first_folder_with, split_names
from unify.core.errors import UnifyError

SPLITS = split_names(("train", "val", "test"))
"""The split lists <name>.lst of Rellis_3D_image_split, by name."""

_CITATION = """\
@inproceedings{jiang2021rellis,
  title = {RELLIS-3D Dataset: Data, Benchmarks and Analysis},
  author = {Peng Jiang and Philip Osteen and Maggie Wigness and Srikanth Saripalli},
  booktitle = {IEEE International Conference on Robotics and Automation (ICRA)},
  year = {2021}
}
"""


class Rellis3D(DrivingDatasetBuilder):
    """RELLIS-3D camera images in train/validation/test as the official split lists say; id PNGs as they are.

    Layout as the zips unpack (module docstring); ids of unify/taxonomies/rellis3d.csv (0 to 34, with gaps).
    """

    NAME = "rellis3d"
    DEFAULT_UNIFIED_TAXONOMY = "offroad34"
    DESCRIPTION = (
        "RELLIS-3D: multimodal off-road recordings on the Texas A&M RELLIS campus; 6,235 camera images "
        "labelled with the 20 classes of the RUGD-derived ontology."
    )
    HOMEPAGE = "https://github.com/unmannedlab/RELLIS-3D"
    LICENSE = "CC BY-NC-SA 3.0"
    CITATION = _CITATION
    REDISTRIBUTION_ALLOWED = True
    LAYOUT_HELP = (
        "folder with the split lists train.lst, val.lst, test.lst and the sequence folders "
        "<seq>/pylon_camera_node/*.jpg and <seq>/pylon_camera_node_label_id/*.png (optionally "
        "under Rellis-3D/)"
    )
    BUILDER_CONFIGS = [DrivingConfig(name="default", native_taxonomy="rellis3d")]

    def list_samples(self, data_dir: Path) -> dict[str, list[RawSample]]:
        """The samples each split list names, sorted by id '<sequence>_<frame>'.

        A list sits beside the sequences or in the folder above them; none at all is a layout error, and a
        line that is no RELLIS-3D split line raises UnifyError naming the list and the line.
        """
        root = first_folder_with((data_dir / "Rellis-3D", data_dir))
        by_split = {}
        for name, split in SPLITS.items():
            folder = first_folder_with((data_dir, root), f"{name}.lst")
            if folder is not None:
                path = folder / f"{name}.lst"
                by_split[split] = sorted(
                    (self._sample(root, line, path) for line in _lines(path)), key=lambda s: s.image_id
                )
        if not by_split:
            raise self.layout_error(
                data_dir, "has no split list (train.lst, val.lst, test.lst; they come with Rellis_3D_image_split)"
            )
        return by_split

    def _sample(self, root: Path, line: str, list_path: Path) -> RawSample:
        parts = line.split()
        image = parts[0]
        derived = Path(image.replace("pylon_camera_node", "pylon_camera_node_label_id")).with_suffix(".png")
        label = parts[1] if len(parts) > 1 else derived
        if "/pylon_camera_node/" not in f"/{image}" or len(parts) > 2:
            raise UnifyError(
                f"{self.NAME}: {list_path}: {line!r} is not a RELLIS-3D split line "
                f"('<seq>/pylon_camera_node/<frame>.jpg <seq>/pylon_camera_node_label_id/<frame>.png')"
            )
        sequence = Path(image).parts[0]
        return RawSample(image_id=f"{sequence}_{Path(image).stem}", image_path=root / image, label_path=root / label)


def _lines(path: Path) -> list[str]:
    """The non-blank lines of a split list, stripped."""
    return [line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
