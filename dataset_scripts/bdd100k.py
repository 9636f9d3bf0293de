"""BDD100K semantic segmentation: 10,000 dash-camera frames from US cities, labelled in 19 classes.

Two releases of the same frames are read, both as their zips unpack:

- 2020 (bdd100k_images_10k.zip, bdd100k_sem_seg_labels_trainval.zip): `images/10k/{train,val}/<name>.jpg`
  with `labels/sem_seg/masks/{train,val}/<name>.png`;
- 2018 (bdd100k_seg.zip): `seg/images/{train,val}/<name>.jpg` with `seg/labels/{train,val}/<name>_train_id.png`
  (`seg/color_labels/` holds the same classes as colours and is not read).

The masks' values are the 19 train ids and 255 for everything else, embedded unchanged; image ids are
the frame names, the same in both releases. `data_dir` is the folder holding `images/10k/` (2020) or
`seg/` (2018), or the `seg/` folder itself; a folder holding both releases is built from the 2020 one,
and says so in the log. The test images have no public masks and are left out: the taxonomy has no
'unlabeled' id that could stand for a missing label.
"""

from __future__ import annotations

import logging
from pathlib import Path

from dataset_scripts.base import DrivingConfig, DrivingDatasetBuilder, RawSample
from dataset_scripts.native_files import pair_by_stem, split_names

logger = logging.getLogger(__name__)

SPLITS = split_names(("train", "val"))
"""The split folders under each release's image and mask folders; test/ has no public masks and is left out."""
RELEASE_2020 = ("images/10k", "labels/sem_seg/masks", "{stem}.png")
"""Image folder, mask folder (each holding the split folders) and mask name of the 2020 release."""
RELEASE_2018 = ("images", "labels", "{stem}_train_id.png")
"""The same, relative to the 2018 release's seg/ folder."""

_CITATION = """\
@inproceedings{Yu2020BDD100K,
  title={BDD100K: A Diverse Driving Dataset for Heterogeneous Multitask Learning},
  author={Yu, Fisher and Chen, Haofeng and Wang, Xin and Xian, Wenqi and Chen, Yingying and Liu, Fangchen and
          Madhavan, Vashisht and Darrell, Trevor},
  booktitle={Proc. of the IEEE/CVF Conference on Computer Vision and Pattern Recognition (CVPR)},
  year={2020}
}
"""


class BDD100K(DrivingDatasetBuilder):
    """BDD100K semantic segmentation, 2020 or 2018 release, in train/validation; the train-id masks as they are.

    Layouts as the zips unpack (module docstring); ids of unify/taxonomies/bdd100k.csv (19 train ids, 255).
    """

    NAME = "bdd100k"
    DEFAULT_UNIFIED_TAXONOMY = "cityscapes19"
    DESCRIPTION = "BDD100K semantic segmentation: 10,000 dash-camera frames, 19 Cityscapes-style classes."
    HOMEPAGE = "https://bdd-data.berkeley.edu"
    LICENSE = "BDD100K license: non-commercial research use, no redistribution"
    CITATION = _CITATION
    REDISTRIBUTION_ALLOWED = False
    LAYOUT_HELP = (
        "root containing images/10k/{train,val}/ and labels/sem_seg/masks/{train,val}/ (2020 release), "
        "or seg/images/{train,val}/ and seg/labels/{train,val}/*_train_id.png (2018 release), "
        "or that seg/ folder itself"
    )
    BUILDER_CONFIGS = [DrivingConfig(name="sem_seg", native_taxonomy="bdd100k")]

    def list_samples(self, data_dir: Path) -> dict[str, list[RawSample]]:
        """The train and val frames of the release `_release` finds, ids the frame names; a layout error otherwise."""
        root, (images, masks, mask_name) = self._release(data_dir)
        return {
            split: pair_by_stem((root / images / folder).glob("*.jpg"), root / masks / folder, mask_name)
            for folder, split in SPLITS.items()
        }

    def _release(self, data_dir: Path) -> tuple[Path, tuple[str, str, str]]:
        """The folder the layout is relative to, and the layout: 2020 where it is complete, else 2018's seg/."""
        seg = next((folder for folder in (data_dir / "seg", data_dir) if _holds(folder, RELEASE_2018)), None)
        if _holds(data_dir, RELEASE_2020):
            if seg is not None:
                logger.warning(
                    "%s: %s holds both the 2020 release (images/10k/) and the 2018 one (%s); building "
                    "from the 2020 one",
                    self.NAME,
                    data_dir,
                    seg,
                )
            return data_dir, RELEASE_2020
        if seg is not None:
            return seg, RELEASE_2018
        raise self.layout_error(data_dir, "holds neither BDD100K segmentation release")


def _holds(root: Path, release: tuple[str, str, str]) -> bool:
    """Whether `root` has the release's image and mask folders, with a train or val folder in each."""
    images, masks, _ = release
    return all(any((root / part / folder).is_dir() for folder in SPLITS) for part in (images, masks))
