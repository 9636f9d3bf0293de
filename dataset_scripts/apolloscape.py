"""ApolloScape scene parsing, read from the road archives as the authors distribute them.

Each archive (road02_seg.tar.gz, road01_ins.tar.gz, ...) unpacks to
`road0X_{seg,ins}/ColorImage/Record*/Camera {5,6}/<timestamp>_Camera_N.jpg` with the label beside it
in `Label/` as `<timestamp>_Camera_N_bin.png`, a grey PNG of class ids (gaps up to 168, 255 for
unlabeled). The archives come without a split, so every labelled image is in `train`.
"""

from __future__ import annotations

from pathlib import Path

from dataset_scripts.base import DrivingConfig, DrivingDatasetBuilder, RawSample

_ROAD_GLOBS = ("road*_seg", "road*_ins")


_CITATION = """@inproceedings{huang2018apolloscape,
  title     = {The ApolloScape Dataset for Autonomous Driving},
  author    = {Huang, Xinyu and Cheng, Xinjing and Geng, Qichuan and Cao, Binbin and Zhou, Dingfu and
               Wang, Peng and Lin, Yuanqing and Yang, Ruigang},
  booktitle = {Proceedings of the IEEE Conference on Computer Vision and Pattern Recognition Workshops},
  year      = {2018}
}"""


class ApolloScape(DrivingDatasetBuilder):
    """ApolloScape road archives (road*_seg, road*_ins), every labelled frame in `train`; grey id PNGs as they are.

    Layout as the archives unpack (module docstring); ids of unify/taxonomies/apolloscape.csv.
    """

    NAME = "apolloscape"
    DEFAULT_UNIFIED_TAXONOMY = "cityscapes19"
    DESCRIPTION = (
        "ApolloScape scene parsing: 3384x2710 frames from Chinese cities with pixel labels in 36 "
        "classes, including group classes for crowds of people and vehicles."
    )
    HOMEPAGE = "https://apolloscape.auto/scene.html"
    LICENSE = "ApolloScape terms of use: non-commercial, educational and research use only"
    CITATION = _CITATION
    REDISTRIBUTION_ALLOWED = False
    LAYOUT_HELP = "root containing road0X_seg/ (or road0X_ins/) folders, each with ColorImage/ and Label/"
    BUILDER_CONFIGS = [DrivingConfig(name="default", native_taxonomy="apolloscape")]
    DEFAULT_CONFIG_NAME = "default"

    def list_samples(self, data_dir: Path) -> dict[str, list[RawSample]]:
        """Every ColorImage/Record*/Camera */*.jpg with its Label/ twin `<stem>_bin.png`, id '<road>_<record>_<stem>'.

        The archives have no split: every frame is in `train`.
        """
        samples = []
        roads = sorted({road for pattern in _ROAD_GLOBS for road in data_dir.glob(pattern) if road.is_dir()})
        for road in roads:
            for image in sorted((road / "ColorImage").glob("Record*/Camera */*.jpg")):
                relative = image.relative_to(road / "ColorImage")
                label = road / "Label" / relative.parent / f"{image.stem}_bin.png"
                image_id = f"{road.name}_{relative.parts[0]}_{image.stem}"
                samples.append(RawSample(image_id=image_id, image_path=image, label_path=label))
        return {"train": samples}
