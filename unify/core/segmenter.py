"""One way to get a segmentation model and its scores: by size name, local folder or Hub id.

A `Segmenter` holds a transformers model, the normalisation saved with its weights (its image processor's
mean, std and rescale factor; ImageNet's only as the default for a new model), and its identity (a name
that means something on another machine, plus a hash of the weight files). It preprocesses uint8 images,
returns class scores at the model's output size or upsampled to a requested size, averages test-time
augmentation, and checks that the model predicts a given taxonomy. Training, evaluation, pseudo-labelling,
`unify mappings suggest`, the demo and `unify push` all go through it.

Two families of models give per-pixel class scores (students are always SegFormers; teachers may be either):

- semantic-segmentation models (SegFormer, UperNet, DPT, BEiT, Data2VecVision, MobileViT, ...: every model
  type of transformers' `AutoModelForSemanticSegmentation`) output class logits (B, C, h, w);
- mask-classification models (`MASK_CLASSIFICATION_TYPES`: Mask2Former, MaskFormer, OneFormer) output, per
  query q, class logits over the C classes plus a last "no object" class and a mask logit per pixel. The
  score of class c at a pixel is `sum_q softmax(class_logits_q)[c] * sigmoid(mask_logits_q)`, the rule of
  their semantic post-processing in transformers (`post_process_semantic_segmentation`); the same sum for
  the no-object class is the weight of "none of the C classes" at the pixel.

Sources of the tables: the MiT encoder shapes are those of the SegFormer paper (Xie et al., 2021) as the
`nvidia/mit-b0` ... `nvidia/mit-b5` configs on the Hub have them; the ImageNet mean and std are
`SegformerImageProcessor`'s defaults; the input sizes in `Segmenter.input_size` follow from the architectures
as transformers 5.x implements them (see there).
"""

from __future__ import annotations

import hashlib
import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F

from unify.core.constants import IGNORE_INDEX
from unify.core.errors import UnifyError
from unify.core.pseudo_label_kernel import tta_probabilities
from unify.core.taxonomy import Taxonomy, get_taxonomy, list_taxonomies

logger = logging.getLogger(__name__)

IMAGENET_MEAN = (0.485, 0.456, 0.406)
"""Per-channel RGB mean of ImageNet on a 0..1 scale, `SegformerImageProcessor`'s default `image_mean`."""
IMAGENET_STD = (0.229, 0.224, 0.225)
"""Per-channel RGB standard deviation of ImageNet on a 0..1 scale, `SegformerImageProcessor`'s default."""
_B2_TO_B5 = dict(hidden_sizes=[64, 128, 320, 512], decoder_hidden_size=768, num_attention_heads=[1, 2, 5, 8])
SEGFORMER_SIZES: dict[str, dict] = {
    # Deliberately tiny shapes: the demo and the tests train these on a CPU in minutes.
    "mit-pico": dict(
        hidden_sizes=[8, 16, 32, 64], depths=[1, 1, 1, 1], decoder_hidden_size=32, num_attention_heads=[1, 1, 1, 2]
    ),
    "mit-nano": dict(
        hidden_sizes=[16, 32, 64, 128], depths=[1, 1, 1, 1], decoder_hidden_size=128, num_attention_heads=[1, 1, 2, 4]
    ),
    # The published MiT encoder shapes (Xie et al., SegFormer).
    "mit-b0": dict(
        hidden_sizes=[32, 64, 160, 256], depths=[2, 2, 2, 2], decoder_hidden_size=256, num_attention_heads=[1, 2, 5, 8]
    ),
    "mit-b1": dict(
        hidden_sizes=[64, 128, 320, 512], depths=[2, 2, 2, 2], decoder_hidden_size=256, num_attention_heads=[1, 2, 5, 8]
    ),
    "mit-b2": dict(depths=[3, 4, 6, 3], **_B2_TO_B5),
    "mit-b3": dict(depths=[3, 4, 18, 3], **_B2_TO_B5),
    "mit-b4": dict(depths=[3, 8, 27, 3], **_B2_TO_B5),
    "mit-b5": dict(depths=[3, 6, 40, 3], **_B2_TO_B5),
}
"""Size name -> SegformerConfig arguments. A size name builds random weights; `nvidia/mit-bX` is pretrained."""
_CHECKPOINT_FILES = ("optimizer.bin", "random_states_0.pkl", "scheduler.bin")
"""Files of an Accelerate training checkpoint (`Accelerator.save_state`), which is not a model folder."""
MASK_CLASSIFICATION_TYPES = ("mask2former", "maskformer", "oneformer")
"""Model types whose outputs are `class_queries_logits` (B, Q, C + 1) and `masks_queries_logits` (B, Q, h, w)."""
ONEFORMER_TASK = "the task is semantic"
"""The text OneFormer is conditioned on for semantic segmentation (`OneFormerProcessor` writes `the task is {task}`)."""
STRIDE = 32
"""Input sides of the non-SegFormer models with hierarchical backbones are rounded to a multiple of this: their
total stride (ConvNeXt, Swin, ResNet stages end at 1/32), and the `size_divisor` of the Mask2Former, MaskFormer and
OneFormer image processors. At other sides the feature grids are cropped or padded and miss the image's edges."""
_PATCH_GRID_TYPES = ("beit", "data2vec-vision")  # plain ViTs: sides a multiple of the patch size
_SQUARE_TYPES = ("dpt",)  # DPTForSemanticSegmentation reassembles its tokens into a square grid


class ModelSourceError(UnifyError):
    """A model source (size name, folder or Hub id) that is not a loadable model; the message is one line."""


class TaxonomyMismatchError(UnifyError):
    """A model that does not predict the classes it is used for."""


@dataclass(frozen=True)
class Normalization:
    """What a model's image processor does to pixel values: `(x * rescale - mean) / std`, per channel."""

    mean: tuple[float, ...] = IMAGENET_MEAN
    std: tuple[float, ...] = IMAGENET_STD
    rescale: float = 1 / 255

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        """(..., 3, H, W) RGB values in 0..255 (any dtype) -> normalised float32."""
        mean = torch.tensor(self.mean, device=images.device).view(3, 1, 1)
        std = torch.tensor(self.std, device=images.device).view(3, 1, 1)
        return (images.float() / (1.0 / self.rescale) - mean) / std  # 1/(1/255) rounds to 255.0 exactly


@dataclass(frozen=True)
class ModelIdentity:
    """What a model is, in terms that mean something on another machine: never a local path."""

    name: str  # Hub id, the size name of a new model, or the name of the local folder it was loaded from
    sha256: str | None  # of the weight files (sorted by name, concatenated); None for new random weights
    revision: str | None = None  # the Hub commit it was downloaded at

    def to_json(self) -> dict:
        """`{"name", "sha256", "revision"}`, as provenance.json, evaluation.json and unify.json record a model."""
        return {"name": self.name, "sha256": self.sha256, "revision": self.revision}

    def display(self) -> str:
        """`name` with the Hub revision or a short weight hash, for logs and cards."""
        if self.revision:
            return f"{self.name}@{self.revision[:12]}"
        return f"{self.name} (sha256 {self.sha256[:12]})" if self.sha256 else self.name


def weights_sha256(folder: Path | str) -> str:
    """Hex sha256 of a model folder's weight files (`*.safetensors`, sorted by name: each name, a zero byte, its bytes).

    Read in 1 MiB blocks. Raises `ModelSourceError` when the folder has no .safetensors file.
    """
    digest = hashlib.sha256()
    files = sorted(Path(folder).glob("*.safetensors"))
    if not files:
        raise ModelSourceError(f"{folder} has no .safetensors weights")
    for path in files:
        digest.update(path.name.encode() + b"\0")
        with path.open("rb") as f:
            while block := f.read(1 << 20):
                digest.update(block)
    return digest.hexdigest()


def _folder_name(folder: Path) -> str:
    """A local model's display name: its folder's name, or its run's for a training run's `model/` folder."""
    resolved = folder.resolve()
    return resolved.parent.name if resolved.name == "model" and resolved.parent.name else resolved.name


def _is_run_folder(folder: Path) -> bool:
    """A training run folder (`train.loop`): its `provenance.json`, or (older runs) its `config.yaml` beside
    `checkpoints/` or `model/`."""
    if (folder / "provenance.json").is_file():
        return True
    return (folder / "config.yaml").is_file() and any((folder / name).is_dir() for name in ("checkpoints", "model"))


def is_hub_id(source: str) -> bool:
    """`namespace/name` that is not a local folder."""
    parts = str(source).split("/")
    return len(parts) == 2 and all(parts) and not Path(source).exists() and not str(source).startswith(".")


def resolve_model_source(source: str | Path) -> tuple[Path, ModelIdentity]:
    """The local folder of a model folder or Hub id, and its identity; `ModelSourceError` when it is no model.

    A Hub id is downloaded (config, weights, image processor, tokenizer) into the Hugging Face cache, or read
    from it when offline. A folder must hold `config.json` and safetensors weights; an Accelerate training
    checkpoint (weights and optimiser state, no config) and a training run folder (`config.yaml`,
    `provenance.json`) get an error that points at the run's model folder.
    """
    text = str(source)
    folder = Path(text)
    if folder.is_dir():
        if not (folder / "config.json").is_file():
            if any((folder / name).is_file() for name in _CHECKPOINT_FILES):
                run = folder.parent.parent if folder.parent.name == "checkpoints" else folder.parent
                raise ModelSourceError(
                    f"{folder} is a training checkpoint (weights and optimiser state, no "
                    f"config.json); use the run's model folder {run / 'model'}"
                )
            if _is_run_folder(folder):
                finished = "" if (folder / "model").is_dir() else " (written when its training finishes)"
                raise ModelSourceError(
                    f"{folder} is a training run folder; use its model folder {folder / 'model'}{finished}"
                )
            raise ModelSourceError(
                f"{folder} is not a model folder: it has no config.json (write one with "
                f"save_pretrained, or pass a Hub id or a size name: {', '.join(SEGFORMER_SIZES)})"
            )
        return folder, ModelIdentity(name=_folder_name(folder), sha256=weights_sha256(folder))
    if not is_hub_id(text):
        raise ModelSourceError(
            f"model {text!r} is neither a size name ({', '.join(SEGFORMER_SIZES)}), nor a "
            f"folder that exists, nor a Hub id (namespace/name)"
        )
    from huggingface_hub import snapshot_download

    try:
        local = Path(snapshot_download(text, allow_patterns=["*.json", "*.safetensors", "merges.txt"]))
    except Exception as exc:  # the Hub client raises many types: offline, unknown repo, gated, network
        raise ModelSourceError(
            f"cannot get the model {text} from the Hub: {type(exc).__name__}: "
            f"{str(exc).splitlines()[0] if str(exc) else ''}"
        ) from exc
    if not any(local.glob("*.safetensors")):
        raise ModelSourceError(f"{text} has no .safetensors weights on the Hub; only safetensors are loaded")
    return local, ModelIdentity(name=text, sha256=weights_sha256(local), revision=local.name)


class Segmenter:
    """A segmentation model with its normalisation and identity.

    `model` is a transformers model of either family (see the module's docstring): a semantic-segmentation
    model, whose output has `.logits` (B, C, h, w), or a mask-classification model (`MASK_CLASSIFICATION_TYPES`),
    whose output has `.class_queries_logits` (B, Q, C + 1) and `.masks_queries_logits` (B, Q, h, w). Build one
    with `Segmenter.load` (an existing model) or `Segmenter.for_training` (a SegFormer to train on a taxonomy).
    `task_inputs` (1, L) float32 is OneFormer's tokenised task text (`ONEFORMER_TASK`); None for other models.
    """

    def __init__(
        self,
        model: torch.nn.Module,
        mean: Sequence[float] = IMAGENET_MEAN,
        std: Sequence[float] = IMAGENET_STD,
        rescale: float = 1 / 255,
        identity: ModelIdentity | None = None,
        task_inputs: torch.Tensor | None = None,
    ):
        self.model = model
        self.mean, self.std, self.rescale = tuple(mean), tuple(std), float(rescale)
        self.identity = identity
        self.task_inputs = task_inputs

    # -- getting one -------------------------------------------------------------------------------
    @classmethod
    def load(cls, source: str | Path, device: torch.device | str | None = None) -> Segmenter:
        """An existing model (folder or Hub id) as it is, with its own labels, in eval mode on `device`.

        The model class follows the config's `model_type`: `AutoModelForUniversalSegmentation` for
        `MASK_CLASSIFICATION_TYPES`, `AutoModelForSemanticSegmentation` for the types it knows. A OneFormer
        folder must hold the CLIP tokenizer its task text is encoded with (shi-labs' OneFormer repositories on
        the Hub ship one: vocab.json and merges.txt).
        Raises `ModelSourceError` (one line) for anything that is not a loadable model of either family.
        """
        from huggingface_hub.errors import StrictDataclassError
        from transformers import AutoConfig

        folder, identity = resolve_model_source(source)
        try:
            config = AutoConfig.from_pretrained(folder)
            model = _model_class(config.model_type, identity.name).from_pretrained(
                folder, config=config, use_safetensors=True
            )
        except (OSError, ValueError, KeyError, StrictDataclassError) as exc:  # the last: a config field of a bad type
            raise ModelSourceError(
                f"cannot load {identity.name} as a segmentation model: {str(exc).splitlines()[0]}"
            ) from exc
        task_inputs = None
        if config.model_type == "oneformer":
            task_inputs = _oneformer_task_inputs(folder, config, identity.name)
        segmenter = cls(model, *_normalisation(folder, identity.name), identity=identity, task_inputs=task_inputs)
        return segmenter.to(device or default_device()).eval()

    @classmethod
    def for_training(cls, source: str, taxonomy: Taxonomy, resume_from: str | None = None) -> Segmenter:
        """A SegFormer that predicts `taxonomy`, to train.

        `source` is a size name (random weights: logged, since published results start from the
        ImageNet-pretrained encoders `nvidia/mit-b0` ... `nvidia/mit-b5`), or a folder or Hub id whose
        weights are kept where they fit: the encoder always, the decode head when present, the classifier only
        when it already predicts `taxonomy`'s classes in order. The log line counts loaded and new tensors.
        `resume_from` names the checkpoint (e.g. "step-00000003") whose weights the caller loads over these
        next; the log line then says that the run continues from it, instead of describing starting weights
        that will not be used (the source is still built and checked the same way).
        Raises `UnifyError` when `taxonomy` cannot be a unified taxonomy, and `ModelSourceError` for a source that
        is not a loadable model, is not a SegFormer, or has no tensor that fits one.
        """
        from transformers import AutoConfig, SegformerConfig, SegformerForSemanticSegmentation

        taxonomy.require_unified()
        labels = dict(
            id2label=taxonomy.id2label(),
            label2id=taxonomy.label2id(),
            num_labels=taxonomy.num_labels,
            semantic_loss_ignore_index=IGNORE_INDEX,
        )
        if resume_from is not None:
            logger.info(
                "model %s: resuming from checkpoint %s (its weights replace the starting ones)", source, resume_from
            )
        if source in SEGFORMER_SIZES:
            if resume_from is None:
                logger.info(
                    "model %s: random weights (built from its config, no pretraining); published SegFormer "
                    "results start from the ImageNet-pretrained encoder, e.g. nvidia/%s",
                    source,
                    source if source.startswith("mit-b") else "mit-b0",
                )
            model = SegformerForSemanticSegmentation(SegformerConfig(**SEGFORMER_SIZES[source], **labels))
            return cls(model, identity=ModelIdentity(name=source, sha256=None))
        folder, identity = resolve_model_source(source)
        source_config = AutoConfig.from_pretrained(folder)  # of any family, so that the check below can refuse it
        if source_config.model_type != "segformer":
            raise ModelSourceError(
                f"{identity.name} is a {source_config.model_type} model; students are SegFormers "
                f"(a size name, nvidia/mit-b0 ... nvidia/mit-b5, or a SegFormer folder)"
            )
        model, info = SegformerForSemanticSegmentation.from_pretrained(
            folder, use_safetensors=True, ignore_mismatched_sizes=True, output_loading_info=True, **labels
        )
        renewed = _renew_foreign_classifier(model, source_config, taxonomy)
        _log_loading(identity, model, info, renewed, taxonomy, quiet=resume_from is not None)
        return cls(model, *_normalisation(folder, identity.name), identity=identity)

    def to(self, device: torch.device | str) -> Segmenter:
        """Move the model to `device`; returns this segmenter."""
        self.model.to(device)
        return self

    def eval(self) -> Segmenter:
        """Put the model in eval mode (no dropout, fixed normalisation statistics); returns this segmenter."""
        self.model.eval()
        return self

    @property
    def device(self) -> torch.device:
        """The device of the model's parameters."""
        return next(self.model.parameters()).device

    @property
    def num_labels(self) -> int:
        """C, the number of real classes (a mask-classification model's no-object class is not one of them)."""
        return int(self.model.config.num_labels)

    @property
    def has_no_object(self) -> bool:
        """True for a mask-classification model: its scores can carry a trailing no-object channel."""
        return self.model.config.model_type in MASK_CLASSIFICATION_TYPES

    def class_names(self) -> list[str]:
        """The model's classes in id order, from its config's `id2label`."""
        labels = {int(k): v for k, v in self.model.config.id2label.items()}
        return [labels[i] for i in range(self.num_labels)]

    # -- what it predicts ------------------------------------------------------------------------------
    def check_predicts(self, taxonomy: Taxonomy, role: str = "the model") -> None:
        """`TaxonomyMismatchError` unless the model predicts exactly `taxonomy`'s classes, in id order."""
        names, expected = self.class_names(), [c.name for c in taxonomy.trainable]
        if names != expected:
            raise TaxonomyMismatchError(
                f"{role} ({self._name()}) predicts {len(names)} classes ({', '.join(names[:5])}, ...), not the "
                f"{len(expected)} classes of {taxonomy.name} ({', '.join(expected[:5])}, ...)"
            )

    def taxonomy(self, name: str | None = None) -> Taxonomy:
        """The registered unified taxonomy the model predicts (`name` checked when given, else searched).

        Raises `TaxonomyMismatchError` when the model's classes (names, in id order) are not `name`'s or match no
        registered taxonomy, `UnifyError` for an unknown `name`.
        """
        if name is not None:
            taxonomy = get_taxonomy(name)
            self.check_predicts(taxonomy)
            return taxonomy
        names = self.class_names()
        for candidate in list_taxonomies():
            taxonomy = get_taxonomy(candidate)
            trainable = taxonomy.trainable
            if [c.name for c in trainable] == names and [c.id for c in trainable] == list(range(len(names))):
                return taxonomy
        raise TaxonomyMismatchError(
            f"the model predicts {len(names)} classes ({', '.join(names[:6])}, ...) that "
            f"match no registered unified taxonomy (`unify taxonomies` lists them)"
        )

    # -- scores ------------------------------------------------------------------------------------------
    @property
    def normalization(self) -> Normalization:
        """The model's input normalisation (mean, std, rescale factor) as one callable."""
        return Normalization(self.mean, self.std, self.rescale)

    def preprocess(self, images: torch.Tensor) -> torch.Tensor:
        """(B, 3, H, W) uint8 RGB -> float32 pixel values, rescaled and normalised as the model was trained."""
        return self.normalization(images)

    def input_size(self, height: int, width: int) -> tuple[int, int]:
        """The (height, width) the model is run at for an input of (height, width).

        SegFormer: the input's own (it takes any size). BEiT, Data2VecVision: each side rounded to the nearest
        multiple of the patch size (a partial patch would be dropped), position encodings interpolated. DPT:
        its config's square `image_size` (rounded to the patch size), because `DPTForSemanticSegmentation`
        reassembles the tokens into a square grid. Any other model: each side rounded to the nearest multiple
        of `STRIDE`. The scores of a resized input still cover the whole image, so upsampling them bilinearly
        (align_corners=False) to the input's size maps them back.
        """
        config = self.model.config
        if config.model_type == "segformer":
            return height, width
        if config.model_type in _SQUARE_TYPES:
            side = _nearest_multiple(_first(config.image_size), _patch_size(config))
            return side, side
        divisor = _patch_size(config) if config.model_type in _PATCH_GRID_TYPES else STRIDE
        return _nearest_multiple(height, divisor), _nearest_multiple(width, divisor)

    def scores(self, pixel_values: torch.Tensor, with_no_object: bool = False) -> torch.Tensor:
        """(B, C, h, w) float32 per-pixel class scores at the model's output size (h, w).

        A semantic-segmentation model's logits; a mask-classification model's
        `sum_q softmax(class_logits_q)[c] * sigmoid(mask_logits_q)` for the C real classes, each in
        [0, Q] and not normalised over classes, at the mask resolution (transformers' post-processing
        upsamples the mask logits first; this upsamples the scores, which is cheaper and differs only near
        boundaries). `with_no_object` appends the no-object class's sum as channel C (B, C + 1, h, w): the
        weight of "none of the C classes". Raises `UnifyError` for `with_no_object` on a semantic model.
        """
        if with_no_object and not self.has_no_object:
            raise UnifyError(
                f"{self._name()} is a {self.model.config.model_type} model, which has no no-object "
                f"class; only mask-classification models ({', '.join(MASK_CLASSIFICATION_TYPES)}) do"
            )
        outputs = self._forward(pixel_values)
        if not self.has_no_object:
            return outputs.logits.float()
        return mask_classification_scores(outputs.class_queries_logits, outputs.masks_queries_logits, with_no_object)

    def logits(
        self, pixel_values: torch.Tensor, size: tuple[int, int] | None = None, with_no_object: bool = False
    ) -> torch.Tensor:
        """(B, C, h, w) float32 class logits; with `size` (H, W), upsampled bilinearly (align_corners=False).

        A semantic-segmentation model's own logits. For a mask-classification model, the log of its `scores`
        normalised to sum to 1 per pixel over the C (with `with_no_object`, C + 1) channels: the argmax is the
        argmax of the scores and the softmax over channels gives the normalised scores back, so evaluation,
        `unify mappings suggest` and test-time averaging treat both families alike.
        """
        logits = self.scores(pixel_values, with_no_object)
        if self.has_no_object:
            logits = logits.clamp_min(torch.finfo(logits.dtype).tiny).log()
            logits = logits - logits.logsumexp(dim=1, keepdim=True)
        if size is not None and tuple(logits.shape[-2:]) != tuple(size):
            logits = F.interpolate(logits, size=size, mode="bilinear", align_corners=False)
        return logits

    def probabilities(
        self,
        pixel_values: torch.Tensor,
        scales: Sequence[float] = (1.0,),
        flip: bool = False,
        with_no_object: bool = False,
    ) -> torch.Tensor:
        """(B, C, h, w) class probabilities averaged over test-time scales and flips, at scale 1.0's size.

        Each view's probabilities are the softmax of its `logits`: for a semantic-segmentation model the
        softmax of its logits; for a mask-classification model its scores normalised to sum to 1 over the C
        classes (with `with_no_object`, over C + 1 channels, no-object last). They sum to 1 per pixel.
        For DPT, whose input size is fixed (`input_size`), the scales change nothing. Raises `UnifyError` when
        `scales` lacks 1.0 or holds a value that is not positive.
        """
        return tta_probabilities(
            lambda views: self.logits(views, with_no_object=with_no_object), pixel_values, scales, flip
        )

    def _forward(self, pixel_values: torch.Tensor):
        """The model's output for (B, 3, H, W) pixel values, run at `input_size(H, W)`."""
        size = self.input_size(pixel_values.shape[-2], pixel_values.shape[-1])
        if size != tuple(pixel_values.shape[-2:]):
            pixel_values = F.interpolate(pixel_values, size=size, mode="bilinear", align_corners=False)
        inputs = {"pixel_values": pixel_values}
        if self.model.config.model_type in _PATCH_GRID_TYPES:
            inputs["interpolate_pos_encoding"] = True
        if self.model.config.model_type == "oneformer":
            if self.task_inputs is None:
                raise UnifyError(
                    f"{self._name()} is a OneFormer model without task inputs; load it with "
                    f"Segmenter.load, which encodes {ONEFORMER_TASK!r} with its tokenizer"
                )
            inputs["task_inputs"] = self.task_inputs.to(pixel_values.device).expand(len(pixel_values), -1)
        return self.model(**inputs)

    def _name(self) -> str:
        return self.identity.name if self.identity else "the model in memory"

    # -- saving --------------------------------------------------------------------------------------------
    def save(self, folder: Path | str) -> None:
        """`save_pretrained` weights (safetensors) and config, and an image processor that never resizes.

        For SegFormers (students, and teachers trained here); `UnifyError` for another family, whose own
        folder already holds its weights and image processor.
        """
        if self.model.config.model_type != "segformer":
            raise UnifyError(
                f"{self._name()} is a {self.model.config.model_type} model; only SegFormers are saved "
                f"here (with a SegFormer image processor): use its own folder"
            )
        self.model.save_pretrained(folder, safe_serialization=True)
        # No resizing: models are trained on crops of full-resolution images and evaluated at full resolution.
        _segformer_image_processor_class()(
            do_resize=False,
            image_mean=list(self.mean),
            image_std=list(self.std),
            rescale_factor=self.rescale,
            do_reduce_labels=False,
        ).save_pretrained(folder)


def _segformer_image_processor_class() -> type:
    """The SegFormer image processor class that needs no torchvision, which this package does not install.

    transformers 5 splits it in two: `SegformerImageProcessor` needs torchvision (without it, importing that name
    warns and hands out the other), `SegformerImageProcessorPil` does not. Both normalise and rescale alike and
    save the same preprocessor_config.json ("image_processor_type": "SegformerImageProcessor"), which
    `AutoImageProcessor` and `pipeline` load either way. transformers 4 has only `SegformerImageProcessor`,
    which needs no torchvision there.
    """
    try:
        from transformers import SegformerImageProcessorPil
    except ImportError:  # transformers 4
        from transformers import SegformerImageProcessor

        return SegformerImageProcessor
    return SegformerImageProcessorPil


def default_device() -> torch.device:
    """cuda when available, else the CPU."""
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def processes_without_gpu() -> bool:
    """True in one of several processes started together (WORLD_SIZE > 1) on a machine without CUDA or XPU.

    Accelerate joins such processes over gloo only when told they run on the CPU (`Accelerator(cpu=True)` or
    `ACCELERATE_USE_CPU`); otherwise each believes it runs alone and does the whole job, all writing the same
    folder. `torchrun --nproc_per_node N` and `accelerate launch --multi_gpu --num_processes N` start processes
    this way; training and pseudo-labelling pass this to their `Accelerator`.
    """
    several = int(os.environ.get("WORLD_SIZE", "1")) > 1
    xpu = hasattr(torch, "xpu") and torch.xpu.is_available()
    return several and not torch.cuda.is_available() and not xpu


def mask_classification_scores(
    class_logits: torch.Tensor, mask_logits: torch.Tensor, with_no_object: bool = False
) -> torch.Tensor:
    """Per-pixel class scores of a mask-classification model: (B, C, h, w) float32, or (B, C + 1, h, w).

    `class_logits` (B, Q, C + 1), the last class being no-object; `mask_logits` (B, Q, h, w). The score of
    class c is `sum_q softmax(class_logits_q)[c] * sigmoid(mask_logits_q)` (Cheng et al., Mask2Former, 2022;
    transformers' `post_process_semantic_segmentation`); `with_no_object` keeps the last class's sum as a
    trailing channel. Summed over all C + 1 channels, a pixel's scores are `sum_q sigmoid(mask_logits_q)`.
    """
    classes = class_logits.float().softmax(dim=-1)
    if not with_no_object:
        classes = classes[..., :-1]
    return torch.einsum("bqc,bqhw->bchw", classes, mask_logits.float().sigmoid())


def describe_architecture(config) -> str:
    """`SegFormer (mit-b0)` when a saved config has a known encoder shape, else its family (and backbone)."""
    if getattr(config, "model_type", None) == "segformer":
        shape = {k: list(getattr(config, k)) for k in ("hidden_sizes", "depths", "num_attention_heads")}
        shape["decoder_hidden_size"] = config.decoder_hidden_size
        for name, sizes in SEGFORMER_SIZES.items():
            if all(shape[k] == v for k, v in sizes.items()):
                return f"SegFormer ({name})"
        return f"SegFormer (hidden sizes {shape['hidden_sizes']}, depths {shape['depths']})"
    backbone = getattr(getattr(config, "backbone_config", None), "model_type", None)
    family = str(getattr(config, "model_type", "unknown architecture"))
    return f"{family} ({backbone})" if backbone else family


def _model_class(model_type: str, name: str):
    """The transformers auto class that loads `model_type` with its segmentation head; `ModelSourceError` if none."""
    from transformers import AutoModelForSemanticSegmentation, AutoModelForUniversalSegmentation
    from transformers.models.auto.modeling_auto import MODEL_FOR_SEMANTIC_SEGMENTATION_MAPPING_NAMES

    if model_type in MASK_CLASSIFICATION_TYPES:
        return AutoModelForUniversalSegmentation
    if model_type in MODEL_FOR_SEMANTIC_SEGMENTATION_MAPPING_NAMES:
        return AutoModelForSemanticSegmentation
    raise ModelSourceError(
        f"{name} is a {model_type} model, which gives no per-pixel class scores; a teacher is a semantic-"
        f"segmentation model ({', '.join(MODEL_FOR_SEMANTIC_SEGMENTATION_MAPPING_NAMES)}) or a mask-"
        f"classification model ({', '.join(MASK_CLASSIFICATION_TYPES)})"
    )


def _oneformer_task_inputs(folder: Path, config, name: str) -> torch.Tensor:
    """(1, config.task_seq_len) float32: `ONEFORMER_TASK` tokenised as `OneFormerProcessor` does it.

    The token ids, padded with zeros (ids times attention mask) to the task length, come from the CLIP
    tokenizer saved with the model (`tokenizer.json`, or `vocab.json` and `merges.txt`); nothing is downloaded.
    Raises `ModelSourceError` when the folder has no tokenizer.
    """
    from transformers import AutoTokenizer

    if not ((folder / "tokenizer.json").is_file() or all((folder / f).is_file() for f in ("vocab.json", "merges.txt"))):
        raise ModelSourceError(
            f"{name} is a OneFormer model, told its task by the text {ONEFORMER_TASK!r} through the CLIP tokenizer "
            f"saved with it, but it has no tokenizer (tokenizer.json, or vocab.json and merges.txt); save the "
            f"tokenizer beside the weights (OneFormerProcessor.save_pretrained or the tokenizer's save_pretrained)"
        )
    try:
        tokenizer = AutoTokenizer.from_pretrained(folder)
    except (OSError, ValueError, KeyError) as exc:
        raise ModelSourceError(
            f"cannot load the tokenizer of the OneFormer model {name}: {str(exc).splitlines()[0]}"
        ) from exc
    tokens = tokenizer(
        ONEFORMER_TASK, padding="max_length", max_length=config.task_seq_len, truncation=True, return_tensors="pt"
    )
    return (tokens["input_ids"] * tokens["attention_mask"]).float()


def _first(size) -> int:
    """An `image_size` config value (an int, or a (height, width) pair) as one side."""
    return int(size if isinstance(size, int) else size[0])


def _patch_size(config) -> int:
    """The patch size of a ViT-based config: its ViT backbone's when it has one, else its own."""
    return _first(getattr(getattr(config, "backbone_config", None), "patch_size", None) or config.patch_size)


def _nearest_multiple(side: int, divisor: int) -> int:
    """The multiple of `divisor` nearest to `side`, at least `divisor` (halves round up)."""
    return max(divisor, (side + divisor // 2) // divisor * divisor)


def _normalisation(folder: Path, name: str) -> tuple[tuple[float, ...], tuple[float, ...], float]:
    """(mean, std, rescale factor) from the folder's preprocessor_config.json; ImageNet's when it has none."""
    import json

    path = folder / "preprocessor_config.json"
    if not path.is_file():
        logger.info("%s has no preprocessor_config.json: normalising with the ImageNet mean and std", name)
        return IMAGENET_MEAN, IMAGENET_STD, 1 / 255
    config = json.loads(path.read_text())
    mean = tuple(config.get("image_mean", IMAGENET_MEAN)) if config.get("do_normalize", True) else (0.0, 0.0, 0.0)
    std = tuple(config.get("image_std", IMAGENET_STD)) if config.get("do_normalize", True) else (1.0, 1.0, 1.0)
    rescale = float(config.get("rescale_factor", 1 / 255)) if config.get("do_rescale", True) else 1.0
    return mean, std, rescale


def _renew_foreign_classifier(model, source_config, taxonomy: Taxonomy) -> bool:
    """Re-initialise a same-shaped classifier that predicted other classes; True when it did."""
    source_names = [source_config.id2label[i] for i in range(source_config.num_labels)]
    if source_names == [c.name for c in taxonomy.trainable] or source_config.num_labels != taxonomy.num_labels:
        return False  # the same classes: kept; another shape: from_pretrained already re-initialised it
    classifier = model.decode_head.classifier
    torch.nn.init.normal_(classifier.weight, std=model.config.initializer_range)
    torch.nn.init.zeros_(classifier.bias)
    return True


def _log_loading(
    identity: ModelIdentity, model, info: dict, renewed: bool, taxonomy: Taxonomy, quiet: bool = False
) -> None:
    """One line: how many tensors were loaded from the source and how many start new, and which parts.

    `quiet` (a resumed run, whose checkpoint replaces these weights) logs nothing; the check that some tensor
    fit (`ModelSourceError` otherwise) is made either way.
    """
    state = model.state_dict()
    new = set(info.get("missing_keys", [])) | {key for key, *_ in info.get("mismatched_keys", [])}
    if renewed:
        new |= {k for k in state if k.startswith("decode_head.classifier.")}
    loaded = len(state) - len(new)
    parts = sorted(
        {key.split(".")[0] + ("." + key.split(".")[1] if key.startswith("decode_head") else "") for key in new}
    )
    logger.log(
        logging.DEBUG if quiet else logging.INFO,
        "initialised from %s: %d of %d tensors loaded, %d new (%s) for the %d classes of %s",
        identity.display(),
        loaded,
        len(state),
        len(new),
        ", ".join(parts) or "none",
        taxonomy.num_labels,
        taxonomy.name,
    )
    if loaded == 0:
        raise ModelSourceError(f"{identity.name}: none of its tensors fit a SegFormer; is it a SegFormer model?")
