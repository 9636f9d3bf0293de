"""BDD100K semantic segmentation: 10,000 dash-camera frames from US cities, labelled in 19 classes.

Layout as distributed (bdd100k_images_10k.zip, bdd100k_sem_seg_labels_trainval.zip):
`images/10k/{train,val}/<name>.jpg` with `labels/sem_seg/masks/{train,val}/<name>.png`, whose values
are the 19 train ids and 255 for everything else, embedded unchanged. The test images have no public
masks and are left out: the taxonomy has no 'unlabeled' id that could stand for a missing label.
"""

from __future__ import annotations

from pathlib import Path


from dataset_scripts.base import DrivingConfig, DrivingDatasetBuilder, RawSample
from dataset_scripts.native_files import pair_by_stem

SPLIT_NAMES = {"train": "train", "val": "validation"}

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
    NAME = "bdd100k"
    DEFAULT_UNIFIED_TAXONOMY = "cityscapes19"
    DESCRIPTION = "BDD100K semantic segmentation: 10,000 dash-camera frames, 19 Cityscapes-style classes."
    HOMEPAGE = "https://bdd-data.berkeley.edu"
    LICENSE = "BDD100K license: non-commercial research use, no redistribution"
    CITATION = _CITATION
    REDISTRIBUTION_ALLOWED = False
    LAYOUT_HELP = "root containing images/10k/{train,val}/ and labels/sem_seg/masks/{train,val}/"
    BUILDER_CONFIGS = [DrivingConfig(name="sem_seg", native_taxonomy="bdd100k")]

    def list_samples(self, data_dir: Path) -> dict[str, list[RawSample]]:
        return {split: pair_by_stem((data_dir / "images" / "10k" / folder).glob("*.jpg"),
                                    data_dir / "labels" / "sem_seg" / "masks" / folder)
                for folder, split in SPLIT_NAMES.items()}
