"""Draft a mapping file from what a teacher predicts on each native class.

A teacher (a SegFormer whose `id2label` is the unified taxonomy) runs over a sample of a dataset read
from its raw folder by its builder. Every labelled pixel adds one count to (native class, predicted
unified class). From these counts each native class gets a draft line:

- a unified class is allowed when it takes at least `min_share` of the class's pixels, or at least
  `min_evidence` and `lift` times its share on the other classes' pixels (so that a thin class, such
  as lane markings inside roads, survives while the boundary noise every class sees does not);
- a class whose predictions spread over most unified classes (perplexity, the exponential of the
  entropy of its predicted shares, at least `spread` × the number of unified classes) becomes `*`,
  the teacher fills it in; if the dataset itself flags the class void, it stays `void`;
- a class not seen in the sample is written `void` and marked for a decision by hand.

The shares are written beside each line, so that a person can edit the draft before it is used.
"""

from __future__ import annotations

import logging
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from dataset_scripts import get_builder_class
from dataset_scripts.base import RawSample
from unify.core.errors import BadSampleError, UnifyError
from unify.core.images import decode_rgb
from unify.core.mapping import ALL, VOID, parse_mapping
from unify.core.segmenter import Segmenter
from unify.core.taxonomy import Taxonomy, get_taxonomy

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class SuggestionRule:
    """The thresholds of the drafting rule (module docstring); shares are fractions of a native class's pixels.

    Raises `UnifyError` for a share or spread outside (0, 1], `min_evidence` above `min_share`, or `lift` below 1.
    """

    min_share: float = 0.05  # a unified class taking this share of a native class's pixels is allowed
    min_evidence: float = 0.005  # smaller shares are allowed only from this share upwards ...
    lift: float = 5.0  # ... and when this many times the class's share on the other native classes
    spread: float = 0.5  # perplexity >= spread x unified classes: no preference, the class becomes '*'

    def __post_init__(self):
        for name in ("min_share", "min_evidence", "spread"):
            value = getattr(self, name)
            if not 0 < value <= 1:
                raise UnifyError(f"{name} must be in (0, 1], got {value}")
        if self.min_evidence > self.min_share:
            raise UnifyError(f"min_evidence must not exceed min_share ({self.min_share}), got {self.min_evidence}")
        if self.lift < 1:
            raise UnifyError(f"lift must be at least 1, got {self.lift}")


@dataclass
class DraftLine:
    """One line of a draft mapping file: `native : targets  # comment`."""

    native: str
    targets: str  # "a, b", "*" or "void", as written in a mapping file
    comment: str


@dataclass
class MappingSuggestion:
    """What `suggest_mapping` counted and drafted."""

    native: Taxonomy
    unified: Taxonomy
    counts: np.ndarray  # (native max id + 1, unified classes) pixel counts
    lines: list[DraftLine]  # one per native class, in the native table's order
    num_images: int  # images that were read and counted
    skipped: list[str] = field(default_factory=list)  # "<file>: <reason>" of samples that could not be read
    output: Path | None = None  # where the draft was written


def shrink(rgb: np.ndarray, max_side: int | None) -> np.ndarray:
    """The image scaled down (bilinear) so that its longer side is at most `max_side`; unchanged when shorter."""
    if max_side is None or max(rgb.shape[:2]) <= max_side:
        return rgb
    scale = max_side / max(rgb.shape[:2])
    size = (max(1, round(rgb.shape[1] * scale)), max(1, round(rgb.shape[0] * scale)))
    return np.asarray(Image.fromarray(rgb).resize(size, Image.BILINEAR))


@torch.inference_mode()
def predict(teacher: Segmenter, rgb: np.ndarray, max_side: int | None = None) -> torch.Tensor:
    """(H, W) long unified class ids predicted for an (H, W, 3) uint8 image, at the image's own size.

    The image is first shrunk so that its longer side is at most `max_side` pixels (None: as it is); the logits are
    upsampled back bilinearly.
    """
    small = np.require(shrink(rgb, max_side), requirements=["C", "W"])
    pixels = teacher.preprocess(torch.from_numpy(small).permute(2, 0, 1)[None].to(teacher.device))
    return teacher.logits(pixels, size=rgb.shape[:2]).argmax(dim=1)[0]


def count_predictions(
    teacher: Segmenter, label: np.ndarray, rgb: np.ndarray, counts: torch.Tensor, max_side: int | None = None
) -> None:
    """Add one image's (native id, predicted unified id) pixel pairs to `counts` (L, C) int64, in place.

    `label` (H, W) holds native ids below L, `rgb` (H, W, 3) uint8 is its image.
    """
    predicted = predict(teacher, rgb, max_side)
    native = torch.from_numpy(label.astype(np.int64)).to(counts.device)
    pairs = native.flatten() * counts.shape[1] + predicted.flatten().to(counts.device)
    counts += torch.bincount(pairs, minlength=counts.numel()).view(counts.shape)


def draft_lines(counts: np.ndarray, native: Taxonomy, unified: Taxonomy, rule: SuggestionRule) -> list[DraftLine]:
    """One mapping line per native class from its prediction counts, by the rule in the module docstring."""
    totals = counts.sum(axis=1)
    shares = counts / np.maximum(totals, 1)[:, None]
    with np.errstate(divide="ignore", invalid="ignore"):
        entropy = -np.where(shares > 0, shares * np.log(shares), 0.0).sum(axis=1)
    spread = np.exp(entropy) >= rule.spread * unified.num_labels
    evidence = counts * ((totals > 0) & ~spread)[:, None]  # spread classes say nothing about any unified class
    evidence_total = evidence.sum(axis=0)
    names = [c.name for c in unified.trainable]
    lines = []
    for c in native.classes:
        n = int(totals[c.id])
        if n == 0:
            lines.append(DraftLine(c.name, VOID, "NOT SEEN in the sample: decide by hand"))
            continue
        seen = _describe(shares[c.id], names, n)
        if spread[c.id]:
            targets, why = (
                (VOID, "flagged void by the dataset, no preference: ") if c.ignore else (ALL, "no preference: ")
            )
            lines.append(DraftLine(c.name, targets, why + seen))
            continue
        rest = evidence_total - evidence[c.id]
        elsewhere = rest / max(int(rest.sum()), 1)
        allowed = (shares[c.id] >= rule.min_share) | (
            (shares[c.id] >= rule.min_evidence) & (shares[c.id] >= rule.lift * elsewhere)
        )
        allowed[np.argmax(shares[c.id])] = True
        note = "flagged void by the dataset; " if c.ignore else ""
        lines.append(
            DraftLine(c.name, ", ".join(name for name, keep in zip(names, allowed, strict=True) if keep), note + seen)
        )
    return lines


def _describe(shares: np.ndarray, names: list[str], pixels: int, top: int = 6) -> str:
    order = [i for i in np.argsort(-shares, kind="stable")[:top] if shares[i] >= 0.001]
    return ", ".join(f"{names[i]} {100 * shares[i]:.1f}%" for i in order) + f" ({pixels:,} px)"


def format_draft(suggestion: MappingSuggestion, header: list[str]) -> str:
    """The draft file's text: `header` as `#` comment lines, then one aligned line per native class."""
    width = max(len(line.native) for line in suggestion.lines)
    target_width = min(max(len(line.targets) for line in suggestion.lines), 40)
    body = [f"{line.native:<{width}} : {line.targets:<{target_width}}  # {line.comment}" for line in suggestion.lines]
    return "\n".join([f"# {text}" if text else "#" for text in header] + body) + "\n"


def suggest_mapping(
    dataset: str,
    unified_taxonomy: str,
    teacher: Segmenter | Path | str,
    output: Path | str,
    data_dir: Path | str | None = None,
    config: str | None = None,
    samples: int = 64,
    rule: SuggestionRule | None = None,
    device: str | None = None,
    max_side: int | None = 1024,
    overwrite: bool = False,
) -> MappingSuggestion:
    """Run `teacher` over `samples` images of `dataset` (read from `data_dir`) and write a draft mapping.

    `teacher` is a model folder or Hub id, or a `Segmenter` already in memory. Raises `UnifyError` when the
    output exists (without `overwrite`), the teacher predicts another taxonomy, or the dataset has no samples.
    """
    rule = rule or SuggestionRule()
    output = Path(output)
    if samples < 1:
        raise UnifyError(f"samples must be at least 1, got {samples}")
    if output.exists() and not overwrite:
        raise UnifyError(f"{output} exists; a draft never replaces a file that may hold edits (use --force)")
    unified = get_taxonomy(unified_taxonomy)
    unified.require_unified()
    if not isinstance(teacher, Segmenter):
        teacher = Segmenter.load(teacher, device=device)
    teacher.check_predicts(unified, role="the teacher")
    teacher.eval()
    source = teacher.identity.display() if teacher.identity else "(in memory)"
    with tempfile.TemporaryDirectory(prefix="unify-suggest-") as cache:
        builder = get_builder_class(dataset)(
            config_name=config, data_dir=str(data_dir) if data_dir else None, cache_dir=cache
        )
        native = get_taxonomy(builder.config.native_taxonomy)
        chosen = pick_samples(builder.raw_samples(), samples)
        counts = torch.zeros(native.max_id + 1, unified.num_labels, dtype=torch.int64, device=teacher.device)
        skipped = []
        for sample in chosen:
            try:
                rgb, label = _read(builder, sample, native)
            except BadSampleError as exc:
                logger.warning("skipping %s", exc)
                skipped.append(str(exc))
                continue
            count_predictions(teacher, label, rgb, counts, max_side)
        config_name = builder.config.name
    counts = counts.cpu().numpy()
    suggestion = MappingSuggestion(
        native,
        unified,
        counts,
        draft_lines(counts, native, unified, rule),
        num_images=len(chosen) - len(skipped),
        skipped=skipped,
        output=output,
    )
    header = _header(suggestion, dataset, config_name, source, rule)
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(format_draft(suggestion, header), encoding="utf-8")
    parse_mapping(output, native, unified)  # the draft must already be a valid mapping file
    logger.info(
        "wrote a draft mapping %s -> %s from %d images to %s", native.name, unified.name, suggestion.num_images, output
    )
    return suggestion


def pick_samples(by_split: dict[str, list[RawSample]], count: int) -> list[RawSample]:
    """`count` samples spread evenly over all splits in order, so that every part of the data is seen.

    Raises `UnifyError` when the dataset has no sample at all.
    """
    everything = [sample for split in by_split.values() for sample in split]
    if not everything:
        raise UnifyError("the dataset has no samples to suggest a mapping from")
    if count >= len(everything):
        return everything
    return [everything[i] for i in np.unique(np.linspace(0, len(everything) - 1, count).round().astype(int))]


def _read(builder, sample: RawSample, native: Taxonomy) -> tuple[np.ndarray, np.ndarray]:
    loaded = builder.load_sample(sample)
    rgb = decode_rgb(loaded.image_bytes, sample.image_path)
    label = loaded.label
    if label.shape != rgb.shape[:2]:
        raise BadSampleError(
            sample.label_path or sample.image_path,
            f"label is {label.shape[1]}x{label.shape[0]}, image {rgb.shape[1]}x{rgb.shape[0]}",
        )
    present = np.unique(label)
    unknown = [int(i) for i in present if int(i) not in native.by_id]
    if unknown:
        raise BadSampleError(
            sample.label_path or sample.image_path, f"label ids {unknown} are not in the {native.name} taxonomy"
        )
    return rgb, label


def _header(suggestion: MappingSuggestion, dataset: str, config: str, teacher: str, rule) -> list[str]:
    kinds = {ALL: 0, VOID: 0}
    for line in suggestion.lines:
        if line.targets in kinds:
            kinds[line.targets] += 1
    return [
        f"DRAFT {suggestion.native.name} -> {suggestion.unified.name}, suggested by `unify mappings suggest` from "
        f"the teacher {teacher}",
        f"over {suggestion.num_images} images of {dataset}/{config}; "
        f"{len(suggestion.skipped)} unreadable sample(s) skipped.",
        f"Rule: allowed = share >= {rule.min_share:g}, or share >= {rule.min_evidence:g} and >= {rule.lift:g}x its "
        f"share on the other classes; '*' when the predictions' perplexity",
        f"is >= {rule.spread:g} x {suggestion.unified.num_labels} classes ('void' instead if the dataset flags the "
        f"class void). Comments: predicted shares and pixels.",
        f"{kinds[ALL]} line(s) are '*', {kinds[VOID]} 'void'. Review every line, then check it with "
        f"`unify mappings check` once it is in unify/mappings/.",
        "",
    ]
