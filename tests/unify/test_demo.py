import json

import datasets
from PIL import Image

from unify.cli import main


def test_quick_demo_runs_the_whole_method_end_to_end(tmp_path, capsys):
    assert main(["demo", "--quick", "--output", str(tmp_path)]) == 0
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    for key in ("teacher_miou", "student_miou", "teacher_miou_shifted", "student_miou_shifted",
                "pseudo_label_pixel_accuracy_constrained", "pseudo_label_pixel_accuracy_unconstrained"):
        assert 0.0 <= metrics[key] <= 1.0, key
    assert metrics["seconds"] > 0 and set(metrics["stage_seconds"]) == {"build", "teacher", "pseudo_label", "student",
                                                                          "picture"}
    # the ground truth alone already fixes most pixels: constrained labels beat the teacher alone
    assert metrics["pseudo_label_pixel_accuracy_constrained"] > metrics["pseudo_label_pixel_accuracy_unconstrained"]
    unified = datasets.load_dataset(str(tmp_path / "unified" / "shifted"), split="train")
    assert {"image", "label", "provenance", "image_id", "dataset"} <= set(unified.column_names)
    for run in ("teacher", "student"):
        assert (tmp_path / run / "model" / "model.safetensors").is_file()
    grid = Image.open(tmp_path / "comparison.png")
    assert grid.width > 5 * 200
    out = capsys.readouterr().out
    assert "mIoU, source validation" in out and "metrics.json" in out
