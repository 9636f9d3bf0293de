"""The paired (image, label) training transform; evaluation needs none (whole images, `unify.core.evaluator`).

The training transform cuts the source window first and resizes only that window, which is
cheaper than resizing the whole image and then cropping, and gives the same distribution.
Labels are resized with nearest neighbour and padded with the ignore index. After the flip come
the photometric changes of the paper's training code (image only) and a small shear (both).

Every random number comes from the per-sample generator, in a fixed order whatever is switched
on, so the same seed gives the same crop and switching one change off leaves the others as they were.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from train.config import AugmentConfig, TrainConfig
from train.decode import decode_reduced
from unify.core.constants import IGNORE_INDEX
from unify.core.errors import UnifyError
from unify.core.segmenter import Normalization

JPEG_REDUCTIONS = (8, 4, 2)  # the scales libjpeg decodes at directly (PIL's Image.draft): 1/8, 1/4, 1/2
OUTSIDE = -1
"""Value of the transformed native label where no source pixel lies (padding, sheared in): no native id is < 0."""


class TrainTransform:
    """Random scale, crop and flip of (image, label), then the configured photometric changes and shear.

    Pixels are normalised as the model's image processor does (`normalize`). `image` is a decoded
    (H, W, 3) uint8 array, or a PIL image opened but not yet decoded: then a JPEG is decoded at 1/r
    size (r in 8, 4, 2, the largest with 1/r >= the sampled scale) when `jpeg_draft` is on. The crop
    window is then snapped to the 1/r grid (at most r - 1 source pixels, under one output pixel) and
    the label window is the same region at full size, so the pair stays aligned; libjpeg's reduced
    decoding is not bit-identical to antialiased downscaling of the full image. With `jpeg_draft`
    off, or a scale the reduction cannot serve, or a non-JPEG source, the output is exactly that of
    the decoded array.
    """

    def __init__(
        self,
        crop_size: tuple[int, int],
        scale_range: tuple[float, float],
        normalize: Normalization = Normalization(),
        augment: AugmentConfig | None = None,
        jpeg_draft: bool = False,
    ):
        self.crop_h, self.crop_w = crop_size
        self.scale_range = scale_range
        self.normalize = normalize
        self.augment = augment or AugmentConfig.none()
        self.jpeg_draft = jpeg_draft

    @classmethod
    def from_config(cls, config: TrainConfig, normalize: Normalization = Normalization()) -> TrainTransform:
        """The training transform a config asks for, normalising as the model's image processor does."""
        return cls(config.crop_size, config.scale_range, normalize, config.augment, config.jpeg_draft)

    def __call__(
        self,
        image: np.ndarray | Image.Image,
        label: np.ndarray,
        rng: np.random.Generator,
        native: np.ndarray | None = None,
    ) -> tuple[torch.Tensor, ...]:
        """Image and (H, W) ids -> normalised float (3, crop_h, crop_w) and long (crop_h, crop_w), 255 outside.

        `native`, an optional second (H, W) id map of the same sample (the native label beside a unified one),
        is cropped, resized (nearest), flipped and sheared exactly as `label` and returned third, long, with
        `OUTSIDE` (-1) where no source pixel lies (padding, sheared in); the random draws and the first two
        outputs are the same with or without it. Raises `UnifyError` when the sizes differ.
        """
        height, width = label.shape
        size = image.size if isinstance(image, Image.Image) else image.shape[1::-1]
        if tuple(size) != (width, height):
            raise UnifyError(f"image of {size[0]}x{size[1]} pixels has a label of {width}x{height}")
        if native is not None and native.shape != label.shape:
            raise UnifyError(
                f"native label of {native.shape[1]}x{native.shape[0]} pixels beside a label of {width}x{height}"
            )
        scale = rng.uniform(*self.scale_range)
        win_h, win_w = max(1, round(self.crop_h / scale)), max(1, round(self.crop_w / scale))
        top = int(rng.integers(0, max(height - win_h, 0) + 1))
        left = int(rng.integers(0, max(width - win_w, 0) + 1))
        image, reduction = self._decode(image, scale)
        rows, label_rows = _window(top, win_h, height, reduction)
        cols, label_cols = _window(left, win_w, width, reduction)
        image_window = torch.from_numpy(np.array(image[rows, cols])).permute(2, 0, 1)
        # The window may be smaller than asked where the image is small: resize what is there, pad the rest.
        out_h = min(self.crop_h, round(image_window.shape[1] * reduction * scale))
        out_w = min(self.crop_w, round(image_window.shape[2] * reduction * scale))
        image_out = F.interpolate(
            image_window[None].float(),
            size=(out_h, out_w),
            mode="bilinear",
            align_corners=False,
            antialias=scale * reduction < 1,
        )[0]
        label_out = _resized_ids(label[label_rows, label_cols], (out_h, out_w))
        native_out = None if native is None else _resized_ids(native[label_rows, label_cols], (out_h, out_w))
        if rng.random() < 0.5:
            image_out, label_out = image_out.flip(-1), label_out.flip(-1)
            native_out = None if native_out is None else native_out.flip(-1)
        change = Augmentation.draw(self.augment, rng)
        image_out = change.photometric(image_out, rng)
        pixels = torch.zeros(3, self.crop_h, self.crop_w)
        target = torch.full((self.crop_h, self.crop_w), IGNORE_INDEX, dtype=torch.long)
        pixels[:, :out_h, :out_w] = self.normalize(image_out.clamp(0, 255))
        target[:out_h, :out_w] = label_out
        if native_out is None:
            if change.shear_degrees:
                pixels, target = shear(pixels, target, change.shear_degrees)
            return pixels, target
        native_target = torch.full((self.crop_h, self.crop_w), OUTSIDE, dtype=torch.long)
        native_target[:out_h, :out_w] = native_out
        if change.shear_degrees:
            pixels, target, native_target = shear(pixels, target, change.shear_degrees, native_target)
        return pixels, target, native_target

    def _decode(self, image: np.ndarray | Image.Image, scale: float) -> tuple[np.ndarray, int]:
        """The (H / r, W / r, 3) uint8 pixels and r: 1 unless a JPEG is decoded at reduced size."""
        if isinstance(image, np.ndarray):
            return image, 1
        return decode_reduced(image, next((r for r in JPEG_REDUCTIONS if scale * r <= 1), 1) if self.jpeg_draft else 1)


def _resized_ids(ids: np.ndarray, size: tuple[int, int]) -> torch.Tensor:
    """(h, w) integer ids -> long (size), nearest neighbour (float32 carries ids below 2**24 exactly)."""
    window = torch.from_numpy(ids.astype(np.int64))
    return F.interpolate(window[None, None].float(), size=size, mode="nearest")[0, 0].long()


def _window(start: int, length: int, size: int, reduction: int) -> tuple[slice, slice]:
    """Pixels [start, start + length) of a side of `size`, on the grid of an image decoded at 1/reduction.

    Returns the slice of the reduced image and the slice of full-size pixels (of the label) it covers;
    with reduction 1 both are [start, min(start + length, size)).
    """
    first = start // reduction
    stop = min(first + max(1, round(length / reduction)), -(-size // reduction))
    return slice(first, stop), slice(first * reduction, min(stop * reduction, size))


@dataclass(frozen=True)
class Augmentation:
    """The changes drawn for one crop; a field at its identity (1, 0) means that change is skipped."""

    hue_degrees: float
    saturation: float
    contrast: float
    brightness: float
    blur_sigma: float  # 0: no blur
    noise_std: float  # in 0-255 units; 0: no noise
    shear_degrees: float

    @classmethod
    def draw(cls, settings: AugmentConfig, rng: np.random.Generator) -> Augmentation:
        """Draw every parameter, in this fixed order, whether or not its change is on."""
        hue, saturation = rng.uniform(*settings.hue_degrees), rng.uniform(*settings.saturation)
        contrast, brightness = rng.uniform(*settings.contrast), rng.uniform(*settings.brightness)
        blurred, sigma = rng.random() < settings.blur_probability, rng.uniform(0, settings.blur_sigma)
        noisy, std = rng.random() < settings.noise_probability, rng.uniform(0, settings.noise_std)
        return cls(
            hue,
            saturation,
            contrast,
            brightness,
            sigma if blurred else 0.0,
            255 * std if noisy else 0.0,
            rng.uniform(*settings.shear_degrees),
        )

    def photometric(self, image: torch.Tensor, rng: np.random.Generator) -> torch.Tensor:
        """(3, H, W) float RGB in [0, 255] -> the same, changed in the order of the paper's code.

        Blur, noise (kept in [0, 255], as the paper's 8-bit pipeline clips it), hue and saturation,
        contrast about 127 (imgaug's LinearContrast centre for 8-bit images), brightness. The noise is
        drawn from `rng` after every other parameter, so it shifts no other random number.
        """
        if self.blur_sigma:
            image = gaussian_blur(image, self.blur_sigma)
        if self.noise_std:
            noise = torch.from_numpy(rng.standard_normal(image.shape, dtype=np.float32))
            image = (image + self.noise_std * noise).clamp(0, 255)
        if self.hue_degrees or self.saturation != 1:
            image = hue_saturation(image, self.hue_degrees, self.saturation)
        if self.contrast != 1:
            image = 127 + self.contrast * (image - 127)
        if self.brightness != 1:
            image = image * self.brightness
        return image


def hue_saturation(image: torch.Tensor, hue_degrees: float, saturation: float) -> torch.Tensor:
    """Rotate the HSV hue by `hue_degrees` and scale the saturation by `saturation` (capped at 1), value kept.

    (3, H, W) float RGB, any non-negative scale. Equal to converting each pixel to HSV, changing H and S
    and converting back (`colorsys`, checked in the tests), without the round trip: with V = max and
    chroma C = V - min = S * V, channel n of (R, G, B) is V - C * clamp(min(k, 4 - k), 0, 1), where
    k = (5, 3, 1)[n] + H / 60 mod 6 (the HSV -> RGB formula of Smith 1978, as written in Wikipedia's "HSL and HSV").
    """
    red, green, blue = image
    value, lowest = image.amax(0), image.amin(0)
    chroma = value - lowest
    # H / 60 in [-1, 5), from the channel that is largest; grey pixels (C = 0) get 0 and keep V whatever H is.
    sixths = torch.where(
        value == red, green - blue, torch.where(value == green, blue - red + 2 * chroma, red - green + 4 * chroma)
    )
    sixths = sixths / chroma.clamp(min=1e-12) + hue_degrees / 60
    chroma = torch.minimum(chroma * saturation, value)
    channels = []
    for offset in (5, 3, 1):  # one (H, W) channel at a time: a third of the memory traffic of (3, H, W) at once
        k = torch.remainder(sixths + offset, 6)
        channels.append(value - chroma * torch.clamp(torch.minimum(k, 4 - k), 0, 1))
    return torch.stack(channels)


def gaussian_blur(image: torch.Tensor, sigma: float) -> torch.Tensor:
    """(C, H, W) float blurred by a separable Gaussian of `sigma` pixels (radius 3 sigma), edges replicated."""
    radius = max(1, math.ceil(3 * sigma))
    offsets = torch.arange(-radius, radius + 1, dtype=image.dtype)
    kernel = torch.exp(-0.5 * (offsets / sigma) ** 2)
    kernel = kernel / kernel.sum()
    channels = image.shape[0]
    padded = F.pad(image[None], (radius, radius, radius, radius), mode="replicate")
    rows = F.conv2d(padded, kernel.view(1, 1, 1, -1).expand(channels, 1, 1, -1), groups=channels)
    return F.conv2d(rows, kernel.view(1, 1, -1, 1).expand(channels, 1, -1, 1), groups=channels)[0]


def shear(
    pixels: torch.Tensor, target: torch.Tensor, degrees: float, native: torch.Tensor | None = None
) -> tuple[torch.Tensor, ...]:
    """Shear (C, H, W) pixels and (H, W) label ids horizontally about the centre: row y moves tan(degrees) (y - H / 2).

    Pixels are sampled bilinearly, label ids at the nearest point of the same grid; what comes in
    from outside is 0 in `pixels` (the mean colour once normalised) and IGNORE_INDEX in `target`.
    An optional (H, W) `native` id map (OUTSIDE where padded) is sampled at the same points, with OUTSIDE
    coming in, and returned third.
    """
    grid = shear_grid(*target.shape, math.tan(math.radians(degrees)))
    pixels = F.grid_sample(pixels[None], grid, mode="bilinear", padding_mode="zeros", align_corners=False)[0]
    shifted = _sheared_ids(target, grid)
    sheared = (pixels, torch.where(shifted < 0, IGNORE_INDEX, shifted))
    return sheared if native is None else (*sheared, _sheared_ids(native, grid))


def _sheared_ids(ids: torch.Tensor, grid: torch.Tensor) -> torch.Tensor:
    """(H, W) ids >= -1 sampled at the nearest point of `grid`; -1 where the point lies outside."""
    # Sampled as id + 1, so that the zeros coming in from outside are told apart from id 0.
    return (
        F.grid_sample((ids + 1)[None, None].float(), grid, mode="nearest", padding_mode="zeros", align_corners=False)[
            0, 0
        ].long()
        - 1
    )


def shear_grid(height: int, width: int, slope: float) -> torch.Tensor:
    """The (1, H, W, 2) sampling grid of a horizontal shear, x_source = x + slope (y - H / 2) in pixels.

    Equal to `F.affine_grid` with theta [[1, slope H / W, 0], [0, 1, 0]] (align_corners=False; checked in
    the tests), built from the two axes instead of a (H W, 3) x (3, 2) product: about 7 times faster.
    """
    xs = (torch.arange(width) * 2 + 1) / width - 1  # pixel centres in [-1, 1]
    ys = ((torch.arange(height) * 2 + 1) / height - 1)[:, None]
    return torch.stack(torch.broadcast_tensors(xs + slope * height / width * ys, ys), -1)[None]
