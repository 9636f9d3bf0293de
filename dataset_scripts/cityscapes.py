"""Cityscapes: street scenes from 50 cities, read from the folders the authors distribute.

- `fine`: gtFine train/val/test, `*_gtFine_labelIds.png` (the 34 label ids), embedded unchanged. The
  test labels hold only the void regions (ego vehicle, rectification border, out of roi).
- `coarse`: gtCoarse train/train_extra/val, `*_gtCoarse_labelIds.png`, embedded unchanged.
- `sequence`: the 30-frame snippets of leftImg8bit_sequence, which have no labels. Their only ground
  truth is where the camera cannot see the street: ego vehicle, rectification border and out of roi
  are copied from the gtFine frame of the same snippet (the camera and car do not change within a
  snippet); every other pixel is 'unlabeled', for the teacher to fill in. A snippet without a gtFine
  frame (none in the official release, but a partial download may lack some) is 'unlabeled' throughout.
"""

from __future__ import annotations

import functools
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from dataset_scripts.base import DrivingConfig, DrivingDatasetBuilder, RawSample
from dataset_scripts.native_files import image_shape, scan_pairs, split_names
from unify.core.errors import BadSampleError
from unify.core.images import decode_label, read_id_label

logger = logging.getLogger(__name__)

EXTRA_SPLITS = {"train_extra": "train_extra"}
"""Cityscapes' own split beside train/val/test: the 19,998 extra coarsely labelled frames (gtCoarse)."""

_CAMERA_VOID_IDS = (1, 2, 3)  # ego vehicle, rectification border, out of roi
_UNLABELED = 0

_CITATION = """\
@inproceedings{Cordts2016Cityscapes,
  title={The Cityscapes Dataset for Semantic Urban Scene Understanding},
  author={Cordts, Marius and Omran, Mohamed and Ramos, Sebastian and Rehfeld, Timo and Enzweiler, Markus and
          Benenson, Rodrigo and Franke, Uwe and Roth, Stefan and Schiele, Bernt},
  booktitle={Proc. of the IEEE Conference on Computer Vision and Pattern Recognition (CVPR)},
  year={2016}
}
"""


@dataclass
class CityscapesConfig(DrivingConfig):
    """A Cityscapes configuration: its image and label folders, label file ending and split folders."""

    image_folder: str = "leftImg8bit"
    label_folder: str | None = "gtFine"  # None: the frames have no labels (sequence)
    label_suffix: str = "_gtFine_labelIds.png"
    split_folders: tuple[str, ...] = ("train", "val", "test")


class Cityscapes(DrivingDatasetBuilder):
    """Cityscapes fine, coarse or sequence frames, split by the authors' folders; label-id PNGs as they are.

    Layout as the authors' packages unpack (module docstring); ids of unify/taxonomies/cityscapes.csv.
    """

    NAME = "cityscapes"
    DEFAULT_UNIFIED_TAXONOMY = "cityscapes19"
    DESCRIPTION = (
        "Cityscapes: 5,000 finely and 20,000 coarsely annotated street scenes from 50 German cities, "
        "plus the video snippets around them."
    )
    HOMEPAGE = "https://www.cityscapes-dataset.com"
    LICENSE = "Cityscapes license: non-commercial research and teaching only, no redistribution"
    CITATION = _CITATION
    REDISTRIBUTION_ALLOWED = False
    LAYOUT_HELP = (
        "root containing leftImg8bit/ with gtFine/ (fine), gtCoarse/ (coarse), or "
        "leftImg8bit_sequence/ (sequence); registration required"
    )
    BUILDER_CONFIG_CLASS = CityscapesConfig
    BUILDER_CONFIGS = [
        CityscapesConfig(name="fine", native_taxonomy="cityscapes"),
        CityscapesConfig(
            name="coarse",
            native_taxonomy="cityscapes",
            label_folder="gtCoarse",
            label_suffix="_gtCoarse_labelIds.png",
            split_folders=("train", "train_extra", "val"),
        ),
        CityscapesConfig(
            name="sequence",
            native_taxonomy="cityscapes",
            image_folder="leftImg8bit_sequence",
            label_folder=None,
            split_folders=("train", "val", "test"),
        ),
    ]
    DEFAULT_CONFIG_NAME = "fine"

    def list_samples(self, data_dir: Path) -> dict[str, list[RawSample]]:
        """Frames `<folder>/<city>/<stem>_leftImg8bit.png` of each split folder present, ids the stems.

        Labels are beside them under the configuration's label folder; sequence frames carry the gtFine
        frame of their snippet instead (`_sequence_samples`).
        """
        config = self.config
        by_split = {}
        for folder, split in split_names(config.split_folders, EXTRA_SPLITS).items():
            image_dir = data_dir / config.image_folder / folder
            if not image_dir.is_dir():
                continue
            if config.label_folder is None:
                by_split[split] = self._sequence_samples(data_dir, folder, image_dir)
                continue
            label_dir = data_dir / config.label_folder / folder
            by_split[split] = [
                RawSample(image_id=stem, image_path=image, label_path=label)
                for _, stem, image, label in scan_pairs(image_dir, "_leftImg8bit.png", label_dir, config.label_suffix)
            ]
        return by_split

    def _sequence_samples(self, data_dir: Path, folder: str, image_dir: Path) -> list[RawSample]:
        """Frames `<city>_<snippet>_<frame>`; each carries the gtFine label of its snippet, if any."""
        fine_by_snippet = {
            path.name.rsplit("_", 3)[0]: path
            for path in sorted((data_dir / "gtFine" / folder).glob("*/*_gtFine_labelIds.png"))
        }
        samples = []
        for _, stem, image, _ in scan_pairs(image_dir, "_leftImg8bit.png", None, None):
            snippet = stem.rsplit("_", 1)[0]
            samples.append(
                RawSample(
                    image_id=stem,
                    image_path=image,
                    label_path=None,
                    extra={"camera_void_from": fine_by_snippet.get(snippet)},
                )
            )
        missing = sum(s.extra["camera_void_from"] is None for s in samples)
        if missing:
            logger.info(
                "%d of %d %s sequence frames have no gtFine frame in their snippet: they are 'unlabeled' throughout",
                missing,
                len(samples),
                folder,
            )
        return samples

    def read_label(self, sample: RawSample) -> tuple[np.ndarray, bytes | None]:
        """The label-id PNG (`read_label` of the base), or for a sequence frame `sequence_label`."""
        if sample.label_path is None:
            return sequence_label(sample.image_path, sample.extra.get("camera_void_from")), None
        return read_id_label(sample.label_path)


def sequence_label(image_path: Path, fine_label_path: Path | None) -> np.ndarray:
    """(H, W) uint8 ids: 'unlabeled' everywhere except the camera's void regions, taken from the snippet's gtFine frame.

    Raises `BadSampleError` when the gtFine frame and the sequence frame differ in size.
    """
    shape = image_shape(image_path)
    if fine_label_path is None:
        return np.full(shape, _UNLABELED, dtype=np.uint8)
    camera_void = _camera_void(Path(fine_label_path))
    if camera_void.shape != shape:
        raise BadSampleError(
            fine_label_path,
            f"gtFine frame is {camera_void.shape[1]}x{camera_void.shape[0]} but "
            f"the sequence frame {image_path} is {shape[1]}x{shape[0]}",
        )
    return camera_void


@functools.lru_cache(maxsize=4)
def _camera_void(fine_label_path: Path) -> np.ndarray:
    """Cached: the 30 frames of a snippet are listed one after the other and share one gtFine frame."""
    fine = decode_label(fine_label_path.read_bytes(), fine_label_path)
    label = np.where(np.isin(fine, _CAMERA_VOID_IDS), fine, _UNLABELED).astype(np.uint8)
    label.flags.writeable = False
    return label
