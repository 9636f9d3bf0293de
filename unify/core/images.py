"""Reading and writing label maps and images without losing or re-encoding anything."""

from __future__ import annotations

import io
import re
import struct
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from unify.core.errors import BadSampleError

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_PNG_END = b"IEND\xaeB`\x82"
_JPEG_END = b"\xff\xd9"

ORIENTATION_TAG = 0x0112
"""TIFF/EXIF tag 274, Orientation: how the stored rows and columns lie in the displayed picture, 1 to 8.

TIFF 6.0 (Adobe, 1992) p. 36 and EXIF 2.32 (CIPA DC-008-2019) 4.6.5 define it as one SHORT; 1 means
"row 0 at the top, column 0 at the left", i.e. stored and displayed grids are the same."""
TRANSPOSING_ORIENTATIONS = (5, 6, 7, 8)
"""Orientations whose displayed picture is the stored one turned by a quarter (or transposed): width and height swap."""

_EXIF_HEADER = b"Exif\x00\x00"  # starts the EXIF APP1 segment of a JPEG (EXIF 2.32 4.5.4); the TIFF header follows
_XMP_HEADER = b"http://ns.adobe.com/xap/1.0/\x00"  # starts the XMP APP1 segment of a JPEG (XMP Part 3, 1.1.3)
_XMP_KEYWORD = b"XML:com.adobe.xmp"  # keyword of the PNG text chunk holding XMP (XMP Part 3, 1.1.5)
_XMP_ORIENTATION = re.compile(rb'tiff:Orientation(="|>)([0-9])')  # the form Pillow reads when EXIF has no tag
_TIFF_ORDER = {b"II": "<", b"MM": ">"}  # TIFF 6.0 section 2: "II" little-endian (Intel), "MM" big-endian (Motorola)
_TIFF_FIELD_FORMAT = {3: "H", 4: "I"}  # TIFF field types SHORT (2 bytes) and LONG (4 bytes)
_TO_STORED_GRID = {  # orientation -> the label on the displayed grid taken back onto the stored grid
    1: lambda a: a,
    2: lambda a: a[:, ::-1],  # displayed = stored mirrored left-right
    3: lambda a: a[::-1, ::-1],  # displayed = stored turned by 180 degrees
    4: lambda a: a[::-1, :],  # displayed = stored mirrored top-bottom
    5: lambda a: a.T,  # displayed = stored transposed (row 0 is the left column, column 0 the top row)
    6: lambda a: np.rot90(a, 1),  # displayed = stored turned clockwise (row 0 is the right column)
    7: lambda a: a[::-1, ::-1].T,  # displayed = stored transposed across the other diagonal
    8: lambda a: np.rot90(a, -1),  # displayed = stored turned anticlockwise (row 0 is the left column)
}


def image_size_from_bytes(data: bytes, source: Path | str) -> tuple[int, int]:
    """(width, height) in pixels from the header alone; a truncated PNG or JPEG is caught by its missing end marker.

    Raises `BadSampleError` naming `source` for an unreadable or truncated file.
    """
    try:
        with Image.open(io.BytesIO(data)) as im:
            size, fmt = im.size, im.format
    except Exception as exc:  # PIL raises several unrelated types for unreadable files
        raise BadSampleError(source, f"unreadable image ({exc})") from exc
    tail = data.rstrip(b"\x00")[-16:]
    if (fmt == "PNG" and not tail.endswith(_PNG_END)) or (fmt == "JPEG" and not tail.endswith(_JPEG_END)):
        raise BadSampleError(source, f"truncated {fmt} file ({len(data)} bytes, no end marker)")
    return size


def exif_orientation(data: bytes, source: Path | str) -> int:
    """The EXIF Orientation (1 to 8) that Pillow's `ImageOps.exif_transpose` would apply to this file; 1 if none.

    That is the value `datasets`' Image feature and transformers' `pipeline` act on when they decode:
    tag 0x0112 of the EXIF data (a JPEG's APP1 segment, a PNG's eXIf chunk or its "Raw profile type
    exif" text), else the first digit after `tiff:Orientation` in the XMP packet. Read through Pillow;
    a PNG without any of those chunks is answered from its chunk list alone, as Pillow would have to
    decode the pixels to look for an eXIf chunk after them. Raises BadSampleError naming the file and
    the value when it is not an integer from 1 to 8 (the values EXIF defines).
    """
    if data.startswith(_PNG_SIGNATURE) and not any(_png_chunk_may_orient(data, chunk) for chunk in _png_chunks(data)):
        return 1
    try:
        with Image.open(io.BytesIO(data)) as im:
            value = im.getexif().get(ORIENTATION_TAG, 1)
    except Exception as exc:  # PIL raises several unrelated types for unreadable files
        raise BadSampleError(source, f"unreadable image ({exc})") from exc
    if not isinstance(value, int) or not 1 <= value <= 8:
        raise BadSampleError(source, f"EXIF Orientation (tag 0x0112) is {value!r}; EXIF defines only 1 to 8")
    return value


def neutralize_orientation(data: bytes, source: Path | str) -> bytes:
    """The file with every orientation it stores rewritten to 1, and every other byte as it was.

    Pixels are not re-encoded: only the value of tag 0x0112 changes, in place, in the first IFD of each
    EXIF block (JPEG APP1 segments opening with "Exif" and two zero bytes, PNG eXIf chunks), and the
    digit after `tiff:Orientation` in uncompressed XMP (the JPEG XMP APP1 segment, a PNG iTXt or tEXt
    chunk with keyword "XML:com.adobe.xmp"). The EXIF block is a TIFF structure (TIFF 6.0 section 2): "II" or "MM"
    for the byte order, 42, the offset of the first IFD; an IFD is a 2-byte entry count and 12-byte
    entries (tag, type, count, value), a value of 4 bytes or fewer stored left-justified in the entry's
    last 4 bytes. Orientation is one SHORT (type 3); a LONG (type 4) is rewritten too. A patched PNG
    chunk gets its CRC-32 (over chunk type and data, PNG spec 5.3) recomputed.

    Afterwards Pillow must read orientation 1, so that PIL, `datasets` and `pipeline` all see the stored
    grid; an orientation kept where it cannot be rewritten in place (another image format, compressed
    XMP or "Raw profile type exif" text) is a BadSampleError naming the file. A file whose orientation
    is already 1 (or absent) is returned unchanged.
    """
    orientation = exif_orientation(data, source)
    if orientation == 1:
        return data
    patched = bytearray(data)
    if data.startswith(b"\xff\xd8"):
        for marker, start, end in _jpeg_segments(data):
            if marker == 0xE1 and data.startswith(_EXIF_HEADER, start):
                _set_tiff_orientation(patched, start + len(_EXIF_HEADER), end)
            elif marker == 0xE1 and data.startswith(_XMP_HEADER, start):
                _set_xmp_orientation(patched, start, end)
    elif data.startswith(_PNG_SIGNATURE):
        for kind, start, end in _png_chunks(data):
            if kind == b"eXIf":  # its data is the TIFF structure; some writers put the JPEG header first
                _set_tiff_orientation(patched, start + 6 * data.startswith(_EXIF_HEADER, start), end)
            elif (text := _png_xmp_text(data, kind, start, end)) is not None:
                _set_xmp_orientation(patched, text, end)
            if patched[start:end] != data[start:end]:
                patched[end : end + 4] = struct.pack(">I", zlib.crc32(patched[start - 4 : end]))
    result = bytes(patched)
    if exif_orientation(result, source) != 1:
        raise BadSampleError(
            source,
            f"EXIF Orientation is {orientation} and is stored where it cannot be set to 1 "
            f"in place (only JPEG APP1 Exif/XMP segments and PNG eXIf or uncompressed XMP "
            f"chunks can); save the image upright without the tag",
        )
    return result


def label_to_stored_grid(label: np.ndarray, orientation: int) -> np.ndarray:
    """A label drawn on an image's displayed picture, moved onto the image's stored pixel grid.

    `label` is (H, W) as displayed; the result is (W, H) for orientations 5 to 8, (H, W) otherwise, with
    the same dtype and values (only moved: lossless for an id map). It undoes the transform the
    orientation describes (EXIF 2.32 4.6.5: where row 0 and column 0 of the stored image are shown),
    the one Pillow's `exif_transpose` applies. Raises ValueError for a value outside 1 to 8.
    """
    if orientation not in _TO_STORED_GRID:
        raise ValueError(f"EXIF orientation must be 1 to 8, got {orientation!r}")
    return np.ascontiguousarray(_TO_STORED_GRID[orientation](label))


def _jpeg_segments(data: bytes) -> Iterator[tuple[int, int, int]]:
    """(marker, payload start, payload end) of each segment before the image data (ITU T.81 B.1.1)."""
    pos = 2  # after SOI
    while pos + 4 <= len(data) and data[pos] == 0xFF:
        marker = data[pos + 1]
        if marker == 0xFF:  # fill byte
            pos += 1
            continue
        if marker in (0xDA, 0xD9):  # start of scan, end of image: no more metadata segments
            return
        if marker == 0x01 or 0xD0 <= marker <= 0xD7:  # markers without a length
            pos += 2
            continue
        length = struct.unpack_from(">H", data, pos + 2)[0]  # counts its own two bytes
        yield marker, pos + 4, min(pos + 2 + length, len(data))
        pos += 2 + length


def _png_chunks(data: bytes) -> Iterator[tuple[bytes, int, int]]:
    """(type, data start, data end) of each chunk; the 4-byte CRC follows the data (PNG spec 5.3)."""
    pos = len(_PNG_SIGNATURE)
    while pos + 12 <= len(data):
        length, kind = struct.unpack_from(">I4s", data, pos)
        end = pos + 8 + length
        if end + 4 > len(data):
            return
        yield kind, pos + 8, end
        if kind == b"IEND":
            return
        pos = end + 4


def _png_chunk_may_orient(data: bytes, chunk: tuple[bytes, int, int]) -> bool:
    """Whether Pillow would read an orientation from this chunk: eXIf, or EXIF or XMP text."""
    kind, start, end = chunk
    if kind == b"eXIf":
        return True
    if kind not in (b"tEXt", b"zTXt", b"iTXt"):
        return False
    keyword = data[start : min(end, start + 80)].split(b"\x00", 1)[0]  # keywords are 1 to 79 bytes (PNG spec 11.3.4)
    return keyword in (b"Raw profile type exif", _XMP_KEYWORD)


def _png_xmp_text(data: bytes, kind: bytes, start: int, end: int) -> int | None:
    """Where the uncompressed XMP text of a tEXt or iTXt chunk starts; None for anything else."""
    head = _XMP_KEYWORD + b"\x00"
    if not data.startswith(head, start):
        return None
    if kind == b"tEXt":
        return start + len(head)
    if kind != b"iTXt" or data[start + len(head)] != 0:  # iTXt: compression flag, method, language, translation
        return None
    text = start + len(head) + 2
    for _ in range(2):  # language tag and translated keyword, each ended by a zero byte
        text = data.find(b"\x00", text, end) + 1
        if text == 0:
            return None
    return text


def _set_tiff_orientation(buffer: bytearray, start: int, end: int) -> None:
    """Set tag 0x0112 of the first IFD of the TIFF structure in buffer[start:end] to 1, if it is there."""
    tiff = bytes(buffer[start:end])
    order = _TIFF_ORDER.get(tiff[:2])
    if order is None or len(tiff) < 8 or struct.unpack_from(order + "H", tiff, 2)[0] != 42:
        return
    ifd = struct.unpack_from(order + "I", tiff, 4)[0]
    if ifd + 2 > len(tiff):
        return
    entries_end = min(ifd + 2 + 12 * struct.unpack_from(order + "H", tiff, ifd)[0], len(tiff) - 11)
    for entry in range(ifd + 2, entries_end, 12):
        tag, field_type, count = struct.unpack_from(order + "HHI", tiff, entry)
        if tag == ORIENTATION_TAG and count == 1 and field_type in _TIFF_FIELD_FORMAT:
            struct.pack_into(order + _TIFF_FIELD_FORMAT[field_type], buffer, start + entry + 8, 1)


def _set_xmp_orientation(buffer: bytearray, start: int, end: int) -> None:
    """Set every `tiff:Orientation` digit in the XMP text buffer[start:end] to 1."""
    for match in _XMP_ORIENTATION.finditer(bytes(buffer[start:end])):
        buffer[start + match.start(2)] = ord("1")


def decode_label(data: bytes | Path | str, source: Path | str | None = None, mode: str = "index") -> np.ndarray:
    """Decode a label image (encoded bytes or a file path) into an array without any colour conversion.

    mode "index": (H, W) ids: palette PNGs give their palette indices, grey PNGs their values (uint8, or uint16
    for 16-bit); mode "rgb": (H, W, 3) uint8 colours, for colour-coded labels. Raises `BadSampleError` naming
    `source` (else the path) for an unreadable file or, in "index" mode, a colour image.
    """
    source = source if source is not None else (data if not isinstance(data, bytes) else "<bytes>")
    try:
        with Image.open(io.BytesIO(data) if isinstance(data, bytes) else data) as im:
            im.load()
            if mode == "rgb":
                return np.asarray(im.convert("RGB"))
            if im.mode in ("P", "L", "I;16", "I;16B", "I;16L", "I", "1"):
                return np.asarray(im)
            raise BadSampleError(
                source, f"label image has mode {im.mode}; expected a single-channel id or palette image"
            )
    except BadSampleError:
        raise
    except Exception as exc:
        raise BadSampleError(source, f"unreadable label image ({exc})") from exc


def decode_rgb(data: bytes, source: Path | str) -> np.ndarray:
    """(H, W, 3) uint8 RGB of an encoded image, on its stored pixel grid; `BadSampleError` naming `source`."""
    try:
        with Image.open(io.BytesIO(data)) as im:
            return np.asarray(im.convert("RGB"))
    except Exception as exc:  # PIL raises several unrelated types for unreadable files
        raise BadSampleError(source, f"unreadable image ({exc})") from exc


@dataclass
class DecodedBatch:
    """Consecutive rows of one image size, decoded (what `batches_of_equal_size` yields)."""

    rows: list[dict]  # the rows as read, encoded columns untouched
    images: np.ndarray  # (B, H, W, 3) uint8
    labels: dict[str, np.ndarray]  # column -> (B, H, W) ids


def batches_of_equal_size(
    rows: Iterable[dict],
    label_columns: list[str],
    batch_size: int,
    image_column: str = "image",
    id_column: str = "image_id",
) -> Iterator[DecodedBatch]:
    """Decode rows (image and label columns as `{"bytes": ...}` records) into batches of one image size.

    At most `batch_size` consecutive rows go together; a row of another size starts a new batch. A label
    whose size differs from its image is a `BadSampleError` naming the row's image id and the column.
    """
    pending: list[tuple[dict, np.ndarray, dict[str, np.ndarray]]] = []
    for row in rows:
        where = row.get(id_column, "<row>")
        image = decode_rgb(row[image_column]["bytes"], where)
        labels = {c: decode_label(row[c]["bytes"], source=f"{where} ({c})") for c in label_columns}
        for column, label in labels.items():
            if label.shape != image.shape[:2]:
                raise BadSampleError(
                    where,
                    f"{column} is {label.shape[1]}x{label.shape[0]} but the image is {image.shape[1]}x{image.shape[0]}",
                )
        if pending and (len(pending) == batch_size or pending[0][1].shape != image.shape):
            yield _stack(pending, label_columns)
            pending = []
        pending.append((row, image, labels))
    if pending:
        yield _stack(pending, label_columns)


def _stack(pending: list, label_columns: list[str]) -> DecodedBatch:
    return DecodedBatch(
        rows=[p[0] for p in pending],
        images=np.stack([p[1] for p in pending]),
        labels={c: np.stack([p[2][c] for p in pending]) for c in label_columns},
    )


def encode_label(label: np.ndarray) -> bytes:
    """Lossless grey PNG of an (H, W) integer id map: 8-bit when every id is below 256, 16-bit otherwise.

    Written directly rather than through Pillow: every row uses PNG's "up" filter (label maps repeat
    from row to row) and deflate runs in its run-length mode. That is about a third faster than
    Pillow's per-row filter search and gives files about three times smaller, read by any PNG decoder
    (filter type 2 and the chunk layout as the PNG specification, 2nd edition, sections 9.2 and 5.3, define
    them). Raises `ValueError` for an array that is not 2-D.
    """
    if label.ndim != 2:
        raise ValueError(f"label maps are 2-D, got shape {label.shape}")
    array = label.astype(np.uint8) if label.max(initial=0) < 256 else label.astype(">u2")
    height, width = array.shape
    rows = np.ascontiguousarray(array).view(np.uint8).reshape(height, width * array.itemsize)
    filtered = np.empty((height, rows.shape[1] + 1), dtype=np.uint8)
    filtered[:, 0] = 2  # filter type "up": each byte minus the one above it (zero above the first row)
    filtered[:, 1:] = rows
    filtered[1:, 1:] -= rows[:-1]
    compressor = zlib.compressobj(1, zlib.DEFLATED, 15, 9, zlib.Z_RLE)
    pixels = compressor.compress(filtered.tobytes()) + compressor.flush()
    header = struct.pack(">IIBBBBB", width, height, 8 * array.itemsize, 0, 0, 0, 0)  # grey, no interlace
    return _PNG_SIGNATURE + _png_chunk(b"IHDR", header) + _png_chunk(b"IDAT", pixels) + _png_chunk(b"IEND", b"")


def _png_chunk(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))


def encode_png(rgb: np.ndarray) -> bytes:
    """PNG bytes of an (H, W, 3) uint8 RGB image (lossless, fast zlib level 1), for images made in memory."""
    buffer = io.BytesIO()
    Image.fromarray(rgb).save(buffer, format="PNG", compress_level=1)
    return buffer.getvalue()


def colorize(label: np.ndarray, palette: np.ndarray) -> np.ndarray:
    """(H, W) integer ids to (H, W, 3) colours through a (>= max id + 1, 3) palette (`Taxonomy.palette`)."""
    return palette[label.astype(np.int64)]


def read_id_label(path: Path | str) -> tuple[np.ndarray, bytes | None]:
    """An id-coded label file: its ids, and its bytes when they are a plain grey PNG of exactly those ids.

    Passing such bytes on as they are saves re-encoding; palette PNGs are decoded to their indices but
    re-encoded, so that no reader can mistake them for colours. Raises `BadSampleError` naming `path` when the
    file cannot be read or decoded.
    """
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise BadSampleError(path, f"cannot read label ({exc})") from exc
    label = decode_label(data, path)
    with Image.open(io.BytesIO(data)) as im:
        plain_png = im.format == "PNG" and im.mode == "L"
    return label, data if plain_png else None


def rgb_to_ids(
    rgb: np.ndarray, colors: dict[tuple[int, int, int], int], source: Path | str, default: int | None = None
) -> np.ndarray:
    """(H, W) ids (uint8, or uint16 when an id exceeds 255) of a colour-coded (H, W, 3) label through `colors`.

    A colour outside the table is a `BadSampleError` naming `source` and up to ten such colours with their pixel
    counts, unless `default` is given: the id of every other colour (datasets whose ignored class is "any colour
    not in the table").
    """
    codes = _pack_rgb(rgb)
    keys = _pack_rgb(np.array(list(colors), dtype=np.int64).reshape(-1, 3))
    order = np.argsort(keys)
    keys, values = keys[order], np.array(list(colors.values()), dtype=np.int64)[order]
    position = np.minimum(np.searchsorted(keys, codes), len(keys) - 1)
    found = keys[position] == codes
    ids = values[position]
    if not found.all():
        if default is None:
            unknown, counts = np.unique(codes[~found], return_counts=True)
            listed = ", ".join(
                f"#{c:06x} ({n} px)" for c, n in zip(unknown[:10].tolist(), counts[:10].tolist(), strict=True)
            )
            more = f" and {len(unknown) - 10} more" if len(unknown) > 10 else ""
            raise BadSampleError(source, f"{len(unknown)} colour(s) not in the colour table: {listed}{more}")
        ids = np.where(found, ids, default)
    return ids.astype(np.uint8 if ids.max(initial=0) < 256 else np.uint16)


def _pack_rgb(rgb: np.ndarray) -> np.ndarray:
    rgb = rgb.astype(np.int64)
    return (rgb[..., 0] << 16) | (rgb[..., 1] << 8) | rgb[..., 2]
