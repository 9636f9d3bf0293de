"""The core every other part builds on: class tables, mappings, the pseudo-label kernel, images, metrics,
the dataset-folder contract and the segmenter.

Nothing here imports `train`, `dataset_scripts` or the application modules of `unify` (a test reads
the imports and fails on an upward edge).
"""
