"""What a shard's labels depend on, where its statistics are, and whether a finished shard can be reused.

A shard's statistics file (`stats/<shard>.json`) holds its fingerprint: the settings of `settings` (every
setting the labels depend on besides the input rows) and the shard's rows (positions and a sha256 of their
ids, image and label bytes). A finished shard is reused only when its fingerprint is this run's and its
statistics hold every count this version reports.
"""

from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path

from unify.core.constants import FINE_LABEL, FORMAT_VERSION, IMAGE, IMAGE_ID
from unify.core.folder import LabelColumns
from unify.core.mapping import LabelMapping
from unify.core.segmenter import Segmenter
from unify.pseudo_label_driver.options import LabellingOptions

logger = logging.getLogger(__name__)
STATS_FOLDER = "stats"
"""Per-shard statistics and fingerprints, beside `data/`; merged into the report at the end."""
STATS_KEYS = ("fingerprint", "teacher", "counts", "accuracy", "teacher_choices")
"""What a shard's statistics file holds; one written before the mapping audit lacks `teacher_choices`."""


def settings_of(segmenter: Segmenter, mapping: LabelMapping, options: LabellingOptions, precision: str) -> dict:
    """Every setting the labels depend on besides the input rows, as plain JSON."""

    def digest(value) -> str:
        return hashlib.sha256(json.dumps(value, sort_keys=True).encode()).hexdigest()

    return {
        "format_version": FORMAT_VERSION,
        "teacher_sha256": segmenter.identity.sha256,
        "teacher_normalization": {
            "mean": list(segmenter.mean),
            "std": list(segmenter.std),
            "rescale": segmenter.rescale,
        },
        "unified_taxonomy": digest(mapping.unified.to_json()),
        "mapping": digest(mapping.to_json()),
        "tta": {"scales": sorted(options.scales), "flip": options.flip},
        "precision": precision,
    }


def shard_fingerprint(settings: dict, records: list[dict], start: int, columns: LabelColumns) -> dict:
    """The settings, the shard's row positions and a sha256 of its rows (ids, image and label bytes, in order)."""
    digest = hashlib.sha256()
    for row in records:
        digest.update(row[IMAGE_ID].encode() + b"\0")
        for column in (IMAGE, columns.native, FINE_LABEL):
            if column in row:
                data = row[column]["bytes"]
                digest.update(len(data).to_bytes(8, "little") + data)
    return {"settings": settings, "rows": [start, start + len(records)], "input_sha256": digest.hexdigest()}


def stats_path(data_path: Path) -> Path:
    """The statistics file of the shard `data_path` (`OUT/data/x.parquet` -> `OUT/stats/x.json`)."""
    return data_path.parent.parent / STATS_FOLDER / f"{data_path.stem}.json"


def read_stats(data_path: Path) -> dict:
    """The statistics file of the shard `data_path`, as the labeller wrote it (keys `STATS_KEYS`).

    `fingerprint` (`shard_fingerprint`), `teacher` (`ModelIdentity` JSON), `counts` (pixels by provenance x
    unified class, last column void), `accuracy` and `teacher_choices`. The caller checks that the file exists;
    a missing or unreadable one raises what `Path.read_text` and `json.loads` raise (OSError, ValueError).
    """
    return json.loads(stats_path(data_path).read_text(encoding="utf-8"))


def finished_on_record(path: Path, settings: dict, rows: list[int]) -> bool:
    """Whether `path` is a finished shard whose statistics record `settings`, the row positions `rows` ([start,
    end)) and every count: `is_done` short of the input hash (which needs the rows read), so a run reuses it
    unless its input rows changed since (`is_done` logs that shard when it labels it again)."""
    if not path.is_file() or not stats_path(path).is_file():
        return False
    stats = read_stats(path)
    recorded = stats["fingerprint"]
    return recorded["settings"] == settings and recorded["rows"] == rows and not _lacking(stats)


def is_done(path: Path, fingerprint: dict) -> bool:
    """Whether `path` holds this shard's labels already; a shard of other rows is redone, with a log line.

    So is a shard whose statistics lack a count this version reports (labelling again gives the same bytes).
    """
    if not path.is_file() or not stats_path(path).is_file():
        return False
    why = stale(read_stats(path), fingerprint)
    if why is None:
        return True
    logger.info("%s: %s; labelling it again", path.name, why)
    return False


def stale(stats: dict, fingerprint: dict) -> str | None:
    """Why a finished shard's statistics (`read_stats`) do not make it this shard's labels, or None when they do.

    `fingerprint` is the shard's own (`shard_fingerprint`); settings that differ are refused before any work
    (`output.prepare_output`), so a differing fingerprint here means other rows or changed input bytes.
    """
    recorded = stats["fingerprint"]
    if recorded != fingerprint and recorded["rows"] != fingerprint["rows"]:
        return f"it held rows {recorded['rows'][0]}..{recorded['rows'][1] - 1} (another --shard-size)"
    if recorded != fingerprint:
        return "its input rows changed since it was labelled (image or label bytes, or image ids)"
    if _lacking(stats):
        return f"its statistics lack {', '.join(_lacking(stats))} (an earlier version)"
    return None


def _lacking(stats: dict) -> list[str]:
    return [key for key in STATS_KEYS if key not in stats]
