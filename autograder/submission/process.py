"""Grade one submission in a process of its own, supervised: its memory limit, a wall-clock limit for the whole
process tree, and whatever it leaves behind killed. Never raises: every failure becomes the submission's status
and a note, and the completed cells keep their points (see execute.py).

The memory limit is one for the whole submission where this machine gives a memory cgroup (isolation/memory.py):
the supervisor makes it before the grading process starts, keeps the students' processes in it the OOM killer's
first choice while it waits, and removes it (with whatever is left in it) once the grading process is gone. Every
result says how its memory was limited (``SubmissionResult.memory_limit``).

The grader never waits on anything a student's process could hold: the grading process writes its output to a
file, not a pipe, and is waited for by its exit alone.
"""

from __future__ import annotations

import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from pathlib import Path
from typing import Any, Callable, Iterable

from ..course import NOTEBOOKS
from ..ingest import Submission
from ..isolation import memory, sandbox
from ..isolation.containment import NONE, new_runtime
from ..isolation.processes import kill_tree
from ..options import Limits
from ..results import UNFINISHED, SubmissionResult, blank_cells, safe_name
from . import launch
from .request import ANSWER, GradedCells, GradingRequest
from .score import is_stop

SUPERVISION_SLACK = 120  # seconds past the submission's time limit before its process tree is killed


class Supervisor:
    """The grading processes one batch runs on this machine, so that all of them can be stopped at once (a batch
    interrupted by Ctrl-C or SIGTERM): none starts after ``stop``, and every running one is killed with its tree."""

    def __init__(self):
        self._lock = threading.Lock()
        self._running: set = set()
        self.stopped = False

    def start(self, starter: Callable[[], Any]):
        """``starter()``'s process (anything with a ``pid``: launch.py), or None once stopped."""
        with self._lock:
            if self.stopped:
                return None
            process = starter()
            self._running.add(process)
            return process

    def finished(self, process) -> None:
        with self._lock:
            self._running.discard(process)

    def stop(self) -> None:
        with self._lock:
            self.stopped = True
            running = list(self._running)
        for process in running:
            kill_tree(process.pid)
        launch.stop_forkserver()


def grade_submission(submission: Submission, course: Path, work: Path, limits: Limits, threads: int = 1,
                     hide: Iterable[str] = (), supervisor: Supervisor | None = None) -> SubmissionResult:
    """Grade ``submission`` in a copy of the generated ``course``, with scratch space under ``work``, its kernels
    training with ``threads`` threads and unable to see ``hide``; stopped early (status UNFINISHED) by
    ``supervisor``."""
    supervisor = supervisor or Supervisor()
    device = limits.resolved_device()
    result = SubmissionResult(submission.student_id, submission.name, "graded", notes=list(submission.notes),
                              digest=submission.digest, device=device, graded_on=socket.gethostname(),
                              handed_in=submission.handed_in)
    start = time.monotonic()
    if not submission.notebooks:
        result.status = "empty"
        result.notes.append("no gradable notebook: every cell scores 0")
        result.cells = blank_cells("not submitted")
        return result
    work.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix=f"{safe_name(submission.student_id)}-", dir=work))
    runtime = new_runtime()
    cgroup = _memory_cgroup(limits.memory_limit_mb, result)
    try:
        _supervise(submission, course, scratch, runtime, limits, threads, hide, supervisor, result, cgroup)
    finally:
        if cgroup is not None:
            cgroup.remove()  # whatever the grading process left in it is killed first
        shutil.rmtree(runtime, ignore_errors=True)
        shutil.rmtree(scratch, ignore_errors=True)
    result.seconds = time.monotonic() - start
    return result


def _memory_cgroup(memory_mb: int, result: SubmissionResult) -> memory.Cgroup | None:
    """The submission's memory cgroup, where this machine gives one; ``result`` says how its memory is limited."""
    if not memory_mb:
        result.memory_limit = memory.UNLIMITED
        return None
    try:
        cgroup = memory.new_cgroup(memory_mb)
    except OSError as error:  # a CgroupError says which cgroup and why
        result.notes.append(f"memory was limited per process only: {error}")
        cgroup = None
    result.memory_limit = cgroup.kind if cgroup else memory.PER_PROCESS
    return cgroup


def _supervise(submission, course, scratch, runtime, limits, threads, hide, supervisor, result, cgroup) -> None:
    """Run the grading process and read its answer into ``result``."""
    device = result.device
    time_limit = limits.submission_seconds(device)
    request = GradingRequest(
        course=str(course), scratch=str(scratch / "course"), runtime=str(runtime), student=submission.student_id,
        notebooks={name: str(path) for name, path in submission.notebooks.items()},
        seed=int(submission.digest[:8] or "0", 16), device=device, threads=threads,
        cell_timeout=limits.cell_seconds(device), deadline=time.time() + time_limit, sandbox=limits.sandbox,
        namespaces=limits.namespaces, requested=time.time(), long_cells=limits.long_cell_seconds(device),
        hide=[str(scratch.parent.parent), *map(str, hide)]).write(scratch / "request.json")  # + the batch folder
    log = scratch / "grading.log"
    # Its own session: a Ctrl-C in the grader's terminal reaches the batch, which stops it (Supervisor).
    where = str(cgroup.path) if cgroup else ""
    process = supervisor.start(lambda: launch.start(request, log, limits.memory_limit_mb, where))
    if process is None:
        result.status = UNFINISHED
        return
    try:
        _wait(process, time_limit + SUPERVISION_SLACK, cgroup)
    except subprocess.TimeoutExpired:
        kill_tree(process.pid)
        process.wait()
        result.status = "error"
        result.notes.append(f"grading was stopped after {time_limit + SUPERVISION_SLACK} s; no points could be "
                            "recorded")
    finally:
        supervisor.finished(process)
        sandbox.kill_user(sandbox.uid_for(process.pid))  # the second line: the sandbox ends them with the kernel
    if supervisor.stopped:
        result.status = UNFINISHED  # killed half-way: nothing of it is kept
        return
    answer = scratch / ANSWER
    if answer.is_file():
        graded = GradedCells.read(answer)
        result.cells, result.review, result.containment = graded.cells, graded.review, graded.containment
        result.contained = graded.containment != NONE
        result.notebooks = graded.notebooks
        result.stages = graded.stages + [["end the grading process, read its answer", graded.stages[-1][2],
                                          round(time.time(), 3)]] if graded.stages else []
        result.notes.extend(graded.notes)
    elif result.status != "error":
        result.status = "error"
        if process.returncode < 0:  # killed from outside (an administrator, the kernel's OOM killer)
            killed = cgroup.oom_kills() if cgroup is not None else 0
            result.notes.append(f"grading failed: the grading process was killed by "
                                f"{signal.Signals(-process.returncode).name}"
                                + (f" (the submission reached its memory limit of {limits.memory_limit_mb} MB: the "
                                   f"OOM killer ended {killed} of its processes)" if killed else "")
                                + "; no points could be recorded")
        else:
            last = log.read_text(errors="replace").strip().splitlines()[-1:] if log.exists() else []
            result.notes.append(f"grading failed: {last[0][:300]}" if last else "grading failed without output")
    stops = sorted({c.message for c in result.cells if is_stop(c.message)})
    if stops:
        result.status = "incomplete"
        result.notes.extend(stops[:3])
    if not result.cells:
        result.cells = blank_cells("not graded")
    missing = set(NOTEBOOKS) - set(submission.notebooks)
    for cell in result.cells:
        if cell.notebook in missing:
            cell.message = "notebook not submitted"


def _wait(process, seconds: float, cgroup: memory.Cgroup | None) -> None:
    """Wait for the grading process to end (TimeoutExpired after ``seconds``), meanwhile making every other process
    of its memory cgroup the OOM killer's first choice, as each one starts (memory.py)."""
    if cgroup is None:
        process.wait(timeout=seconds)
        return
    deadline = time.monotonic() + seconds
    while True:
        cgroup.expose(keep=process.pid)
        try:
            process.wait(timeout=max(0.0, min(memory.EXPOSE_SECONDS, deadline - time.monotonic())))
            return
        except subprocess.TimeoutExpired:
            if time.monotonic() >= deadline:
                raise
