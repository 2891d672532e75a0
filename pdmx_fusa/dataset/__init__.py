"""The consumer side: a built dataset's schema and a typed reader of it.

Nothing here imports the producer (``pdmx_fusa.build``, ``stages``, ``audio``, ``engraving``):
a dataset can be read, checked and shown with this package alone.
"""

from .validate import Report, validate  # pdmx_fusa.dataset.validate(path) -> Report: the checks of `pdmx-fusa validate`

__all__ = ["Report", "validate"]
