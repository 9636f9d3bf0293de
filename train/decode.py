"""Training samples decoded as late as possible: the image is only opened, so the transform can decode less."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image

from unify.core.constants import IMAGE


def open_pair(row: dict, column: str) -> tuple[Image.Image, np.ndarray]:
    """The image of a row opened but not decoded (PIL reads the header only) and its label decoded at full size.

    `row` holds encoded bytes as `{"bytes": ...}` under `IMAGE` and `column` (the Parquet columns read
    with `datasets.Image(decode=False)`). `TrainTransform` decodes the image once it knows the scale,
    a JPEG at reduced size where that scale allows. Returns the PIL image and the (H, W) label ids.
    """
    image = Image.open(io.BytesIO(row[IMAGE]["bytes"]))
    label = np.asarray(Image.open(io.BytesIO(row[column]["bytes"])))
    return image, label
