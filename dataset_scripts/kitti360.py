"""KITTI-360 2D semantics: the perspective frames of camera 0 with their official train/val split.

Images are `data_2d_raw/<seq>/image_00/data_rect/<frame>.png`; labels are
`data_2d_semantics/train/<seq>/image_00/semantic/<frame>.png`, grey PNGs of KITTI-360 label ids.
The split lists `data_2d_semantics/train/2013_05_28_drive_{train,val}_frames.txt` name both, one
"<image path> <label path>" pair per line relative to the root, and decide which frames are used.
"""

from __future__ import annotations

from pathlib import Path

from dataset_scripts.base import DrivingConfig, DrivingDatasetBuilder, RawSample
from dataset_scripts.native_files import require_layout, split_names
from unify.core.errors import DataFileError

SPLIT_LISTS = {
    split: f"2013_05_28_drive_{folder}_frames.txt" for folder, split in split_names(("train", "val")).items()
}
"""Split -> its official list of frames, in data_2d_semantics/train/ of data_2d_semantics.zip."""
_LIST_DIR = Path("data_2d_semantics") / "train"


_CITATION = """@article{liao2022kitti360,
  title   = {{KITTI-360}: A Novel Dataset and Benchmarks for Urban Scene Understanding in {2D} and {3D}},
  author  = {Liao, Yiyi and Xie, Jun and Geiger, Andreas},
  journal = {IEEE Transactions on Pattern Analysis and Machine Intelligence},
  volume  = {45},
  number  = {3},
  pages   = {3292--3310},
  year    = {2022}
}"""


class Kitti360(DrivingDatasetBuilder):
    """KITTI-360 2D semantics of camera 0 in train/validation, as the official split lists say; id PNGs as they are.

    Layout as data_2d_raw and data_2d_semantics.zip unpack (module docstring); ids of unify/taxonomies/kitti360.csv.
    """

    NAME = "kitti360"
    DEFAULT_UNIFIED_TAXONOMY = "cityscapes19"
    DESCRIPTION = (
        "KITTI-360 2D semantics: frames of the left perspective camera along 73.7 km of suburban "
        "Karlsruhe, labelled by projecting 3D annotations into 45 Cityscapes-style classes."
    )
    HOMEPAGE = "https://www.cvlibs.net/datasets/kitti-360/"
    LICENSE = "CC BY-NC-SA 3.0"
    CITATION = _CITATION
    REDISTRIBUTION_ALLOWED = True  # share-alike, non-commercial, with attribution
    LAYOUT_HELP = (
        f"root containing data_2d_raw/<seq>/image_00/data_rect/ and data_2d_semantics/train/, "
        f"with the split lists {_LIST_DIR / SPLIT_LISTS['train']} and {SPLIT_LISTS['validation']} "
        f"(from data_2d_semantics.zip)"
    )
    BUILDER_CONFIGS = [DrivingConfig(name="default", native_taxonomy="kitti360")]
    DEFAULT_CONFIG_NAME = "default"

    def list_samples(self, data_dir: Path) -> dict[str, list[RawSample]]:
        """The frames of both official split lists (`read_split_list`); a missing list is a layout error."""
        require_layout(self, data_dir, *(str(_LIST_DIR / name) for name in SPLIT_LISTS.values()))
        return {split: read_split_list(data_dir, data_dir / _LIST_DIR / name) for split, name in SPLIT_LISTS.items()}


def read_split_list(data_dir: Path, path: Path) -> list[RawSample]:
    """Samples of one official split list (an existing file), in the list's order; ids are '<sequence>_<frame>'.

    Raises `DataFileError` naming the list and every bad line (not two paths, a short image path, a repeated frame).
    """
    samples, problems, seen = [], [], {}
    for line_no, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        parts = line.split()
        if len(parts) != 2:
            problems.append(f"line {line_no}: expected '<image path> <label path>', got {line.strip()!r}")
            continue
        relative = Path(parts[0])
        if len(relative.parts) < 4:
            problems.append(
                f"line {line_no}: expected an image path data_2d_raw/<seq>/image_00/data_rect/<frame>.png, "
                f"got {parts[0]!r}"
            )
            continue
        image_id = f"{relative.parts[-4]}_{relative.stem}"
        if image_id in seen:
            problems.append(f"line {line_no}: {parts[0]} is already listed on line {seen[image_id]}")
            continue
        seen[image_id] = line_no
        samples.append(RawSample(image_id=image_id, image_path=data_dir / parts[0], label_path=data_dir / parts[1]))
    if problems:
        raise DataFileError(path, problems)
    return samples
