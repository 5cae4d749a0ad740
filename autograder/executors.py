"""Where submissions are graded: on this machine (the default: nothing to start) or on a Dask cluster.

An executor takes the submissions still to grade and yields one ``SubmissionResult`` per submission as each
finishes, in any order; ``grade_batch`` writes each to the gradebook and the result store. Executors never write
grades themselves, which is what keeps the gradebook exactly-once however tasks are retried.
"""

from __future__ import annotations

import contextlib
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path
from typing import Iterator


class LocalExecutor:
    """``workers`` submissions at once on this machine, each in its own grading process (runner.grade_submission)."""

    def __init__(self, workers: int):
        self.workers = max(1, workers)

    def grade(self, todo, template: Path, work: Path, options) -> Iterator:
        from .runner import grade_submission

        with ThreadPoolExecutor(max_workers=self.workers) as pool:
            futures = [pool.submit(grade_submission, s, template, work, options) for s in todo]
            for future in as_completed(futures):
                yield future.result()  # grade_submission never raises

    def close(self) -> None:
        pass


@contextlib.contextmanager
def open_executor(options):
    """The executor ``options`` ask for: a Dask cluster's client with ``options.cluster``, else local workers."""
    if options.cluster:
        from .cluster import DaskExecutor

        executor = DaskExecutor(options.cluster)
    else:
        executor = LocalExecutor(options.workers)
    try:
        yield executor
    finally:
        executor.close()
