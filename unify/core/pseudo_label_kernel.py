"""Constrained pseudo-labels: the teacher decides only what a pixel's own ground truth leaves open.

A native class that allows exactly one unified class is copied from the ground truth; one that allows
several lets the teacher choose among them; one that allows every class lets the teacher fill it in; one
that allows none is void. The plain way (upsample every class score to full resolution, gather a
(B, C, H, W) allowed mask, mask, argmax) spends most of its time on pixels the lookup tables decide alone.
Here the tables decide first; the teacher's scores are then interpolated only at the pixels and for the
classes still open, from their 4 low-resolution neighbours with the weights of
`F.interpolate(mode="bilinear", align_corners=False)`. When most pixels need the teacher, dense upsampling
is cheaper and is used instead. Both give the labels of `reference_constrained_pseudo_labels`; the only
exception is two allowed classes whose upsampled scores lie within floating-point rounding of each other,
a near-tie that F.interpolate itself decides differently on different devices and memory formats.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from unify.core.constants import IGNORE_INDEX, IGNORED, TEACHER_CHOSE, TEACHER_FILLED
from unify.core.errors import UnifyError
from unify.core.mapping import UNKNOWN_NATIVE_ID, MappingTables

NUM_PROVENANCES = 4
DENSE_FILL_FRACTION = 0.25
"""Above this share of fill-in pixels, a dense upsample and argmax beats sampling each of them (measured)."""
DENSE_TEACHER_FRACTION = 0.8
"""Above this share of pixels that need the teacher at all, a dense upsample beats sampling (measured)."""


@dataclass
class PseudoLabels:
    label: torch.Tensor  # (B, H, W) uint8 unified ids, 255 where void
    provenance: torch.Tensor  # (B, H, W) uint8 provenance codes from unify.core.constants


def constrained_pseudo_labels(probs: torch.Tensor, native: torch.Tensor, tables: MappingTables) -> PseudoLabels:
    """Unified labels at the ground truth's resolution, each pixel limited to what its native class allows.

    `probs` (B, C, h, w) are the teacher's class probabilities or logits at its own output resolution,
    `native` (B, H, W) the native ids, `tables` the mapping's lookup tables on the same device. Only the
    argmax of the bilinearly upsampled scores counts, so logits and probabilities give the same labels.
    """
    ids, provenance = _lookup(probs, native, tables)
    label = tables.single.to(torch.uint8)[ids]
    flat = label.view(-1)
    chose = (provenance == TEACHER_CHOSE).view(-1)
    filled = (provenance == TEACHER_FILLED).view(-1)
    num_chose, num_filled = torch.stack([chose.sum(), filled.sum()]).tolist()
    if num_chose + num_filled == 0:
        return PseudoLabels(label, provenance)
    size = (native.shape[-2], native.shape[-1])
    dense_fill = num_filled > DENSE_FILL_FRACTION * flat.numel()
    if dense_fill or num_chose + num_filled > DENSE_TEACHER_FRACTION * flat.numel():
        scores: _DenseScores | _SparseScores = _DenseScores(probs, size)
    else:
        scores = _SparseScores(probs, size)
    if dense_fill:
        flat.copy_(torch.where(filled, scores.argmax(), flat))
    elif num_filled:
        pixels = filled.nonzero().squeeze(1)
        flat[pixels] = scores.at(pixels).argmax(dim=1).to(torch.uint8)
    if num_chose:
        pixels = chose.nonzero().squeeze(1)
        classes = _choice_table(tables)[ids.view(-1)[pixels]]
        best = scores.at(pixels, classes).argmax(dim=1, keepdim=True)
        flat[pixels] = classes.gather(1, best).squeeze(1).to(torch.uint8)
    return PseudoLabels(label, provenance)


def unconstrained_labels(probs: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """(B, H, W) uint8 argmax of the upsampled scores: the teacher alone, for comparison."""
    return _channel_argmax(F.interpolate(probs, size=size, mode="bilinear", align_corners=False))


def reference_constrained_pseudo_labels(probs: torch.Tensor, native: torch.Tensor,
                                        tables: MappingTables) -> PseudoLabels:
    """The plain formulation: mask the densely upsampled scores with a (B, C, H, W) allowed mask.

    It is the specification `constrained_pseudo_labels` is tested against and the baseline it is
    benchmarked against; it costs far more.
    """
    ids, provenance = _lookup(probs, native, tables)
    upsampled = F.interpolate(probs, size=native.shape[-2:], mode="bilinear", align_corners=False)
    allowed = tables.allowed[ids].permute(0, 3, 1, 2)
    label = upsampled.masked_fill(~allowed, float("-inf")).argmax(dim=1)
    label = label.masked_fill(provenance == IGNORED, IGNORE_INDEX).to(torch.uint8)
    return PseudoLabels(label, provenance)


def tta_probabilities(predict: Callable[[torch.Tensor], torch.Tensor], pixel_values: torch.Tensor,
                      scales: Sequence[float] = (1.0,), flip: bool = False) -> torch.Tensor:
    """Softmax probabilities averaged over test-time augmentation, at the output size of scale 1.0.

    `predict` maps (B, 3, H', W') pixel values to logits (B, C, h', w'). Each scale resizes the input
    bilinearly; `flip` adds a mirrored copy of each view, whose output is mirrored back. Every view's
    logits are resized to the output size of scale 1.0 before their softmax, and the softmaxes averaged.
    """
    scales = list(scales)
    if 1.0 not in scales:
        raise UnifyError(f"test-time scales must include 1.0, whose output size the others are resized to; "
                         f"got {scales}")
    bad = [s for s in scales if not s > 0]
    if bad:
        raise UnifyError(f"test-time scales must be positive, got {bad}")
    height, width = pixel_values.shape[-2:]
    total: torch.Tensor | None = None
    size: tuple[int, int] | None = None
    for scale in sorted(scales, key=lambda s: s != 1.0):  # scale 1.0 first: it sets the output size
        resized = pixel_values
        if scale != 1.0:
            scaled = (max(1, round(height * scale)), max(1, round(width * scale)))
            resized = F.interpolate(pixel_values, size=scaled, mode="bilinear", align_corners=False)
        for mirrored in (False, True) if flip else (False,):
            logits = predict(resized.flip(-1) if mirrored else resized).float()
            if mirrored:
                logits = logits.flip(-1)
            if size is None:
                size = (logits.shape[-2], logits.shape[-1])
            elif logits.shape[-2:] != size:
                logits = F.interpolate(logits, size=size, mode="bilinear", align_corners=False)
            probs = logits.softmax(dim=1)
            total = probs if total is None else total.add_(probs)
    return total.div_(len(scales) * (2 if flip else 1))


def provenance_statistics(labels: PseudoLabels, num_labels: int) -> torch.Tensor:
    """(4, num_labels + 1) int64 pixel counts: row = provenance code, column = unified id (last column = void)."""
    label = labels.label.reshape(-1).long()
    provenance = labels.provenance.reshape(-1).long()
    void = label == IGNORE_INDEX
    bad = (~void & ((label < 0) | (label >= num_labels))) | (provenance < 0) | (provenance >= NUM_PROVENANCES)
    if bool(bad.any()):
        raise UnifyError(f"pseudo-labels hold unified ids {sorted(set(label[bad].tolist()))} with provenance codes "
                         f"{sorted(set(provenance[bad].tolist()))}; expected ids 0..{num_labels - 1} or "
                         f"{IGNORE_INDEX} and codes 0..{NUM_PROVENANCES - 1}")
    column = label.masked_fill(void, num_labels)
    counts = torch.bincount(provenance * (num_labels + 1) + column, minlength=NUM_PROVENANCES * (num_labels + 1))
    return counts.view(NUM_PROVENANCES, num_labels + 1)


def _lookup(probs: torch.Tensor, native: torch.Tensor, tables: MappingTables) -> tuple[torch.Tensor, torch.Tensor]:
    """Native ids as long and their provenance, after checking shapes and that every id is known."""
    if probs.dim() != 4 or native.dim() != 3 or probs.shape[0] != native.shape[0]:
        raise UnifyError(f"expected teacher scores (B, C, h, w) and native labels (B, H, W) with the same B, "
                         f"got {tuple(probs.shape)} and {tuple(native.shape)}")
    if probs.shape[1] != tables.allowed.shape[1]:
        raise UnifyError(f"the teacher predicts {probs.shape[1]} classes but the mapping's unified taxonomy has "
                         f"{tables.allowed.shape[1]}")
    if native.dtype.is_floating_point or native.dtype.is_complex or native.dtype == torch.bool:
        raise UnifyError(f"native labels must hold integer ids, got dtype {native.dtype}")
    if not probs.dtype.is_floating_point:
        raise UnifyError(f"teacher scores must be floating point, got dtype {probs.dtype}")
    if not probs.device == native.device == tables.allowed.device:
        raise UnifyError(f"teacher scores, native labels and mapping tables must be on one device, got "
                         f"{probs.device}, {native.device} and {tables.allowed.device} (use tables.to(device))")
    ids = native.long()
    table_size = tables.known.numel()
    if native.dtype != torch.uint8 or table_size < 256:
        low, high = torch.stack(torch.aminmax(ids)).tolist() if ids.numel() else (0, 0)
        if low < 0 or high >= table_size:
            outside = (ids < 0) | (ids >= table_size)
            _raise_unknown(ids[outside])
    # One gather yields both the provenance and whether the id is known.
    provenance_table = torch.where(tables.known, tables.provenance, UNKNOWN_NATIVE_ID).to(torch.uint8)
    provenance = provenance_table[ids]
    unknown = provenance == UNKNOWN_NATIVE_ID
    if bool(unknown.any()):
        _raise_unknown(ids[unknown])
    return ids, provenance


def _raise_unknown(ids: torch.Tensor) -> None:
    values = torch.unique(ids).tolist()
    shown = ", ".join(str(v) for v in values[:20]) + (f", ... ({len(values)} in all)" if len(values) > 20 else "")
    raise UnifyError(f"native label ids not in the mapping's native taxonomy: {shown} ({ids.numel()} pixels); "
                     f"was the label map decoded with the right taxonomy?")


def _choice_table(tables: MappingTables) -> torch.Tensor:
    """(L, K) long: each native id's allowed unified ids in increasing order, padded with its first one.

    K is the most classes a TEACHER_CHOSE native class allows. Padding with a class already in the row
    cannot change the winner, and increasing order keeps argmax's tie-break on the lowest unified id.
    """
    counts = tables.allowed.sum(dim=1)
    chose = tables.provenance == TEACHER_CHOSE
    width = int(torch.where(chose, counts, 1).max())
    order = torch.argsort((~tables.allowed).to(torch.uint8), dim=1, stable=True)[:, :width]
    position = torch.arange(width, device=order.device)
    return torch.where(position < counts.unsqueeze(1), order, order[:, :1])


def _source_weights(in_size: int, out_size: int, dtype: torch.dtype,
                    device: torch.device) -> tuple[torch.Tensor, ...]:
    """Per output index along one axis: the two source indices and their weights, as `F.interpolate` has them.

    The source coordinate scale * (i + 0.5) - 0.5 is rounded once, as the fused multiply-add in
    PyTorch's CPU and CUDA kernels rounds it; computing it in float64 and rounding reproduces that.
    """
    index = torch.arange(out_size, device=device)
    if in_size == out_size:
        ones = torch.ones(out_size, dtype=dtype, device=device)
        return index, index, ones, torch.zeros_like(ones)
    scale = torch.tensor(in_size, dtype=dtype).div(out_size).to(torch.float64)
    source = (scale * (index.to(torch.float64) + 0.5) - 0.5).to(dtype).clamp_min(0)
    low = source.floor().long().clamp_max(in_size - 1)
    weight_high = (source - low.to(dtype)).clamp(0, 1)
    high = low + (low < in_size - 1).long()
    return low, high, 1 - weight_high, weight_high


class _SparseScores:
    """Bilinearly upsampled scores at chosen pixels only, each from its 4 low-resolution neighbours."""

    def __init__(self, probs: torch.Tensor, size: tuple[int, int]):
        _, self.num_classes, self.in_h, self.in_w = probs.shape
        self.out_h, self.out_w = size
        self.dtype = probs.dtype
        compute = torch.float64 if probs.dtype == torch.float64 else torch.float32
        # (B*h*w, C): the scores of one neighbour are contiguous.
        self.cells = probs.permute(0, 2, 3, 1).to(compute).contiguous().view(-1, self.num_classes)
        self.rows = _source_weights(self.in_h, self.out_h, compute, probs.device)
        self.cols = _source_weights(self.in_w, self.out_w, compute, probs.device)

    def at(self, pixels: torch.Tensor, classes: torch.Tensor | None = None) -> torch.Tensor:
        """(N, K) scores of `classes` (N, K) at flat pixel indices `pixels` (N,); all classes when None."""
        image = pixels // (self.out_h * self.out_w)
        y = (pixels // self.out_w) % self.out_h
        x = pixels % self.out_w
        y0, y1, wy0, wy1 = (t.index_select(0, y) for t in self.rows)
        x0, x1, wx0, wx1 = (t.index_select(0, x) for t in self.cols)
        wx0, wx1, wy0, wy1 = (w.unsqueeze(1) for w in (wx0, wx1, wy0, wy1))
        top = (image * self.in_h + y0) * self.in_w
        bottom = (image * self.in_h + y1) * self.in_w
        v00, v01, v10, v11 = (self._gather(cell, classes) for cell in (top + x0, top + x1, bottom + x0, bottom + x1))
        # The order of F.interpolate's CPU kernel: along the width first, then along the height.
        upper = v00.mul_(wx0).add_(v01.mul_(wx1))
        lower = v10.mul_(wx0).add_(v11.mul_(wx1))
        scores = upper.mul_(wy0).add_(lower.mul_(wy1))
        # Half precision scores are rounded as F.interpolate rounds its output, so that its ties are ours too.
        return scores.to(self.dtype)

    def _gather(self, cell: torch.Tensor, classes: torch.Tensor | None) -> torch.Tensor:
        if classes is None:
            return self.cells.index_select(0, cell)
        return self.cells.view(-1).take(cell.unsqueeze(1) * self.num_classes + classes)


class _DenseScores:
    """Every score upsampled with `F.interpolate`, for batches where most pixels need the teacher."""

    def __init__(self, probs: torch.Tensor, size: tuple[int, int]):
        self.upsampled = F.interpolate(probs, size=size, mode="bilinear", align_corners=False)
        self.width = size[1]
        self.plane = size[0] * size[1]

    def at(self, pixels: torch.Tensor, classes: torch.Tensor | None = None) -> torch.Tensor:
        """(N, K) scores of `classes` (N, K) at flat pixel indices `pixels` (N,); all classes when None."""
        if classes is None:
            classes = torch.arange(self.upsampled.shape[1], device=pixels.device).unsqueeze(0)
        # Index the storage through the strides: F.interpolate keeps the input's memory format.
        image_stride, class_stride, row_stride, col_stride = self.upsampled.stride()
        within = pixels % self.plane
        offset = ((pixels // self.plane) * image_stride + (within // self.width) * row_stride
                  + (within % self.width) * col_stride)
        storage = self.upsampled.as_strided((self.upsampled.numel(),), (1,))
        return storage.take(offset.unsqueeze(1) + classes * class_stride)

    def argmax(self) -> torch.Tensor:
        """(B*H*W,) uint8 argmax over the classes at every pixel."""
        return _channel_argmax(self.upsampled).view(-1)


def _channel_argmax(scores: torch.Tensor) -> torch.Tensor:
    """`scores.argmax(dim=1)` as uint8 for (B, C, H, W) scores, with the same lowest-index tie-break.

    On the CPU, argmax over the channels of a contiguous (B, C, H, W) tensor is a strided reduction,
    several times slower than a running maximum over its C contiguous planes.
    """
    if scores.device.type != "cpu" or not scores.is_contiguous():
        return scores.argmax(dim=1).to(torch.uint8)
    best = scores[:, 0].clone()
    index = torch.zeros(best.shape, dtype=torch.uint8, device=scores.device)
    for c in range(1, scores.shape[1]):
        index.masked_fill_(scores[:, c] > best, c)
        torch.maximum(best, scores[:, c], out=best)
    return index
