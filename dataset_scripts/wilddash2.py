"""WildDash 2: hard driving scenes from dash cameras worldwide, for evaluation only (one split).

The reference material documents the 81 label ids but not the release's folder layout, so this is
assumed (from the authors' wilddash_scripts): `images/<name>.jpg`, labelled either way:

- `labels/<name>.png` or `labels/<name>_labelIds.png`: 8-bit semantic ids, as the authors'
  `pano2sem.py` writes them; embedded unchanged.
- otherwise `panoptic.json` with `panoptic/<png>`: COCO panoptic format as released (segment id =
  R + 256 G + 256² B), turned into semantic ids exactly as `pano2sem.py` does: each segment gets its
  category id, pixels of no listed segment get 0 'unlabeled'.

The images form the single split `validation`.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np

from dataset_scripts.base import DrivingConfig, DrivingDatasetBuilder, RawSample
from dataset_scripts.native_files import require_layout
from unify.core.errors import DataFileError
from unify.core.images import decode_label, read_id_label
from unify.core.taxonomy import get_taxonomy

logger = logging.getLogger(__name__)

SPLIT = "validation"
_UNLABELED = 0

_CITATION = """\
@inproceedings{Zendel2022WildDash2,
  title={Unifying Panoptic Segmentation for Autonomous Driving},
  author={Zendel, Oliver and Sch{\\"o}rghuber, Matthias and Rainer, Bernhard and Murschitz, Markus and Beleznai, Csaba},
  booktitle={Proc. of the IEEE/CVF Conference on Computer Vision and Pattern Recognition (CVPR)},
  year={2022}
}
"""


class WildDash2(DrivingDatasetBuilder):
    """WildDash 2 as one `validation` split; semantic id PNGs as they are, or COCO panoptic PNGs turned into ids.

    The layout is assumed from the authors' wilddash_scripts (module docstring); ids of unify/taxonomies/wilddash2.csv.
    """

    NAME = "wilddash2"
    DEFAULT_UNIFIED_TAXONOMY = "cityscapes19"
    DESCRIPTION = "WildDash 2: 4,256 hard dash-camera scenes from around the world, for evaluation."
    HOMEPAGE = "https://wilddash.cc"
    LICENSE = "WildDash license: non-commercial use only, no redistribution"
    CITATION = _CITATION
    REDISTRIBUTION_ALLOWED = False
    LAYOUT_HELP = "root containing images/ and either labels/ (semantic ids) or panoptic.json with panoptic/"
    BUILDER_CONFIGS = [DrivingConfig(name="semantic", native_taxonomy="wilddash2")]

    def list_samples(self, data_dir: Path) -> dict[str, list[RawSample]]:
        """images/<name>.jpg with labels/<name>.png (or <name>_labelIds.png), else with the panoptic PNG that

        panoptic.json names and its segment -> category table. Neither labels/ nor panoptic.json is a layout error.
        """
        require_layout(self, data_dir, "images")
        if not (data_dir / "labels").is_dir() and not (data_dir / "panoptic.json").is_file():
            raise self.layout_error(data_dir, "has neither labels/ nor panoptic.json")
        images = sorted((data_dir / "images").glob("*.jpg"))
        if (data_dir / "labels").is_dir():
            return {
                SPLIT: [
                    RawSample(
                        image_id=image.stem,
                        image_path=image,
                        label_path=_semantic_label(data_dir / "labels", image.stem),
                    )
                    for image in images
                ]
            }
        segments = panoptic_index(data_dir / "panoptic.json")
        samples = []
        for image in images:
            png, by_segment = segments.get(image.name, (f"{image.stem}.png", {}))
            samples.append(
                RawSample(
                    image_id=image.stem,
                    image_path=image,
                    label_path=data_dir / "panoptic" / png,
                    extra={"category_of_segment": by_segment},
                )
            )
        return {SPLIT: samples}

    def read_label(self, sample: RawSample) -> tuple[np.ndarray, bytes | None]:
        """The semantic id PNG, or the (H, W) category ids of a panoptic PNG (`panoptic_to_semantic`)."""
        if "category_of_segment" not in sample.extra:
            return read_id_label(sample.label_path)
        rgb = decode_label(sample.label_path, mode="rgb")
        return panoptic_to_semantic(rgb, sample.extra["category_of_segment"]), None


def _semantic_label(label_dir: Path, stem: str) -> Path:
    plain = label_dir / f"{stem}.png"
    converted = label_dir / f"{stem}_labelIds.png"
    return converted if converted.is_file() and not plain.is_file() else plain


def panoptic_index(path: Path) -> dict[str, tuple[str, dict[int, int]]]:
    """Image file name -> (panoptic PNG name, segment id -> category id), from the COCO panoptic JSON.

    Raises `DataFileError` naming the file when it is missing, is not a COCO panoptic file, or has a category the
    built-in wilddash2 table does not.
    """
    try:
        panoptic = json.loads(path.read_text(encoding="utf-8"))
        file_of_image = {image["id"]: image["file_name"] for image in panoptic["images"]}
        index = {
            file_of_image[a["image_id"]]: (
                a["file_name"],
                {int(s["id"]): int(s["category_id"]) for s in a["segments_info"]},
            )
            for a in panoptic["annotations"]
            if a["image_id"] in file_of_image
        }
        categories = {int(c["id"]): c["name"] for c in panoptic.get("categories", [])}
    except FileNotFoundError as exc:
        raise DataFileError(path, ["missing: without labels/ the panoptic ground truth is needed"]) from exc
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise DataFileError(path, [f"not a COCO panoptic file ({exc!r})"]) from exc
    taxonomy = get_taxonomy("wilddash2")
    unknown = [
        f"category {i} ({name!r}) is not in the built-in wilddash2 table"
        for i, name in categories.items()
        if i not in taxonomy.by_id
    ]
    if unknown:
        raise DataFileError(path, unknown)
    renamed = {i: name for i, name in categories.items() if taxonomy.by_id[i].name != name}
    if renamed:
        logger.warning("%s names some categories differently from the built-in table (ids match): %s", path, renamed)
    return index


def panoptic_to_semantic(rgb: np.ndarray, category_of_segment: dict[int, int]) -> np.ndarray:
    """Category ids of a COCO panoptic PNG, as the authors' pano2sem.py computes them."""
    segment = rgb.astype(np.int64) @ np.array([1, 256, 65536], dtype=np.int64)
    ids, inverse = np.unique(segment, return_inverse=True)
    categories = np.array([category_of_segment.get(int(i), _UNLABELED) for i in ids], dtype=np.int64)
    semantic = categories[inverse.reshape(segment.shape)]
    return semantic.astype(np.uint8) if semantic.max(initial=0) < 256 else semantic.astype(np.uint16)
