"""Constrained pseudo-labels: the teacher decides only what a pixel's own ground truth leaves open.

A native class that allows exactly one unified class is copied from the ground truth; one that allows
several lets the teacher choose among them; one that allows every class lets the teacher fill it in; one
that allows none is void. One whose mapping line lists void beside its classes (`a, b, void`) lets the
teacher choose among them or void the pixel (provenance TEACHER_VOIDED):

- without a no-object score, the pixel is void where some class outside the list scores strictly higher
  than every listed class: the teacher sees something the listed classes do not cover;
- with one (a trailing channel, as Mask2Former's), only the no-object score competes: the pixel is void
  where it is strictly higher than every listed class, whatever the unlisted classes score.

Ties go to the listed classes (a pixel whose best listed class equals the best score is kept), and among
listed classes to the lowest unified id, as `argmax` breaks them. With a no-object channel, lines without
void never take it. Pixels that keep a listed class get TEACHER_CHOSE (TEACHER_FILLED for `*, void`).

The plain way (upsample every class score to full resolution, gather a (B, C, H, W) allowed mask, mask,
argmax) spends most of its time on pixels the lookup tables decide alone. Here the tables decide first;
the teacher's scores are then interpolated only at the pixels and for the classes still open, from their
4 low-resolution neighbours with the weights of `F.interpolate(mode="bilinear", align_corners=False)`
(with void beside classes, every class is open: its best score is the rival). When many pixels need
every class or most need the teacher, dense upsampling is cheaper and is used instead. Both give the
labels and provenance of `reference_constrained_pseudo_labels`; the only exception is a pixel whose two
best contenders (listed classes, and the rival where void stands beside them) lie within floating-point
rounding of each other, a near-tie that F.interpolate itself decides differently on different devices and
memory formats.

On a GPU, `constrained_pseudo_labels` reads one thing back to the host per call, after the teacher's scores
are computed: four counts (pixels the teacher decides, by kind, and unknown native ids), which choose the
sparse or the dense way; the sparse way then sizes its index lists, which costs round trips but no further
wait for the teacher. `provenance_counts` and `teacher_choice_counts` read nothing back, so that a caller
can sum their counts over many batches on the device.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from unify.core.constants import IGNORE_INDEX, IGNORED, PROVENANCE_NAMES, TEACHER_CHOSE, TEACHER_FILLED, TEACHER_VOIDED
from unify.core.errors import UnifyError
from unify.core.mapping import UNKNOWN_NATIVE_ID, MappingTables

NUM_PROVENANCES = len(PROVENANCE_NAMES)
DENSE_FILL_FRACTION = 0.25
"""Above this share of pixels that need every class's score (fill-in, void beside classes), a dense upsample
beats sampling each of them (measured for fill-in)."""
DENSE_TEACHER_FRACTION = 0.8
"""Above this share of pixels that need the teacher at all, a dense upsample beats sampling (measured)."""


@dataclass
class PseudoLabels:
    """Constrained pseudo-labels of a batch and why each pixel got its label, on the native labels' device.

    The rule is the paper's (Backhaus, Luettel and Maehlisch, arXiv 2502.19177): the teacher decides only among
    the unified classes that a pixel's own native label allows (module docstring). Both tensors are (B, H, W)
    uint8 at the ground truth's resolution; `label` is IGNORE_INDEX (255) exactly where `provenance` is IGNORED
    or TEACHER_VOIDED.
    """

    label: torch.Tensor  # (B, H, W) uint8 unified ids, 255 where void
    provenance: torch.Tensor  # (B, H, W) uint8 provenance codes from unify.core.constants


def constrained_pseudo_labels(
    scores: torch.Tensor, native: torch.Tensor, tables: MappingTables, no_object: bool = False
) -> PseudoLabels:
    """Unified labels at the ground truth's resolution, each pixel limited to what its native class allows.

    `scores` (B, C, h, w) are the teacher's class scores (probabilities or logits, any floating dtype) at its
    own output resolution; with `no_object`, (B, C + 1, h, w) whose last channel is a no-object score in the
    same units, which competes only where void stands beside classes (module docstring). `native` (B, H, W)
    holds integer native ids, `tables` the mapping's lookup tables on the same device. Only comparisons of
    the bilinearly upsampled scores at a pixel count. Returns uint8 labels (255 void) and provenance codes.
    Raises `UnifyError` for shapes, dtypes or devices that do not fit, and for native ids the mapping lacks.
    """
    ids = _checked_ids(scores, native, tables, no_object)
    num_classes = tables.allowed.shape[1]
    checked = _void_checked(tables, no_object)
    # One gather routes every pixel: its line's provenance code, TEACHER_VOIDED where the teacher may void it
    # (set back to the line's code where it keeps a class), UNKNOWN_NATIVE_ID for ids outside the taxonomy.
    provenance = _codes(tables, checked)[ids]
    label = tables.single.to(torch.uint8)[ids]
    flat, flat_ids, flat_provenance = label.view(-1), ids.view(-1), provenance.view(-1)
    # The one read-back of the batch: pixels per route, which choose the sparse or the dense way and check ids.
    routes = _count(flat_provenance, 256)
    num_unknown, num_chose, num_filled, num_voidable = torch.stack(
        [routes[UNKNOWN_NATIVE_ID], routes[TEACHER_CHOSE], routes[TEACHER_FILLED], routes[TEACHER_VOIDED]]
    ).tolist()
    if num_unknown:
        _raise_unknown(flat_ids[flat_provenance == UNKNOWN_NATIVE_ID])
    if num_chose + num_filled + num_voidable == 0:
        return PseudoLabels(label, provenance)
    size = (native.shape[-2], native.shape[-1])
    every_class = num_filled + num_voidable  # pixels that need the score of every class
    dense_fill = num_filled > DENSE_FILL_FRACTION * flat.numel()
    if (
        every_class > DENSE_FILL_FRACTION * flat.numel()
        or num_chose + every_class > DENSE_TEACHER_FRACTION * flat.numel()
    ):
        upsampled: _DenseScores | _SparseScores = _DenseScores(scores, size)
    else:
        upsampled = _SparseScores(scores, size)
    if dense_fill:
        flat.copy_(torch.where(flat_provenance == TEACHER_FILLED, upsampled.argmax(num_classes), flat))
    elif num_filled:
        pixels = (flat_provenance == TEACHER_FILLED).nonzero().squeeze(1)
        flat[pixels] = upsampled.at(pixels)[:, :num_classes].argmax(dim=1).to(torch.uint8)
    if num_chose:
        pixels = (flat_provenance == TEACHER_CHOSE).nonzero().squeeze(1)
        classes = _choice_table(tables, (tables.provenance == TEACHER_CHOSE) & ~checked)[flat_ids[pixels]]
        best = upsampled.at(pixels, classes).argmax(dim=1, keepdim=True)
        flat[pixels] = classes.gather(1, best).squeeze(1).to(torch.uint8)
    if num_voidable:
        pixels = (flat_provenance == TEACHER_VOIDED).nonzero().squeeze(1)
        classes = _choice_table(tables, checked)[flat_ids[pixels]]
        flat[pixels], voided = _choose_or_void(upsampled, pixels, classes, num_classes, no_object)
        kept = tables.provenance.index_select(0, flat_ids[pixels])
        flat_provenance[pixels] = kept.masked_fill_(voided, TEACHER_VOIDED)
    return PseudoLabels(label, provenance)


def unconstrained_labels(scores: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """(B, H, W) uint8 argmax of the upsampled scores (B, C, h, w): the teacher alone, for comparison.

    Pass the C class channels only: a no-object channel is no class.
    """
    return _channel_argmax(F.interpolate(scores, size=size, mode="bilinear", align_corners=False))


def reference_constrained_pseudo_labels(
    scores: torch.Tensor, native: torch.Tensor, tables: MappingTables, no_object: bool = False
) -> PseudoLabels:
    """The plain formulation: mask the densely upsampled scores with a (B, C, H, W) allowed mask.

    Arguments and result as `constrained_pseudo_labels`. Where void stands beside classes, the pixel is
    void if its rival (the best unlisted class, or the no-object score with `no_object`) scores strictly
    higher than its best listed class. It is the specification `constrained_pseudo_labels` is tested
    against and the baseline it is benchmarked against; it costs far more.
    """
    ids = _checked_ids(scores, native, tables, no_object)
    provenance = _codes(tables, torch.zeros_like(tables.known))[ids]
    unknown = provenance == UNKNOWN_NATIVE_ID
    if bool(unknown.any()):
        _raise_unknown(ids[unknown])
    num_classes = tables.allowed.shape[1]
    upsampled = F.interpolate(scores, size=native.shape[-2:], mode="bilinear", align_corners=False)
    class_scores = upsampled[:, :num_classes]
    allowed = tables.allowed[ids].permute(0, 3, 1, 2)
    listed = class_scores.masked_fill(~allowed, float("-inf"))
    label = listed.argmax(dim=1)
    rival = upsampled[:, num_classes] if no_object else class_scores.masked_fill(allowed, float("-inf")).amax(dim=1)
    voided = tables.void_allowed[ids] & (rival > listed.amax(dim=1))
    label = label.masked_fill((provenance == IGNORED) | voided, IGNORE_INDEX).to(torch.uint8)
    return PseudoLabels(label, provenance.masked_fill(voided, TEACHER_VOIDED))


def tta_probabilities(
    predict: Callable[[torch.Tensor], torch.Tensor],
    pixel_values: torch.Tensor,
    scales: Sequence[float] = (1.0,),
    flip: bool = False,
) -> torch.Tensor:
    """Softmax probabilities averaged over test-time augmentation, at the output size of scale 1.0.

    `predict` maps (B, 3, H', W') pixel values to logits (B, C, h', w'). Each scale resizes the input
    bilinearly; `flip` adds a mirrored copy of each view, whose output is mirrored back. Every view's
    logits are resized to the output size of scale 1.0 before their softmax, and the softmaxes averaged.
    `pixel_values` (B, 3, H, W) float; returns (B, C, h, w) float32 probabilities that sum to 1 over C, where
    (h, w) is the logits' size at scale 1.0. Raises `UnifyError` when `scales` lack 1.0 or hold a scale <= 0.
    """
    scales = list(scales)
    if 1.0 not in scales:
        raise UnifyError(
            f"test-time scales must include 1.0, whose output size the others are resized to; got {scales}"
        )
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
    """(NUM_PROVENANCES, num_labels + 1) int64 pixel counts: row = provenance code, column = unified id (last = void).

    Rows follow `PROVENANCE_NAMES`. Raises `UnifyError` for ids or codes outside those ranges (reading the
    check back to the host; `provenance_counts` defers it).
    """
    counts = provenance_counts(labels, num_labels)
    if int(counts[-1]):
        label, provenance = labels.label.reshape(-1).long(), labels.provenance.reshape(-1).long()
        bad = _invalid(label, provenance, num_labels)
        raise UnifyError(
            f"pseudo-labels hold unified ids {sorted(set(label[bad].tolist()))} with provenance codes "
            f"{sorted(set(provenance[bad].tolist()))}; expected ids 0..{num_labels - 1} or "
            f"{IGNORE_INDEX} and codes 0..{NUM_PROVENANCES - 1}"
        )
    return counts[:-1].view(NUM_PROVENANCES, num_labels + 1)


def provenance_counts(labels: PseudoLabels, num_labels: int) -> torch.Tensor:
    """The counts of `provenance_statistics`, flat, plus a last bin of pixels whose id or code is out of range.

    (NUM_PROVENANCES * (num_labels + 1) + 1,) int64 on the labels' device, with no read-back to the host, so
    that a caller can sum batches on a GPU and check the last bin once at the end.
    """
    label = labels.label.reshape(-1).long()
    provenance = labels.provenance.reshape(-1).long()
    void = label == IGNORE_INDEX
    size = NUM_PROVENANCES * (num_labels + 1)
    index = provenance * (num_labels + 1) + label.masked_fill(void, num_labels)
    return _count(index.masked_fill_(_invalid(label, provenance, num_labels), size), size + 1)


def teacher_choice_counts(scores: torch.Tensor, native: torch.Tensor, num_native_ids: int) -> torch.Tensor:
    """(num_native_ids, C) int64: how often the teacher's unconstrained choice meets each native id, on its grid.

    `scores` (B, C, h, w) are the teacher's class scores at its own output resolution (without a no-object
    channel); `native` (B, H, W) integer native ids below `num_native_ids` (as `constrained_pseudo_labels`
    has checked them). Each cell of the teacher's grid counts once: its argmax over the C classes (lowest
    id on ties) against the native id at the cell's centre (row `(2i + 1) * H // (2h)`, the `nearest-exact`
    rule), which is where the bilinear upsampling puts the cell's own score. Counting at the teacher's
    resolution costs an argmax over its h * w cells instead of an upsample and argmax over H * W pixels.
    No read-back to the host.
    """
    _, num_classes, height, width = scores.shape
    rows = (torch.arange(height, device=native.device) * 2 + 1) * native.shape[-2] // (2 * height)
    cols = (torch.arange(width, device=native.device) * 2 + 1) * native.shape[-1] // (2 * width)
    sampled = native.index_select(1, rows).index_select(2, cols).long()
    pairs = sampled * num_classes + _channel_argmax(scores).long()
    return _count(pairs.view(-1), num_native_ids * num_classes).view(num_native_ids, num_classes)


def _invalid(label: torch.Tensor, provenance: torch.Tensor, num_labels: int) -> torch.Tensor:
    """Pixels whose unified id (other than void) or provenance code is outside its range."""
    return (
        ((label != IGNORE_INDEX) & ((label < 0) | (label >= num_labels)))
        | (provenance < 0)
        | (provenance >= NUM_PROVENANCES)
    )


def _count(index: torch.Tensor, size: int) -> torch.Tensor:
    """(size,) int64 occurrences of each value of `index` (N,) of an integer dtype, every value in [0, size).

    `torch.bincount` on the CPU; elsewhere an `index_add_`, because CUDA's bincount reads its input's
    minimum and maximum back to the host.
    """
    if index.device.type == "cpu":
        return torch.bincount(index, minlength=size)
    return _count_on_device(index, size)


def _count_on_device(index: torch.Tensor, size: int) -> torch.Tensor:
    index = index if index.dtype in (torch.int32, torch.int64) else index.long()
    ones = torch.ones((), dtype=torch.int64, device=index.device).expand(index.numel())
    return torch.zeros(size, dtype=torch.int64, device=index.device).index_add_(0, index, ones)


def _checked_ids(scores: torch.Tensor, native: torch.Tensor, tables: MappingTables, no_object: bool) -> torch.Tensor:
    """Native ids as long, after checking shapes, dtypes, devices and that every id indexes the tables.

    uint8 ids always fit the tables (at least 256 rows), so only other dtypes read their range back to the
    host; whether an id is in the native taxonomy is left to the caller (`_codes` marks it).
    """
    if scores.dim() != 4 or native.dim() != 3 or scores.shape[0] != native.shape[0]:
        raise UnifyError(
            f"expected teacher scores (B, C, h, w) and native labels (B, H, W) with the same B, "
            f"got {tuple(scores.shape)} and {tuple(native.shape)}"
        )
    num_classes = tables.allowed.shape[1]
    if scores.shape[1] != num_classes + no_object:
        expected = f"{num_classes} + 1 (no-object)" if no_object else f"{num_classes}"
        raise UnifyError(
            f"the teacher predicts {scores.shape[1]} channels but the mapping's unified taxonomy has "
            f"{num_classes} classes, so {expected} were expected"
        )
    if native.dtype.is_floating_point or native.dtype.is_complex or native.dtype == torch.bool:
        raise UnifyError(f"native labels must hold integer ids, got dtype {native.dtype}")
    if not scores.dtype.is_floating_point:
        raise UnifyError(f"teacher scores must be floating point, got dtype {scores.dtype}")
    if not scores.device == native.device == tables.allowed.device:
        raise UnifyError(
            f"teacher scores, native labels and mapping tables must be on one device, got "
            f"{scores.device}, {native.device} and {tables.allowed.device} (use tables.to(device))"
        )
    ids = native.long()
    table_size = tables.known.numel()
    if native.dtype != torch.uint8 or table_size < 256:
        low, high = torch.stack(torch.aminmax(ids)).tolist() if ids.numel() else (0, 0)
        if low < 0 or high >= table_size:
            outside = (ids < 0) | (ids >= table_size)
            _raise_unknown(ids[outside])
    return ids


def _codes(tables: MappingTables, voidable: torch.Tensor) -> torch.Tensor:
    """(L,) uint8 per native id: its line's provenance code, TEACHER_VOIDED where `voidable` (L,) bool, and
    UNKNOWN_NATIVE_ID for ids outside the native taxonomy."""
    codes = tables.provenance.masked_fill(voidable, TEACHER_VOIDED)
    return codes.masked_fill(~tables.known, UNKNOWN_NATIVE_ID).to(torch.uint8)


def _raise_unknown(ids: torch.Tensor) -> None:
    values = torch.unique(ids).tolist()
    shown = ", ".join(str(v) for v in values[:20]) + (f", ... ({len(values)} in all)" if len(values) > 20 else "")
    raise UnifyError(
        f"native label ids not in the mapping's native taxonomy: {shown} ({ids.numel()} pixels); "
        f"was the label map decoded with the right taxonomy?"
    )


def _void_checked(tables: MappingTables, no_object: bool) -> torch.Tensor:
    """(L,) bool: native ids whose pixels may be voided by the teacher.

    Void beside every class can only be taken by a no-object score: without one, such a line is a plain
    fill-in and goes the cheaper way.
    """
    if no_object:
        return tables.void_allowed
    return tables.void_allowed & ~tables.allowed.all(dim=1)


def _choose_or_void(
    scores: _DenseScores | _SparseScores, pixels: torch.Tensor, classes: torch.Tensor, num_classes: int, no_object: bool
) -> tuple[torch.Tensor, torch.Tensor]:
    """uint8 labels (N,) at flat `pixels` (N,) whose listed classes are the rows of `classes` (N, K), 255 where
    void, and the (N,) bool mask of the voided ones.

    The rival is the no-object score, or else the best score of all classes, which beats the best listed
    class only if an unlisted class does (a tie with a listed class is no win).
    """
    listed = scores.at(pixels, classes)
    best = listed.argmax(dim=1, keepdim=True)
    if no_object:
        rival = scores.at(pixels, torch.full((1, 1), num_classes, device=pixels.device)).squeeze(1)
    else:
        rival = scores.best(pixels, num_classes)
    voided = rival > listed.gather(1, best).squeeze(1)
    return classes.gather(1, best).squeeze(1).to(torch.uint8).masked_fill_(voided, IGNORE_INDEX), voided


def _choice_table(tables: MappingTables, lines: torch.Tensor) -> torch.Tensor:
    """(L, K) long: each native id's allowed unified ids in increasing order, padded with its first one.

    K is the most classes a native id selected by `lines` (L,) bool allows. Padding with a class already
    in the row cannot change the winner, and increasing order keeps argmax's tie-break on the lowest
    unified id.
    """
    counts = tables.allowed.sum(dim=1)
    width = int(torch.where(lines, counts, 1).max())
    order = torch.argsort((~tables.allowed).to(torch.uint8), dim=1, stable=True)[:, :width]
    position = torch.arange(width, device=order.device)
    return torch.where(position < counts.unsqueeze(1), order, order[:, :1])


def _source_weights(in_size: int, out_size: int, dtype: torch.dtype, device: torch.device) -> tuple[torch.Tensor, ...]:
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

    def __init__(self, scores: torch.Tensor, size: tuple[int, int]):
        _, self.num_classes, self.in_h, self.in_w = scores.shape
        self.out_h, self.out_w = size
        self.dtype = scores.dtype
        compute = torch.float64 if scores.dtype == torch.float64 else torch.float32
        # (B*h*w, C): the scores of one neighbour are contiguous.
        self.cells = scores.permute(0, 2, 3, 1).to(compute).contiguous().view(-1, self.num_classes)
        self.rows = _source_weights(self.in_h, self.out_h, compute, scores.device)
        self.cols = _source_weights(self.in_w, self.out_w, compute, scores.device)

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

    def best(self, pixels: torch.Tensor, num_classes: int) -> torch.Tensor:
        """(N,) the highest score among the first `num_classes` classes at flat pixel indices `pixels` (N,)."""
        return self.at(pixels)[:, :num_classes].amax(dim=1)

    def _gather(self, cell: torch.Tensor, classes: torch.Tensor | None) -> torch.Tensor:
        if classes is None:
            return self.cells.index_select(0, cell)
        return self.cells.view(-1).take(cell.unsqueeze(1) * self.num_classes + classes)


class _DenseScores:
    """Every score upsampled with `F.interpolate`, for batches where most pixels need the teacher."""

    def __init__(self, scores: torch.Tensor, size: tuple[int, int]):
        self.upsampled = F.interpolate(scores, size=size, mode="bilinear", align_corners=False)
        self.width = size[1]
        self.plane = size[0] * size[1]
        self._top: tuple[torch.Tensor, torch.Tensor] | None = None  # (max, argmax) over the classes, flat

    def at(self, pixels: torch.Tensor, classes: torch.Tensor | None = None) -> torch.Tensor:
        """(N, K) scores of `classes` (N, K) at flat pixel indices `pixels` (N,); all classes when None."""
        if classes is None:
            classes = torch.arange(self.upsampled.shape[1], device=pixels.device).unsqueeze(0)
        # Index the storage through the strides: F.interpolate keeps the input's memory format.
        image_stride, class_stride, row_stride, col_stride = self.upsampled.stride()
        within = pixels % self.plane
        offset = (
            (pixels // self.plane) * image_stride
            + (within // self.width) * row_stride
            + (within % self.width) * col_stride
        )
        storage = self.upsampled.as_strided((self.upsampled.numel(),), (1,))
        return storage.take(offset.unsqueeze(1) + classes * class_stride)

    def argmax(self, num_classes: int) -> torch.Tensor:
        """(B*H*W,) uint8 argmax over the first `num_classes` channels at every pixel."""
        return self._max_and_argmax(num_classes)[1]

    def best(self, pixels: torch.Tensor, num_classes: int) -> torch.Tensor:
        """(N,) the highest score among the first `num_classes` classes at flat pixel indices `pixels` (N,).

        For many pixels one pass over every pixel is cheaper than gathering every class at each of them.
        """
        if self._top is None and pixels.numel() <= DENSE_FILL_FRACTION * self.upsampled[:, 0].numel():
            return self.at(pixels)[:, :num_classes].amax(dim=1)
        return self._max_and_argmax(num_classes)[0].index_select(0, pixels)

    def _max_and_argmax(self, num_classes: int) -> tuple[torch.Tensor, torch.Tensor]:
        if self._top is None:
            values, index = _channel_max(self.upsampled, num_classes)
            self._top = (values.reshape(-1), index.reshape(-1))
        return self._top


def _channel_argmax(scores: torch.Tensor, num_channels: int | None = None) -> torch.Tensor:
    """`scores[:, :num_channels].argmax(dim=1)` as uint8 for (B, C, H, W) scores (all C when None)."""
    return _channel_max(scores, scores.shape[1] if num_channels is None else num_channels)[1]


def _channel_max(scores: torch.Tensor, num_channels: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The max (B, H, W) and uint8 argmax over the first `num_channels` channels of (B, C, H, W) scores.

    Same lowest-index tie-break as `argmax`. On the CPU, a reduction over the channels of a contiguous
    (B, C, H, W) tensor is strided, several times slower than a running maximum over its C contiguous planes.
    """
    if scores.device.type != "cpu" or not scores.is_contiguous():
        kept = scores[:, :num_channels]
        return kept.amax(dim=1), kept.argmax(dim=1).to(torch.uint8)
    best = scores[:, 0].clone()
    index = torch.zeros(best.shape, dtype=torch.uint8, device=scores.device)
    for c in range(1, num_channels):
        index.masked_fill_(scores[:, c] > best, c)
        torch.maximum(best, scores[:, c], out=best)
    return best, index
