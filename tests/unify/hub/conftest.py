"""Fixtures of the Hub tests: a built folder, its pseudo-labelled version (by the real driver) and the teacher."""

from pathlib import Path

import pytest

from hub_fixtures import IMAGES, save_segformer
from unify.build import build_dataset
from unify.pseudo_label_driver import LabellingOptions, pseudo_label_dataset


@pytest.fixture(scope="session")
def built(tmp_path_factory) -> Path:
    """synthetic_driving coarse, 4 training images, as `unify build` writes it."""
    folder = tmp_path_factory.mktemp("built") / "coarse"
    build_dataset("synthetic_driving", folder, config="coarse", splits=IMAGES)
    return folder


@pytest.fixture(scope="session")
def teacher(tmp_path_factory) -> Path:
    """A random mit-pico predicting synthetic_fine, saved as a run's model folder."""
    return save_segformer(tmp_path_factory.mktemp("teacher") / "model", seed=1)


@pytest.fixture(scope="session")
def pseudo(built, teacher, tmp_path_factory) -> Path:
    """`built` pseudo-labelled by `teacher`, as `unify pseudo-label --tta` writes it."""
    folder = tmp_path_factory.mktemp("pseudo") / "coarse-pl"
    pseudo_label_dataset(str(teacher), built, folder, LabellingOptions(scales=(0.75, 1.0), flip=True))
    return folder
