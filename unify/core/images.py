"""Reading and writing label maps and images without losing or re-encoding anything."""

from __future__ import annotations

import io
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


def image_size_from_bytes(data: bytes, source: Path | str) -> tuple[int, int]:
    """(width, height) from the header alone; a truncated PNG or JPEG is caught by its missing end marker."""
    try:
        with Image.open(io.BytesIO(data)) as im:
            size, fmt = im.size, im.format
    except Exception as exc:  # PIL raises several unrelated types for unreadable files
        raise BadSampleError(source, f"unreadable image ({exc})") from exc
    tail = data.rstrip(b"\x00")[-16:]
    if (fmt == "PNG" and not tail.endswith(_PNG_END)) or (fmt == "JPEG" and not tail.endswith(_JPEG_END)):
        raise BadSampleError(source, f"truncated {fmt} file ({len(data)} bytes, no end marker)")
    return size


def decode_label(data: bytes | Path | str, source: Path | str | None = None, mode: str = "index") -> np.ndarray:
    """Decode a label image into an array without any colour conversion.

    mode "index": palette PNGs give their palette indices, grey PNGs their values (8 or 16 bit);
    mode "rgb": (H, W, 3) colours, for colour-coded labels.
    """
    source = source if source is not None else (data if not isinstance(data, bytes) else "<bytes>")
    try:
        with Image.open(io.BytesIO(data) if isinstance(data, bytes) else data) as im:
            im.load()
            if mode == "rgb":
                return np.asarray(im.convert("RGB"))
            if im.mode in ("P", "L", "I;16", "I;16B", "I;16L", "I", "1"):
                return np.asarray(im)
            raise BadSampleError(source, f"label image has mode {im.mode}; expected a single-channel id or palette image")
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
    """Consecutive rows of one image size, decoded."""

    rows: list[dict]  # the rows as read, encoded columns untouched
    images: np.ndarray  # (B, H, W, 3) uint8
    labels: dict[str, np.ndarray]  # column -> (B, H, W) ids


def batches_of_equal_size(rows: Iterable[dict], label_columns: list[str], batch_size: int,
                          image_column: str = "image", id_column: str = "image_id") -> Iterator[DecodedBatch]:
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
                raise BadSampleError(where, f"{column} is {label.shape[1]}x{label.shape[0]} but the image is "
                                            f"{image.shape[1]}x{image.shape[0]}")
        if pending and (len(pending) == batch_size or pending[0][1].shape != image.shape):
            yield _stack(pending, label_columns)
            pending = []
        pending.append((row, image, labels))
    if pending:
        yield _stack(pending, label_columns)


def _stack(pending: list, label_columns: list[str]) -> DecodedBatch:
    return DecodedBatch(rows=[p[0] for p in pending], images=np.stack([p[1] for p in pending]),
                        labels={c: np.stack([p[2][c] for p in pending]) for c in label_columns})


def encode_label(label: np.ndarray) -> bytes:
    """Lossless grey PNG of an id map: 8-bit when every id fits, 16-bit otherwise.

    Written directly rather than through Pillow: every row uses PNG's "up" filter (label maps repeat
    from row to row) and deflate runs in its run-length mode. That is about a third faster than
    Pillow's per-row filter search and gives files about three times smaller, read by any PNG decoder.
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
    buffer = io.BytesIO()
    Image.fromarray(rgb).save(buffer, format="PNG", compress_level=1)
    return buffer.getvalue()


def colorize(label: np.ndarray, palette: np.ndarray) -> np.ndarray:
    """(H, W) ids to (H, W, 3) colours through a (>=256, 3) palette."""
    return palette[label.astype(np.int64)]


def read_id_label(path: Path | str) -> tuple[np.ndarray, bytes | None]:
    """An id-coded label file: its ids, and its bytes when they are a plain grey PNG of exactly those ids.

    Passing such bytes on as they are saves re-encoding; palette PNGs are decoded to their indices but
    re-encoded, so that no reader can mistake them for colours.
    """
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise BadSampleError(path, f"cannot read label ({exc})") from exc
    label = decode_label(data, path)
    with Image.open(io.BytesIO(data)) as im:
        plain_png = im.format == "PNG" and im.mode == "L"
    return label, data if plain_png else None


def rgb_to_ids(rgb: np.ndarray, colors: dict[tuple[int, int, int], int], source: Path | str,
               default: int | None = None) -> np.ndarray:
    """(H, W) ids of a colour-coded (H, W, 3) label through `colors`.

    A colour outside the table is an error naming the file and each such colour with its pixel count,
    unless `default` is given (datasets whose void is "every other colour").
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
            listed = ", ".join(f"#{c:06x} ({n} px)" for c, n in zip(unknown[:10].tolist(), counts[:10].tolist()))
            more = f" and {len(unknown) - 10} more" if len(unknown) > 10 else ""
            raise BadSampleError(source, f"{len(unknown)} colour(s) not in the colour table: {listed}{more}")
        ids = np.where(found, ids, default)
    return ids.astype(np.uint8 if ids.max(initial=0) < 256 else np.uint16)


def _pack_rgb(rgb: np.ndarray) -> np.ndarray:
    rgb = rgb.astype(np.int64)
    return (rgb[..., 0] << 16) | (rgb[..., 1] << 8) | rgb[..., 2]
