"""Benchmark the training input pipeline per CPU core: decode + scale + crop + flip, JPEG and PNG sources.

Encodes N street-like 2048x1024 frames (bench_build.make_frame) as JPEG (quality 90) and as PNG,
with their label PNGs as `unify build` writes them (encode_label), and keeps the bytes in memory.
Then, per source format and scale range, it times 512x512 training crops made by:

- `resize-then-crop`: decode the whole image (train.data.decode_pair), resize it whole by the sampled
  scale, pad, crop, flip: the order of the transformers semantic-segmentation example (RandomResize,
  RandomCrop, flip), with the same torch resizing as ours so that only the order of the work differs;
- `window-then-resize`: decode the whole image, cut the window, resize only the window (TrainTransform);
- `+ jpeg draft`: TrainTransform given the opened image (open_pair), decoding a JPEG at 1/2, 1/4 or
  1/8 size where the sampled scale is at most that (for PNG identical to the line above);
- `+ paper augmentation`: the same with the paper's augmentation defaults.

Rates are images per CPU second of this process on one thread (torch.set_num_threads(1)): what one
core of a data-loader worker delivers. Pipelines are timed in turn, round after round, and each
reports the median of its rounds. Decode-only rates are printed beside them.

Labels are the Cityscapes train ids of the frames' classes (the package's `cityscapes` -> `cityscapes19`
mapping), as a training source holds them.

    python bench/bench_input_pipeline.py [--frames 6] [--crops 12] [--rounds 5]

`encoded_rows`, `pipelines` and `measure_loader` (images per second of a multi-process DataLoader, the way
training consumes these crops) are what `bench/gpu_suite.py` calls.
"""

from __future__ import annotations

import functools
import io
import json
import os
import sys
from collections.abc import Callable

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from timing import cpu_seconds_per_call, interleaved_medians, single_core_setup, steady_seconds_per_batch

from train.config import AugmentConfig
from train.data import decode_pair
from train.decode import open_pair
from train.transforms import TrainTransform
from unify.core.constants import IGNORE_INDEX, IMAGE, LABEL
from unify.core.images import encode_label
from unify.core.mapping import get_mapping
from unify.core.segmenter import Normalization

CROP = (512, 512)
SCALE_RANGES = ((0.5, 2.0), (0.5, 1.0), (0.25, 0.5))


def encode(image: np.ndarray, fmt: str) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, fmt, **({"quality": 90} if fmt == "JPEG" else {}))
    return buffer.getvalue()


def resize_then_crop(
    image: np.ndarray,
    label: np.ndarray,
    rng: np.random.Generator,
    scale_range: tuple[float, float],
    crop: tuple[int, int] = CROP,
) -> tuple[torch.Tensor, torch.Tensor]:
    """The whole image resized by a random scale, padded to the crop, cropped at random and flipped."""
    scale = rng.uniform(*scale_range)
    height, width = round(label.shape[0] * scale), round(label.shape[1] * scale)
    pixels = F.interpolate(
        torch.from_numpy(np.array(image)).permute(2, 0, 1)[None].float(),
        size=(height, width),
        mode="bilinear",
        align_corners=False,
        antialias=scale < 1,
    )[0]
    target = F.interpolate(
        torch.from_numpy(label.astype(np.int64))[None, None].float(), size=(height, width), mode="nearest"
    )[0, 0].long()
    pad_h, pad_w = max(crop[0] - height, 0), max(crop[1] - width, 0)
    pixels = F.pad(Normalization()(pixels.clamp(0, 255)), (0, pad_w, 0, pad_h))
    target = F.pad(target, (0, pad_w, 0, pad_h), value=IGNORE_INDEX)
    top = int(rng.integers(0, pixels.shape[1] - crop[0] + 1))
    left = int(rng.integers(0, pixels.shape[2] - crop[1] + 1))
    pixels, target = (
        pixels[:, top : top + crop[0], left : left + crop[1]],
        target[top : top + crop[0], left : left + crop[1]],
    )
    if rng.random() < 0.5:
        pixels, target = pixels.flip(-1), target.flip(-1)
    return pixels, target


def train_ids(label: np.ndarray) -> np.ndarray:
    """Cityscapes label ids -> cityscapes19 train ids (IGNORE_INDEX for classes that map to none), uint8."""
    mapping = get_mapping("cityscapes", "cityscapes19")
    lookup = np.full(256, IGNORE_INDEX, dtype=np.uint8)
    for native, allowed in mapping.allowed.items():
        if len(allowed) == 1:
            lookup[native] = allowed[0]
    return lookup[label]


def encoded_rows(frames: list[tuple[np.ndarray, np.ndarray]], fmt: str) -> list[dict]:
    """Rows as a training source holds them: image bytes in `fmt` (JPEG or PNG), train-id label PNG bytes."""
    return [
        {IMAGE: {"bytes": encode(image, fmt)}, LABEL: {"bytes": encode_label(train_ids(label))}}
        for image, label in frames
    ]


def _resize_then_crop_row(scale_range: tuple[float, float], crop: tuple[int, int], row: dict, rng: np.random.Generator):
    return resize_then_crop(*decode_pair(row, LABEL), rng, scale_range, crop)


def _decoded_row(transform: TrainTransform, row: dict, rng: np.random.Generator):
    return transform(*decode_pair(row, LABEL), rng)


def _opened_row(transform: TrainTransform, row: dict, rng: np.random.Generator):
    return transform(*open_pair(row, LABEL), rng)


def pipelines(scale_range: tuple[float, float], crop: tuple[int, int] = CROP) -> dict[str, Callable]:
    """name -> function(row, rng) giving one training crop from encoded bytes (picklable, for loader workers).

    `+ jpeg draft` is the package's training input with its augmentation off (`MixedDataset` opens the row,
    `TrainTransform` decodes and crops it); `+ paper augmentation` is the same with the package's defaults.
    """
    window = TrainTransform(crop, scale_range)
    draft = TrainTransform(crop, scale_range, jpeg_draft=True)
    augmented = TrainTransform(crop, scale_range, augment=AugmentConfig(), jpeg_draft=True)
    return {
        "resize-then-crop": functools.partial(_resize_then_crop_row, scale_range, crop),
        "window-then-resize": functools.partial(_decoded_row, window),
        "+ jpeg draft": functools.partial(_opened_row, draft),
        "+ paper augmentation": functools.partial(_opened_row, augmented),
    }


class Crops(torch.utils.data.Dataset):
    """`length` training crops made by `work(row, rng)` from rows held in memory, cycling through them;
    crop i is drawn with seed i, so every pipeline sees the same rows and seeds."""

    def __init__(self, rows: list[dict], work: Callable, length: int):
        self.rows, self.work, self.length = rows, work, length

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, index: int):
        return self.work(self.rows[index % len(self.rows)], np.random.default_rng(index))


def crop_loader(
    rows: list[dict], work: Callable, batch_size: int, batches: int, workers: int
) -> torch.utils.data.DataLoader:
    """A DataLoader of `batches` batches of crops, built by `workers` processes (memory pinned under CUDA)."""
    return torch.utils.data.DataLoader(
        Crops(rows, work, batch_size * batches),
        batch_size=batch_size,
        num_workers=workers,
        pin_memory=torch.cuda.is_available(),
    )


def measure_loader(
    rows: list[dict], works: dict[str, Callable], batch_size: int, workers: int, skip: int, count: int
) -> dict[str, float]:
    """Images per second (wall) each pipeline delivers through a DataLoader of `workers` processes.

    Each pipeline gets a fresh loader; `count` batches are timed after the first `skip` (see
    `timing.steady_seconds_per_batch`: with skip >= workers the workers' start is not counted).
    """
    rates = {}
    for name, work in works.items():
        loader = crop_loader(rows, work, batch_size, skip + count, workers)
        rates[name] = batch_size / steady_seconds_per_batch(loader, lambda batch: None, skip, count, "cpu")
    return rates


def decode_rates(rows: list[dict], rounds: int) -> dict[str, float]:
    """Images per CPU second of decoding alone: whole images, JPEG at reduced size, labels."""

    def whole(row):
        np.asarray(Image.open(io.BytesIO(row[IMAGE]["bytes"])).convert("RGB"))

    def reduced(factor):
        def run(row):
            image = Image.open(io.BytesIO(row[IMAGE]["bytes"]))
            image.draft("RGB", (image.width // factor, image.height // factor))
            np.asarray(image.convert("RGB"))

        return run

    def label(row):
        np.asarray(Image.open(io.BytesIO(row[LABEL]["bytes"])))

    works = {"whole image": whole, "label PNG": label}
    if rows[0][IMAGE]["bytes"][:2] == b"\xff\xd8":
        works.update({f"JPEG at 1/{f}": reduced(f) for f in (2, 4, 8)})
    seconds = interleaved_medians(
        {
            name: lambda w=work: cpu_seconds_per_call(lambda row, rng: w(row), rows, len(rows))
            for name, work in works.items()
        },
        rounds,
    )
    return {name: round(1 / value, 1) for name, value in seconds.items()}


def main() -> int:
    args, frames = single_core_setup(__doc__.splitlines()[0], frames=6, crops=12, rounds=5)
    report: dict = {
        "size": "2048x1024",
        "crop": list(CROP),
        "threads": torch.get_num_threads(),
        "cpu_count": os.cpu_count(),
        "sources": {},
    }
    for fmt in ("JPEG", "PNG"):
        rows = encoded_rows(frames, fmt)
        source = {
            "mb_per_image": round(sum(len(r[IMAGE]["bytes"]) for r in rows) / len(rows) / 1e6, 2),
            "decode_images_per_cpu_s": decode_rates(rows, args.rounds),
            "scale_ranges": {},
        }
        for scale_range in SCALE_RANGES:
            seconds = interleaved_medians(
                {
                    name: lambda w=work, r=rows: cpu_seconds_per_call(w, r, args.crops)
                    for name, work in pipelines(scale_range).items()
                },
                args.rounds,
            )
            source["scale_ranges"][str(list(scale_range))] = {
                name: {
                    "images_per_cpu_s": round(1 / value, 1),
                    "ratio_to_resize_then_crop": round(seconds["resize-then-crop"] / value, 2),
                }
                for name, value in seconds.items()
            }
        report["sources"][fmt] = source
    report["load_average"] = os.getloadavg()[0]
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
