"""ACDC (Adverse Conditions Dataset with Correspondences): Swiss roads in fog, night, rain and snow.

Layout as distributed (rgb_anon_trainvaltest.zip, gt_trainval.zip):
`rgb_anon/<condition>/{train,val,test}/<seq>/<frame>_rgb_anon.png` with
`gt/<condition>/{train,val}/<seq>/<frame>_gt_labelIds.png` (Cityscapes label ids). Some frames also
have `<frame>_gt_invGray.png`, non-zero where the annotators could not label the image with confidence.
Those pixels are ignored: they get the id 255 'invalid' of the `acdc` taxonomy (the Cityscapes ids
plus that one), which every mapping makes void; a frame without invalid pixels keeps its label PNG
unchanged. The test frames have no public labels: they are 'unlabeled' throughout, for the teacher
to fill in. The `*_ref` folders (normal-condition reference frames) are not read.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from dataset_scripts.base import DrivingConfig, DrivingDatasetBuilder, RawSample
from dataset_scripts.native_files import image_shape, scan_pairs, split_names
from unify.core.errors import BadSampleError
from unify.core.images import decode_label, read_id_label
from unify.core.taxonomy import get_taxonomy

CONDITIONS = ("fog", "night", "rain", "snow")
SPLITS = split_names(("train", "val", "test"))
"""The split folders under rgb_anon/<condition>/ and gt/<condition>/ (test/ has images only)."""
_UNLABELED = 0

_CITATION = """\
@inproceedings{Sakaridis2021ACDC,
  title={{ACDC}: The Adverse Conditions Dataset with Correspondences for Semantic Driving Scene Understanding},
  author={Sakaridis, Christos and Dai, Dengxin and Van Gool, Luc},
  booktitle={Proc. of the IEEE/CVF International Conference on Computer Vision (ICCV)},
  year={2021}
}
"""


@dataclass
class ACDCConfig(DrivingConfig):
    """An ACDC configuration: the adverse conditions it reads (all four, or one)."""

    conditions: tuple[str, ...] = CONDITIONS


class ACDC(DrivingDatasetBuilder):
    """ACDC frames of the configured conditions in train/validation/test; Cityscapes label ids, invalid regions 255.

    Layout and the invGray masks as in the authors' zips (module docstring); ids of unify/taxonomies/acdc.csv
    (the Cityscapes ids plus 255 'invalid').
    """

    NAME = "acdc"
    DEFAULT_UNIFIED_TAXONOMY = "cityscapes19"
    DESCRIPTION = "ACDC: 4,006 frames in fog, night, rain and snow, with Cityscapes labels and invalid-region masks."
    HOMEPAGE = "https://acdc.vision.ee.ethz.ch"
    LICENSE = "ACDC license: non-commercial research and teaching only, no redistribution"
    CITATION = _CITATION
    REDISTRIBUTION_ALLOWED = False
    LAYOUT_HELP = "root containing rgb_anon/<condition>/<split>/ and gt/<condition>/<split>/ (registration required)"
    BUILDER_CONFIG_CLASS = ACDCConfig
    BUILDER_CONFIGS = [ACDCConfig(name="all", native_taxonomy="acdc")] + [
        ACDCConfig(name=condition, native_taxonomy="acdc", conditions=(condition,)) for condition in CONDITIONS
    ]
    DEFAULT_CONFIG_NAME = "all"

    def list_samples(self, data_dir: Path) -> dict[str, list[RawSample]]:
        """The frames of each condition and split folder, ids '<condition>_<frame>'; test frames have no label."""
        by_split: dict[str, list[RawSample]] = {split: [] for split in SPLITS.values()}
        for condition in self.config.conditions:
            for folder, split in SPLITS.items():
                label_dir = None if folder == "test" else data_dir / "gt" / condition / folder
                pairs = scan_pairs(
                    data_dir / "rgb_anon" / condition / folder, "_rgb_anon.png", label_dir, "_gt_labelIds.png"
                )
                by_split[split] += [
                    RawSample(image_id=f"{condition}_{frame}", image_path=image, label_path=label)
                    for _, frame, image, label in pairs
                ]
        return by_split

    def read_label(self, sample: RawSample) -> tuple[np.ndarray, bytes | None]:
        """(H, W) uint8 Cityscapes ids with the frame's invalid pixels set to 'invalid' (255).

        The label file's own bytes come along where no pixel is invalid; a test frame is 'unlabeled' (0)
        throughout. An invalid mask of another size than its label is a BadSampleError naming the mask.
        """
        if sample.label_path is None:
            return np.full(image_shape(sample.image_path), _UNLABELED, dtype=np.uint8), None
        path = Path(sample.label_path)
        label, data = read_id_label(path)
        invalid_path = path.with_name(path.name.replace("_gt_labelIds.png", "_gt_invGray.png"))
        if not invalid_path.is_file():
            return label, data
        invalid = decode_label(invalid_path.read_bytes(), invalid_path) != 0
        if invalid.shape != label.shape:
            raise BadSampleError(
                invalid_path,
                f"invalid mask is {invalid.shape[1]}x{invalid.shape[0]} but its "
                f"label {path} is {label.shape[1]}x{label.shape[0]}",
            )
        if not invalid.any():
            return label, data
        label = label.copy()
        label[invalid] = get_taxonomy("acdc").by_name["invalid"].id
        return label, None
