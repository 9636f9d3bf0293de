"""The partial-label loss against its plain oracle, which builds the (B, C, H, W) allowed mask."""

import math

import pytest
import torch
import torch.nn.functional as F

from train.loss import SourceTargets, TargetTables, partial_label_loss, reference_partial_label_loss
from train.transforms import OUTSIDE
from unify.core.constants import IGNORE_INDEX
from unify.core.errors import UnifyError
from unify.core.mapping import LabelMapping, identity_mapping
from unify.core.taxonomy import Taxonomy

UNIFIED = Taxonomy.from_json(
    "five",
    [{"id": i, "name": f"u{i}", "color": [i, i, i], "ignore": False} for i in range(5)]
    + [{"id": 255, "name": "void", "color": [0, 0, 0], "ignore": True}],
)
# native id: (name, allowed unified ids, void beside them)
LINES = {
    0: ("one", (1,), False),
    1: ("pair", (2, 3), False),
    2: ("all", (0, 1, 2, 3, 4), False),
    3: ("void", (), False),
    4: ("pair or void", (0, 4), True),
    5: ("one or void", (2,), True),
    6: ("all or void", (0, 1, 2, 3, 4), True),
    300: ("wide id", (0, 1, 3), False),
}
NATIVE = Taxonomy.from_json(
    "native",
    [{"id": i, "name": name, "color": [0, 0, 0], "ignore": not allowed} for i, (name, allowed, _) in LINES.items()],
)
MAPPING = LabelMapping(
    NATIVE,
    UNIFIED,
    {i: allowed for i, (_, allowed, _) in LINES.items()},
    {},
    void_allowed=frozenset(i for i, (_, _, beside) in LINES.items() if beside),
)
SETTINGS = [(targets, fill_in) for targets in ("hard", "partial", "both") for fill_in in ("teacher", "ignore")]


def scene(batch=2, height=12, width=10, seed=0):
    """Random logits at half resolution, native ids of every line (and some OUTSIDE), labels as a teacher writes."""
    generator = torch.Generator().manual_seed(seed)
    logits = 3 * torch.randn(batch, 5, height // 2, width // 2, generator=generator, dtype=torch.float64)
    ids = torch.tensor(list(LINES))
    native = ids[torch.randint(0, len(ids), (batch, height, width), generator=generator)]
    native[:, -1, :3] = OUTSIDE
    allowed = MAPPING.tables.allowed[native.clamp(min=0)]  # (B, H, W, C)
    scores = torch.rand(*allowed.shape, generator=generator).masked_fill(~allowed, -1)
    label = torch.where(allowed.any(-1), scores.argmax(-1), IGNORE_INDEX)
    voided = MAPPING.tables.void_allowed[native.clamp(min=0)] & (torch.rand(native.shape, generator=generator) < 0.4)
    label = label.masked_fill(voided | (native < 0), IGNORE_INDEX)
    return logits.requires_grad_(), label, native


def tables_of(sources):
    return TargetTables.build(sources, UNIFIED.num_labels)


@pytest.mark.parametrize("targets, fill_in", SETTINGS)
def test_every_kind_of_line_agrees_with_the_oracle_in_value_and_gradient(targets, fill_in):
    sources = [SourceTargets(targets, fill_in, MAPPING)]
    logits, label, native = scene()
    source = torch.zeros(len(label), dtype=torch.long)
    fast = partial_label_loss(logits, label, native, source, tables_of(sources))
    oracle = reference_partial_label_loss(logits, label, native, source, sources)
    assert fast.item() == pytest.approx(oracle.item(), rel=1e-12)
    assert torch.allclose(*[torch.autograd.grad(v, logits)[0] for v in (fast, oracle)], rtol=1e-9, atol=1e-12)


def test_singletons_are_cross_entropy():
    taxonomy_mapping = identity_mapping(UNIFIED)  # what a built source folder records: one class per line
    logits, _, _ = scene()
    label = torch.randint(0, 5, (2, 12, 10))
    label[0, :4] = IGNORE_INDEX
    upsampled = F.interpolate(logits.float(), size=(12, 10), mode="bilinear", align_corners=False)
    expected = F.cross_entropy(upsampled, label, ignore_index=IGNORE_INDEX)
    source = torch.zeros(2, dtype=torch.long)
    for targets in ("hard", "partial", "both"):
        tables = tables_of([SourceTargets(targets, "teacher", taxonomy_mapping)])
        loss = partial_label_loss(logits.detach().float(), label, label, source, tables)
        assert abs(loss.item() - expected.item()) < 1e-6, targets


def one_pixel(native_id: int, label: int, targets: str, fill_in: str = "teacher") -> torch.Tensor:
    logits = torch.tensor([1.0, 2.0, -1.0, 0.5, 3.0], dtype=torch.float64).view(1, 5, 1, 1)
    tables = tables_of([SourceTargets(targets, fill_in, MAPPING)])
    return partial_label_loss(
        logits, torch.tensor([[[label]]]), torch.tensor([[[native_id]]]), torch.tensor([0]), tables
    )


def test_each_line_costs_what_the_issue_says_on_one_pixel():
    p = torch.tensor([1.0, 2.0, -1.0, 0.5, 3.0], dtype=torch.float64).softmax(0)
    assert one_pixel(0, 1, "partial").item() == pytest.approx(-math.log(p[1]))  # one class: cross-entropy
    assert one_pixel(0, IGNORE_INDEX, "partial").item() == pytest.approx(-math.log(p[1]))  # ... from the native id
    assert one_pixel(0, IGNORE_INDEX, "hard").item() == 0  # hard reads the label column alone
    assert one_pixel(1, 3, "hard").item() == pytest.approx(-math.log(p[3]))  # the teacher's choice
    assert one_pixel(1, 3, "partial").item() == pytest.approx(-math.log(p[2] + p[3]))  # the union
    assert one_pixel(1, 3, "both").item() == pytest.approx((-math.log(p[3]) - math.log(p[2] + p[3])) / 2)
    assert one_pixel(300, 0, "partial").item() == pytest.approx(-math.log(p[0] + p[1] + p[3]))  # ids above 255
    for targets in ("hard", "partial", "both"):
        assert one_pixel(2, 4, targets).item() == pytest.approx(-math.log(p[4]))  # fill-in: the teacher's label
        assert one_pixel(2, 4, targets, "ignore").item() == 0  # ... or left out
        assert one_pixel(3, IGNORE_INDEX, targets).item() == 0  # void
        assert one_pixel(4, IGNORE_INDEX, targets).item() == 0  # void beside classes, voided by the teacher
    assert one_pixel(4, 0, "partial").item() == pytest.approx(-math.log(p[0] + p[4]))  # ... kept by the teacher
    assert one_pixel(5, 2, "both").item() == pytest.approx(-math.log(p[2]))


def test_pixels_without_a_term_count_for_nothing_in_the_mean():
    logits, label, native = scene()
    source = torch.zeros(2, dtype=torch.long)
    tables = tables_of([SourceTargets("partial", "ignore", MAPPING)])
    loss = partial_label_loss(logits, label, native, source, tables)
    kept = ~torch.isin(native, torch.tensor([OUTSIDE, 2, 3, 6]))  # outside, fill-in, void
    kept &= (label != IGNORE_INDEX) | ~MAPPING.tables.void_allowed[native.clamp(min=0)]
    log_p = F.interpolate(logits, size=(12, 10), mode="bilinear", align_corners=False).log_softmax(1)
    allowed = MAPPING.tables.allowed[native.clamp(min=0)].permute(0, 3, 1, 2)
    union = -torch.logsumexp(log_p.masked_fill(~allowed, -torch.inf), 1)
    assert loss.item() == pytest.approx(union[kept].mean().item(), rel=1e-12)
    nothing = partial_label_loss(
        logits, torch.full_like(label, IGNORE_INDEX), torch.full_like(native, OUTSIDE), source, tables
    )
    assert nothing.item() == 0
    assert torch.equal(torch.autograd.grad(nothing, logits)[0], torch.zeros_like(logits))


def test_one_micro_batch_mixes_sources_with_their_own_settings():
    sources = [
        SourceTargets("hard", "teacher", None),
        SourceTargets("both", "ignore", MAPPING),
        SourceTargets("partial", "teacher", MAPPING),
    ]
    logits, label, native = scene(batch=3, seed=3)
    native[0] = 0  # a hard source needs no native ids: all 0
    label[0, 0, :4] = torch.tensor([0, 4, 2, IGNORE_INDEX])
    source = torch.tensor([0, 1, 2])
    fast = partial_label_loss(logits, label, native, source, tables_of(sources))
    oracle = reference_partial_label_loss(logits, label, native, source, sources)
    assert fast.item() == pytest.approx(oracle.item(), rel=1e-12)
    single = [
        partial_label_loss(
            logits[i : i + 1], label[i : i + 1], native[i : i + 1], torch.tensor([0]), tables_of([sources[i]])
        )
        for i in range(3)
    ]
    assert fast.item() != pytest.approx(sum(s.item() for s in single) / 3)  # a mean over pixels, not over images


def test_gradients_pass_the_numerical_check():
    logits, label, native = scene(batch=1, height=6, width=4, seed=5)
    tables = tables_of([SourceTargets("both", "teacher", MAPPING)])
    source = torch.tensor([0])
    assert torch.autograd.gradcheck(lambda x: partial_label_loss(x, label, native, source, tables), (logits,))


def test_low_precision_logits_are_computed_in_float32():
    logits, label, native = scene()
    source = torch.zeros(2, dtype=torch.long)
    tables = tables_of([SourceTargets("partial", "teacher", MAPPING)])
    loss = partial_label_loss(logits.detach().bfloat16(), label, native, source, tables)
    assert loss.dtype == torch.float32
    expected = reference_partial_label_loss(
        logits.detach().bfloat16(), label, native, source, [SourceTargets("partial", "teacher", MAPPING)]
    )
    assert loss.item() == pytest.approx(expected.item(), rel=1e-5)


def test_a_source_that_needs_native_ids_needs_a_mapping_and_shapes_must_fit():
    with pytest.raises(UnifyError, match="targets 'partial' with fill_in 'teacher' need a recorded mapping"):
        tables_of([SourceTargets("partial", "teacher", None)])
    tables = tables_of([SourceTargets("partial", "teacher", MAPPING)])
    logits, label, native = scene()
    with pytest.raises(UnifyError, match="the model predicts 4 classes, the target tables know 5"):
        partial_label_loss(logits[:, :4], label, native, torch.zeros(2, dtype=torch.long), tables)
    with pytest.raises(UnifyError, match=r"got \(2, 5, 6, 5\), \(2, 12, 10\) and \(2, 12\)"):
        partial_label_loss(logits, label, native[:, :, 0], torch.zeros(2, dtype=torch.long), tables)
