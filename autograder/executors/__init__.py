"""Where submissions are graded: on this machine (the default: nothing to start) or on a Dask cluster.

An executor takes the submissions still to grade and yields one ``SubmissionResult`` per submission as each
finishes, in any order; ``batch.grade_batch`` writes each to the gradebook and the result store. Executors never
write grades themselves, which is what keeps the gradebook exactly-once however tasks are retried.
"""

from __future__ import annotations

import contextlib

from ..options import BatchOptions
from .cluster import DaskExecutor
from .local import LocalExecutor


@contextlib.contextmanager
def open_executor(options: BatchOptions):
    """The executor ``options`` ask for: a Dask cluster's client with ``options.cluster``, else local workers."""
    if options.cluster:
        executor = DaskExecutor(options.cluster)
    else:
        executor = LocalExecutor(options.workers)
    try:
        yield executor
    finally:
        executor.close()
