"""The pseudo-labelling driver: a teacher labels a built dataset folder, shard by shard, through the kernel.

The kernel (`unify.core.pseudo_label_kernel`) decides each pixel; this package reads the input folder,
runs the teacher, writes the output folder and makes the run safe to interrupt, rerun and share:

- Work is cut into shards of a fixed number of images (`shard_size`), independent of the number of
  processes; under `accelerate launch` or `torchrun` process p of N takes shards p, p + N, ... A shard's
  statistics are written first and its Parquet file is renamed into place last, each from a temporary name,
  so a run killed at any moment (`kill -9` included) leaves only complete shards, and the same command
  finishes the work with output byte-identical to an uninterrupted run. Leftovers of a killed run
  (`*.tmp`, statistics without their shard, shards of another shard count) are removed before work starts.
- Each finished shard records a fingerprint of everything its labels depend on: the data-format version,
  the teacher (sha256 of its weight files and its input normalisation), the unified taxonomy, the mapping,
  the test-time augmentation, the teacher's precision, and the shard's rows (their positions and the sha256
  of their ids, image and label bytes). A rerun reuses a shard only when all of them are unchanged, and
  logs at the start how many finished shards it reuses and how many it labels. A shard
  whose rows changed is labelled again, with a log line saying why; a change of anything else is refused
  before any work, naming what differs, unless `overwrite` replaces the earlier run's labels.
- A run labels the splits it names (`splits`) and keeps the others the output holds when they are up to
  date (every shard there, made from the input's current rows with the same settings); an out-of-date one
  is refused before any work unless `overwrite` removes it. The folder's `unify.json` and report always
  describe exactly the splits in `data/`, in the input's order, so labelling the splits over several runs
  gives the bytes of one run over all of them.
- The mapping is the one recorded in the input folder when it was built: one source of truth. When the
  package's mapping file for the same pair differs, the run stops and names the command that rebuilds.
- The report (`pseudo_label_report.json`) sums the shards' statistics: pixels by provenance and class, and
  the mapping audit: per native class, how often the teacher's own choice falls outside its allowed set.

Throughput: the images of a shard are grouped by size (not only consecutive rows) into batches, while
the output keeps the input's row order; with `flip`, each batch and its mirror go through the teacher in
one forward pass; on CUDA the teacher runs in bfloat16 autocast with channels-last memory, the constraint
and the statistics run on the GPU, and a batch's labels are copied back to the host without waiting for
them. Reading and hashing the next shard, decoding the next batches, PNG-encoding the labels and writing
Parquet happen in background threads (bounded queues), so the teacher does not wait for them; their output
is byte-identical to doing everything in order in one thread (`workers=0`).

Determinism: the labels are a function of the input, the settings above and the batch composition.
Different batch sizes (and, on the CPU, different thread counts) can round the teacher's scores differently
in the last bits, which can flip exact near-ties between two classes; the batches depend only on
`batch_size` and `shard_size`, never on the number of processes or on where a run was interrupted.

Modules, one job each: `options` (how a run goes), `run` (one run from start to report), `fingerprints`
(what a shard depends on, and whether a finished one can be reused), `output` (what the output folder
holds already: refused, cleared or kept), `pipeline` (batches and background threads), `shard` (labelling
one shard), `tally` (a shard's statistics, counted on the device), `report` (the shards' statistics summed,
and the mapping audit).
"""

from unify.pseudo_label_driver.options import PRECISIONS, LabellingOptions
from unify.pseudo_label_driver.pipeline import batches_by_size
from unify.pseudo_label_driver.report import audit_rows, read_report
from unify.pseudo_label_driver.run import pseudo_label_dataset, recorded_mapping
from unify.pseudo_label_driver.shard import view_batched_probabilities

__all__ = [
    "PRECISIONS",
    "LabellingOptions",
    "audit_rows",
    "batches_by_size",
    "pseudo_label_dataset",
    "read_report",
    "recorded_mapping",
    "view_batched_probabilities",
]
