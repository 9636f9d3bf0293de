"""RUGD: robot navigation videos on trails, parks and creeks; 25 classes as RGB colour-coded annotations.

Layout of the full release, as its two zips unpack:

    RUGD_frames-with-annotations/<scene>/<scene>_<frame>.png
    RUGD_annotations/<scene>/<scene>_<frame>.png       (colour-coded)
    RUGD_annotations/RUGD_annotation-colormap.txt      ("<id> <name> <R> <G> <B>" per line)

The authors' sample download is also read: `RUGD_sample-data/images/<scene>_<frame>.png` with
`RUGD_sample-data/annotations/<scene>_<frame>.png`, its colour map beside them or beside the folder;
`data_dir` is the folder holding RUGD_sample-data/ or that folder itself. Where both are present, the
full release is read.

Annotations are decoded through the colour map file when it is there, after checking its ids and
names against unify/taxonomies/rugd.csv; otherwise through that table's colours. Frames are split by
video as in the RUGD paper, the scene being the frame's folder in the full release and the start of
its name in the sample; an unknown scene is an error. The sample has no split of its own, so each of
its frames lands in the split it has in the full release, under the same image id: a model evaluated
on the sample's validation and test frames has not trained on them in either build.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from dataset_scripts.base import DrivingConfig, DrivingDatasetBuilder, RawSample
from dataset_scripts.native_files import (
    check_class_table,
    color_table,
    first_folder_with,
    image_files,
    pair_by_stem,
    read_color_coded,
    require_layout,
)
from unify.core.taxonomy import get_taxonomy

logger = logging.getLogger(__name__)

FRAMES = "RUGD_frames-with-annotations"
ANNOTATIONS = "RUGD_annotations"
COLORMAP_FILE = "RUGD_annotation-colormap.txt"
SAMPLE = "RUGD_sample-data"  # the sample download: images/ and annotations/, one flat folder each
SCENE_SPLITS = {
    "train": (
        "park-2",
        "trail",
        "trail-3",
        "trail-4",
        "trail-6",
        "trail-9",
        "trail-10",
        "trail-11",
        "trail-12",
        "trail-14",
        "trail-15",
        "village",
    ),
    "validation": ("park-8", "trail-5"),
    "test": ("creek", "park-1", "trail-7", "trail-13"),
}
"""The video split of Wigness et al. (IROS 2019)."""
_SPLIT_OF = {scene: split for split, scenes in SCENE_SPLITS.items() for scene in scenes}

_CITATION = """\
@inproceedings{RUGD2019IROS,
  author = {Wigness, Maggie and Eum, Sungmin and Rogers, John G and Han, David and Kwon, Heesung},
  title = {A RUGD Dataset for Autonomous Navigation and Visual Perception in Unstructured Outdoor Environments},
  booktitle = {International Conference on Intelligent Robots and Systems (IROS)},
  year = {2019}
}
"""


class Rugd(DrivingDatasetBuilder):
    """RUGD in train/validation/test by video (Wigness et al., IROS 2019); colour annotations decoded to ids.

    Layouts of the full release and the sample download (module docstring); ids of unify/taxonomies/rugd.csv,
    colours from the release's colour map file where present, else from that table.
    """

    NAME = "rugd"
    DEFAULT_UNIFIED_TAXONOMY = "offroad34"
    DESCRIPTION = (
        "RUGD (Robot Unstructured Ground Driving): 7,456 frames from a small ground robot's videos of "
        "trails, parks, a creek and a village, labelled with 25 classes."
    )
    HOMEPAGE = "http://rugd.vision/"
    LICENSE = "see http://rugd.vision/ (CC BY 4.0 as stated there; check before redistributing)"
    CITATION = _CITATION
    LAYOUT_HELP = (
        f"root containing {FRAMES}/<scene>/*.png and {ANNOTATIONS}/<scene>/*.png "
        f"(and {ANNOTATIONS}/{COLORMAP_FILE}), or the sample download {SAMPLE}/ with images/*.png and "
        f"annotations/*.png, or that folder itself"
    )
    BUILDER_CONFIGS = [DrivingConfig(name="default", native_taxonomy="rugd")]

    def list_samples(self, data_dir: Path) -> dict[str, list[RawSample]]:
        """The full release's frames by scene folder, or the sample download's by the scene their name starts with.

        The colour map is read and checked first (DataFileError); an unknown scene is a layout error.
        """
        sample = first_folder_with((data_dir / SAMPLE, data_dir), "images/", "annotations/")
        if sample is not None and not (data_dir / FRAMES).is_dir():
            return self._sample_download(sample, self._colors(sample, data_dir))
        require_layout(self, data_dir, FRAMES, ANNOTATIONS)
        colors = self._colors(data_dir / ANNOTATIONS, data_dir)
        by_split: dict[str, list[RawSample]] = {split: [] for split in SCENE_SPLITS}
        for scene_dir in sorted(p for p in (data_dir / FRAMES).iterdir() if p.is_dir()):
            if scene_dir.name not in _SPLIT_OF:
                raise self.layout_error(
                    data_dir / FRAMES,
                    f"has the unknown scene folder {scene_dir.name} (the RUGD "
                    f"video split knows {', '.join(sorted(_SPLIT_OF))})",
                )
            by_split[_SPLIT_OF[scene_dir.name]] += pair_by_stem(
                scene_dir.glob("*.png"), data_dir / ANNOTATIONS / scene_dir.name, extra={"colors": colors}
            )
        return by_split

    def _sample_download(self, folder: Path, colors: dict) -> dict[str, list[RawSample]]:
        """The sample's frames, each in the split of its scene (the start of its name, before the frame number)."""
        by_split: dict[str, list[RawSample]] = {split: [] for split in SCENE_SPLITS}
        for image in image_files(folder / "images"):
            scene = image.stem.rpartition("_")[0]
            if scene not in _SPLIT_OF:
                raise self.layout_error(
                    folder / "images",
                    f"has {image.name}, whose name starts with no RUGD scene "
                    f"(the video split knows {', '.join(sorted(_SPLIT_OF))})",
                )
            by_split[_SPLIT_OF[scene]] += pair_by_stem([image], folder / "annotations", extra={"colors": colors})
        return by_split

    def _colors(self, *folders: Path) -> dict[tuple[int, int, int], int]:
        """Colour -> id from the first colour map file in `folders`, else from the built-in table."""
        taxonomy = get_taxonomy(self.config.native_taxonomy)
        folder = first_folder_with(folders, COLORMAP_FILE)
        if folder is None:
            logger.info(
                "%s: no %s found; decoding with the colours of unify/taxonomies/%s.csv",
                self.NAME,
                COLORMAP_FILE,
                taxonomy.name,
            )
            return color_table(taxonomy)
        rows, problems = read_colormap(folder / COLORMAP_FILE)
        check_class_table(
            folder / COLORMAP_FILE,
            [(class_id, name) for class_id, (name, _) in rows.items()],
            taxonomy,
            problems=problems,
        )
        return {color: class_id for class_id, (_, color) in rows.items()}

    def read_label(self, sample: RawSample) -> tuple[np.ndarray, bytes | None]:
        """Native ids of a colour-coded annotation, through the colour map its sample carries."""
        return read_color_coded(sample.label_path, sample.extra["colors"]), None


def read_colormap(path: Path) -> tuple[dict[int, tuple[str, tuple[int, int, int]]], list[str]]:
    """id -> (name, (R, G, B)) of a RUGD_annotation-colormap.txt, and what is wrong with its other lines.

    A line is "<id> <name> <R> <G> <B>" (the release's file); a malformed line, an id or a colour given twice,
    or a colour value above 255 is listed as a problem ("line N: ...") and its row left out.
    """
    rows: dict[int, tuple[str, tuple[int, int, int]]] = {}
    problems, seen_colors = [], {}
    for line_no, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        fields = line.split()
        if not fields:
            continue
        if len(fields) != 5 or not all(f.isdigit() for f in fields[:1] + fields[2:]):
            problems.append(f"line {line_no}: expected '<id> <name> <R> <G> <B>', got {line.strip()!r}")
            continue
        class_id, name, color = int(fields[0]), fields[1], tuple(int(v) for v in fields[2:])
        if class_id in rows:
            problems.append(f"line {line_no}: id {class_id} appears twice")
        elif color in seen_colors:
            problems.append(f"line {line_no}: colour {color} is already used by id {seen_colors[color]}")
        elif max(color) > 255:
            problems.append(f"line {line_no}: colour {color} is not 8-bit RGB")
        else:
            rows[class_id] = (name, color)
            seen_colors[color] = class_id
    return rows, problems
