"""A2D2 (Audi Autonomous Driving Dataset) semantic segmentation, read from camera_lidar_semantic/.

The archive unpacks to `camera_lidar_semantic/<scene>/camera/cam_*/<stamp>_camera_<cam>_<n>.png`
with the label at `<scene>/label/cam_*/<stamp>_label_<cam>_<n>.png`: an RGB image whose colours are
the classes of `camera_lidar_semantic/class_list.json`. That file is read when present and must
agree with the built-in `a2d2` class table, which also serves when it is absent. A2D2 has no
official split, so every image is in `train`.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path

import numpy as np

from dataset_scripts.base import DrivingConfig, DrivingDatasetBuilder, RawSample
from dataset_scripts.native_files import check_class_table, color_table, read_color_coded
from unify.core.errors import DataFileError
from unify.core.taxonomy import Taxonomy, get_taxonomy

_ROOT = "camera_lidar_semantic"
_CLASS_LIST = "class_list.json"


_CITATION = """@article{geyer2020a2d2,
  title   = {{A2D2}: {Audi} {Autonomous} {Driving} {Dataset}},
  author  = {Geyer, Jakob and Kassahun, Yohannes and Mahmudi, Mentar and Ricou, Xavier and Durgesh, Rupesh and
             Chung, Andrew S. and Hauswald, Lorenz and Pham, Viet Hoang and M{\\"u}hlegg, Maximilian and
             Dorn, Sebastian and Fernandez, Tiffany and J{\\"a}nicke, Martin and Mirashi, Sudesh and
             Savani, Chiragkumar and Sturm, Martin and Vorobiov, Oleksandr and Oelker, Martin and
             Garreis, Sebastian and Schuberth, Peter},
  journal = {arXiv preprint arXiv:2004.06320},
  year    = {2020}
}"""


class A2D2(DrivingDatasetBuilder):
    """A2D2's camera_lidar_semantic/ frames, all in `train`; RGB labels decoded to the ids of the `a2d2` table.

    Layout as the archive unpacks (module docstring); the colours are those of unify/taxonomies/a2d2.csv,
    which the archive's class_list.json must match where it is present.
    """

    NAME = "a2d2"
    DEFAULT_UNIFIED_TAXONOMY = "cityscapes19"
    DESCRIPTION = (
        "A2D2 semantic segmentation: 41,277 frames from six cameras of an Audi, in 23 scenes from southern "
        "Germany, labelled in 55 colour-coded classes (several instance shades per object class)."
    )
    HOMEPAGE = "https://www.a2d2.audi/"
    LICENSE = "CC BY-ND 4.0"
    CITATION = _CITATION
    REDISTRIBUTION_ALLOWED = False  # ND: only verbatim copies may be shared, and the labels here are re-encoded
    LAYOUT_HELP = f"root containing {_ROOT}/<scene>/camera/cam_*/ and {_ROOT}/<scene>/label/cam_*/"
    BUILDER_CONFIGS = [DrivingConfig(name="default", native_taxonomy="a2d2")]
    DEFAULT_CONFIG_NAME = "default"

    def list_samples(self, data_dir: Path) -> dict[str, list[RawSample]]:
        """Every camera frame with its label (camera/ -> label/, `_camera_` -> `_label_`), all in `train`.

        A2D2 has no official split. class_list.json, where present, is checked first (DataFileError).
        """
        class_list = data_dir / _ROOT / _CLASS_LIST
        if class_list.is_file():
            check_class_list(class_list, get_taxonomy(self.config.native_taxonomy))
        samples = []
        for image in sorted((data_dir / _ROOT).glob("*/camera/cam_*/*_camera_*.png")):
            camera_dir = image.parent
            label_name = image.name.replace("_camera_", "_label_", 1)
            label = camera_dir.parent.parent / "label" / camera_dir.name / label_name
            samples.append(RawSample(image_id=image.stem, image_path=image, label_path=label))
        return {"train": samples}

    def read_label(self, sample: RawSample) -> tuple[np.ndarray, bytes | None]:
        """Native ids of an RGB label, by the colours of the built-in `a2d2` table."""
        return read_color_coded(sample.label_path, self._colors), None

    @functools.cached_property
    def _colors(self) -> dict[tuple[int, int, int], int]:
        return color_table(get_taxonomy(self.config.native_taxonomy))


def check_class_list(path: Path, taxonomy: Taxonomy) -> None:
    """The dataset's own class_list.json ('#rrggbb': class name) must say what `taxonomy` says, colour for colour.

    Raises DataFileError naming `path`: for a file that is no such JSON object, or listing every difference
    (`check_class_table`).
    """
    try:
        entries = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise DataFileError(path, [f"not a readable JSON object of '#rrggbb': 'class name' ({exc})"]) from exc
    if not isinstance(entries, dict):
        raise DataFileError(path, [f"expected a JSON object of '#rrggbb': 'class name', got {type(entries).__name__}"])
    check_class_table(
        path, [(str(color).lower(), str(name)) for color, name in entries.items()], taxonomy, by_color=True
    )
