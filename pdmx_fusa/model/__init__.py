"""The reference retrieval models (``pdmx-fusa train`` / ``evaluate``): the consumer side's
trainer, and the only part of the package that imports torch (``pip install pdmx-fusa[train]``).

It reads built datasets through :mod:`pdmx_fusa.dataset` and never imports the producer.
Modules: :mod:`.spectrogram` (MSMD's log-frequency spectrogram), :mod:`.data` (datasets and
loaders over the Parquet shards), :mod:`.cca` (the CCA layer), :mod:`.baseline` (Dorfer et al.
2018), :mod:`.fusa` (the page model), :mod:`.losses`, :mod:`.metrics`, :mod:`.train`,
:mod:`.evaluate`, :mod:`.embed`.
"""

from .embed import embed_audio, embed_pages

__all__ = ["embed_audio", "embed_pages"]
