"""`unify push model`: the model folder as it is, and a card that says only what its artifacts say."""

import io
import json
import shutil
from pathlib import Path

import pytest
import torch
from PIL import Image
from transformers import SegformerForSemanticSegmentation, pipeline

from hub_fixtures import FINE, flat, front_matter, rows, save_segformer, source_record, write_run
from unify.cli import main
from unify.core.errors import UnifyError
from unify.core.segmenter import Segmenter, weights_sha256
from unify.core.folder import FolderMetadata
from unify.evaluate import DatasetSpec, evaluate_datasets, evaluate_model
from unify.hub import push_model

MODEL_FILES = {".gitattributes", "README.md", "config.json", "model.safetensors", "preprocessor_config.json"}


def pushed_front_matter(hub, repo_id: str) -> dict:
    return front_matter(hub.files(repo_id, "model")["README.md"].decode())


@pytest.fixture
def student(tmp_path, built, pseudo) -> tuple:
    """A student run trained on the ground truth of `built` and the pseudo-labels of `pseudo`."""
    run = tmp_path / "runs" / "student"
    model = save_segformer(tmp_path / "weights", seed=2)
    train = [source_record(built, run, "coarse-gt"), source_record(pseudo, run, "coarse-pl", weight=2.0)]
    write_run(run, model, train, eval_sources=[source_record(built, run, "coarse-val")],
              metrics={"coarse-val": {"miou": 0.25, "pixel_accuracy": 0.5}})
    return run


def test_a_pushed_model_loads_with_from_pretrained_and_pipeline(hub, student, built, pseudo, tmp_path, capsys):
    evaluation = evaluate_model(student / "model", built, tmp_path / "eval", split="train")

    assert main(["push", "model", str(student), "--repo-id", "tester/student", "--evaluation",
                 str(tmp_path / "eval")]) == 0

    printed = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert set(printed["files"]) == MODEL_FILES
    repo = hub.repo("tester/student", "model")
    assert repo.private and len(repo.commits) == 2
    pushed = hub.files("tester/student", "model")
    for name in ("model.safetensors", "config.json", "preprocessor_config.json"):
        assert pushed[name] == (student / "model" / name).read_bytes()  # the folder's own files, as they are
    model = SegformerForSemanticSegmentation.from_pretrained("tester/student", use_safetensors=True)
    assert model.config.id2label == FINE.id2label() and model.config.label2id == FINE.label2id()
    image = Image.open(io.BytesIO(rows(built)[0]["image"]["bytes"]))
    segments = pipeline("image-segmentation", model="tester/student")(image)
    assert segments and {s["label"] for s in segments} <= set(FINE.label2id())
    assert all(s["mask"].size == image.size for s in segments)

    data = front_matter(pushed["README.md"].decode())
    card = flat(pushed["README.md"].decode())
    assert data["pipeline_tag"] == "image-segmentation" and data["library_name"] == "transformers"
    assert data["unify"]["taxonomy"] == "synthetic_fine"
    assert data["unify"]["weights_sha256"] == weights_sha256(student / "model")
    assert "unify train CONFIG --init tester/student" in card and "arXiv:2502.19177" in card
    assert "| coarse-gt | synthetic_driving (coarse) | ground truth | train | 4 | 1.0 |" in card
    teacher = json.loads((pseudo / "unify.json").read_text())["teacher"]
    labels = f"pseudo-labels from `{teacher['name']} (sha256 {teacher['sha256'][:12]})`"
    assert f"| coarse-pl | synthetic_driving (coarse) | {labels} | train | 4 | 2.0 |" in card
    unified, native = evaluation["unified"], evaluation["native"]
    assert ("| dataset | split | images | mIoU (%) unified synthetic_fine | mIoU (%) native synthetic_coarse | "
            "pixel accuracy (%) unified |") in card
    assert (f"| synthetic_driving (coarse) | train | 4 | {100 * unified['miou']:.1f} | {100 * native['miou']:.1f} | "
            f"{100 * unified['pixel_accuracy']:.1f} |") in card


def test_the_card_is_read_from_provenance_from_any_directory_after_the_data_are_gone(hub, tmp_path, pseudo, teacher,
                                                                                  monkeypatch):
    """Observed: from another directory a distilled student's card said "trained on ground truth", sources unknown."""
    data = tmp_path / "work"
    run = data / "runs" / "student"
    first, second = data / "unified" / "first", data / "unified" / "second"
    for folder in (first, second):  # two pseudo-labelled datasets, as the pseudo-labeller writes them
        shutil.copytree(pseudo, folder)
    train = [source_record(first, run, "first"), source_record(second, run, "second", weight=0.5)]
    write_run(run, save_segformer(tmp_path / "weights"), train)
    shutil.rmtree(data / "unified")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)

    assert main(["push", "model", str(run), "--repo-id", "tester/distilled"]) == 0

    card = flat(hub.files("tester/distilled", "model")["README.md"].decode())
    teacher_display = f"{teacher.parent.name} (sha256 {weights_sha256(teacher)[:12]})"
    assert f"It is a student distilled from the pseudo-labels of `{teacher_display}`" in card
    assert "trained on ground truth" not in card
    for name, weight in (("first", 1.0), ("second", 0.5)):
        assert (f"| {name} | synthetic_driving (coarse) | pseudo-labels from `{teacher_display}` | train | 4 | "
                f"{weight} |") in card
    assert "knowledge-distillation" in pushed_front_matter(hub, "tester/distilled")["tags"]
    assert "../" not in card  # the sources' paths stay home


def test_an_evaluation_of_other_weights_is_refused_naming_both(hub, student, teacher, built, tmp_path, capsys):
    """Observed: `push model STUDENT --evaluation TEACHER_EVAL` exited 0 with the teacher's scores in the card."""
    evaluate_model(teacher, built, tmp_path / "teacher-eval", split="train")

    assert main(["push", "model", str(student), "--repo-id", "tester/student", "--evaluation",
                 str(tmp_path / "teacher-eval")]) == 2

    [error] = [line for line in capsys.readouterr().err.splitlines() if "error" in line]  # one line
    assert error.startswith("unify push: error:")
    assert weights_sha256(teacher)[:12] in error and weights_sha256(student / "model")[:12] in error
    assert str(tmp_path / "teacher-eval") in error
    assert hub.repos == {}  # refused before anything reached the Hub


@pytest.fixture
def generalisation(built, tmp_path) -> Path:
    """`built` relabelled as WildDash 2, with a configuration name that is Markdown and HTML."""
    folder = tmp_path / "wd"
    shutil.copytree(built, folder)
    metadata = FolderMetadata.read(folder)
    metadata.dataset, metadata.config = "wilddash2", "<b>semantic</b>"
    metadata.write(folder)
    return folder


def test_a_summary_of_several_datasets_is_the_cards_evaluation_table(hub, student, built, pseudo, generalisation,
                                                                    tmp_path):
    out = tmp_path / "eval"
    specs = [DatasetSpec(built, split="train"), DatasetSpec(pseudo, split="train"), DatasetSpec(generalisation)]
    evaluate_datasets(student / "model", specs, out)

    push_model(student, "tester/student", evaluations=[out])

    card = flat(hub.files("tester/student", "model")["README.md"].decode())
    header = ("| dataset | split | images | mIoU (%) unified synthetic_fine | mIoU (%) native synthetic_coarse | "
              "pixel accuracy (%) unified |")
    assert header in card and "WildDash 2, the paper's check of generalisation" in card

    def cells(folder: str) -> str:
        result = json.loads((out / folder / "evaluation.json").read_text())
        return (f"{100 * result['unified']['miou']:.1f} | {100 * result['native']['miou']:.1f} | "
                f"{100 * result['unified']['pixel_accuracy']:.1f}")

    table = card[card.index(header):]
    assert table.startswith(f"{header} | --- | --- | --- | --- | --- | --- | "
                            f"| wilddash2 (&lt;b&gt;semantic&lt;/b&gt;) | train | 4 | {cells('wd')} | "
                            f"| synthetic_driving (coarse) | train | 4 | {cells('coarse')} | "
                            f"| synthetic_driving (coarse), pseudo-labelled | train | 4 | {cells('coarse-pl')} |")


def test_a_summary_is_refused_when_it_or_any_of_its_evaluations_scored_other_weights(hub, student, teacher, built,
                                                                                   tmp_path, capsys):
    """Every entry is checked: a summary that names the pushed weights but lists an evaluation of others is refused."""
    evaluate_datasets(teacher, [DatasetSpec(built, split="train")], tmp_path / "teacher-eval")
    shutil.copytree(tmp_path / "teacher-eval", tmp_path / "mixed")
    summary = json.loads((tmp_path / "mixed" / "summary.json").read_text())
    summary["model"] = Segmenter.load(student / "model", device="cpu").identity.to_json()
    (tmp_path / "mixed" / "summary.json").write_text(json.dumps(summary))

    for folder, named in (("teacher-eval", "summary.json"), ("mixed", "coarse/evaluation.json")):
        assert main(["push", "model", str(student), "--repo-id", "tester/student", "--evaluation",
                     str(tmp_path / folder)]) == 2
        [error] = [line for line in capsys.readouterr().err.splitlines() if "error" in line]
        assert f"{tmp_path / folder / named} evaluated other weights" in error
        assert weights_sha256(teacher)[:12] in error and weights_sha256(student / "model")[:12] in error
    assert hub.repos == {}


def test_the_architecture_is_the_saved_one_not_the_configs(hub, tmp_path, built):
    """Observed: after `--init PUBLISHED_STUDENT` with `model: mit-b5` in the config, the card said mit-b5."""
    published = save_segformer(tmp_path / "published")
    start = {"name": "tester/published", "sha256": weights_sha256(published), "revision": "a" * 40}
    run = write_run(tmp_path / "run", published, [source_record(built, tmp_path / "run", "coarse")], start=start,
                    config_model="mit-b5")

    push_model(run, "tester/fine-tuned")

    card = flat(hub.files("tester/fine-tuned", "model")["README.md"].decode())
    parameters = sum(p.numel() for p in Segmenter.load(run / "model", device="cpu").model.parameters())
    assert "mit-b5" not in card
    assert f"A SegFormer (mit-pico) with {parameters:,} parameters" in card
    assert f"Training started from `tester/published@{'a' * 12}`." in card
    assert pushed_front_matter(hub, "tester/fine-tuned")["base_model"] == "tester/published"
    assert "It was trained on ground truth only." in card


def test_a_run_without_provenance_is_described_as_unknown(hub, tmp_path):
    folder = save_segformer(tmp_path / "model")

    push_model(folder, "tester/unknown")

    card = flat(hub.files("tester/unknown", "model")["README.md"].decode())
    assert "How it was trained is unknown" in card and "Unknown: no evaluation was given." in card
    assert "ground truth" not in card and "distilled" not in card and "Training started" not in card
    assert "What it learnt from is unknown" in card
    assert "A SegFormer (mit-pico)" in card  # what the saved config says is still known
    data = pushed_front_matter(hub, "tester/unknown")
    assert "base_model" not in data and data["unify"]["taxonomy"] == "synthetic_fine"
    assert data["unify"]["training"] is None


def test_the_runs_own_evaluation_is_shown_when_no_evaluation_is_given(hub, student):
    push_model(student, "tester/student")
    card = flat(hub.files("tester/student", "model")["README.md"].decode())
    assert "The training run's own final evaluation" in card
    assert "| coarse-val | synthetic_driving (coarse) | train | 25.0 | 50.0 |" in card


def test_only_safetensors_are_published(hub, tmp_path):
    folder = tmp_path / "pickled"
    model = SegformerForSemanticSegmentation(Segmenter.for_training("mit-pico", FINE).model.config)
    model.config.save_pretrained(folder)
    torch.save(model.state_dict(), folder / "pytorch_model.bin")
    with pytest.raises(UnifyError, match=r"no .safetensors weights \(\['pytorch_model.bin'\]\); only safetensors"):
        push_model(folder, "tester/pickled")
    assert hub.requests == []
