import pytest
import torch
import torch.nn.functional as F

import unify.core.pseudo_label_kernel as pl
from unify.core.constants import (
    FROM_GROUND_TRUTH,
    IGNORE_INDEX,
    IGNORED,
    PROVENANCE_NAMES,
    TEACHER_CHOSE,
    TEACHER_FILLED,
    TEACHER_VOIDED,
)
from unify.core.errors import UnifyError
from unify.core.mapping import LabelMapping, get_mapping
from unify.core.pseudo_label_kernel import (
    PseudoLabels,
    constrained_pseudo_labels,
    provenance_counts,
    provenance_statistics,
    reference_constrained_pseudo_labels,
    teacher_choice_counts,
    tta_probabilities,
    unconstrained_labels,
)
from unify.core.taxonomy import get_taxonomy

# synthetic_shifted -> synthetic_fine has every kind of line: unlabeled (0) is filled in, road (1) may become
# road or lane marking, sidewalk (2) is one-to-one, human (10) is person (10) or rider (11), car (11) is
# car (12), large vehicle (12) is truck (13) or bus (14), ego vehicle (13) is void.
UNLABELED, ROAD, SIDEWALK, HUMAN, CAR, LARGE_VEHICLE, EGO = 0, 1, 2, 10, 11, 12, 13
FINE = {name: c.id for name, c in get_taxonomy("synthetic_fine").by_name.items()}


def shifted():
    return get_mapping("synthetic_shifted", "synthetic_fine")


def all_fill_in():
    """Every native class of synthetic_coarse filled in by the teacher: the worst case for the constraint."""
    mapping = get_mapping("synthetic_coarse", "synthetic_fine")
    every = tuple(range(mapping.unified.num_labels))
    return LabelMapping(mapping.native, mapping.unified, {i: every for i in mapping.allowed}, {})


def with_void(mapping: LabelMapping, *names: str) -> LabelMapping:
    """`mapping` with void written beside the classes of the native classes `names`."""
    ids = frozenset(mapping.native.by_name[n].id for n in names)
    return LabelMapping(mapping.native, mapping.unified, mapping.allowed, mapping.comments, void_allowed=ids)


def shifted_void():
    """Void beside several classes (human), one (sidewalk) and every class (unlabeled); not large vehicle."""
    return with_void(shifted(), "human", "sidewalk", "unlabeled")


def coarse_void():
    """Void beside every synthetic_coarse line that allows classes: most pixels may be voided."""
    mapping = get_mapping("synthetic_coarse", "synthetic_fine")
    return with_void(mapping, *(c.name for c in mapping.native.classes if mapping.allowed[c.id]))


MAPPINGS = {
    "shifted": shifted,
    "coarse": lambda: get_mapping("synthetic_coarse", "synthetic_fine"),
    "identity": lambda: get_mapping("synthetic_fine", "synthetic_fine"),
    "all_fill_in": all_fill_in,
    "shifted_void": shifted_void,
    "coarse_void": coarse_void,
}
# (fill-in share, teacher share) above which the dense path runs: never, always, only for fill-in.
PATHS = {"sparse": (2.0, 2.0), "dense": (0.0, 0.0), "dense_fill_in": (0.0, 2.0)}


@pytest.fixture(params=list(PATHS))
def path(request, monkeypatch):
    fill, teacher = PATHS[request.param]
    monkeypatch.setattr(pl, "DENSE_FILL_FRACTION", fill)
    monkeypatch.setattr(pl, "DENSE_TEACHER_FRACTION", teacher)
    return request.param


def uniform_scores(scores: dict[str, float], height: int = 2, width: int = 2) -> torch.Tensor:
    """(1, 15, h, w) teacher scores, the same at every position: upsampling cannot change them."""
    teacher_scores = torch.zeros(1, 15, height, width)
    for name, value in scores.items():
        teacher_scores[0, FINE[name]] = value
    return teacher_scores


def random_native(mapping: LabelMapping, shape: tuple[int, ...], generator: torch.Generator) -> torch.Tensor:
    ids = torch.tensor(sorted(mapping.allowed))
    return ids[torch.randint(len(ids), shape, generator=generator)].to(torch.uint8)


def assert_same(ours: PseudoLabels, reference: PseudoLabels) -> None:
    assert ours.label.dtype == ours.provenance.dtype == torch.uint8
    assert torch.equal(ours.provenance, reference.provenance)
    assert torch.equal(ours.label, reference.label), f"{int((ours.label != reference.label).sum())} pixels differ"


def test_each_provenance_case_on_hand_built_tensors(path):
    # The teacher is sure of car everywhere, and prefers rider to person and bus to truck.
    teacher_scores = uniform_scores({"car": 9.0, "rider": 5.0, "person": 4.0, "bus": 3.0, "truck": 2.0, "road": 1.0})
    native = torch.tensor(
        [[[SIDEWALK, SIDEWALK, HUMAN, HUMAN], [UNLABELED, UNLABELED, LARGE_VEHICLE, EGO], [ROAD, ROAD, ROAD, ROAD]]],
        dtype=torch.uint8,
    )
    result = constrained_pseudo_labels(teacher_scores, native, shifted().tables)
    expected_label = [
        [FINE["sidewalk"], FINE["sidewalk"], FINE["rider"], FINE["rider"]],
        [FINE["car"], FINE["car"], FINE["bus"], IGNORE_INDEX],
        [FINE["road"]] * 4,
    ]
    expected_provenance = [
        [FROM_GROUND_TRUTH, FROM_GROUND_TRUTH, TEACHER_CHOSE, TEACHER_CHOSE],
        [TEACHER_FILLED, TEACHER_FILLED, TEACHER_CHOSE, IGNORED],
        [TEACHER_CHOSE] * 4,
    ]
    assert result.label.tolist() == [expected_label]
    assert result.provenance.tolist() == [expected_provenance]
    assert result.label.shape == native.shape


def pixel_scores(columns: list[dict[str, float]], no_object: list[float] | None = None) -> torch.Tensor:
    """(1, 15, 1, N) scores, or (1, 16, 1, N) with a no-object channel: one column per pixel of a (1, 1, N) label
    map, at its own resolution, so nothing is interpolated."""
    teacher_scores = torch.zeros(1, 15 + (no_object is not None), 1, len(columns))
    for x, scores in enumerate(columns):
        for name, value in scores.items():
            teacher_scores[0, FINE[name], 0, x] = value
    if no_object is not None:
        teacher_scores[0, 15, 0] = torch.tensor(no_object)
    return teacher_scores


def run_cases(cases: list[tuple], no_object: bool) -> None:
    """Each case (native id, scores, [no-object score,] expected label name or IGNORE_INDEX, provenance)."""
    native = torch.tensor([[[case[0] for case in cases]]], dtype=torch.uint8)
    teacher_scores = pixel_scores([case[1] for case in cases], [case[2] for case in cases] if no_object else None)
    tables = shifted_void().tables
    result = constrained_pseudo_labels(teacher_scores, native, tables, no_object=no_object)
    expected = [FINE[case[-2]] if isinstance(case[-2], str) else case[-2] for case in cases]
    assert result.label.tolist() == [[expected]]
    assert result.provenance.tolist() == [[[case[-1] for case in cases]]]
    assert_same(result, reference_constrained_pseudo_labels(teacher_scores, native, tables, no_object=no_object))


def test_void_beside_classes_on_hand_built_scores(path):
    # shifted_void: human may be person, rider or void; sidewalk sidewalk or void; unlabeled anything or void.
    run_cases(
        [
            (HUMAN, {"rider": 5.0, "person": 4.0}, "rider", TEACHER_CHOSE),  # the best class of all is listed
            (HUMAN, {"car": 9.0, "rider": 5.0, "person": 4.0}, IGNORE_INDEX, TEACHER_VOIDED),  # car is not listed
            (HUMAN, {"car": 5.0, "person": 5.0}, "person", TEACHER_CHOSE),  # a tie with an unlisted class keeps it
            # Road (id 0) ties sidewalk (id 2): argmax over all classes says road, yet sidewalk is not voided.
            (SIDEWALK, {"road": 2.0, "sidewalk": 2.0}, "sidewalk", TEACHER_CHOSE),
            (SIDEWALK, {"sidewalk": 2.0, "building": 3.0}, IGNORE_INDEX, TEACHER_VOIDED),  # one class and void
            (SIDEWALK, {"sidewalk": -1.0}, IGNORE_INDEX, TEACHER_VOIDED),  # every unlisted class scores 0 > -1
            (LARGE_VEHICLE, {"car": 9.0, "truck": 1.0, "bus": 2.0}, "bus", TEACHER_CHOSE),  # no void beside
            (CAR, {"bus": 9.0}, "car", FROM_GROUND_TRUTH),
            (UNLABELED, {"sky": 7.0, "car": 1.0}, "sky", TEACHER_FILLED),  # void beside every class: none unlisted
            (EGO, {"car": 1.0}, IGNORE_INDEX, IGNORED),
        ],
        no_object=False,
    )


def test_a_no_object_score_competes_only_where_void_stands_beside_classes(path):
    run_cases(
        [
            (HUMAN, {"rider": 5.0, "person": 4.0}, 6.0, IGNORE_INDEX, TEACHER_VOIDED),  # no-object beats both
            (HUMAN, {"car": 9.0, "rider": 5.0}, 1.0, "rider", TEACHER_CHOSE),  # unlisted classes no longer void
            (HUMAN, {"rider": 5.0}, 5.0, "rider", TEACHER_CHOSE),  # a tie keeps the listed class
            (SIDEWALK, {"sidewalk": 1.0}, 2.0, IGNORE_INDEX, TEACHER_VOIDED),
            (SIDEWALK, {"sidewalk": 1.0, "sky": 9.0}, 0.5, "sidewalk", TEACHER_CHOSE),
            (UNLABELED, {"sky": 7.0}, 8.0, IGNORE_INDEX, TEACHER_VOIDED),  # '*, void': only no-object voids it
            (UNLABELED, {"sky": 7.0}, 6.0, "sky", TEACHER_FILLED),
            (LARGE_VEHICLE, {"bus": 2.0}, 100.0, "bus", TEACHER_CHOSE),  # no void beside: never no-object
            (ROAD, {"lane marking": 1.0}, 100.0, "lane marking", TEACHER_CHOSE),
            (CAR, {}, 100.0, "car", FROM_GROUND_TRUTH),
            (EGO, {}, 100.0, IGNORE_INDEX, IGNORED),
        ],
        no_object=True,
    )


def test_a_no_object_channel_changes_nothing_without_void_beside_classes(path):
    generator = torch.Generator().manual_seed(11)
    teacher_scores = torch.randn(2, 15, 6, 9, generator=generator, dtype=torch.float64)
    with_no_object = torch.cat([teacher_scores, torch.full((2, 1, 6, 9), 100.0, dtype=torch.float64)], dim=1)
    native = random_native(shifted(), (2, 24, 36), generator)
    plain = constrained_pseudo_labels(teacher_scores, native, shifted().tables)
    assert_same(constrained_pseudo_labels(with_no_object, native, shifted().tables, no_object=True), plain)
    assert bool((plain.provenance == TEACHER_FILLED).any()) and bool((plain.provenance == TEACHER_CHOSE).any())


def test_chooses_between_neighbours_with_bilinear_weights(path):
    # Two low-resolution columns upsampled to four: weights 1, 3/4, 1/4 and 0 on the left column.
    teacher_scores = torch.zeros(1, 15, 1, 2)
    teacher_scores[0, FINE["person"]] = torch.tensor([1.0, 0.0])
    teacher_scores[0, FINE["rider"]] = torch.tensor([0.0, 1.0])
    teacher_scores[0, FINE["car"]] = 5.0  # outside the allowed set, never chosen for human pixels
    native = torch.full((1, 1, 4), HUMAN, dtype=torch.uint8)
    result = constrained_pseudo_labels(teacher_scores, native, shifted().tables)
    assert result.label.tolist() == [[[FINE["person"], FINE["person"], FINE["rider"], FINE["rider"]]]]
    # Where the left column alone counts, person and rider tie: the lower unified id wins, as in argmax.
    teacher_scores[0, FINE["rider"]] = torch.tensor([1.0, 1.0])
    result = constrained_pseudo_labels(teacher_scores, native, shifted().tables)
    assert result.label.tolist() == [[[FINE["person"], FINE["rider"], FINE["rider"], FINE["rider"]]]]


def test_no_teacher_needed_returns_the_ground_truth_view():
    native = torch.tensor([[[SIDEWALK, CAR], [EGO, SIDEWALK]]], dtype=torch.uint8)
    result = constrained_pseudo_labels(uniform_scores({"bus": 1.0}), native, shifted().tables)
    assert result.label.tolist() == [[[FINE["sidewalk"], FINE["car"]], [IGNORE_INDEX, FINE["sidewalk"]]]]
    assert result.provenance.tolist() == [[[FROM_GROUND_TRUTH] * 2, [IGNORED, FROM_GROUND_TRUTH]]]


@pytest.mark.parametrize("bad_id", [14, 200])
def test_unknown_native_id_is_an_error_that_lists_it(bad_id):
    native = torch.tensor([[[SIDEWALK, bad_id], [bad_id, 3]]], dtype=torch.uint8)
    with pytest.raises(UnifyError, match=rf"ids not in .*: {bad_id} \(2 pixels\)"):
        constrained_pseudo_labels(uniform_scores({}), native, shifted().tables)


@pytest.mark.parametrize("bad_id", [-1, 256, 1000])
def test_ids_outside_the_table_are_an_error(bad_id):
    native = torch.tensor([[[SIDEWALK, bad_id]]], dtype=torch.int16)
    with pytest.raises(UnifyError, match=rf": {bad_id} \(1 pixels\)"):
        constrained_pseudo_labels(uniform_scores({}, 1, 2), native, shifted().tables)


def test_inputs_that_do_not_fit_are_errors():
    tables = shifted().tables
    native = torch.zeros(1, 4, 4, dtype=torch.uint8)
    with pytest.raises(UnifyError, match="predicts 19 channels but .* has 15 classes, so 15 were expected"):
        constrained_pseudo_labels(torch.zeros(1, 19, 2, 2), native, tables)
    with pytest.raises(UnifyError, match=r"predicts 15 channels .* so 15 \+ 1 \(no-object\) were expected"):
        constrained_pseudo_labels(torch.zeros(1, 15, 2, 2), native, tables, no_object=True)
    with pytest.raises(UnifyError, match="same B"):
        constrained_pseudo_labels(torch.zeros(2, 15, 2, 2), native, tables)
    with pytest.raises(UnifyError, match="integer ids"):
        constrained_pseudo_labels(torch.zeros(1, 15, 2, 2), native.float(), tables)
    with pytest.raises(UnifyError, match="one device"):
        constrained_pseudo_labels(torch.zeros(1, 15, 2, 2), native, tables.to("meta"))


@pytest.mark.parametrize("dtype", [torch.uint8, torch.int16, torch.int32, torch.long])
def test_native_dtypes_give_the_same_labels(dtype):
    generator = torch.Generator().manual_seed(1)
    teacher_scores = torch.randn(2, 15, 4, 6, generator=generator, dtype=torch.float64)
    native = random_native(shifted(), (2, 16, 24), generator)
    expected = constrained_pseudo_labels(teacher_scores, native, shifted().tables)
    assert_same(constrained_pseudo_labels(teacher_scores, native.to(dtype), shifted().tables), expected)


@pytest.mark.parametrize("mapping_name", list(MAPPINGS))
@pytest.mark.parametrize("factor", [2, 4, 8])
def test_equals_reference_exactly_where_arithmetic_is_exact(mapping_name, factor, path):
    # Small integer scores and power-of-two upsampling make every interpolated score exact in float32,
    # whatever the order of operations: the labels must be equal bit for bit, ties included.
    mapping = MAPPINGS[mapping_name]()
    generator = torch.Generator().manual_seed(factor)
    teacher_scores = torch.randint(0, 4, (2, mapping.unified.num_labels, 5, 7), generator=generator).float()
    native = random_native(mapping, (2, 5 * factor, 7 * factor), generator)
    ours = constrained_pseudo_labels(teacher_scores, native, mapping.tables)
    assert_same(ours, reference_constrained_pseudo_labels(teacher_scores, native, mapping.tables))
    teacher = ours.provenance.view(-1) != FROM_GROUND_TRUTH
    if mapping_name != "identity":
        assert bool(teacher.any())
    if mapping_name.endswith("_void"):  # both outcomes of void beside classes occur
        assert bool((ours.provenance == TEACHER_VOIDED).any()) and bool((ours.provenance == TEACHER_CHOSE).any())


@pytest.mark.parametrize("mapping_name", ["shifted", "shifted_void", "coarse_void"])
@pytest.mark.parametrize("factor", [2, 4])
def test_with_a_no_object_channel_equals_reference_exactly(mapping_name, factor, path):
    mapping = MAPPINGS[mapping_name]()
    generator = torch.Generator().manual_seed(10 + factor)
    teacher_scores = torch.randint(0, 4, (2, mapping.unified.num_labels + 1, 5, 7), generator=generator).float()
    native = random_native(mapping, (2, 5 * factor, 7 * factor), generator)
    ours = constrained_pseudo_labels(teacher_scores, native, mapping.tables, no_object=True)
    assert_same(ours, reference_constrained_pseudo_labels(teacher_scores, native, mapping.tables, no_object=True))
    assert bool((ours.provenance == TEACHER_VOIDED).any()) == (mapping_name != "shifted")


@pytest.mark.parametrize("mapping_name", ["shifted_void", "coarse_void"])
@pytest.mark.parametrize("sizes", [((19, 27), (75, 106)), ((50, 60), (31, 17))])
def test_with_a_no_object_channel_equals_reference_on_random_scores(mapping_name, sizes, path):
    mapping = MAPPINGS[mapping_name]()
    generator = torch.Generator().manual_seed(sum(sizes[1]))
    (h, w), (height, width) = sizes
    teacher_scores = torch.randn(2, mapping.unified.num_labels + 1, h, w, generator=generator, dtype=torch.float64)
    teacher_scores[:, -1] += 1.5  # a no-object score that wins now and then
    native = random_native(mapping, (2, height, width), generator)
    ours = constrained_pseudo_labels(teacher_scores, native, mapping.tables, no_object=True)
    assert_same(ours, reference_constrained_pseudo_labels(teacher_scores, native, mapping.tables, no_object=True))
    assert bool((ours.provenance == TEACHER_VOIDED).any())


@pytest.mark.parametrize("mapping_name", list(MAPPINGS))
@pytest.mark.parametrize(
    "sizes", [((19, 27), (150, 211)), ((50, 60), (31, 17)), ((20, 20), (20, 20)), ((1, 1), (5, 3))]
)
@pytest.mark.parametrize("channels_last", [False, True])
def test_equals_reference_on_random_scores_of_any_size(mapping_name, sizes, channels_last, path):
    # Random float64 scores: the chance of two allowed classes within rounding of each other is nil.
    mapping = MAPPINGS[mapping_name]()
    generator = torch.Generator().manual_seed(sum(sizes[0]))
    (h, w), (height, width) = sizes
    teacher_scores = torch.randn(2, mapping.unified.num_labels, h, w, generator=generator, dtype=torch.float64)
    if channels_last:
        teacher_scores = teacher_scores.contiguous(memory_format=torch.channels_last)
    native = random_native(mapping, (2, height, width), generator)
    assert_same(
        constrained_pseudo_labels(teacher_scores, native, mapping.tables),
        reference_constrained_pseudo_labels(teacher_scores, native, mapping.tables),
    )


@pytest.mark.parametrize("mapping_name", ["shifted", "shifted_void"])
def test_float32_scores_differ_from_reference_only_at_rounding_ties(mapping_name, path):
    # F.interpolate's kernels round differently across devices and memory formats; only pixels whose two
    # best contenders (listed classes, and the best unlisted class where void stands beside them) lie within
    # float32 rounding of each other may be decided differently.
    mapping = MAPPINGS[mapping_name]()
    generator = torch.Generator().manual_seed(3)
    teacher_scores = torch.randn(2, 15, 37, 53, generator=generator).softmax(dim=1)
    native = random_native(mapping, (2, 300, 411), generator)
    ours = constrained_pseudo_labels(teacher_scores, native, mapping.tables)
    reference = reference_constrained_pseudo_labels(teacher_scores, native, mapping.tables)
    differ = (ours.label != reference.label) | (ours.provenance != reference.provenance)
    exact = F.interpolate(teacher_scores.double(), size=(300, 411), mode="bilinear", align_corners=False)
    allowed = mapping.tables.allowed[native.long()].permute(0, 3, 1, 2)
    rival = exact.masked_fill(allowed, float("-inf")).amax(dim=1, keepdim=True)
    rival = rival.masked_fill(~mapping.tables.void_allowed[native.long()].unsqueeze(1), float("-inf"))
    contenders = torch.cat([exact.masked_fill(~allowed, float("-inf")), rival], dim=1).topk(2, dim=1).values
    gap = (contenders[:, 0] - contenders[:, 1])[differ]
    assert differ.float().mean() < 1e-4
    assert bool((gap < 1e-6).all())
    if mapping_name == "shifted":
        assert torch.equal(ours.provenance, reference.provenance)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_sparse_scores_are_the_interpolated_scores(dtype):
    generator = torch.Generator().manual_seed(4)
    for (h, w), (height, width) in [((37, 53), (300, 411)), ((50, 60), (31, 17)), ((8, 8), (8, 32))]:
        teacher_scores = torch.randn(2, 5, h, w, generator=generator, dtype=dtype)
        expected = F.interpolate(teacher_scores, size=(height, width), mode="bilinear", align_corners=False)
        pixels = torch.randperm(2 * height * width, generator=generator)[:500]
        scores = pl._SparseScores(teacher_scores, (height, width)).at(pixels)
        dense = pl._DenseScores(teacher_scores, (height, width)).at(pixels)
        expected = expected.permute(0, 2, 3, 1).reshape(-1, 5)[pixels]
        assert torch.equal(dense, expected)
        torch.testing.assert_close(scores, expected, rtol=0, atol=1e-12 if dtype == torch.float64 else 1e-5)


def test_unconstrained_labels_are_the_plain_argmax():
    generator = torch.Generator().manual_seed(5)
    for teacher_scores in (
        torch.randint(0, 3, (2, 7, 6, 8), generator=generator).float(),  # many ties
        torch.randn(1, 19, 9, 13, generator=generator),
    ):
        labels = unconstrained_labels(teacher_scores, (24, 40))
        upsampled = F.interpolate(teacher_scores, size=(24, 40), mode="bilinear", align_corners=False)
        assert labels.dtype == torch.uint8
        assert torch.equal(labels, upsampled.argmax(dim=1).to(torch.uint8))


def test_provenance_statistics_on_a_known_case():
    label = torch.tensor(
        [[[0, 0, 2], [1, IGNORE_INDEX, 2]], [[2, 2, 2], [IGNORE_INDEX, IGNORE_INDEX, 1]]], dtype=torch.uint8
    )
    provenance = torch.tensor([[[0, 0, 1], [2, 3, 1]], [[0, 2, 2], [4, 3, 0]]], dtype=torch.uint8)
    counts = provenance_statistics(PseudoLabels(label, provenance), num_labels=3)
    assert counts.dtype == torch.int64
    assert len(PROVENANCE_NAMES) == 5 and PROVENANCE_NAMES[TEACHER_VOIDED] == "teacher_voided"
    assert counts.tolist() == [
        [2, 1, 1, 0],  # ground truth: two 0s, one 1, one 2
        [0, 0, 2, 0],  # teacher chose: two 2s
        [0, 1, 2, 0],  # teacher filled: one 1, two 2s
        [0, 0, 0, 2],  # ignored: void
        [0, 0, 0, 1],
    ]  # teacher voided: void


def test_provenance_statistics_count_every_pixel_of_a_result():
    generator = torch.Generator().manual_seed(6)
    native = random_native(shifted_void(), (2, 16, 16), generator)
    result = constrained_pseudo_labels(torch.randn(2, 15, 4, 4, generator=generator), native, shifted_void().tables)
    counts = provenance_statistics(result, num_labels=15)
    assert int(counts.sum()) == native.numel()
    for code in range(len(PROVENANCE_NAMES)):
        assert int(counts[code].sum()) == int((result.provenance == code).sum())
    assert int(counts[TEACHER_VOIDED].sum()) > 0
    assert (
        int(counts[:, -1].sum())
        == int((result.label == IGNORE_INDEX).sum())
        == int(counts[IGNORED].sum()) + int(counts[TEACHER_VOIDED].sum())
    )


def test_provenance_statistics_reject_ids_outside_the_taxonomy():
    labels = PseudoLabels(torch.tensor([[[3]]], dtype=torch.uint8), torch.tensor([[[0]]], dtype=torch.uint8))
    with pytest.raises(UnifyError, match=r"unified ids \[3\]"):
        provenance_statistics(labels, num_labels=3)
    labels = PseudoLabels(torch.tensor([[[1]]], dtype=torch.uint8), torch.tensor([[[5]]], dtype=torch.uint8))
    with pytest.raises(UnifyError, match=r"provenance codes \[5\]; expected .* codes 0..4"):
        provenance_statistics(labels, num_labels=3)


def test_provenance_counts_defer_the_range_check_to_a_last_bin():
    label = torch.tensor([[[0, 3, IGNORE_INDEX], [2, 1, 1]]], dtype=torch.uint8)
    provenance = torch.tensor([[[0, 0, 3], [1, 7, 2]]], dtype=torch.uint8)
    counts = provenance_counts(PseudoLabels(label, provenance), num_labels=3)
    assert counts.shape == (len(PROVENANCE_NAMES) * 4 + 1,) and int(counts[-1]) == 2  # id 3, code 7
    good = PseudoLabels(label.masked_fill(label == 3, 0), provenance.masked_fill(provenance == 7, 1))
    assert torch.equal(provenance_counts(good, 3)[:-1].view(-1, 4), provenance_statistics(good, 3))


def test_counting_without_a_host_read_back_equals_bincount():
    index = torch.randint(0, 37, (5000,), generator=torch.Generator().manual_seed(3))
    assert torch.equal(pl._count_on_device(index, 40), torch.bincount(index, minlength=40))


def test_teacher_choice_counts_pair_each_output_cell_with_the_native_id_at_its_centre():
    generator = torch.Generator().manual_seed(4)
    for (height, width), (out_h, out_w) in (((32, 48), (8, 12)), ((30, 50), (7, 13)), ((8, 8), (8, 8))):
        scores = torch.randn(2, 6, out_h, out_w, generator=generator)
        native = torch.randint(0, 9, (2, height, width), generator=generator, dtype=torch.uint8)
        counts = teacher_choice_counts(scores, native, num_native_ids=256)
        centre = F.interpolate(native[:, None].float(), size=(out_h, out_w), mode="nearest-exact")[:, 0].long()
        expected = torch.zeros(256, 6, dtype=torch.int64)
        expected.index_put_(
            (centre.reshape(-1), scores.argmax(dim=1).reshape(-1)),
            torch.ones(centre.numel(), dtype=torch.int64),
            accumulate=True,
        )
        assert torch.equal(counts, expected)
    # 4 x 4 cells: the centre of cell (i, j) is pixel (4i + 2, 4j + 2)
    native = torch.zeros(1, 8, 8, dtype=torch.uint8)
    native[0, 2, 6] = 5
    scores = torch.zeros(1, 3, 2, 2)
    scores[0, 2, 0, 1] = 1.0
    counts = teacher_choice_counts(scores, native, 256)
    assert counts[5].tolist() == [0, 0, 1] and counts[0].tolist() == [3, 0, 0]


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_on_cuda_the_kernel_reads_back_once_and_the_statistics_never():
    """Only the dense ways run here (every pixel filled in), whose one read-back is the four counts."""
    device = torch.device("cuda")
    generator = torch.Generator().manual_seed(8)
    mapping = all_fill_in()
    tables = mapping.tables.to(device)
    native = random_native(mapping, (2, 64, 96), generator).to(device)
    teacher_scores = torch.randn(2, 15, 16, 24, generator=generator).to(device)
    torch.cuda.synchronize()
    torch.cuda.set_sync_debug_mode("warn")
    try:
        with pytest.warns(UserWarning, match="synchroniz") as caught:
            result = constrained_pseudo_labels(teacher_scores, native, tables)
    finally:
        torch.cuda.set_sync_debug_mode("default")
    assert len([w for w in caught if "synchroniz" in str(w.message)]) == 1
    torch.cuda.set_sync_debug_mode("error")
    try:
        provenance_counts(result, 15)
        teacher_choice_counts(teacher_scores, native, tables.known.numel())
    finally:
        torch.cuda.set_sync_debug_mode("default")


class Ramp(torch.nn.Module):
    """A teacher that is not mirror symmetric: its logits grow from left to right."""

    def forward(self, x):
        ramp = torch.linspace(0, 1, x.shape[-1] // 2)
        logits = F.avg_pool2d(x, 2)[:, :2] * ramp
        return torch.cat([logits, -logits], dim=1)


def test_tta_without_augmentation_is_the_softmax():
    x = torch.randn(2, 3, 8, 12, generator=torch.Generator().manual_seed(7))
    expected = Ramp()(x).softmax(dim=1)
    torch.testing.assert_close(tta_probabilities(Ramp(), x), expected)


def test_tta_flip_mirrors_the_output_back():
    x = torch.randn(1, 3, 8, 12, generator=torch.Generator().manual_seed(8))
    model = Ramp()
    expected = (model(x).softmax(dim=1) + model(x.flip(-1)).flip(-1).softmax(dim=1)) / 2
    torch.testing.assert_close(tta_probabilities(model, x, flip=True), expected)


def test_tta_flip_changes_nothing_for_a_mirror_symmetric_teacher():
    generator = torch.Generator().manual_seed(9)
    conv = torch.nn.Conv2d(3, 15, 3, padding=1)
    with torch.no_grad():  # a kernel symmetric left-right makes the teacher flip-equivariant
        conv.weight.copy_(torch.randn(15, 3, 3, 3, generator=generator))
        conv.weight.copy_((conv.weight + conv.weight.flip(-1)) / 2)

    def predict(x):
        return F.avg_pool2d(conv(x), 4)

    x = torch.randn(2, 3, 32, 48, generator=generator)
    plain = tta_probabilities(predict, x)
    flipped = tta_probabilities(predict, x, flip=True)
    torch.testing.assert_close(flipped, plain)
    assert not torch.allclose(tta_probabilities(Ramp(), x, flip=True), tta_probabilities(Ramp(), x))
    native = random_native(shifted(), (2, 32, 48), generator)
    assert_same(
        constrained_pseudo_labels(flipped, native, shifted().tables),
        constrained_pseudo_labels(plain, native, shifted().tables),
    )


def test_tta_scales_average_the_softmaxes_at_the_scale_one_size():
    # A teacher whose logits are uniform in space and depend only on the input height: resizing its
    # output changes nothing, so the average can be computed by hand.
    seen = []

    def predict(x):
        seen.append(tuple(x.shape[-2:]))
        height = x.shape[-2]
        logits = torch.tensor([0.0, height / 8, -height / 16]).view(1, 3, 1, 1)
        return logits.expand(x.shape[0], 3, height // 4, x.shape[-1] // 4)

    x = torch.zeros(1, 3, 16, 32)
    teacher_scores = tta_probabilities(predict, x, scales=(0.5, 1.0, 2.0))
    assert seen == [(16, 32), (8, 16), (32, 64)]
    assert teacher_scores.shape == (1, 3, 4, 8)
    expected = sum(torch.tensor([0.0, h / 8, -h / 16]).softmax(dim=0) for h in (8, 16, 32)) / 3
    torch.testing.assert_close(teacher_scores[0, :, 2, 5], expected)
    torch.testing.assert_close(teacher_scores.sum(dim=1), torch.ones(1, 4, 8))


@pytest.mark.parametrize("scales", [(0.5, 2.0), (1.0, 0.0), (1.0, -1.0)])
def test_tta_rejects_bad_scales(scales):
    with pytest.raises(UnifyError, match="scales"):
        tta_probabilities(Ramp(), torch.zeros(1, 3, 8, 8), scales=scales)
