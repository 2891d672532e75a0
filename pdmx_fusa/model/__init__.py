"""The reference retrieval models (``pdmx-fusa train`` / ``evaluate``): the consumer side's
trainer, and the only part of the package that imports torch (``pip install pdmx-fusa[train]``).

It reads built datasets through :mod:`pdmx_fusa.dataset` and never imports the producer.
"""
