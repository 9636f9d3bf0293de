"""Training losses: cross-entropy on hard labels, and the partial-label ("union") loss on native label sets.

A pseudo-label throws away what the mapping knows: a pixel of the native class `vehicle` is certainly one
of car, truck and bus, whichever the teacher picked. The partial-label loss of multi-dataset segmentation
(Bevandić, Oršić, Grubišić, Šarić and Šegvić, "Multi-domain semantic segmentation with overlapping labels",
WACV 2022, arXiv 2108.11224) keeps that knowledge: a pixel whose native class allows the set S of
unified classes costs -log sum_{c in S} p(c). One allowed class gives plain cross-entropy. Each training
source says what its pixels teach (`DataSource.targets`, else the run's `targets`):

- `hard`: cross-entropy on the label column (the teacher's constrained pseudo-label in a pseudo-labelled
  folder, the ground-truth-only unified view in a built one). What the trainer has always done.
- `partial`: from the native label and the folder's recorded mapping, per native class line:
  one class: cross-entropy on it; several: the union loss over them (the teacher's choice is not used);
  every class (`*`, a fill-in): `fill_in` decides, `teacher` = cross-entropy on the label column (the
  teacher's label; a built folder has none there, 255, so nothing), `ignore` = left out; void: left out.
  A line with void beside its classes (`a, b, void`) counts only where the label column is not void: the
  teacher voided the pixel when it saw none of the listed classes, so S may not hold its class there.
- `both`: as `partial`, and where several classes are allowed and the teacher chose one, the pixel costs
  the mean of the union loss and the cross-entropy on the teacher's choice. (Where one class is allowed
  both losses are the same cross-entropy: "hard where one class is allowed, union elsewhere" is `partial`.)

`fill_in: ignore` also leaves fill-in pixels out of `hard`. The loss is the mean over the pixels that have
a term, over the whole micro-batch, as cross-entropy with an ignore index averages: hard, partial and both
are on one scale. The logits are upsampled to the label size first, bilinearly with align_corners=False, as
`SegformerForSemanticSegmentation`'s own loss does; with every source `hard` and `fill_in: teacher` the
trainer keeps calling the model's own loss.

Each pixel's terms come from lookup tables indexed by (source, native id) (`TargetTables`): whether it has
a cross-entropy term and on which class, and which of the K distinct allowed sets its union term uses. The
union term is a log-sum-exp over a (K, C) table of 0 / -inf rows at the pixels that have one, so no
(B, C, H, W) mask is built; `reference_partial_label_loss` builds it, plainly, as the tests' oracle.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from unify.core.constants import FROM_GROUND_TRUTH, IGNORE_INDEX, IGNORED, TEACHER_CHOSE, TEACHER_FILLED
from unify.core.errors import BadSampleError, UnifyError
from unify.core.mapping import LabelMapping

NO_CLASS = 0
"""Class-term code: the pixel has no cross-entropy term."""
LABEL_CLASS = 1
"""Class-term code: cross-entropy on the label column's id (none where it is void)."""
NATIVE_CLASS = 2
"""Class-term code: cross-entropy on the one unified class the native id allows."""


@dataclass(frozen=True)
class SourceTargets:
    """What one training source's pixels teach: `targets` and `fill_in` (module docstring) and its mapping.

    `mapping` is the folder's recorded mapping; it may be None only for `hard` with `fill_in: teacher`,
    which needs no native ids.
    """

    targets: str
    fill_in: str
    mapping: LabelMapping | None

    @property
    def needs_native(self) -> bool:
        """Whether the loss reads this source's native ids: every setting but `hard` with `fill_in: teacher`."""
        return not (self.targets == "hard" and self.fill_in == "teacher")


@dataclass(frozen=True)
class TargetTables:
    """Per (source, native id) loss rules, as tables indexed by row `source * width + native id`.

    class_term: (R,) uint8 NO_CLASS / LABEL_CLASS / NATIVE_CLASS. native_class: (R,) long, the class of
    NATIVE_CLASS rows (0 elsewhere). set_id: (R,) long, the row of `log_sets` of the union term, -1 for none.
    voidable: (R,) bool, the terms count only where the label column is not void (void beside classes).
    known: (R,) bool, the id is in the source's native taxonomy (every id of a source without a mapping).
    log_sets: (K, C) float32, 0 where distinct allowed set k holds class c, -inf elsewhere (K >= 1; a
    placeholder row when no source has a union term). width: rows per source, at least 256.
    """

    class_term: torch.Tensor
    native_class: torch.Tensor
    set_id: torch.Tensor
    voidable: torch.Tensor
    known: torch.Tensor
    log_sets: torch.Tensor
    width: int

    @classmethod
    def build(cls, sources: Sequence[SourceTargets], num_labels: int) -> TargetTables:
        """The tables of `sources` (in the run's order) for a taxonomy of `num_labels` classes.

        Raises `UnifyError` when a source that needs its native ids has no mapping, or its mapping's unified
        taxonomy has another number of classes.
        """
        width = max([256] + [s.mapping.tables.known.numel() for s in sources if s.mapping is not None])
        rows = width * len(sources)
        class_term = torch.zeros(rows, dtype=torch.uint8)
        native_class = torch.zeros(rows, dtype=torch.long)
        set_id = torch.full((rows,), -1, dtype=torch.long)
        voidable = torch.zeros(rows, dtype=torch.bool)
        known = torch.zeros(rows, dtype=torch.bool)
        sets: dict[tuple[int, ...], int] = {}
        for index, source in enumerate(sources):
            first = index * width
            if not source.needs_native:
                class_term[first : first + width] = LABEL_CLASS
                known[first : first + width] = True
                continue
            mapping = source.mapping
            if mapping is None or mapping.unified.num_labels != num_labels:
                raise UnifyError(
                    f"targets {source.targets!r} with fill_in {source.fill_in!r} need a recorded "
                    f"mapping onto {num_labels} classes, got "
                    f"{'none' if mapping is None else mapping.unified.num_labels}"
                )
            for native_id, allowed in mapping.allowed.items():
                row = first + native_id
                known[row] = True
                term, allowed_set, voidable[row] = _rule(source, mapping, native_id)
                class_term[row] = term
                native_class[row] = allowed[0] if term == NATIVE_CLASS else 0
                if allowed_set:
                    set_id[row] = sets.setdefault(allowed_set, len(sets))
        log_sets = torch.full((max(1, len(sets)), num_labels), -torch.inf)
        for allowed_set, k in sets.items():
            log_sets[k, list(allowed_set)] = 0.0
        return cls(class_term, native_class, set_id, voidable, known, log_sets, width)

    def to(self, device: torch.device | str) -> TargetTables:
        """The same tables on `device` (the logits' device, which `partial_label_loss` needs)."""
        return TargetTables(
            self.class_term.to(device),
            self.native_class.to(device),
            self.set_id.to(device),
            self.voidable.to(device),
            self.known.to(device),
            self.log_sets.to(device),
            self.width,
        )

    def check_known(self, native: np.ndarray, source: int, where: str) -> None:
        """Raise `BadSampleError` naming `where` when the (H, W) ids `native` hold ids that the native taxonomy
        of source number `source` lacks (up to 20 of them listed)."""
        known = self.known[source * self.width : (source + 1) * self.width].numpy()
        ids = np.unique(native)
        unknown = ids[(ids >= len(known)) | ~known[np.minimum(ids, len(known) - 1)]]
        if unknown.size:
            shown = ", ".join(str(i) for i in unknown[:20].tolist())
            raise BadSampleError(where, f"native label ids {shown} are not in the folder's native taxonomy")


def _rule(source: SourceTargets, mapping: LabelMapping, native_id: int) -> tuple[int, tuple[int, ...], bool]:
    """(class-term code, allowed set of the union term or (), voidable) of one native class line."""
    allowed, kind = mapping.allowed[native_id], mapping.kind(native_id)
    if kind == TEACHER_FILLED:
        return (LABEL_CLASS if source.fill_in == "teacher" else NO_CLASS), (), False
    if source.targets == "hard" or kind == IGNORED:
        return LABEL_CLASS, (), False
    voidable = native_id in mapping.void_allowed
    if kind == FROM_GROUND_TRUTH or (kind == TEACHER_CHOSE and len(allowed) == 1):
        return NATIVE_CLASS, (), voidable
    return (LABEL_CLASS if source.targets == "both" else NO_CLASS), allowed, voidable


def hard_label_loss(model: torch.nn.Module, pixels: torch.Tensor, label: torch.Tensor) -> torch.Tensor:
    """The model's own loss: cross-entropy of its upsampled logits on (B, H, W) long `label`, 255 ignored."""
    return model(pixel_values=pixels, labels=label).loss


def partial_label_loss(
    logits: torch.Tensor, label: torch.Tensor, native: torch.Tensor, source: torch.Tensor, tables: TargetTables
) -> torch.Tensor:
    """The mean loss of the pixels that have a term, as the module docstring defines it (0 when none has).

    The union term is the partial-label loss of Bevandić, Oršić, Grubišić, Šarić and Šegvić (WACV 2022,
    arXiv 2108.11224), -log of the summed probabilities of the allowed set, computed as a log-sum-exp.

    `logits` (B, C, h, w), any floating dtype (computed in at least float32); `label` (B, H, W) long ids of
    the label column, IGNORE_INDEX void; `native` (B, H, W) long native ids, negative outside the image
    (`train.transforms.OUTSIDE`); `source` (B,) long index of each sample's source in `tables`, which must
    be on the logits' device. Returns a scalar, float32 (float64 for float64 logits).
    Raises `UnifyError` when the shapes do not fit each other or the tables' number of classes.
    """
    if logits.dim() != 4 or label.shape != native.shape or label.shape[0] != logits.shape[0]:
        raise UnifyError(
            f"expected logits (B, C, h, w) and label and native maps (B, H, W), got "
            f"{tuple(logits.shape)}, {tuple(label.shape)} and {tuple(native.shape)}"
        )
    if logits.shape[1] != tables.log_sets.shape[1]:
        raise UnifyError(
            f"the model predicts {logits.shape[1]} classes, the target tables know {tables.log_sets.shape[1]}"
        )
    logits = logits.to(torch.promote_types(logits.dtype, torch.float32))
    log_p = F.log_softmax(F.interpolate(logits, size=label.shape[-2:], mode="bilinear", align_corners=False), 1)
    rows = source.view(-1, 1, 1) * tables.width + native.clamp(min=0)
    labelled = label != IGNORE_INDEX
    counts = (native >= 0) & (labelled | ~tables.voidable[rows])
    term = tables.class_term[rows]
    classes = torch.where(term == NATIVE_CLASS, tables.native_class[rows], label)
    class_on = counts & ((term == NATIVE_CLASS) | ((term == LABEL_CLASS) & labelled))
    set_id = torch.where(counts, tables.set_id[rows], -1)
    set_on = set_id >= 0
    halves = torch.where(class_on & set_on, 0.5, 1.0)
    class_nll = -log_p.gather(1, torch.where(class_on, classes, 0)[:, None])[:, 0]
    total = (class_nll * (class_on * halves)).sum()
    # The union term only where there is one: (N, C) rows of log p, masked by their set's row of log_sets.
    picked = log_p.permute(0, 2, 3, 1)[set_on]
    union = torch.logsumexp(picked + tables.log_sets[set_id[set_on]], dim=1)
    total = total - (union * halves[set_on]).sum()
    return total / (class_on | set_on).sum().clamp(min=1)


def reference_partial_label_loss(
    logits: torch.Tensor,
    label: torch.Tensor,
    native: torch.Tensor,
    source: torch.Tensor,
    sources: Sequence[SourceTargets],
) -> torch.Tensor:
    """The same loss, written plainly from the mappings with a (B, C, H, W) allowed mask: the tests' oracle.

    Computed in float64 as -log of summed probabilities; arguments as `partial_label_loss`, with the
    sources' settings and mappings instead of tables.
    """
    upsampled = F.interpolate(logits.double(), size=label.shape[-2:], mode="bilinear", align_corners=False)
    p = upsampled.softmax(1)
    num_labels = p.shape[1]
    terms, weights = [], []
    for b in range(p.shape[0]):
        settings = sources[int(source[b])]
        inside = native[b] >= 0
        ids = native[b].clamp(min=0)
        labelled = label[b] != IGNORE_INDEX
        hard = -torch.log(p[b].gather(0, torch.where(labelled, label[b], 0)[None])[0])
        if settings.mapping is None:
            allowed = torch.ones(num_labels, *ids.shape, dtype=torch.bool)
            kind = torch.full_like(ids, TEACHER_CHOSE)
            void_beside = torch.zeros_like(labelled)
        else:
            tables = settings.mapping.tables
            allowed = tables.allowed[ids].permute(2, 0, 1)  # (C, H, W): what each pixel's native class allows
            kind = tables.provenance[ids].long()
            void_beside = tables.void_allowed[ids]
        allowed_count = allowed.sum(0)
        union = -torch.log(torch.where(allowed_count > 0, (p[b] * allowed).sum(0), 1.0))
        fill = kind == TEACHER_FILLED
        hard_on = labelled & inside
        if settings.fill_in == "ignore":
            hard_on &= ~fill
        if settings.targets == "hard":
            term, weight = hard, hard_on.double()
        else:
            open_line = inside & (labelled | ~void_beside) & (kind != IGNORED) & ~fill
            several = open_line & (allowed_count > 1)
            term = torch.where(fill, hard, union)
            weight = torch.where(fill, hard_on.double(), open_line.double())
            if settings.targets == "both":
                mixed = several & labelled
                term = torch.where(mixed, (hard + union) / 2, term)
        terms.append(term)
        weights.append(weight)
    term, weight = torch.stack(terms), torch.stack(weights)
    return (torch.where(weight > 0, term, 0.0) * weight).sum() / weight.sum().clamp(min=1)
