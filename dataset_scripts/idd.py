"""IDD (India Driving Dataset) segmentation: the full dataset in its level-3 ids, or IDD-Lite in level-1 ids.

Configuration `level3` (26 classes and 255), layout as distributed:
`leftImg8bit/{train,val}/<seq>/<frame>_leftImg8bit.png` with
`gtFine/{train,val}/<seq>/<frame>_gtFine_polygons.json`. The id PNGs are not shipped: the dataset's
preparation script (AutoNUE/public-code `createLabels.py --id-type level3Id`) writes
`<frame>_gtFine_labellevel3Ids.png` beside each JSON. Where that PNG exists it is embedded unchanged;
otherwise the polygons are drawn exactly as that script does: a 255 background, then every polygon
not marked deleted, in file order (later ones cover earlier ones), with PIL's ImageDraw.

Configuration `lite`: IDD-Lite (its folder is idd20k_lite), a smaller release at low resolution labelled with
the 7 level-1 classes and 255: `leftImg8bit/{train,val}/<seq>/<frame>_image.jpg` with
`gtFine/{train,val}/<seq>/<frame>_label.png` (ids 0 to 6 and 255), embedded unchanged; the
`*_inst_label.png` instance maps are not read. Each configuration names the other when given its folder.

In both, the test split has no labels and is left out.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from dataset_scripts.base import DrivingConfig, DrivingDatasetBuilder, RawSample
from dataset_scripts.native_files import scan_pairs, split_names
from unify.core.errors import BadSampleError
from unify.core.images import read_id_label

SPLITS = split_names(("train", "val"))
"""The split folders under leftImg8bit/ and gtFine/; test/ has no labels and is left out."""
FULL_IMAGE, FULL_POLYGONS = "_leftImg8bit.png", "_gtFine_polygons.json"  # name endings in the full IDD
LITE_IMAGE, LITE_LABEL = "_image.jpg", "_label.png"  # and in IDD-Lite

LEVEL3_ID = {
    "road": 0,
    "parking": 1,
    "drivable fallback": 1,
    "sidewalk": 2,
    "rail track": 3,
    "non-drivable fallback": 3,
    "person": 4,
    "animal": 4,
    "rider": 5,
    "motorcycle": 6,
    "bicycle": 7,
    "autorickshaw": 8,
    "car": 9,
    "truck": 10,
    "bus": 11,
    "caravan": 12,
    "trailer": 12,
    "train": 12,
    "vehicle fallback": 12,
    "curb": 13,
    "wall": 14,
    "fence": 15,
    "guard rail": 16,
    "billboard": 17,
    "traffic sign": 18,
    "traffic light": 19,
    "pole": 20,
    "polegroup": 20,
    "obs-str-bar-fallback": 21,
    "building": 22,
    "bridge": 23,
    "tunnel": 23,
    "vegetation": 24,
    "sky": 25,
    "fallback background": 25,
    "unlabeled": 255,
    "ego vehicle": 255,
    "rectification border": 255,
    "out of roi": 255,
    "license plate": 255,
}
"""Polygon label name -> level-3 id, from helpers/anue_labels.py of AutoNUE/public-code."""
_BACKGROUND = LEVEL3_ID["unlabeled"]

_CITATION = """\
@inproceedings{Varma2019IDD,
  title={IDD: A Dataset for Exploring Problems of Autonomous Navigation in Unconstrained Environments},
  author={Varma, Girish and Subramanian, Anbumani and Namboodiri, Anoop and Chandraker, Manmohan and
          Jawahar, C. V.},
  booktitle={IEEE Winter Conference on Applications of Computer Vision (WACV)},
  year={2019}
}
"""


class IDD(DrivingDatasetBuilder):
    """IDD in level-3 ids (`level3`) or IDD-Lite in level-1 ids (`lite`), train/validation.

    Layouts as distributed (module docstring); id PNGs are embedded as they are, polygons drawn as
    AutoNUE's createLabels.py does. Ids of unify/taxonomies/idd.csv and idd_lite.csv.
    """

    NAME = "idd"
    DEFAULT_UNIFIED_TAXONOMY = "cityscapes19"
    DESCRIPTION = (
        "IDD: 10,004 frames of unstructured Indian roads, level-3 labels (26 classes); or IDD-Lite, a "
        "smaller low-resolution release labelled with the 7 level-1 classes."
    )
    HOMEPAGE = "https://idd.insaan.iiit.ac.in"
    LICENSE = "IDD license: non-commercial research use, no redistribution"
    CITATION = _CITATION
    REDISTRIBUTION_ALLOWED = False
    LAYOUT_HELP = (
        f"root containing leftImg8bit/{{train,val}}/<seq>/ and gtFine/{{train,val}}/<seq>/ "
        f"(registration required): *{FULL_IMAGE} with *{FULL_POLYGONS} for level3, "
        f"*{LITE_IMAGE} with *{LITE_LABEL} (idd20k_lite) for lite"
    )
    BUILDER_CONFIGS = [
        DrivingConfig(name="level3", native_taxonomy="idd", description="IDD, level-3 ids (26 classes)"),
        DrivingConfig(
            name="lite", native_taxonomy="idd_lite", description="IDD-Lite (idd20k_lite), level-1 ids (7 classes)"
        ),
    ]
    DEFAULT_CONFIG_NAME = "level3"

    def list_samples(self, data_dir: Path) -> dict[str, list[RawSample]]:
        """Frames of leftImg8bit/{train,val}/<seq>/, ids '<folder>_<seq>_<frame>', with their label file.

        For level3 the prepared `_gtFine_labellevel3Ids.png` where it exists, else the polygon JSON. A folder
        holding only the other variant is a layout error that names the configuration to use.
        """
        lite = self.config.name == "lite"
        image_suffix, label_suffix = (LITE_IMAGE, LITE_LABEL) if lite else (FULL_IMAGE, FULL_POLYGONS)
        by_split = {}
        for folder, split in SPLITS.items():
            samples = []
            for seq, frame, image, label in scan_pairs(
                data_dir / "leftImg8bit" / folder, image_suffix, data_dir / "gtFine" / folder, label_suffix
            ):
                png = label.with_name(f"{frame}_gtFine_labellevel3Ids.png")
                samples.append(
                    RawSample(
                        image_id=f"{folder}_{seq}_{frame}",
                        image_path=image,
                        label_path=png if not lite and png.is_file() else label,
                    )
                )
            by_split[split] = samples
        if not any(by_split.values()):
            self._refuse_other_variant(data_dir, lite)
        return by_split

    def _refuse_other_variant(self, data_dir: Path, lite: bool) -> None:
        """Stop with the configuration to use when `data_dir` holds the other variant of IDD."""
        other, suffix = ("level3", FULL_IMAGE) if lite else ("lite", LITE_IMAGE)
        found = next(iter(sorted((data_dir / "leftImg8bit").glob(f"*/*/*{suffix}"))), None)
        if found is not None:
            variant = "the full IDD" if lite else "IDD-Lite (idd20k_lite)"
            raise self.layout_error(
                data_dir,
                f"holds {variant}, e.g. {found.relative_to(data_dir)}, not what the "
                f"{self.config.name!r} configuration reads: build it with --config "
                f"{other}",
            )

    def read_label(self, sample: RawSample) -> tuple[np.ndarray, bytes | None]:
        """(H, W) level-3 ids drawn from a polygon JSON (`render_level3`), or the id PNG (`read_id_label`)."""
        path = Path(sample.label_path)
        if path.suffix == ".json":
            return render_level3(path), None
        return read_id_label(path)


def render_level3(path: Path) -> np.ndarray:
    """Level-3 id map drawn from a `*_gtFine_polygons.json`, as the dataset's json2labelImg does.

    Raises `BadSampleError` naming the file when it cannot be read, an object's label is not an IDD label, or a
    polygon cannot be drawn.
    """
    try:
        annotation = json.loads(path.read_text(encoding="utf-8"))
        size = (int(annotation["imgWidth"]), int(annotation["imgHeight"]))
        objects = list(annotation["objects"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise BadSampleError(path, f"unreadable polygon file ({exc!r})") from exc
    canvas = Image.new("L", size, _BACKGROUND)
    drawer = ImageDraw.Draw(canvas)
    for index, obj in enumerate(objects):
        if obj.get("deleted"):
            continue
        label = obj.get("label")
        if label not in LEVEL3_ID and isinstance(label, str) and label.endswith("group"):
            label = label[: -len("group")]
        if label not in LEVEL3_ID:
            raise BadSampleError(path, f"object {index} has label {obj.get('label')!r}, which is not an IDD label")
        try:
            drawer.polygon([(float(x), float(y)) for x, y in obj["polygon"]], fill=LEVEL3_ID[label])
        except (KeyError, TypeError, ValueError) as exc:
            raise BadSampleError(path, f"object {index} ({label}) has no drawable polygon ({exc!r})") from exc
    return np.asarray(canvas)
