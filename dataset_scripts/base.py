"""The shared base of every driving-dataset builder.

A dataset file sets its constants (name, native taxonomy, default unified taxonomy, citation),
lists its samples from the authors' folder layout, and says how to read one label. Everything
else lives here: id validation, image and label on one pixel grid whatever the EXIF orientation,
the unified ground-truth view, lossless encoding, bad-sample handling and the `datasets` features.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path

import datasets
import numpy as np
import pyarrow as pa
from PIL import Image

from unify.core.constants import DATASET, IGNORE_INDEX, IMAGE, IMAGE_ID, LABEL, UNIFIED_LABEL
from unify.core.errors import BadSampleError, UnifyError
from unify.core.images import (
    TRANSPOSING_ORIENTATIONS,
    encode_label,
    exif_orientation,
    image_size_from_bytes,
    label_to_stored_grid,
    neutralize_orientation,
    read_id_label,
)
from unify.core.mapping import LabelMapping, get_mapping

logger = logging.getLogger(__name__)


@dataclass
class DrivingConfig(datasets.BuilderConfig):
    """A configuration of a driving dataset; the unified taxonomy is chosen at build time."""

    native_taxonomy: str = ""  # class table the label files use (a registry name)
    unified_taxonomy: str | None = None  # label space of `unified_label`; None: the builder's default
    skip_bad: bool = False  # skip unusable samples and list them instead of stopping
    skip_log: str | None = None  # folder where skipped samples are recorded (one JSONL file per process)


@dataclass
class RawSample:
    """One image of the dataset as found on disk, before anything is read."""

    image_id: str  # stable, unique within the dataset
    image_path: Path
    label_path: Path | None  # None where the dataset has no label for this image
    extra: dict = field(default_factory=dict)  # whatever the dataset's reader needs besides


@dataclass
class LoadedSample:
    """One sample as read from disk, before it is put on one pixel grid (`on_stored_grid`) and encoded."""

    image_bytes: bytes  # the original file, embedded as is
    label: np.ndarray  # (H, W) native ids, uint8 (uint16 where an id exceeds 255)
    label_bytes: bytes | None = None  # the original label file, when it already holds native ids as PNG
    extra_columns: dict = field(default_factory=dict)  # column -> cell, for the columns of `extra_features`


class DrivingDatasetBuilder(datasets.GeneratorBasedBuilder):
    """Base builder: subclasses set the constants below and implement `list_samples` and, unless their labels
    are id PNGs, `read_label`.

    Every example has the columns of `unify.core.constants`: the image file's bytes as found (its EXIF
    orientation set to 1), the native label and the unified label (lossless grey PNGs of ids, 8-bit where
    every id fits), the image id and the dataset name, plus `extra_features`.
    """

    BUILDER_CONFIG_CLASS = DrivingConfig
    DEFAULT_WRITER_BATCH_SIZE = 8  # rows of full-size images held before a write: keeps memory flat and fast
    NAME: str = ""  # registry name, as `unify datasets` lists it
    DEFAULT_UNIFIED_TAXONOMY: str = ""
    DESCRIPTION = ""
    HOMEPAGE = ""
    LICENSE = ""
    CITATION = ""
    REDISTRIBUTION_ALLOWED = False  # whether the licence lets images be pushed to the Hub
    LAYOUT_HELP = ""  # what data_dir must contain, for the error when it does not

    # -- what a dataset file implements ---------------------------------------------------------
    def list_samples(self, data_dir: Path) -> dict[str, list[RawSample]]:
        """Split name -> samples, sorted so that keys are reproducible; `data_dir` is None when LAYOUT_HELP is empty.

        A layout this builder cannot read raises `layout_error`; a missing label file is not checked here but
        when the sample is read, so that skip_bad can skip it. Every builder implements it (NotImplementedError
        here).
        """
        raise NotImplementedError

    def read_label(self, sample: RawSample) -> tuple[np.ndarray, bytes | None]:
        """(H, W) native id map of one sample, and the original bytes if they are already a grey PNG of those ids.

        Most datasets ship id PNGs, read here (`unify.core.images.read_id_label`: palette PNGs give their
        indices); colour-coded or polygon datasets override this. An unreadable file is a BadSampleError.
        """
        return read_id_label(sample.label_path)

    def read_sample(self, sample: RawSample) -> LoadedSample:
        """The image file's bytes and the label as `read_label` gives it; datasets without files override this.

        A missing label file or an unreadable image is a BadSampleError naming the file.
        """
        if sample.label_path is not None and not Path(sample.label_path).is_file():
            raise BadSampleError(sample.image_path, f"no label file (expected {sample.label_path})")
        try:
            image_bytes = Path(sample.image_path).read_bytes()
        except OSError as exc:
            raise BadSampleError(sample.image_path, f"cannot read image ({exc})") from exc
        label, label_bytes = self.read_label(sample)
        return LoadedSample(image_bytes=image_bytes, label=label, label_bytes=label_bytes)

    def load_sample(self, sample: RawSample) -> LoadedSample:
        """One sample as it is embedded: image and label on the image's stored pixel grid (`on_stored_grid`)."""
        return on_stored_grid(self.read_sample(sample), sample)

    def extra_features(self) -> dict:
        """Column name -> `datasets` feature of columns this dataset adds to the standard five; none by default."""
        return {}

    # -- shared machinery ---------------------------------------------------------------------
    @property
    def unified_taxonomy(self) -> str:
        """The registry name of the `unified_label` column's taxonomy: the configuration's, else the default."""
        return self.config.unified_taxonomy or self.DEFAULT_UNIFIED_TAXONOMY

    @property
    def mapping(self) -> LabelMapping:
        """The native -> unified mapping (unify/mappings/<native>/<unified>.txt) the unified view is drawn from."""
        return get_mapping(self.config.native_taxonomy, self.unified_taxonomy)

    def _info(self) -> datasets.DatasetInfo:
        features = datasets.Features(
            {
                IMAGE: datasets.Image(),
                LABEL: datasets.Image(),
                UNIFIED_LABEL: datasets.Image(),
                IMAGE_ID: datasets.Value("string"),
                DATASET: datasets.Value("string"),
                **self.extra_features(),
            }
        )
        return datasets.DatasetInfo(
            description=self.DESCRIPTION,
            features=features,
            homepage=self.HOMEPAGE,
            license=self.LICENSE,
            citation=self.CITATION,
        )

    def _require_data_dir(self) -> Path:
        data_dir = self.config.data_dir
        if not data_dir:
            raise UnifyError(
                f"{self.NAME} needs data_dir=<{self.LAYOUT_HELP}>; none was given. Download it from {self.HOMEPAGE}"
            )
        if not Path(data_dir).is_dir():
            raise self.layout_error(Path(data_dir), "is not a folder")
        return Path(data_dir)

    def layout_error(self, folder: Path, problem: str) -> UnifyError:
        """The error for a folder this builder cannot read: the folder, what is wrong, what it holds, what was expected.

        `problem` continues the sentence after the folder's path ("has no split list train.lst").
        """
        return UnifyError(
            f"{self.NAME}: {folder} {problem}; {folder_contents(folder)}; expected {self.LAYOUT_HELP}. "
            f"Download it from {self.HOMEPAGE}"
        )

    def _prepare_split(self, *args, **kwargs):
        """Write a split with Arrow on the system allocator, then put the previous one back.

        Every row holds megabytes of image bytes that `datasets` copies a few times; Arrow's default
        allocator hands such blocks back to the system at once, and faulting them in again took half
        the build's CPU time. With the system allocator a build needs about a third less CPU.
        """
        previous = pa.default_memory_pool()
        pa.set_memory_pool(pa.system_memory_pool())
        try:
            return super()._prepare_split(*args, **kwargs)
        finally:
            pa.set_memory_pool(previous)

    def raw_samples(self) -> dict[str, list[RawSample]]:
        """Split name -> samples of the configured raw folder, listed without reading a file; empty splits left out.

        What a build would read, so a caller can check a raw folder before doing other work. `list_samples`
        gets the configured `data_dir`, or None for a builder that needs none (empty LAYOUT_HELP). Raises
        `UnifyError` when a needed `data_dir` is not given or not a folder, and `layout_error` when this builder
        cannot read it or finds no sample in it.
        """
        by_split = self.list_samples(self._require_data_dir() if self.LAYOUT_HELP else None)
        if not any(by_split.values()):
            raise self.layout_error(Path(self.config.data_dir or "."), "holds no sample where this builder looks")
        return {split: samples for split, samples in by_split.items() if samples}

    def _split_generators(self, dl_manager):
        return [
            datasets.SplitGenerator(name=split, gen_kwargs={"samples": samples})
            for split, samples in self.raw_samples().items()
        ]

    def _generate_examples(self, samples: list[RawSample]):
        mapping = self.mapping
        for sample in samples:
            try:
                example = self._example(sample, mapping)
            except BadSampleError as exc:
                if not self.config.skip_bad:
                    raise
                self._record_skip(sample, exc)
                continue
            yield sample.image_id, example

    def _example(self, sample: RawSample, mapping: LabelMapping) -> dict:
        loaded = self.load_sample(sample)
        width, height = image_size_from_bytes(loaded.image_bytes, sample.image_path)
        label = loaded.label
        source = sample.label_path or sample.image_path
        if label.shape != (height, width):
            raise BadSampleError(
                source,
                f"label is {label.shape[1]}x{label.shape[0]} but its image {sample.image_path} is {width}x{height}",
            )
        unified = unified_ground_truth(label, mapping, source)
        label_bytes = loaded.label_bytes if loaded.label_bytes is not None else encode_label(label)
        return {
            IMAGE: {"bytes": loaded.image_bytes, "path": Path(sample.image_path).name},
            LABEL: {"bytes": label_bytes, "path": None},
            UNIFIED_LABEL: {"bytes": encode_label(unified), "path": None},
            IMAGE_ID: sample.image_id,
            DATASET: self.NAME,
            **loaded.extra_columns,
        }

    def _record_skip(self, sample: RawSample, exc: BadSampleError) -> None:
        if not self.config.skip_log:
            raise UnifyError("skip_bad needs skip_log, the folder where skipped samples are listed") from exc
        os.makedirs(self.config.skip_log, exist_ok=True)
        record = {"image_id": sample.image_id, "file": exc.path, "reason": exc.reason}
        with open(Path(self.config.skip_log) / f"skipped-{os.getpid()}.jsonl", "a", encoding="utf-8") as f:
            f.write(json.dumps(record) + "\n")


def folder_contents(folder: Path, most: int = 12) -> str:
    """What a folder holds, for an error message: its first `most` entries by name (folders marked with /).

    "it does not exist", "it is a file" or "it is empty" where there is nothing to list.
    """
    if not folder.exists():
        return "it does not exist"
    if not folder.is_dir():
        return "it is a file"
    entries = sorted(folder.iterdir())
    if not entries:
        return "it is empty"
    names = [f"{entry.name}/" if entry.is_dir() else entry.name for entry in entries[:most]]
    more = f" and {len(entries) - most} more" if len(entries) > most else ""
    return f"it holds {', '.join(names)}{more}"


def on_stored_grid(loaded: LoadedSample, sample: RawSample) -> LoadedSample:
    """The sample with its image's EXIF orientation set to 1 and its label on the image's stored pixel grid.

    Pillow reads a file's pixels as stored; `datasets`' Image feature and transformers' `pipeline` first
    turn them as the EXIF Orientation tag says (`exif_transpose`). Rewriting the tag to 1 in place
    (`neutralize_orientation`: no pixel is re-encoded) makes every reader see the stored grid, the one
    a label file's pixels lie on. For the label:

    - of the stored image's size: it is on the stored grid and is kept;
    - for orientations 5 to 8 (a quarter turn or a transposition: width and height swap), of the
      displayed size and not the stored one: it was drawn on the displayed picture and is moved back
      onto the stored grid (`label_to_stored_grid`, lossless), logged at debug level;
    - for orientations 2, 3 and 4 (mirrored or upside down) a label on either grid has the same size,
      so nothing in the files tells them apart: the stored grid is assumed, being the grid that the
      label file's own pixels and every reader that ignores the tag use. Turning such labels on a guess
      would misalign every label that was drawn on the stored pixels.

    A label of neither size is left for the size check that follows, which names both sizes. An
    orientation outside 1 to 8 is a BadSampleError naming the image and the value. Label bytes that
    carry an orientation of their own are dropped, so that the label is re-encoded without it.
    """
    source = sample.label_path or sample.image_path
    if loaded.label_bytes is not None and exif_orientation(loaded.label_bytes, source) != 1:
        loaded.label_bytes = None
    orientation = exif_orientation(loaded.image_bytes, sample.image_path)
    if orientation == 1:
        return loaded
    width, height = image_size_from_bytes(loaded.image_bytes, sample.image_path)
    if (
        orientation in TRANSPOSING_ORIENTATIONS
        and loaded.label.shape != (height, width)
        and loaded.label.shape == (width, height)
    ):
        logger.debug(
            "%s: label drawn on the displayed picture of %s (EXIF orientation %d); moved onto its stored %dx%d grid",
            source,
            sample.image_path,
            orientation,
            width,
            height,
        )
        loaded.label, loaded.label_bytes = label_to_stored_grid(loaded.label, orientation), None
    loaded.image_bytes = neutralize_orientation(loaded.image_bytes, sample.image_path)
    return loaded


def unified_ground_truth(native: np.ndarray, mapping: LabelMapping, source: Path | str) -> np.ndarray:
    """(H, W) uint8 unified ids of an (H, W) native id map: the one allowed class, `IGNORE_INDEX` (255) elsewhere.

    "Allowed" is the mapping file's (`mapping.tables.single`: the unified id where a native class allows
    exactly one). Native ids outside the native taxonomy raise BadSampleError naming `source` and the ids.
    One table lookup does both jobs: ids outside the native taxonomy look up a marker that is no
    unified id, and only when it shows up are the offending ids counted for the error message.
    8-bit labels (nearly all) go through PIL's histogram and lookup, several times faster than numpy.
    """
    tables = mapping.tables
    known = tables.known.numpy()
    marker = mapping.unified.num_labels if mapping.unified.num_labels < IGNORE_INDEX else IGNORE_INDEX + 1
    lookup = np.where(known, tables.single.numpy(), marker).astype(np.uint8 if marker < 256 else np.uint16)
    if native.dtype == np.uint8 and lookup.dtype == np.uint8 and native.ndim == 2:
        image = Image.fromarray(native)
        if np.any(lookup[np.flatnonzero(image.histogram())] == marker):
            raise _unknown_ids_error(native, mapping, source)
        return np.asarray(image.point(lookup[:256].tolist()))
    if native.size and int(native.max()) >= len(lookup):
        raise _unknown_ids_error(native, mapping, source)
    unified = np.take(lookup, native)
    if np.any(unified == marker):
        raise _unknown_ids_error(native, mapping, source)
    return unified.astype(np.uint8, copy=False)


def _unknown_ids_error(native: np.ndarray, mapping: LabelMapping, source: Path | str) -> BadSampleError:
    present = np.flatnonzero(np.bincount(native.ravel().astype(np.int64)))
    unknown = [int(i) for i in present if i not in mapping.native.by_id]
    return BadSampleError(
        source,
        f"label ids {unknown} are not in the {mapping.native.name} "
        f"taxonomy (known ids: {sorted(mapping.native.by_id)})",
    )
