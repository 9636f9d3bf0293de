"""`unify mappings suggest`: a teacher's predictions become a draft mapping file.

On the built-in synthetic world the right mapping is known (synthetic_coarse -> synthetic_fine), so a
teacher that predicts the hidden fine truth must lead to exactly that mapping.
"""

from __future__ import annotations

import hashlib
import io

import numpy as np
import pytest
import torch
from PIL import Image
from transformers.modeling_outputs import SemanticSegmenterOutput

from dataset_scripts.synthetic_driving import SyntheticDriving
from unify.core.segmenter import Segmenter
from unify.cli import main
from unify.core.constants import FINE_LABEL, IGNORE_INDEX
from unify.core.errors import UnifyError
from unify.core.mapping import get_mapping, parse_mapping
from unify.suggest import SuggestionRule, draft_lines, pick_samples, suggest_mapping
from unify.core.taxonomy import get_taxonomy


class OracleTeacher(torch.nn.Module):
    """A tiny SegFormer whose logits are replaced by the hidden fine truth of the image it is shown.

    The truth is found by the exact bytes of the normalised input, so the real preprocessing,
    forward, upsampling, argmax and counting all run. Where the truth is void (the ego vehicle) the
    oracle has no opinion: it picks a class at random per pixel.
    """

    def __init__(self, segformer, truth_by_input: dict[str, np.ndarray], num_labels: int):
        super().__init__()
        self.segformer, self.truth_by_input, self.num_labels = segformer, truth_by_input, num_labels
        self.generator = torch.Generator().manual_seed(0)

    def forward(self, pixel_values):
        self.segformer(pixel_values=pixel_values)
        truth = torch.from_numpy(self.truth_by_input[_key(pixel_values)].astype(np.int64))
        unknown = truth == IGNORE_INDEX
        truth[unknown] = torch.randint(0, self.num_labels, (int(unknown.sum()),), generator=self.generator)
        logits = torch.nn.functional.one_hot(truth, self.num_labels).permute(2, 0, 1).float()[None]
        return SemanticSegmenterOutput(logits=logits)


def _key(pixel_values: torch.Tensor) -> str:
    return hashlib.sha1(pixel_values.cpu().numpy().tobytes()).hexdigest()


def _decode(data: bytes, mode: str | None = None) -> np.ndarray:
    with Image.open(io.BytesIO(data)) as image:
        return np.asarray(image.convert(mode) if mode else image)


SAMPLES = 24


@pytest.fixture(scope="module")
def suggested(tmp_path_factory):
    """The oracle's draft for the coarse synthetic dataset, from the same images `suggest` samples."""
    fine = get_taxonomy("synthetic_fine")
    builder = SyntheticDriving(config_name="coarse", cache_dir=str(tmp_path_factory.mktemp("cache")))
    truth = {}
    for sample in pick_samples(builder.list_samples(None), SAMPLES):
        loaded = builder.load_sample(sample)
        rgb = _decode(loaded.image_bytes, "RGB").copy()
        pixels = Segmenter(None).preprocess(torch.from_numpy(rgb).permute(2, 0, 1)[None])
        truth[_key(pixels)] = _decode(loaded.extra_columns[FINE_LABEL]["bytes"])
    segformer = Segmenter.for_training("mit-pico", fine).model
    oracle = Segmenter(OracleTeacher(segformer, truth, fine.num_labels))
    oracle.model.config = segformer.config
    output = tmp_path_factory.mktemp("suggest") / "draft.txt"
    return suggest_mapping("synthetic_driving", "synthetic_fine", oracle, output, config="coarse", samples=SAMPLES)


def test_a_perfect_teacher_recovers_the_known_mapping_exactly(suggested):
    assert suggested.num_images == SAMPLES and suggested.skipped == []
    draft = parse_mapping(suggested.output, get_taxonomy("synthetic_coarse"), get_taxonomy("synthetic_fine"))
    assert draft.allowed == get_mapping("synthetic_coarse", "synthetic_fine").allowed
    text = suggested.output.read_text()
    assert "drivable     : road, lane marking" in text  # lane marking is thin (~2% of drivable) yet kept
    assert "flagged void by the dataset, no preference" in text  # the ego vehicle


def test_the_counts_come_from_the_predictions(suggested):
    coarse, fine = get_taxonomy("synthetic_coarse"), get_taxonomy("synthetic_fine")
    counts = suggested.counts
    assert counts.sum() == SAMPLES * 128 * 256
    sky = counts[coarse.by_name["sky"].id]
    assert sky.sum() > 0 and sky[fine.by_name["sky"].id] == sky.sum()
    ego = counts[coarse.by_name["ego vehicle"].id]
    assert (ego > 0).all()  # the oracle's random guesses on void truth reach every class


def test_the_rule_on_counts_a_real_teacher_would_give():
    native = get_taxonomy("synthetic_shifted")
    unified = get_taxonomy("synthetic_fine")
    counts = np.zeros((native.max_id + 1, unified.num_labels), dtype=np.int64)
    ids = unified.label2id()
    counts[native.by_name["road"].id, [ids["road"], ids["lane marking"], ids["sidewalk"]]] = [9400, 150, 450]
    counts[native.by_name["sidewalk"].id, [ids["sidewalk"], ids["road"]]] = [9000, 1000]
    counts[native.by_name["unlabeled"].id] = 1000  # no preference at all
    counts[native.by_name["ego vehicle"].id] = 500  # no preference, and void in the dataset
    counts[native.by_name["sky"].id, ids["sky"]] = 10_000
    lines = {line.native: line.targets for line in draft_lines(counts, native, unified, SuggestionRule())}
    assert lines["road"] == "road, lane marking"  # 1.5% but 30x its share elsewhere; sidewalk 4.5% is noise
    assert lines["sidewalk"] == "road, sidewalk"  # 10% is enough on its own
    assert lines["unlabeled"] == "*"
    assert lines["ego vehicle"] == "void"
    assert lines["human"] == "void"  # not seen: decide by hand


def test_cli_suggest_loads_a_saved_teacher_and_writes_a_valid_draft(tmp_path, capsys):
    teacher = tmp_path / "teacher"
    Segmenter.for_training("mit-pico", get_taxonomy("synthetic_fine")).save(teacher)
    output = tmp_path / "draft.txt"
    argv = ["mappings", "suggest", "synthetic_driving", "synthetic_fine", "--teacher", str(teacher),
            "--config", "coarse", "--samples", "3", "--output", str(output)]
    assert main(argv) == 0
    assert f"wrote {output}" in capsys.readouterr().out
    parse_mapping(output, get_taxonomy("synthetic_coarse"), get_taxonomy("synthetic_fine"))
    assert output.read_text().startswith("# DRAFT synthetic_coarse -> synthetic_fine")
    assert main(argv) == 2  # a draft never overwrites without --force
    assert "exists" in capsys.readouterr().err
    assert main([*argv, "--force"]) == 0


def test_a_teacher_of_another_taxonomy_is_refused(tmp_path):
    teacher = tmp_path / "teacher"
    Segmenter.for_training("mit-pico", get_taxonomy("cityscapes19")).save(teacher)
    with pytest.raises(UnifyError, match="not the 15 classes of synthetic_fine"):
        suggest_mapping("synthetic_driving", "synthetic_fine", teacher, tmp_path / "d.txt", config="coarse")
    with pytest.raises(UnifyError, match="neither a size name .* nor a folder that exists"):
        suggest_mapping("synthetic_driving", "synthetic_fine", tmp_path / "nothing", tmp_path / "d.txt")
    with pytest.raises(UnifyError, match="min_share must be in"):
        SuggestionRule(min_share=0)
