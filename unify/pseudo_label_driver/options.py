"""How a pseudo-labelling run goes: `LabellingOptions`, checked when made, and the teacher precisions."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from unify.core.errors import UnifyError

PRECISIONS = {"float32": torch.float32, "bfloat16": torch.bfloat16}
"""Teacher precisions: float32, or bfloat16 autocast (matrix products in bfloat16, scores returned as float32)."""


@dataclass
class LabellingOptions:
    """How `pseudo_label_dataset` runs."""

    taxonomy: str | None = None  # unified taxonomy; None: the one the input folder was built for (else checked)
    scales: tuple[float, ...] = (1.0,)  # test-time scales; must include 1.0
    flip: bool = False  # also average the horizontally mirrored prediction (one forward with the batch)
    batch_size: int = 4  # images of one size per teacher forward (2x views with flip), grouped across a shard
    shard_size: int = 256  # images per output shard: the unit of restart and of work sharing (about 3 in memory)
    splits: tuple[str, ...] | None = None  # None: every split of the input; splits left out that the output holds
    # already are kept when up to date, refused when out of date (removed with `overwrite`)
    overwrite: bool = False  # replace the labels of an earlier run with other settings instead of refusing
    dtype: str | None = None  # teacher precision, a key of PRECISIONS; None: bfloat16 on CUDA, else float32
    workers: int = 2  # background threads for reading, decoding, encoding, writing; 0: all in order, one thread

    def __post_init__(self):
        for name in ("batch_size", "shard_size"):
            if getattr(self, name) < 1:
                raise UnifyError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.workers < 0:
            raise UnifyError(f"workers must be >= 0, got {self.workers}")
        if self.dtype is not None and self.dtype not in PRECISIONS:
            raise UnifyError(
                f"dtype must be one of {', '.join(PRECISIONS)} (or None for the device's default), got {self.dtype!r}"
            )

    def precision(self, device: torch.device) -> str:
        """The teacher precision on `device`: `dtype`, else bfloat16 on CUDA GPUs that support it, else float32."""
        if self.dtype is not None:
            return self.dtype
        return "bfloat16" if device.type == "cuda" and torch.cuda.is_bf16_supported() else "float32"
