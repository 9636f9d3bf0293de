"""The built-in synthetic driving world: three datasets drawn from seeds, with no download.

- `source`: labelled in the fine unified taxonomy (`synthetic_fine`); the teacher learns from it.
- `coarse`: the same streets with merged classes and ids of its own (`synthetic_coarse`), and the
  ego vehicle's bonnet in view (void).
- `shifted`: another camera at dusk with a colour cast and noise, a partly different taxonomy
  (`synthetic_shifted`) and regions the annotators left `unlabeled`.

The extras keep their hidden fine truth in a `fine_label` column, so that pseudo-label accuracy
and the students' accuracy on the shifted domain can be measured.
"""

from __future__ import annotations

from dataclasses import dataclass

import datasets
import numpy as np

from dataset_scripts.base import DrivingConfig, DrivingDatasetBuilder, LoadedSample, RawSample
from dataset_scripts.synthetic_scenes import (
    DAYLIGHT,
    DUSK,
    EGO,
    SHIFTED_CAMERA,
    SOURCE_CAMERA,
    Camera,
    Look,
    render_scene,
)
from unify.core.constants import FINE_LABEL
from unify.core.images import encode_label, encode_png
from unify.core.taxonomy import get_taxonomy

_FINE_TO_COARSE = {
    "road": "drivable",
    "lane marking": "drivable",
    "sidewalk": "sidewalk",
    "building": "construction",
    "pole": "object",
    "traffic light": "object",
    "traffic sign": "object",
    "vegetation": "nature",
    "terrain": "nature",
    "sky": "sky",
    "person": "human",
    "rider": "human",
    "car": "vehicle",
    "truck": "vehicle",
    "bus": "vehicle",
    "void": "ego vehicle",
}
_FINE_TO_SHIFTED = {
    "road": "road",
    "lane marking": "road",
    "person": "human",
    "rider": "human",
    "car": "car",
    "truck": "large vehicle",
    "bus": "large vehicle",
    "void": "ego vehicle",
}


@dataclass
class SyntheticConfig(DrivingConfig):
    """A synthetic configuration: its splits and sizes, first seed, camera, look and share of unlabeled scenes."""

    splits: tuple[tuple[str, int], ...] = ()  # (split name, number of images) pairs
    seed_offset: int = 0  # scenes of different configurations never share a seed
    camera: Camera = SOURCE_CAMERA
    look: Look = DAYLIGHT
    unlabeled_fraction: float = 0.0  # share of scenes with regions left unlabeled (shifted only)


class SyntheticDriving(DrivingDatasetBuilder):
    """The built-in synthetic world: no files, every image and label drawn from its seed (`synthetic_scenes`).

    Class tables are this package's own (unify/taxonomies/synthetic_*.csv); so are the renames below.
    """

    NAME = "synthetic_driving"
    DEFAULT_UNIFIED_TAXONOMY = "synthetic_fine"
    DESCRIPTION = "Procedurally drawn street scenes with three label policies, for demos and tests."
    HOMEPAGE = "(built into this package)"
    LICENSE = "Same as this package"
    REDISTRIBUTION_ALLOWED = True
    BUILDER_CONFIG_CLASS = SyntheticConfig
    BUILDER_CONFIGS = [
        SyntheticConfig(
            name="source", native_taxonomy="synthetic_fine", splits=(("train", 48), ("validation", 32)), seed_offset=0
        ),
        SyntheticConfig(
            name="coarse",
            native_taxonomy="synthetic_coarse",
            splits=(("train", 160),),
            seed_offset=1_000_000,
            camera=Camera(hood=True),
        ),
        SyntheticConfig(
            name="shifted",
            native_taxonomy="synthetic_shifted",
            splits=(("train", 160), ("test", 32)),
            seed_offset=2_000_000,
            camera=SHIFTED_CAMERA,
            look=DUSK,
            unlabeled_fraction=0.6,
        ),
    ]
    DEFAULT_CONFIG_NAME = "source"

    def extra_features(self) -> dict:
        """`fine_label`, the hidden fine truth, for the coarse and shifted configurations; nothing for source."""
        return {} if self.config.native_taxonomy == "synthetic_fine" else {FINE_LABEL: datasets.Image()}

    def list_samples(self, data_dir) -> dict[str, list[RawSample]]:
        """`count` samples per configured split, ids '<config>_<seed:07d>', seeds consecutive from seed_offset.

        `data_dir` is not used: there are no files.
        """
        by_split, start = {}, self.config.seed_offset
        for split, count in self.config.splits:
            by_split[split] = [
                RawSample(
                    image_id=f"{self.config.name}_{seed:07d}",
                    image_path=f"{seed}.png",
                    label_path=None,
                    extra={"seed": seed},
                )
                for seed in range(start, start + count)
            ]
            start += count
        return by_split

    def read_sample(self, sample: RawSample) -> LoadedSample:
        """The scene of the sample's seed: the (H, W, 3) uint8 image as PNG, the native label, and the fine one."""
        seed = sample.extra["seed"]
        rgb, fine = render_scene(seed, self.config.camera, self.config.look)
        native = self._native_label(fine, np.random.default_rng(seed + 7))
        extra = {} if native is fine else {FINE_LABEL: {"bytes": encode_label(fine), "path": None}}
        return LoadedSample(image_bytes=encode_png(rgb), label=native, extra_columns=extra)

    def _native_label(self, fine: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        if self.config.native_taxonomy == "synthetic_fine":
            return fine
        renames = _FINE_TO_COARSE if self.config.native_taxonomy == "synthetic_coarse" else _FINE_TO_SHIFTED
        native = _relabel(fine, renames, get_taxonomy(self.config.native_taxonomy))
        if rng.random() < self.config.unlabeled_fraction:
            _leave_unlabeled(native, fine, rng, get_taxonomy(self.config.native_taxonomy).by_name["unlabeled"].id)
        return native


def _relabel(fine: np.ndarray, renames: dict[str, str], native) -> np.ndarray:
    """Fine ids to native ids through class names (a class absent from `renames` keeps its name)."""
    lut = np.zeros(256, dtype=np.uint8)
    for c in get_taxonomy("synthetic_fine").classes:
        lut[c.id] = native.by_name[renames.get(c.name, c.name)].id
    return lut[fine]


def _leave_unlabeled(native: np.ndarray, fine: np.ndarray, rng: np.random.Generator, unlabeled: int) -> None:
    """Blank out what a hurried annotator would skip: the far distance and a few rough blobs."""
    height, width = native.shape
    yy, xx = np.mgrid[0:height, 0:width]
    region = np.zeros_like(native, dtype=bool)
    if rng.random() < 0.5:
        region |= yy < height * rng.uniform(0.25, 0.45)
    for _ in range(rng.integers(1, 4)):
        cy, cx = rng.uniform(0.3, 0.9) * height, rng.uniform(0, width)
        region |= ((yy - cy) / rng.uniform(8, 30)) ** 2 + ((xx - cx) / rng.uniform(15, 60)) ** 2 <= 1
    native[region & (fine != EGO)] = unlabeled
