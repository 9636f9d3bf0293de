"""Share unified datasets and trained students on the Hugging Face Hub, one job per module.

- `sources`: which datasets' images a folder holds, their licences, whether they may be pushed.
- `transport`: the token, the repository (private unless asked), one commit that makes it hold exactly the
  pushed files (card included; everything else deleted), the data-format tag.
- `dataset_push`: a dataset folder as it is, or its labels only.
- `labels_only`: what a labels-only push leaves out (images, native labels) with a checksum of each image, and
  `attach_images`, which puts them back from the user's own raw copy after checking every image.
- `model_push`: a trained model with a card built from its run's provenance.json.
- `cards`: the facts and tables the card templates in `model_cards/` are filled with.

Nothing pushed holds a local path: folders are described by their metadata, models by their identity.
"""

from unify.hub.dataset_push import push_dataset
from unify.hub.labels_only import AttachReport, attach_images
from unify.hub.model_push import push_model
from unify.hub.sources import dataset_sources, redistribution_notices
from unify.hub.transport import FORMAT_TAG, PushReport

__all__ = [
    "FORMAT_TAG",
    "AttachReport",
    "PushReport",
    "attach_images",
    "dataset_sources",
    "push_dataset",
    "push_model",
    "redistribution_notices",
]
