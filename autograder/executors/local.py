"""``workers`` submissions at once on this machine, each in its own grading process."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path
from typing import Iterable, Iterator

from ..ingest import Submission
from ..options import BatchOptions
from ..results import SubmissionResult
from ..submission.process import Supervisor, grade_submission


class LocalExecutor:
    def __init__(self, workers: int):
        self.workers = max(1, workers)

    def grade(self, todo: list[Submission], course: Path, work: Path, options: BatchOptions,
              hide: Iterable[str] = ()) -> Iterator[SubmissionResult]:
        """Stopped (Ctrl-C, SIGTERM turned into an exception, the caller giving up): no submission starts any
        more, every grading process and everything it started is killed, and nothing more is yielded."""
        threads, hide = options.threads_per_submission(), list(hide)
        supervisor = Supervisor()
        pool = ThreadPoolExecutor(max_workers=self.workers)
        try:
            futures = [pool.submit(grade_submission, s, course, work, options.limits, threads, hide, supervisor)
                       for s in todo]
            for future in as_completed(futures):
                yield future.result()  # grade_submission never raises
        except BaseException:
            supervisor.stop()
            pool.shutdown(wait=False, cancel_futures=True)
            raise
        finally:
            pool.shutdown(wait=True)  # after a stop: seconds, the time to remove the killed ones' folders

    def close(self) -> None:
        pass
