"""EXIF orientation: every reader of a built dataset sees image and label on the image's stored pixel grid.

Phones and some dash cams store the picture as the sensor read it and say in the EXIF Orientation tag
how to turn it. `datasets`' Image feature (and transformers' `pipeline`) apply the tag when decoding,
plain PIL does not, and a label file's pixels lie on the stored grid. The builders rewrite the tag to 1,
so both kinds of reader agree. Checked here through the Mapillary Vistas builder (the base builder does
the work, for every dataset), reading the built folder both ways.
"""

from __future__ import annotations

import io
import logging

import datasets
import numpy as np
import pytest
from PIL import Image

from fixtures import assert_bad_sample, build, rows_by_id, write_label
from unify.core.constants import IMAGE, IMAGE_ID, LABEL
from unify.core.taxonomy import get_taxonomy

HEIGHT, WIDTH = 32, 48  # the stored grid: not square, so a quarter turn shows in the size
BLOCK = 8  # side of the marker square in the stored image's top-left corner
MARK = get_taxonomy("mapillary_vistas").by_name["object--traffic-light"].id
REST = get_taxonomy("mapillary_vistas").by_name["construction--flat--road"].id
DISPLAYED_BY = {3: Image.Transpose.ROTATE_180, 6: Image.Transpose.ROTATE_270, 8: Image.Transpose.ROTATE_90}
"""How Pillow's exif_transpose turns a stored picture for display, per orientation."""


def stored_label() -> np.ndarray:
    label = np.full((HEIGHT, WIDTH), REST, dtype=np.uint8)
    label[:BLOCK, :BLOCK] = MARK
    return label


def write_photo(path, orientation: int | None) -> bytes:
    """A grey JPEG with a white square in its stored top-left corner, tagged with `orientation` (None: no EXIF)."""
    pixels = np.full((HEIGHT, WIDTH, 3), 90, dtype=np.uint8)
    pixels[:BLOCK, :BLOCK] = 255
    path.parent.mkdir(parents=True, exist_ok=True)
    exif = Image.Exif()
    if orientation is not None:
        exif[0x0112] = orientation
        exif[0x010F] = "PhoneMaker"  # another tag, which must survive byte for byte
    Image.fromarray(pixels).save(path, **({"exif": exif} if orientation is not None else {}))
    return path.read_bytes()


def write_vistas(root, orientations: dict[str, int | None], labels: dict[str, np.ndarray] | None = None) -> dict:
    """A v1.2 Vistas folder, one training image per entry; labels default to the stored grid's."""
    written = {}
    for key, orientation in orientations.items():
        written[key] = write_photo(root / "training" / "images" / f"{key}.jpg", orientation)
        label = (labels or {}).get(key, stored_label())
        write_label(root / "training" / "v1.2" / "labels" / f"{key}.png", label, palette=[0] * 768)
    return written


def marker_corner(pixels: np.ndarray) -> tuple[int, int]:
    """(row, column) side, 0 or 1, of the corner square that holds the marker: the brightest or the MARK one."""
    height, width = pixels.shape[:2]
    corners = {
        (r, c): pixels[
            r * (height - BLOCK) : r * (height - BLOCK) + BLOCK, c * (width - BLOCK) : c * (width - BLOCK) + BLOCK
        ]
        for r in (0, 1)
        for c in (0, 1)
    }
    if pixels.ndim == 3:
        return max(corners, key=lambda corner: float(corners[corner].mean()))
    return next(corner for corner, block in corners.items() if (block == MARK).all())


def assert_aligned(image: Image.Image, label: np.ndarray) -> None:
    assert (image.height, image.width) == label.shape
    assert marker_corner(np.asarray(image.convert("RGB"))) == marker_corner(label)


ORIENTATIONS = {"no-exif": None, "upright": 1, "upside-down": 3, "turned-right": 6, "turned-left": 8}


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """The raw folder's original image bytes, and the built folder read back with undecoded cells."""
    tmp = tmp_path_factory.mktemp("orientation")
    written = write_vistas(tmp / "raw", ORIENTATIONS)
    _, loaded = build("mapillary_vistas", tmp / "raw", tmp / "out")
    return tmp / "out", written, loaded["train"]


@pytest.mark.parametrize("key", ORIENTATIONS)
def test_datasets_reads_image_and_label_on_one_grid(built, key):
    out, _, _ = built
    split = datasets.load_dataset(str(out), cache_dir=str(out.parent / "decoded-cache"), split="train")
    row = split[split[IMAGE_ID].index(key)]  # decoded by the Image feature, which applies exif_transpose
    assert_aligned(row[IMAGE], np.asarray(row[LABEL]))


@pytest.mark.parametrize("key", ORIENTATIONS)
def test_plain_pil_reads_image_and_label_on_one_grid(built, key):
    _, _, cells = built
    row = rows_by_id(cells)[key]  # decoded as the package's readers do: PIL, no exif_transpose
    with Image.open(io.BytesIO(row[IMAGE]["bytes"])) as image, Image.open(io.BytesIO(row[LABEL]["bytes"])) as label:
        assert_aligned(image.convert("RGB"), np.asarray(label))
        assert image.getexif().get(0x0112, 1) == 1  # so that exif_transpose leaves it as it is


def test_only_the_orientation_value_changes(built):
    _, written, cells = built
    for key, row in rows_by_id(cells).items():
        stored, original = row[IMAGE]["bytes"], written[key]
        if ORIENTATIONS[key] in (None, 1):
            assert stored == original
            continue
        changed = [i for i, (a, b) in enumerate(zip(stored, original, strict=True)) if a != b]
        assert len(stored) == len(original) and len(changed) == 1
        assert (original[changed[0]], stored[changed[0]]) == (ORIENTATIONS[key], 1)  # the SHORT's low byte
        with Image.open(io.BytesIO(stored)) as image:
            assert image.getexif()[0x010F] == "PhoneMaker"


@pytest.mark.parametrize("orientation", [6, 8])
def test_a_label_drawn_on_the_displayed_picture_is_turned_onto_the_stored_grid(tmp_path, caplog, orientation):
    displayed = np.asarray(Image.fromarray(stored_label()).transpose(DISPLAYED_BY[orientation]))
    assert displayed.shape == (WIDTH, HEIGHT)
    write_vistas(tmp_path / "raw", {"phone": orientation}, labels={"phone": displayed})
    with caplog.at_level(logging.DEBUG, logger="dataset_scripts.base"):
        _, loaded = build("mapillary_vistas", tmp_path / "raw", tmp_path / "out")
    row = loaded["train"][0]
    with Image.open(io.BytesIO(row[LABEL]["bytes"])) as label, Image.open(io.BytesIO(row[IMAGE]["bytes"])) as image:
        np.testing.assert_array_equal(np.asarray(label), stored_label())
        assert_aligned(image, np.asarray(label))
    assert any(
        "drawn on the displayed picture" in r.getMessage() and "phone.png" in r.getMessage() for r in caplog.records
    )


def test_a_mirrored_or_upside_down_label_cannot_be_told_and_stays_on_the_stored_grid(tmp_path):
    upside_down = np.ascontiguousarray(stored_label()[::-1, ::-1])  # same size as the stored grid
    write_vistas(tmp_path / "raw", {"phone": 3}, labels={"phone": upside_down})
    _, loaded = build("mapillary_vistas", tmp_path / "raw", tmp_path / "out")
    with Image.open(io.BytesIO(loaded["train"][0][LABEL]["bytes"])) as label:
        np.testing.assert_array_equal(np.asarray(label), upside_down)


def test_an_orientation_outside_1_to_8_is_a_bad_sample(tmp_path):
    write_vistas(tmp_path / "raw", {"good": 6, "odd": 9})
    assert_bad_sample(
        "mapillary_vistas",
        tmp_path / "raw",
        tmp_path,
        tmp_path / "raw/training/images/odd.jpg",
        "odd",
        "EXIF Orientation (tag 0x0112) is 9",
        kept=1,
    )
