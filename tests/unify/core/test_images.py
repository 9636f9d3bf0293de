"""encode_label writes its own PNG: any decoder must read back exactly the ids it was given. EXIF orientation is
read as Pillow reads it and rewritten to 1 in place, every other byte kept."""

from __future__ import annotations

import io
import struct
import zlib

import numpy as np
import pytest
from PIL import Image, ImageOps, PngImagePlugin

from unify.core.errors import BadSampleError
from unify.core.images import (
    decode_label,
    encode_label,
    exif_orientation,
    image_size_from_bytes,
    label_to_stored_grid,
    neutralize_orientation,
)


@pytest.mark.parametrize(
    ("shape", "high", "mode"),
    [((37, 53), 34, "L"), ((1, 1), 1, "L"), ((20, 3), 300, "I;16"), ((64, 128), 65536, "I;16")],
)
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


# -- EXIF orientation ------------------------------------------------------------------------------
def _photo(fmt: str, orientation: int | None, endian: str = ">", **save) -> bytes:
    """A small RGB picture as JPEG or PNG, its EXIF (in the given TIFF byte order) holding `orientation`."""
    pixels = np.random.default_rng(3).integers(0, 256, (12, 20, 3), dtype=np.uint8)
    if orientation is not None:
        exif = Image.Exif()
        exif[0x0112], exif[0x010F], exif.endian = orientation, "DashCam", endian
        save["exif"] = exif.tobytes()
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format=fmt, **save)
    return buffer.getvalue()


def _png_chunk_list(data: bytes) -> list[tuple[bytes, bytes, int]]:
    """(type, data, stored CRC) of every chunk."""
    chunks, pos = [], 8
    while pos < len(data):
        length, kind = struct.unpack_from(">I4s", data, pos)
        chunks.append((kind, data[pos + 8 : pos + 8 + length], struct.unpack_from(">I", data, pos + 8 + length)[0]))
        pos += 12 + length
    return chunks


def _pixels(data: bytes) -> np.ndarray:
    with Image.open(io.BytesIO(data)) as image:
        return np.asarray(image.convert("RGB"))


@pytest.mark.parametrize("endian", ["<", ">"])  # TIFF byte orders "II" and "MM"
@pytest.mark.parametrize("fmt", ["JPEG", "PNG"])
@pytest.mark.parametrize("orientation", [3, 6, 8])
def test_neutralize_rewrites_only_the_orientation(fmt, endian, orientation):
    data = _photo(fmt, orientation, endian)
    assert exif_orientation(data, "x.img") == orientation
    fixed = neutralize_orientation(data, "x.img")
    assert exif_orientation(fixed, "x.img") == 1 and len(fixed) == len(data)
    changed = [i for i in range(len(data)) if data[i] != fixed[i]]
    value_byte = changed[0]
    assert (data[value_byte], fixed[value_byte]) == (orientation, 1)
    if fmt == "JPEG":
        assert changed == [value_byte]
    else:  # and the eXIf chunk's CRC, which must be right for the new data
        crc_start = data.index(b"eXIf") + 4 + struct.unpack_from(">I", data, data.index(b"eXIf") - 4)[0]
        assert set(changed[1:]) <= set(range(crc_start, crc_start + 4))
        assert all(zlib.crc32(kind + payload) == crc for kind, payload, crc in _png_chunk_list(fixed))
    with Image.open(io.BytesIO(fixed)) as image:
        assert image.getexif()[0x010F] == "DashCam"
    np.testing.assert_array_equal(_pixels(fixed), _pixels(data))


@pytest.mark.parametrize("fmt", ["JPEG", "PNG"])
def test_upright_files_are_left_alone(fmt):
    for data in (_photo(fmt, None), _photo(fmt, 1)):
        assert exif_orientation(data, "x") == 1
        assert neutralize_orientation(data, "x") is data


def test_an_exif_chunk_after_the_pixels_is_found():
    """PNG allows eXIf after IDAT, where Pillow sees it only once the pixels are decoded."""
    exif_png = _photo("PNG", 6)
    chunks = _png_chunk_list(exif_png)
    exif = next(chunk for chunk in chunks if chunk[0] == b"eXIf")
    moved = [c for c in chunks if c[0] != b"eXIf"]
    moved.insert(len(moved) - 1, exif)  # just before IEND
    data = exif_png[:8] + b"".join(struct.pack(">I", len(p)) + k + p + struct.pack(">I", crc) for k, p, crc in moved)
    assert exif_orientation(data, "x") == 6
    assert exif_orientation(neutralize_orientation(data, "x"), "x") == 1


def test_xmp_orientation_is_read_and_rewritten_as_pillow_reads_it():
    """Without an EXIF tag, Pillow takes the orientation from XMP's tiff:Orientation."""
    packet = b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:Description tiff:Orientation="8"/></x:xmpmeta>'
    data = _photo("JPEG", None, xmp=packet)
    assert exif_orientation(data, "x") == 8
    fixed = neutralize_orientation(data, "x")
    assert exif_orientation(fixed, "x") == 1
    assert [i for i in range(len(data)) if data[i] != fixed[i]] == [data.index(b'"8"') + 1]
    text = PngImagePlugin.PngInfo()
    text.add_itxt("XML:com.adobe.xmp", packet.decode())
    data = _photo("PNG", None, pnginfo=text)
    assert exif_orientation(data, "x") == 8
    assert exif_orientation(neutralize_orientation(data, "x"), "x") == 1


def test_an_orientation_that_cannot_be_rewritten_in_place_is_a_bad_sample():
    text = PngImagePlugin.PngInfo()
    text.add_itxt("XML:com.adobe.xmp", '<x:xmpmeta><rdf:Description tiff:Orientation="6"/></x:xmpmeta>', zip=True)
    data = _photo("PNG", None, pnginfo=text)
    with pytest.raises(BadSampleError, match="Orientation is 6 and is stored where it cannot be set to 1") as caught:
        neutralize_orientation(data, "frames/a.png")
    assert caught.value.path == "frames/a.png"


@pytest.mark.parametrize("value", [0, 9])
def test_an_orientation_outside_1_to_8_names_the_file_and_the_value(value):
    with pytest.raises(BadSampleError, match=rf"EXIF Orientation \(tag 0x0112\) is {value}; EXIF defines only 1 to 8"):
        exif_orientation(_photo("JPEG", value), "cam/0001.jpg")


@pytest.mark.parametrize("orientation", range(1, 9))
def test_label_to_stored_grid_undoes_what_exif_transpose_shows(orientation):
    stored = np.arange(6 * 10, dtype=np.uint16).reshape(6, 10)  # every pixel distinct: any misplacement shows
    tagged = io.BytesIO()
    exif = Image.Exif()
    exif[0x0112] = orientation
    Image.fromarray(stored).save(tagged, format="PNG", exif=exif)
    with Image.open(tagged) as image:
        displayed = np.asarray(ImageOps.exif_transpose(image))  # what a viewer, or an annotator, is shown
    back = label_to_stored_grid(displayed, orientation)
    assert back.dtype == stored.dtype and back.flags.c_contiguous
    np.testing.assert_array_equal(back, stored)


def test_label_to_stored_grid_refuses_other_values():
    with pytest.raises(ValueError, match="1 to 8, got 9"):
        label_to_stored_grid(np.zeros((2, 3), dtype=np.uint8), 9)
