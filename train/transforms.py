"""The paired (image, label) training transform; evaluation needs none (whole images, `unify.core.evaluator`).

The training transform cuts the source window first and resizes only that window, which is
cheaper than resizing the whole image and then cropping, and gives the same distribution.
Labels are resized with nearest neighbour and padded with the ignore index.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from unify.core.constants import IGNORE_INDEX
from unify.core.segmenter import Normalization


class TrainTransform:
    """Random scale, crop and flip of an (image, label) pair, normalised as the model's image processor does."""

    def __init__(self, crop_size: tuple[int, int], scale_range: tuple[float, float],
                 normalize: Normalization = Normalization()):
        self.crop_h, self.crop_w = crop_size
        self.scale_range = scale_range
        self.normalize = normalize

    def __call__(self, image: np.ndarray, label: np.ndarray, rng: np.random.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        """(H, W, 3) uint8 and (H, W) ids -> normalised (3, crop_h, crop_w) and long (crop_h, crop_w)."""
        height, width = label.shape
        scale = rng.uniform(*self.scale_range)
        win_h, win_w = max(1, round(self.crop_h / scale)), max(1, round(self.crop_w / scale))
        top = int(rng.integers(0, max(height - win_h, 0) + 1))
        left = int(rng.integers(0, max(width - win_w, 0) + 1))
        image_window = torch.from_numpy(np.array(image[top:top + win_h, left:left + win_w])).permute(2, 0, 1)
        label_window = torch.from_numpy(label[top:top + win_h, left:left + win_w].astype(np.int64))
        # The window may be smaller than asked where the image is small: resize what is there, pad the rest.
        out_h = min(self.crop_h, round(image_window.shape[1] * scale))
        out_w = min(self.crop_w, round(image_window.shape[2] * scale))
        image_out = F.interpolate(image_window[None].float(), size=(out_h, out_w), mode="bilinear",
                                  align_corners=False, antialias=scale < 1)[0]
        label_out = F.interpolate(label_window[None, None].float(), size=(out_h, out_w), mode="nearest")[0, 0].long()
        if rng.random() < 0.5:
            image_out, label_out = image_out.flip(-1), label_out.flip(-1)
        pixels = torch.zeros(3, self.crop_h, self.crop_w)
        target = torch.full((self.crop_h, self.crop_w), IGNORE_INDEX, dtype=torch.long)
        pixels[:, :out_h, :out_w] = self.normalize(image_out.clamp(0, 255))
        target[:out_h, :out_w] = label_out
        return pixels, target

