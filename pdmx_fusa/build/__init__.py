"""The producer: run a pipeline over a source and write the dataset folder.

:mod:`.run` (the build as a whole), :mod:`.process` (one score: the stage sequence, cache and
isolation), :mod:`.engines` (local workers or Dask), :mod:`.isolation` (the forked child),
:mod:`.cache` (per-score entries), and the writers :mod:`.shards`, :mod:`.card`, :mod:`.failures`.
"""

from .run import BuildError, Report, run

__all__ = ["BuildError", "Report", "run"]
