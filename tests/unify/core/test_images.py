"""encode_label writes its own PNG: any decoder must read back exactly the ids it was given."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from unify.core.images import decode_label, encode_label, image_size_from_bytes


@pytest.mark.parametrize(("shape", "high", "mode"), [((37, 53), 34, "L"), ((1, 1), 1, "L"), ((20, 3), 300, "I;16"),
                                                     ((64, 128), 65536, "I;16")])
def test_round_trip(shape, high, mode):
    ids = np.random.default_rng(high).integers(0, high, shape)
    ids[0, 0] = high - 1
    data = encode_label(ids)
    with Image.open(io.BytesIO(data)) as image:
        assert image.format == "PNG" and image.mode == mode and image.size == (shape[1], shape[0])
    np.testing.assert_array_equal(decode_label(data, "x").astype(np.int64), ids)
    assert image_size_from_bytes(data, "x") == (shape[1], shape[0])  # ends with IEND: not taken for truncated


def test_repeating_rows_compress_well():
    ids = np.repeat(np.random.default_rng(0).integers(0, 19, (1, 2048)), 1024, axis=0).astype(np.uint8)
    assert len(encode_label(ids)) < 10_000  # 2 MiB of ids


def test_only_2d():
    with pytest.raises(ValueError, match="2-D"):
        encode_label(np.zeros((2, 2, 3), dtype=np.uint8))
