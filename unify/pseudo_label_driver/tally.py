"""A shard's statistics, counted on the teacher's device and read back once, when the shard is written.

Per batch: pixels by provenance and unified class (`provenance_counts`), the teacher's unconstrained choice
against each native id on its own output grid (`teacher_choice_counts`, for the mapping audit), and, where
the hidden fine truth of the synthetic world is there, the accuracy of the constrained and the unconstrained
labels. Nothing is read back to the host per batch; `to_json` reads everything once and checks there that
no pixel had an id or a provenance code out of range.
"""

from __future__ import annotations

import torch

from unify.core.constants import IGNORE_INDEX, PROVENANCE_NAMES
from unify.core.errors import UnifyError
from unify.core.pseudo_label_kernel import PseudoLabels, provenance_counts, teacher_choice_counts, unconstrained_labels


class Tally:
    """Counts of one shard, on `device`; `num_labels` unified classes C, `num_native_ids` rows of the tables."""

    def __init__(self, num_labels: int, num_native_ids: int, device: torch.device):
        self.num_labels, self.num_native_ids = num_labels, num_native_ids
        self.counts = torch.zeros(len(PROVENANCE_NAMES) * (num_labels + 1) + 1, dtype=torch.int64, device=device)
        self.choices = torch.zeros(num_native_ids, num_labels, dtype=torch.int64, device=device)
        self.accuracy = torch.zeros(2, 2, dtype=torch.int64, device=device)  # (constrained, unconstrained) x (hit, n)

    def add(self, result: PseudoLabels, scores: torch.Tensor, native: torch.Tensor, fine: torch.Tensor | None) -> None:
        """Count one batch: its pseudo-labels, the teacher's class scores (B, C, h, w) without a no-object
        channel, its native ids (B, H, W) as the kernel checked them, and its fine truth (B, H, W) or None."""
        self.counts += provenance_counts(result, self.num_labels)
        self.choices += teacher_choice_counts(scores, native, self.num_native_ids)
        if fine is None:
            return
        valid = fine != IGNORE_INDEX
        fine = fine.long()
        for row, prediction in enumerate((result.label, unconstrained_labels(scores, fine.shape[-2:]))):
            self.accuracy[row, 0] += ((prediction.long() == fine) & valid).sum()
            self.accuracy[row, 1] += valid.sum()

    def to_json(self, shard: str) -> dict:
        """The shard's statistics as JSON: `counts` (provenance x class, last column void), `accuracy`, and
        `teacher_choices` {native id: C counts} for the native ids seen. `UnifyError` naming `shard` when a
        pixel held an id or code out of range (the kernel never writes one)."""
        counts = self.counts.tolist()
        invalid = counts.pop()
        if invalid:
            raise UnifyError(
                f"{shard}: {invalid} pseudo-label pixels hold a unified id outside "
                f"0..{self.num_labels - 1} (and {IGNORE_INDEX}) or a provenance code outside "
                f"0..{len(PROVENANCE_NAMES) - 1}"
            )
        width = self.num_labels + 1
        accuracy = self.accuracy.tolist()
        choices = {str(i): row for i, row in enumerate(self.choices.tolist()) if any(row)}
        return {
            "counts": [counts[k : k + width] for k in range(0, len(counts), width)],
            "accuracy": {"constrained": accuracy[0], "unconstrained": accuracy[1]},
            "teacher_choices": choices,
        }
