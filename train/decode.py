"""Training images decoded as late as possible: opened first, decoded by the transform once it knows the scale.

A JPEG can then be decoded at 1/2, 1/4 or 1/8 size (libjpeg's scaled decoding through PIL's
`Image.draft`), which costs a fraction of decoding it whole; other formats are decoded whole.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from PIL import Image

from unify.core.constants import IMAGE
from unify.core.errors import BadSampleError
from unify.core.images import decode_label


def open_pair(row: dict, column: str) -> tuple[Image.Image, np.ndarray]:
    """The image of a row opened but not decoded (PIL reads its header only) and its label decoded at full size.

    `row` holds encoded bytes as `{"bytes": ...}` under `IMAGE` and `column`. Returns the PIL image and
    the (H, W) label ids; `BadSampleError` naming the column for an unreadable header or label.
    """
    try:
        image = Image.open(io.BytesIO(row[IMAGE]["bytes"]))
    except Exception as exc:  # PIL raises several unrelated types for unreadable files
        raise BadSampleError(IMAGE, f"unreadable image ({exc})") from exc
    return image, decode_label(row[column]["bytes"], source=column)


def decode_reduced(image: Image.Image, reduction: int, source: Path | str = IMAGE) -> tuple[np.ndarray, int]:
    """Decode an opened image at 1/`reduction` of its size where its format allows, else whole.

    Returns the (ceil(H / r), ceil(W / r), 3) uint8 RGB pixels and the r used: `reduction` (1, 2, 4 or 8)
    for a JPEG, 1 for every other format. Asked for at least (W // r, H // r) pixels, `draft` takes
    reduction r exactly and returns the whole image's box in reduced pixels, (0, 0, W / r, H / r).
    Raises `BadSampleError` naming `source` when the pixels cannot be decoded.
    """
    if reduction > 1:
        width = image.width
        drafted = image.draft("RGB", (width // reduction, image.height // reduction))  # None unless JPEG
        reduction = round(width / drafted[1][2]) if drafted else 1
    try:
        return np.asarray(image.convert("RGB")), reduction
    except Exception as exc:  # PIL raises several unrelated types for unreadable files
        raise BadSampleError(source, f"unreadable image ({exc})") from exc
