"""The mapping audit: a wrong line in a mapping file comes out on top of `unify mappings audit`.

The synthetic `coarse` dataset is built twice: with the shipped mapping, and with a mapping directory whose
coarse -> fine file says `vehicle : road`. The build records that file's mapping and the pseudo-labeller
compares the record with the same file, so the run is exactly what a user with that mistake would get.
The teacher is an oracle: its scores are the hidden fine truth of the image it is shown, pooled to a SegFormer's
output grid, so the driver's real preprocessing, kernel and counting all run.
"""

from __future__ import annotations

import hashlib
import json
import shutil

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from transformers.modeling_outputs import SemanticSegmenterOutput

import unify.core.mapping
from unify.build import build_dataset
from unify.cli import main
from unify.core.constants import FINE_LABEL, IGNORE_INDEX, IMAGE, REPORT_FILE
from unify.core.folder import FolderMetadata, load_split
from unify.core.images import decode_label, decode_rgb
from unify.core.mapping import get_mapping
from unify.core.segmenter import Segmenter
from unify.core.taxonomy import get_taxonomy
from unify.pseudo_label_driver import LabellingOptions, audit_rows, pseudo_label_dataset

IMAGES = 6
STRIDE = 4  # a SegFormer's output grid: one cell per 4 x 4 pixels


class FineTruthTeacher(torch.nn.Module):
    """Scores each image of a batch by its hidden fine truth: the class shares of every 4 x 4 cell.

    Cells of void truth (the ego vehicle's bonnet) get random scores. The images are recognised by the
    bytes of their normalised pixels; the wrapped SegFormer gives the config and the parameters.
    """

    def __init__(self, segformer, truth_by_input: dict[str, np.ndarray]):
        super().__init__()
        self.segformer, self.truth_by_input, self.config = segformer, truth_by_input, segformer.config
        self.generator = torch.Generator().manual_seed(0)

    def forward(self, pixel_values):
        num_labels = self.config.num_labels
        truth = torch.stack([torch.from_numpy(self.truth_by_input[input_key(image)]) for image in pixel_values])
        one_hot = F.one_hot(truth.long().clamp_max(num_labels), num_labels + 1).permute(0, 3, 1, 2).float()
        shares = F.avg_pool2d(one_hot, STRIDE)[:, :num_labels]
        noise = torch.rand(shares.shape, generator=self.generator) * 0.01
        return SemanticSegmenterOutput(logits=(shares + noise) * 10)


def input_key(pixel_values: torch.Tensor) -> str:
    return hashlib.sha1(pixel_values.contiguous().numpy().tobytes()).hexdigest()


def oracle_loader(folder, monkeypatch):
    """Make `Segmenter.load` return the oracle for the images of the built `folder`."""
    original = Segmenter.load
    preprocessor = Segmenter(None)
    truth = {}
    for row in load_split(folder, "train", decode=False):
        rgb = torch.from_numpy(np.array(decode_rgb(row[IMAGE]["bytes"], "test"))).permute(2, 0, 1)[None]
        truth[input_key(preprocessor.preprocess(rgb)[0])] = np.array(decode_label(row[FINE_LABEL]["bytes"]))

    def load(source, device=None):
        segmenter = original(source, device=device)
        segmenter.model = FineTruthTeacher(segmenter.model, truth)
        return segmenter

    monkeypatch.setattr(Segmenter, "load", load)


@pytest.fixture(scope="module")
def audited(tmp_path_factory):
    """Reports of the oracle on the coarse dataset built with the shipped mapping and with `vehicle : road`."""
    root = tmp_path_factory.mktemp("audit")
    mappings = root / "mappings"
    shutil.copytree(unify.core.mapping.MAPPING_DIR, mappings)
    wrong = mappings / "synthetic_coarse" / "synthetic_fine.txt"
    wrong.write_text(wrong.read_text().replace("vehicle       : car, truck, bus", "vehicle       : road"))
    torch.manual_seed(0)
    Segmenter.for_training("mit-pico", get_taxonomy("synthetic_fine")).save(root / "teacher")
    reports = {}
    with pytest.MonkeyPatch.context() as monkeypatch:
        for name, mapping_dir in (("shipped", unify.core.mapping.MAPPING_DIR), ("wrong", mappings)):
            monkeypatch.setattr(unify.core.mapping, "MAPPING_DIR", mapping_dir)
            get_mapping.cache_clear()
            build_dataset("synthetic_driving", root / name, config="coarse", splits=(("train", IMAGES),))
            oracle_loader(root / name, monkeypatch)
            reports[name] = pseudo_label_dataset(
                str(root / "teacher"), root / name, root / f"{name}_out", LabellingOptions(shard_size=4)
            )
    get_mapping.cache_clear()
    recorded = FolderMetadata.read(root / "wrong").mapping
    assert recorded.allowed[8] == (get_taxonomy("synthetic_fine").by_name["road"].id,)  # the mistake is recorded
    return root, reports


def test_a_wrong_mapping_line_comes_out_on_top(audited):
    _, reports = audited
    rows = audit_rows(reports["wrong"])
    top = rows[0]
    assert (top["native"], top["line"]) == ("vehicle", "road")
    assert top["conflict_share"] > 0.9
    assert {p["class"] for p in top["preferred"][:3]} == {"car", "truck", "bus"}
    assert top["teacher_line"] == "car, truck, bus"
    assert all(row["conflict_share"] is None or row["conflict_share"] < 0.3 for row in rows[1:])


def test_the_shipped_mapping_has_no_line_the_oracle_disagrees_with(audited):
    _, reports = audited
    rows = audit_rows(reports["shipped"])
    assert max(r["conflict_share"] or 0 for r in rows) < 0.3  # only cells on class borders
    shipped = {r["native"]: r for r in rows}
    assert shipped["vehicle"]["line"] == "car, truck, bus" and shipped["vehicle"]["conflict_share"] < 0.1
    assert shipped["ego vehicle"]["line"] == "void" and shipped["ego vehicle"]["conflict_share"] is None
    assert shipped["ego vehicle"]["pixels"] > 0  # what the teacher saw on a void class is still reported
    # every cell of the teacher's grid is counted once
    cells = sum(r["pixels"] for r in rows)
    assert cells == IMAGES * (128 // STRIDE) * (256 // STRIDE)


def test_cli_audit_prints_the_wrong_line_first_with_a_hint(audited, capsys):
    root, _ = audited
    assert main(["mappings", "audit", str(root / "wrong_out"), "--top", "3"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("synthetic_coarse -> synthetic_fine:")
    assert lines[2].startswith("vehicle") and " road " in lines[2] and "car " in lines[2]
    assert "hint: if the teacher is right, the line would read `vehicle : car, truck, bus`" in lines[3]
    assert "synthetic_coarse/synthetic_fine.txt" in lines[3]
    assert len(lines) == 2 + 3 + 1  # title, header, three classes, one hint: the others conflict on borders only
    assert main(["mappings", "audit", str(root / "wrong_out" / REPORT_FILE), "--json", "--top", "0"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert rows[0]["native"] == "vehicle" and len(rows) == len(get_taxonomy("synthetic_coarse").classes)


def test_cli_audit_refuses_a_report_without_an_audit(audited, tmp_path, capsys):
    root, _ = audited
    report = json.loads((root / "wrong_out" / REPORT_FILE).read_text())
    del report["mapping_audit"]
    (tmp_path / REPORT_FILE).write_text(json.dumps(report))
    assert main(["mappings", "audit", str(tmp_path)]) == 2
    assert "has no mapping_audit" in capsys.readouterr().err
    assert main(["mappings", "audit", str(tmp_path / "nothing")]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_cli_audit_table_keeps_its_columns_for_a_long_line(audited, capsys):
    root, _ = audited
    assert main(["mappings", "audit", str(root / "shipped_out"), "--top", "0"]) == 0
    lines = capsys.readouterr().out.splitlines()
    column = lines[1].index("the teacher chose")
    rows = [line for line in lines[2:] if not line.lstrip().startswith("hint:")]
    assert len(rows) == len(get_taxonomy("synthetic_coarse").classes)
    for row in rows:  # every row's choices start under the header, the long `object` line's too
        assert row[column - 2 : column] == "  " and row[column] != " ", row
    assert any("pole, traffic light, traffic..." in row for row in rows)  # cut; --json has it whole


def test_cli_audit_says_what_it_was_given_instead_of_a_report(audited, tmp_path, capsys):
    """A built folder, an unfinished pseudo-label folder, another folder, and files that are no report:
    each one line on stderr that says what it is, never a traceback."""
    root, _ = audited
    unfinished = tmp_path / "unfinished"
    shutil.copytree(root / "shipped_out", unfinished)
    (unfinished / REPORT_FILE).unlink()
    (tmp_path / "list.json").write_text("[1, 2]")
    report = json.loads((root / "shipped_out" / REPORT_FILE).read_text())
    (tmp_path / "bad_audit.json").write_text(json.dumps({**report, "mapping_audit": 3}))
    classes = {"vehicle": {"line": "car"}}
    (tmp_path / "bad_class.json").write_text(
        json.dumps({**report, "mapping_audit": {**report["mapping_audit"], "classes": classes}})
    )
    (tmp_path / "empty").mkdir()
    expected = {
        root / "shipped": "is a built dataset (written by `unify build`)",
        unfinished: "the `unify pseudo-label` run that writes it has not finished; run the same command again",
        tmp_path / "empty": "is not a folder written by `unify pseudo-label`",
        tmp_path / "list.json": "is not a pseudo-label report: it holds a JSON list, not an object",
        root
        / "shipped_out"
        / "id2label.json": "is not a pseudo-label report (no mapping_audit, no pixels_by_provenance",
        tmp_path / "bad_audit.json": "mapping_audit is not an object with native_taxonomy, unified_taxonomy, classes",
        tmp_path / "bad_class.json": "mapping_audit entries ['vehicle'] lack some of native_id, line, pixels",
    }
    for path, message in expected.items():
        for extra in ([], ["--json"]):
            assert main(["mappings", "audit", str(path), *extra]) == 2, path
            err = capsys.readouterr().err
            assert err.startswith(f"unify mappings: error: {path}") and message in err, err
            assert len(err.splitlines()) == 1


def test_void_truth_is_never_counted_as_a_conflict(audited):
    """The oracle's random scores on the bonnet fall on a void line: reported, never a conflict."""
    _, reports = audited
    ego = reports["wrong"]["mapping_audit"]["classes"]["ego vehicle"]
    assert ego["conflict_share"] is None and len(ego["preferred"]) == 5
    assert IGNORE_INDEX not in [c.id for c in get_taxonomy("synthetic_fine").trainable]


def test_cli_pseudo_label_names_the_highest_conflict(audited, capsys, monkeypatch):
    """A rerun over the finished folder (every shard reused) prints the line to check beside the shares."""
    root, _ = audited
    monkeypatch.setattr(unify.core.mapping, "MAPPING_DIR", root / "mappings")  # the file the folder was built with
    get_mapping.cache_clear()
    try:
        assert (
            main(
                [
                    "pseudo-label",
                    "--teacher",
                    str(root / "teacher"),
                    "--dataset",
                    str(root / "wrong"),
                    "--output",
                    str(root / "wrong_out"),
                    "--shard-size",
                    "4",
                ]
            )
            == 0
        )
    finally:
        monkeypatch.undo()
        get_mapping.cache_clear()
    printed = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert printed["highest_mapping_conflict"]["native"] == "vehicle"
    assert printed["highest_mapping_conflict"]["line"] == "road"
