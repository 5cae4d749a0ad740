"""Grade on an existing Dask distributed cluster: one task per submission.

What travels how:
- with each task: the student's notebooks (their bytes: workers need no shared file system) and the limits;
- once per worker: the course (``nbgrader_config.py`` and ``source/ps3``, hidden tests included) as one scattered
  bundle, unpacked into the worker's local directory and generated into a course there, once;
- already on every worker: this package and its pinned dependencies, installed as on the client. Each task checks
  a fingerprint of the grading code (autograder, mnist_lab, solutions) against the client's and refuses to grade
  with different code;
- MNIST: each worker fetches it through the same verified loader into its own ``MNIST_DIR`` (cached there).

A worker grades with ``submission.process.grade_submission`` exactly as the local executor does: its own process,
time and memory limits, kernels in the sandbox when the worker runs as root. A task whose worker dies is re-run on
another by the scheduler; a task the cluster gives up on comes back as ``status=UNFINISHED`` and is graded by the
next run. GPU work (``--device cuda``) asks for the worker resource ``GPU``: only workers started with
``--resources GPU=1`` take it, one submission per GPU.
"""

from __future__ import annotations

import hashlib
import importlib
import shutil
import socket
import tempfile
import threading
import uuid
from pathlib import Path
from typing import Iterable, Iterator

from ..course import ASSIGNMENT, CourseBundle, generated_course
from ..ingest import Submission
from ..isolation.preflight import PreflightError, check_device
from ..options import BatchOptions, Limits, available_cores
from ..results import UNFINISHED, SubmissionResult, blank_cells
from ..submission.process import grade_submission

GPU_RESOURCE = "GPU"
CODE_PACKAGES = ("autograder", "mnist_lab", "solutions")  # what decides a grade, besides the course bundle


class ClusterError(RuntimeError):
    """The cluster cannot grade this batch (unreachable, wrong code on a worker, no usable GPU worker for GPU
    work): nothing was graded."""


def code_fingerprint() -> str:
    """sha256 over the source files of the grading code as installed here."""
    digest = hashlib.sha256()
    for package in CODE_PACKAGES:
        folder = Path(importlib.import_module(package).__file__).parent
        for path in sorted(folder.rglob("*.py")):
            digest.update(f"{package}/{path.relative_to(folder).as_posix()}\0".encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()


_WORKER_LOCK = threading.Lock()  # one worker process may run several tasks at once: set-up happens once


def _worker_course(bundle: CourseBundle) -> tuple[Path, Path]:
    """(generated course, work) on this worker for ``bundle``: unpacked, generated and MNIST fetched, once per
    worker."""
    from distributed import get_worker
    from mnist_lab import load_mnist

    base = Path(get_worker().local_directory) / f"{ASSIGNMENT}-{bundle.digest[:16]}"
    with _WORKER_LOCK:
        course = generated_course(bundle.unpack(base / "course"), cache=base)
        load_mnist()  # the verified loader, cached in this worker's MNIST_DIR
        (base / "work").mkdir(exist_ok=True)
    return course, base / "work"


def grade_on_worker(job: dict, bundle: CourseBundle) -> dict:
    """The Dask task: grade one submission on this worker; the result as JSON (results.SubmissionResult)."""
    from distributed import get_worker

    worker = get_worker()
    if job["fingerprint"] != code_fingerprint():
        raise ClusterError(f"worker {worker.address} on {socket.gethostname()} has different grading code "
                           "installed than the client: install the same version on every worker")
    course, work = _worker_course(bundle)
    incoming = Path(tempfile.mkdtemp(prefix="incoming-", dir=work))
    try:
        notebooks = {}
        for name, data in job["notebooks"].items():
            notebooks[name] = incoming / f"{name}.ipynb"
            notebooks[name].write_bytes(data)
        submission = Submission(job["student_id"], job["name"], notebooks, list(job["notes"]))
        if submission.digest != job["digest"]:
            raise ClusterError(f"the notebooks of {job['student_id']} changed on the way to {worker.address}")
        # Submissions graded at once on this machine, all its workers together: each one's share of the cores.
        sharing = job["slots_per_host"].get(_host(worker.address), worker.state.nthreads)  # joined late: its own
        threads = max(1, available_cores() // max(1, sharing))
        result = grade_submission(submission, course, work, job["limits"], threads, _hidden_on_worker(worker))
    finally:
        shutil.rmtree(incoming, ignore_errors=True)
    result.graded_on = f"{socket.gethostname()} ({worker.address})"
    return result.to_json()


def _hidden_on_worker(worker) -> list[str]:
    """Hidden from the kernels (as the submissions folder is locally): the scratch space of every worker on this
    host, with their courses and other students' notebooks."""
    return [str(Path(worker.local_directory).parent)]


def worker_device_problem(limits: Limits) -> str:
    """A task pinned to one worker: '' if its kernels can train on the device the batch asks for, else why
    (preflight.check_device on that machine, hiding what its grading processes hide)."""
    from distributed import get_worker

    try:
        check_device(limits, _hidden_on_worker(get_worker()))
    except PreflightError as exc:
        return str(exc)
    return ""


def _host(address: str) -> str:
    """'tcp://10.0.0.5:39133' -> '10.0.0.5'."""
    from distributed.comm import get_address_host

    return get_address_host(address)


class DaskExecutor:
    """A client of an existing Dask scheduler; each submission becomes one task ``grade_on_worker``."""

    def __init__(self, address: str, connect_timeout: float = 30):
        try:
            from distributed import Client
        except ImportError as exc:
            raise ClusterError("--cluster needs Dask: pip install -e '.[cluster]' (on the workers too)") from exc
        try:
            self.client = Client(address, timeout=connect_timeout, set_as_default=False)
        except (OSError, TimeoutError) as exc:
            raise ClusterError(f"no Dask scheduler answers at {address}: {exc}") from exc

    def check(self, limits: Limits) -> dict[str, int]:
        """Fail before submitting anything: no worker, a worker with other code, GPU work without GPU workers, a
        worker whose kernels cannot use its GPU. Returns how many submissions each host grades at once (the
        threads of all its workers)."""
        workers = self.client.scheduler_info(n_workers=-1)["workers"]
        if not workers:
            raise ClusterError("the cluster has no workers (start some with `dask worker ADDRESS`)")
        ours = code_fingerprint()
        others = sorted(a for a, f in self.client.run(code_fingerprint).items() if f != ours)
        if others:
            raise ClusterError(f"these workers have different grading code installed than the client: {others}")
        takers = [a for a, w in workers.items() if limits.device != "cuda" or w.get("resources", {}).get(GPU_RESOURCE)]
        if not takers:
            raise ClusterError(f"--device cuda but no worker offers the resource {GPU_RESOURCE}: start GPU workers "
                               f"with `dask worker ADDRESS --resources {GPU_RESOURCE}=1`")
        if limits.device != "cpu":  # each worker that may train on a GPU shows that its kernels can
            token = uuid.uuid4().hex[:8]
            checks = [self.client.submit(worker_device_problem, limits, workers=[a],
                                         allow_other_workers=False, pure=False, key=f"ps3-device-check-{a}-{token}")
                      for a in takers]
            try:
                problems = self.client.gather(checks)
            except Exception as exc:  # noqa: BLE001 - a worker lost during the check: say so, grade nothing
                raise ClusterError(f"the device check did not finish on every worker: {exc}") from exc
            refused = [f"{a}: {problem}" for a, problem in zip(takers, problems) if problem]
            if refused:
                raise ClusterError("these workers cannot train on the device the batch asks for: "
                                   + " | ".join(refused))
        slots: dict[str, int] = {}
        for address, worker in workers.items():
            slots[_host(address)] = slots.get(_host(address), 0) + int(worker.get("nthreads", 1))
        return slots

    def grade(self, todo: list[Submission], course: Path, work: Path, options: BatchOptions,
              hide: Iterable[str] = ()) -> Iterator[SubmissionResult]:
        """``course``, ``work`` and ``hide`` are the client's: each worker has its own (see grade_on_worker)."""
        from distributed import as_completed

        if not todo:
            return
        limits = options.limits
        slots_per_host = self.check(limits)
        bundle = self.client.scatter(CourseBundle.build(), hash=True)
        fingerprint = code_fingerprint()
        resources = {GPU_RESOURCE: 1} if limits.device == "cuda" else None
        futures = {}
        for submission in todo:
            digest = submission.digest
            job = {"student_id": submission.student_id, "name": submission.name, "notes": submission.notes,
                   "digest": digest, "fingerprint": fingerprint, "limits": limits,
                   "slots_per_host": slots_per_host,
                   "notebooks": {name: path.read_bytes() for name, path in submission.notebooks.items()}}
            # A key of the submission's content: two clients grading the same file at once share one task.
            key = f"ps3-grade-{submission.student_id}-{digest[:16]}"
            futures[self.client.submit(grade_on_worker, job, bundle, key=key, resources=resources, pure=False)] = \
                submission
        try:
            for future in as_completed(list(futures), loop=self.client.loop):  # this client's loop: not a default
                submission = futures.pop(future)
                yield self._result(future, submission)
                future.release()
        except BaseException:  # stopped: nothing queued starts; a task already running finishes, unrecorded
            self.client.cancel(list(futures), force=True)
            raise

    @staticmethod
    def _result(future, submission: Submission) -> SubmissionResult:
        try:
            return SubmissionResult.from_json(future.result())
        except Exception as exc:  # noqa: BLE001 - the cluster's failure is this submission's, not the batch's
            reason = f"{type(exc).__name__}: {str(exc).splitlines()[0][:300] if str(exc) else ''}"
            return SubmissionResult(submission.student_id, submission.name, UNFINISHED,
                                    notes=[*submission.notes, f"the cluster did not finish grading ({reason});"
                                           " the next run grades it"], digest=submission.digest,
                                    cells=blank_cells("not graded yet: the cluster lost the task"))

    def close(self) -> None:
        self.client.close()
