"""Mapillary Vistas: street-level images from all over the world, labels v1.2 (66) or v2.0 (124).

Layout as distributed: `{training,validation}/images/<key>.jpg` and
`{training,validation}/<version>/labels/<key>.png`, where a label PNG is a palette image whose pixel
value is the label index of `config_<version>.json`. v2.0 gives several labels one colour, so labels
are decoded by index, never by colour, and stored as grey PNGs of those indices (a palette PNG could
be read as colours downstream). When the dataset's config file is present, its label list must
match the built-in table, name by name and colour by colour.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from dataset_scripts.base import DrivingConfig, DrivingDatasetBuilder, RawSample
from dataset_scripts.native_files import check_class_table, pair_by_stem, split_names
from unify.core.errors import DataFileError
from unify.core.taxonomy import Taxonomy, get_taxonomy

SPLITS = split_names(("training", "validation"))
"""The split folders, each with images/ and <version>/labels/; the test split has no labels and is left out."""

_CITATION = """\
@inproceedings{Neuhold2017Vistas,
  title={The Mapillary Vistas Dataset for Semantic Understanding of Street Scenes},
  author={Neuhold, Gerhard and Ollmann, Tobias and Rota Bul{\\`o}, Samuel and Kontschieder, Peter},
  booktitle={Proc. of the IEEE International Conference on Computer Vision (ICCV)},
  year={2017}
}
"""


@dataclass
class VistasConfig(DrivingConfig):
    """A Mapillary Vistas configuration: its label version."""

    version: str = "v1.2"  # label version: the folder under each split and the config file's suffix


class MapillaryVistas(DrivingDatasetBuilder):
    """Mapillary Vistas v1.2 or v2.0 in train/validation; palette label PNGs read by index, stored as grey PNGs.

    Layout as distributed (module docstring); ids of unify/taxonomies/mapillary_vistas.csv or
    mapillary_vistas_v2.csv, which the release's config_<version>.json must match where it is present.
    """

    NAME = "mapillary_vistas"
    DEFAULT_UNIFIED_TAXONOMY = "mapillary63"
    DESCRIPTION = "Mapillary Vistas: 25,000 street-level images from six continents, densely labelled."
    HOMEPAGE = "https://www.mapillary.com/dataset/vistas"
    LICENSE = "CC BY-NC-SA 4.0 (research use; see the Mapillary Vistas terms)"
    CITATION = _CITATION
    REDISTRIBUTION_ALLOWED = False
    LAYOUT_HELP = "root containing training/ and validation/, each with images/ and v1.2/labels/ or v2.0/labels/"
    BUILDER_CONFIG_CLASS = VistasConfig
    BUILDER_CONFIGS = [
        VistasConfig(name="v1.2", native_taxonomy="mapillary_vistas", version="v1.2"),
        VistasConfig(name="v2.0", native_taxonomy="mapillary_vistas_v2", version="v2.0"),
    ]
    DEFAULT_CONFIG_NAME = "v1.2"

    def list_samples(self, data_dir: Path) -> dict[str, list[RawSample]]:
        """images/<key>.jpg of training/ and validation/ with <version>/labels/<key>.png, ids the keys.

        config_<version>.json, where present, is checked first (DataFileError).
        """
        version = self.config.version
        config_file = data_dir / f"config_{version}.json"
        if config_file.is_file():
            check_label_config(config_file, get_taxonomy(self.config.native_taxonomy))
        return {
            split: pair_by_stem((data_dir / folder / "images").glob("*.jpg"), data_dir / folder / version / "labels")
            for folder, split in SPLITS.items()
        }


def check_label_config(path: Path, taxonomy: Taxonomy) -> None:
    """The dataset's own label list must be `taxonomy`: label i has the name and colour of class id i.

    The labels of config_<version>.json are in label-index order, the index being the value stored in the
    label PNGs. Raises DataFileError naming `path`: for a file without a 'labels' list of objects, or listing
    every difference (`check_class_table`).
    """
    try:
        labels = json.loads(path.read_text(encoding="utf-8"))["labels"]
        rows = [(index, entry.get("name")) for index, entry in enumerate(labels)]
        colors = {index: tuple(entry.get("color") or ()) for index, entry in enumerate(labels)}
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise DataFileError(path, [f"cannot read its 'labels' list of objects ({exc!r})"]) from exc
    check_class_table(path, rows, taxonomy, colors=colors)
