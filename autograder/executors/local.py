"""``workers`` submissions at once on this machine, each in its own grading process."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path
from typing import Iterable, Iterator

from ..ingest import Submission
from ..options import BatchOptions
from ..results import SubmissionResult
from ..submission.process import grade_submission


class LocalExecutor:
    def __init__(self, workers: int):
        self.workers = max(1, workers)

    def grade(self, todo: list[Submission], course: Path, work: Path, options: BatchOptions,
              hide: Iterable[str] = ()) -> Iterator[SubmissionResult]:
        threads, hide = options.threads_per_submission(), list(hide)
        with ThreadPoolExecutor(max_workers=self.workers) as pool:
            futures = [pool.submit(grade_submission, s, course, work, options.limits, threads, hide) for s in todo]
            for future in as_completed(futures):
                yield future.result()  # grade_submission never raises

    def close(self) -> None:
        pass
