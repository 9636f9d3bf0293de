"""What the pseudo-labelling constraint costs on top of the teacher's forward pass.

Times, for a SegFormer teacher built from its config (random weights; mit-b0 by default):
  (a) the forward pass alone,
  (b) forward + F.interpolate + argmax (the teacher alone, as users write it today),
  (c) forward + the plain constraint (dense (B, C, H, W) allowed mask, `reference_constrained_pseudo_labels`),
  (d) forward + `constrained_pseudo_labels`,
  and, for reference, forward + `unconstrained_labels` (the package's version of (b)),
  and the mapping audit's counts two ways: on the teacher's output grid (`teacher_choice_counts`, what the
  driver does) and at full resolution (upsample, argmax and count every pixel: the alternative),
on native label maps drawn as Voronoi regions whose classes cover a chosen share of the pixels with
one-to-one, one-to-many, fill-in and void native classes, and classes with void beside (`a, b, void`: the
teacher chooses among them or voids the pixel, which needs every class's score at those pixels). The
unified taxonomy is Cityscapes' 19 classes, or with --classes C > 19 those and C - 19 more that one native
class maps to (one-to-many), as a Mapillary-sized label space has. The variants run interleaved, so that
load from elsewhere on the machine hits them alike; each figure is the median of the repeated runs, the
device synchronised around each. The post-processing is also timed alone on the same logits, which
measures the extra cost more precisely than the difference of two end-to-end medians. Minimum times are
reported beside the medians: on a machine shared with other work, the minimum is the better estimate of
what each step costs on its own.

    python bench/bench_pseudo_label.py --batch-size 1 --output bench_pseudo_label.json

`measure_kernel` is what `bench/gpu_suite.py` calls.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
from collections.abc import Callable

import torch
import torch.nn.functional as F
from timing import timed

from unify.core.constants import FROM_GROUND_TRUTH, IGNORED, TEACHER_CHOSE, TEACHER_FILLED, TEACHER_VOIDED
from unify.core.mapping import LabelMapping
from unify.core.pseudo_label_kernel import (
    constrained_pseudo_labels,
    reference_constrained_pseudo_labels,
    teacher_choice_counts,
    unconstrained_labels,
)
from unify.core.segmenter import SEGFORMER_SIZES
from unify.core.taxonomy import ClassInfo, Taxonomy, get_taxonomy

# A coarser native taxonomy mapped into the 19 Cityscapes classes, as many real datasets are.
NATIVE_CLASSES: dict[str, tuple[str, ...] | str] = {
    "road": ("road",),
    "sidewalk": ("sidewalk",),
    "building": ("building",),
    "wall": ("wall",),
    "fence": ("fence",),
    "pole": ("pole",),
    "traffic light": ("traffic light",),
    "traffic sign": ("traffic sign",),
    "vegetation": ("vegetation",),
    "terrain": ("terrain",),
    "sky": ("sky",),
    "train": ("train",),
    "vehicle": ("car", "truck", "bus"),
    "human": ("person", "rider"),
    "two-wheeler": ("motorcycle", "bicycle"),
    "unlabeled": "*",
    "ego vehicle": (),
    # void beside classes, as the paper's tables have it (A2D2 buildings, non-drivable street, signal corpus)
    "buildings": ("building", "wall"),
    "non-drivable street": ("terrain",),
    "signal corpus": ("traffic light",),
}
VOID_BESIDE = ("buildings", "non-drivable street", "signal corpus")
EXTRA_CLASSES = "street furniture"
"""With more unified classes than Cityscapes' 19, the native class that maps to all the extra ones."""
GROUPS = ("one_to_one", "one_to_many", "fill_in", "void", "maybe_void")
SCENARIOS = {
    # share of pixels per group of native classes, in the order of GROUPS
    "realistic": (0.7, 0.2, 0.1, 0.0, 0.0),
    "realistic_void": (0.6, 0.15, 0.1, 0.0, 0.15),
    "all_fill_in": (0.0, 0.0, 1.0, 0.0, 0.0),
    "all_one_to_many": (0.0, 1.0, 0.0, 0.0, 0.0),
    "all_maybe_void": (0.0, 0.0, 0.0, 0.0, 1.0),
}


def bench_mapping(classes: int = 19) -> LabelMapping:
    """The native taxonomy above mapped into `classes` unified classes (at least 19: Cityscapes' first)."""
    cityscapes = get_taxonomy("cityscapes19")
    if classes < cityscapes.num_labels:
        raise ValueError(f"classes must be at least {cityscapes.num_labels}, got {classes}")
    extra = tuple(ClassInfo(i, f"extra class {i}", (i, i, i), False) for i in range(cityscapes.num_labels, classes))
    unified = (
        cityscapes if not extra else Taxonomy(name=f"bench_unified{classes}", classes=(*cityscapes.trainable, *extra))
    )
    targets_of = {**NATIVE_CLASSES, **({EXTRA_CLASSES: tuple(c.name for c in extra)} if extra else {})}
    native = Taxonomy(
        name="bench_native", classes=tuple(ClassInfo(i, name, (i, i, i), False) for i, name in enumerate(targets_of))
    )
    allowed = {}
    for i, targets in enumerate(targets_of.values()):
        ids = [c.id for c in unified.trainable] if targets == "*" else [unified.by_name[t].id for t in targets]
        allowed[i] = tuple(sorted(ids))
    void_allowed = frozenset(native.by_name[name].id for name in VOID_BESIDE)
    return LabelMapping(native=native, unified=unified, allowed=allowed, comments={}, void_allowed=void_allowed)


def group_of(mapping: LabelMapping, native_id: int) -> str:
    """Which of GROUPS a native class belongs to, as `LabelMapping.coverage` groups them."""
    if native_id in mapping.void_allowed:
        return "maybe_void"
    return {FROM_GROUND_TRUTH: "one_to_one", TEACHER_CHOSE: "one_to_many", TEACHER_FILLED: "fill_in", IGNORED: "void"}[
        mapping.kind(native_id)
    ]


def draw_native_maps(
    mapping: LabelMapping,
    shares: tuple[float, ...],
    batch: int,
    height: int,
    width: int,
    generator: torch.Generator,
    regions: int = 300,
    cell: int = 8,
) -> torch.Tensor:
    """(B, H, W) uint8 native maps of Voronoi regions; each group of native classes covers about its share."""
    groups = {g: [i for i in mapping.allowed if group_of(mapping, i) == g] for g in GROUPS}
    bounds = torch.tensor(shares).cumsum(0)
    coarse_h, coarse_w = -(-height // cell), -(-width // cell)
    yy, xx = torch.meshgrid(torch.arange(coarse_h), torch.arange(coarse_w), indexing="ij")
    grid = torch.stack([yy.reshape(-1), xx.reshape(-1)], dim=1).float()
    maps = []
    for _ in range(batch):
        seeds = torch.rand(regions, 2, generator=generator) * torch.tensor([coarse_h, coarse_w])
        region = torch.cdist(grid, seeds).argmin(dim=1)
        area = torch.bincount(region, minlength=regions).float() / region.numel()
        order = torch.randperm(regions, generator=generator)
        middle = area[order].cumsum(0) - area[order] / 2
        kind = torch.empty(regions, dtype=torch.long)
        kind[order] = torch.bucketize(middle, bounds[:-1], right=True)
        region_class = torch.tensor(
            [
                groups[GROUPS[k]][int(torch.randint(len(groups[GROUPS[k]]), (1,), generator=generator))]
                for k in kind.tolist()
            ],
            dtype=torch.uint8,
        )
        coarse = region_class[region].view(coarse_h, coarse_w)
        maps.append(coarse.repeat_interleave(cell, 0).repeat_interleave(cell, 1)[:height, :width])
    return torch.stack(maps)


def measured_shares(native: torch.Tensor, mapping: LabelMapping) -> dict[str, float]:
    group = torch.tensor(
        [GROUPS.index(group_of(mapping, i)) if i in mapping.allowed else -1 for i in range(int(native.max()) + 1)]
    )[native.long()]
    return {name: round(float((group == g).float().mean()), 3) for g, name in enumerate(GROUPS)}


def full_resolution_choice_counts(logits: torch.Tensor, native: torch.Tensor, num_ids: int) -> torch.Tensor:
    """The audit's counts over every pixel: upsample, argmax, one bincount (what the driver does not do)."""
    choice = unconstrained_labels(logits, native.shape[-2:]).long()
    pairs = native.long() * logits.shape[1] + choice
    return torch.bincount(pairs.view(-1), minlength=num_ids * logits.shape[1])


def run_scenario(
    model, pixel_values, native, tables, size, warmup: int, repeats: int, post_repeats: int, device: torch.device
) -> dict:
    post_processing: dict[str, Callable[[torch.Tensor], object]] = {
        "upsample_argmax": lambda logits: F.interpolate(logits, size=size, mode="bilinear", align_corners=False).argmax(
            dim=1
        ),
        "naive_constrained": lambda logits: reference_constrained_pseudo_labels(logits, native, tables),
        "constrained": lambda logits: constrained_pseudo_labels(logits, native, tables),
        "unconstrained_labels": lambda logits: unconstrained_labels(logits, size),
        "audit_teacher_grid": lambda logits: teacher_choice_counts(logits, native, tables.known.numel()),
        "audit_full_resolution": lambda logits: full_resolution_choice_counts(logits, native, tables.known.numel()),
    }
    variants = {"forward": lambda logits: None, **post_processing}
    end_to_end: dict[str, list[float]] = {name: [] for name in variants}
    for repeat in range(warmup + repeats):
        for name, fn in variants.items():
            sample = timed(lambda fn=fn: fn(model(pixel_values=pixel_values).logits), device)
            if repeat >= warmup:
                end_to_end[name].append(sample)
    logits = model(pixel_values=pixel_values).logits
    post: dict[str, list[float]] = {name: [] for name in variants}
    for repeat in range(warmup + post_repeats):
        for name, fn in variants.items():
            sample = timed(lambda fn=fn: fn(logits), device)
            if repeat >= warmup:
                post[name].append(sample)
    fast = constrained_pseudo_labels(logits, native, tables)
    naive = reference_constrained_pseudo_labels(logits, native, tables)
    forward, forward_min = statistics.median(end_to_end["forward"]), min(end_to_end["forward"])
    rows = {}
    for name in variants:
        total = statistics.median(end_to_end[name])
        rows[name] = {
            "images_per_s": pixel_values.shape[0] / total,
            "end_to_end_s": total,
            "extra_end_to_end_pct": 100 * (total - forward) / forward,
            "post_s": statistics.median(post[name]),
            "post_min_s": min(post[name]),
            "extra_post_pct": 100 * statistics.median(post[name]) / forward,
            "extra_post_min_pct": 100 * min(post[name]) / forward_min,
        }
    return {
        "variants": rows,
        "mismatching_pixels": int(((fast.label != naive.label) | (fast.provenance != naive.provenance)).sum()),
        "voided_pixels": int((fast.provenance == TEACHER_VOIDED).sum()),
    }


def print_table(results: dict) -> None:
    header = (
        f"{'scenario':<16} {'variant':<20} {'images/s':>9} {'extra e2e %':>11} "
        f"{'post ms':>8} {'extra post %':>12} {'min post ms':>11} {'extra min %':>11}"
    )
    print(header)
    print("-" * len(header))
    for scenario, result in results["scenarios"].items():
        for name, row in result["variants"].items():
            print(
                f"{scenario:<16} {name:<20} {row['images_per_s']:>9.3f} {row['extra_end_to_end_pct']:>11.1f} "
                f"{1000 * row['post_s']:>8.1f} {row['extra_post_pct']:>12.1f} {1000 * row['post_min_s']:>11.1f} "
                f"{row['extra_post_min_pct']:>11.1f}"
            )
        print(
            f"{scenario:<16} pixel shares {result['shares']}; constrained vs naive: "
            f"{result['mismatching_pixels']} mismatching pixels; {result['voided_pixels']} pixels voided"
        )


def measure_kernel(
    model: str = "mit-b0",
    batch_size: int = 1,
    height: int = 512,
    width: int = 1024,
    classes: int = 19,
    scenarios: tuple[str, ...] = tuple(SCENARIOS),
    warmup: int = 2,
    repeats: int = 7,
    post_repeats: int = 21,
    device: str = "cpu",
    dtype: str = "float32",
    channels_last: bool = False,
    seed: int = 0,
) -> dict:
    """Seconds and images/s of every variant above, per scenario (keys of SCENARIOS).

    `model`: a SegFormer size name (`unify.core.segmenter.SEGFORMER_SIZES`), random weights, `classes` outputs,
    cast to `dtype` (float32, bfloat16, float16) and, with `channels_last`, in channels-last memory, as are the
    (batch_size, 3, height, width) random pixels. Returns the settings and {"scenarios": {name: {"variants":
    {variant: {"images_per_s", "end_to_end_s", ...}}, "mismatching_pixels", "voided_pixels", "shares"}}}.
    """
    from transformers import SegformerConfig, SegformerForSemanticSegmentation

    device = torch.device(device)
    torch_dtype = getattr(torch, dtype)
    memory_format = torch.channels_last if channels_last else torch.contiguous_format
    mapping = bench_mapping(classes)
    generator = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    config = SegformerConfig(**SEGFORMER_SIZES[model], num_labels=mapping.unified.num_labels)
    teacher = SegformerForSemanticSegmentation(config).eval().to(device, torch_dtype, memory_format=memory_format)
    pixel_values = torch.randn(batch_size, 3, height, width, generator=generator).to(device, torch_dtype)
    pixel_values = pixel_values.contiguous(memory_format=memory_format)
    tables = mapping.tables.to(device)
    results = {
        "model": f"segformer {model} (random weights), {mapping.unified.num_labels} classes",
        "batch_size": batch_size,
        "size": [height, width],
        "dtype": dtype,
        "channels_last": channels_last,
        "device": str(device),
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "machine": platform.processor() or platform.machine(),
        "scenarios": {},
    }
    with torch.inference_mode():
        for scenario in scenarios:
            native = draw_native_maps(mapping, SCENARIOS[scenario], batch_size, height, width, generator)
            result = run_scenario(
                teacher, pixel_values, native.to(device), tables, (height, width), warmup, repeats, post_repeats, device
            )
            result["shares"] = measured_shares(native, mapping)
            results["scenarios"][scenario] = result
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="mit-b0", choices=list(SEGFORMER_SIZES), help="teacher size (random)")
    parser.add_argument("--batch-size", type=int, default=1)
    parser.add_argument("--height", type=int, default=512)
    parser.add_argument("--width", type=int, default=1024)
    parser.add_argument("--classes", type=int, default=19, help="unified classes (at least 19)")
    parser.add_argument("--scenarios", nargs="+", default=list(SCENARIOS), choices=list(SCENARIOS))
    parser.add_argument("--warmup", type=int, default=2, help="untimed rounds before the timed ones")
    parser.add_argument("--repeats", type=int, default=7, help="timed end-to-end rounds (median reported)")
    parser.add_argument("--post-repeats", type=int, default=21, help="timed rounds of post-processing alone")
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--dtype", default="float32", choices=["float32", "bfloat16", "float16"])
    parser.add_argument("--channels-last", action="store_true", help="channels-last memory (faster on CUDA)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--output", help="write the results as JSON to this file")
    args = parser.parse_args()

    torch.set_num_threads(args.threads)
    results = measure_kernel(
        args.model,
        args.batch_size,
        args.height,
        args.width,
        args.classes,
        tuple(args.scenarios),
        args.warmup,
        args.repeats,
        args.post_repeats,
        args.device,
        args.dtype,
        args.channels_last,
        args.seed,
    )
    print_table(results)
    if args.output:
        with open(args.output, "w", encoding="utf-8") as f:
            json.dump(results, f, indent=2)


if __name__ == "__main__":
    main()
