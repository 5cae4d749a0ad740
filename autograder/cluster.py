"""Grade on an existing Dask distributed cluster: one task per submission.

What travels how:
- with each task: the student's notebooks (their bytes: workers need no shared file system) and the options;
- once per worker: the course (``nbgrader_config.py`` and ``source/ps3``, hidden tests included) as one scattered
  bundle, unpacked into the worker's local directory and generated into an nbgrader template there, once;
- already on every worker: this package and its pinned dependencies, installed as on the client. Each task checks
  a fingerprint of the grading code (autograder, mnist_lab, solutions) against the client's and refuses to grade
  with different code;
- MNIST: each worker fetches it through the same verified loader into its own ``MNIST_DIR`` (cached there).

A worker grades with ``runner.grade_submission`` exactly as the local executor does: its own process, time and
memory limits, kernels in the sandbox when the worker runs as root. A task whose worker dies is re-run on another
by the scheduler; a task the cluster gives up on comes back as ``status="unfinished"`` and is graded by the next
run. GPU work (``--device cuda``) asks for the worker resource ``GPU``: only workers started with
``--resources GPU=1`` take it, one submission per GPU.
"""

from __future__ import annotations

import fnmatch
import gzip
import hashlib
import io
import shutil
import socket
import tarfile
import tempfile
import threading
import uuid
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Iterator

from .release import ASSIGNMENT, NOT_COURSE_FILES, ROOT, source_dir

GPU_RESOURCE = "GPU"
CODE_PACKAGES = ("autograder", "mnist_lab", "solutions")  # what decides a grade, besides the course bundle
FIXED_MTIME = 1_577_836_800  # 2020-01-01: every file of a bundle gets this time, so equal courses give equal bytes


class ClusterError(RuntimeError):
    """The cluster cannot grade this batch (unreachable, wrong code on a worker, no usable GPU worker for GPU
    work): nothing was graded."""


@dataclass(frozen=True)
class CourseBundle:
    """The course files graders need, as one tar.gz; ``digest`` names its unpacked copy on each worker."""

    digest: str
    data: bytes

    @classmethod
    def build(cls, root: Path = ROOT) -> "CourseBundle":
        """The same course files always give the same bytes (no times or owners inside), hence the same digest."""
        def clean(info: tarfile.TarInfo) -> tarfile.TarInfo | None:
            if any(fnmatch.fnmatch(Path(info.name).name, pattern) for pattern in NOT_COURSE_FILES):
                return None  # returning None for a folder leaves out everything in it
            info.mtime, info.uid, info.gid, info.uname, info.gname = FIXED_MTIME, 0, 0, "", ""
            return info

        buffer = io.BytesIO()
        with gzip.GzipFile(fileobj=buffer, mode="wb", mtime=0) as zipped, \
                tarfile.open(fileobj=zipped, mode="w") as tar:
            tar.add(root / "nbgrader_config.py", arcname="nbgrader_config.py", filter=clean)
            tar.add(source_dir(root), arcname=f"source/{ASSIGNMENT}", filter=clean)
        data = buffer.getvalue()
        return cls(hashlib.sha256(data).hexdigest(), data)

    def unpack(self, folder: Path) -> Path:
        """The course root (``folder``), unpacked once; a half-unpacked copy from a killed worker is redone."""
        done = folder / ".unpacked"
        if not done.is_file():
            shutil.rmtree(folder, ignore_errors=True)
            folder.mkdir(parents=True)
            with tarfile.open(fileobj=io.BytesIO(self.data), mode="r:gz") as tar:
                tar.extractall(folder, filter="data")
            done.touch()
        return folder


def code_fingerprint() -> str:
    """sha256 over the source files of the grading code as installed here."""
    import importlib

    digest = hashlib.sha256()
    for package in CODE_PACKAGES:
        folder = Path(importlib.import_module(package).__file__).parent
        for path in sorted(folder.rglob("*.py")):
            digest.update(f"{package}/{path.relative_to(folder).as_posix()}\0".encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()


_WORKER_LOCK = threading.Lock()  # one worker process may run several tasks at once: set-up happens once


def _worker_course(bundle: CourseBundle) -> tuple[Path, Path]:
    """(template, work) on this worker for ``bundle``: unpacked, generated and MNIST fetched, once per worker."""
    from distributed import get_worker
    from mnist_lab import load_mnist

    from .runner import _template

    base = Path(get_worker().local_directory) / f"ps3-{bundle.digest[:16]}"
    with _WORKER_LOCK:
        course = bundle.unpack(base / "course")
        template = _template(course, cache=base)
        load_mnist()  # the verified loader, cached in this worker's MNIST_DIR
        (base / "work").mkdir(exist_ok=True)
    return template, base / "work"


def grade_on_worker(job: dict, bundle: CourseBundle) -> dict:
    """The Dask task: grade one submission on this worker; the result as JSON (runner.SubmissionResult)."""
    from distributed import get_worker

    from .ingest import Submission
    from .runner import grade_submission

    worker = get_worker()
    if job["fingerprint"] != code_fingerprint():
        raise ClusterError(f"worker {worker.address} on {socket.gethostname()} has different grading code "
                           "installed than the client: install the same version on every worker")
    template, work = _worker_course(bundle)
    incoming = Path(tempfile.mkdtemp(prefix="incoming-", dir=work))
    try:
        notebooks = {}
        for name, data in job["notebooks"].items():
            notebooks[name] = incoming / f"{name}.ipynb"
            notebooks[name].write_bytes(data)
        submission = Submission(job["student_id"], job["name"], notebooks, list(job["problems"]))
        if submission.digest != job["digest"]:
            raise ClusterError(f"the notebooks of {job['student_id']} changed on the way to {worker.address}")
        # Submissions graded at once on this machine, all its workers together: each one's share of the cores.
        sharing = job["slots_per_host"].get(_host(worker.address), worker.state.nthreads)  # joined late: its own
        # Hidden from the kernels (as the submissions folder is locally): the scratch space of every worker on
        # this host, with their courses and other students' notebooks.
        scratch_space = Path(worker.local_directory).parent
        options = replace(job["options"], workers=sharing, source=scratch_space, db_url=None, progress=False,
                          cluster=None)
        result = grade_submission(submission, template, work, options)
    finally:
        shutil.rmtree(incoming, ignore_errors=True)
    result.graded_on = f"{socket.gethostname()} ({worker.address})"
    return result.to_json()


def worker_device_problem(options) -> str:
    """A task pinned to one worker: '' if its kernels can train on the device the batch asks for, else why
    (preflight.check_device on that machine, hiding what its grading children hide)."""
    from distributed import get_worker

    from .preflight import DeviceError, check_device

    scratch_space = Path(get_worker().local_directory).parent
    try:
        check_device(replace(options, source=scratch_space, cluster=None), scratch_space)
    except DeviceError as exc:
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

    def check(self, options) -> dict[str, int]:
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
        takers = [a for a, w in workers.items() if options.device != "cuda" or w.get("resources", {}).get(GPU_RESOURCE)]
        if not takers:
            raise ClusterError(f"--device cuda but no worker offers the resource {GPU_RESOURCE}: start GPU workers "
                               f"with `dask worker ADDRESS --resources {GPU_RESOURCE}=1`")
        if options.device != "cpu":  # each worker that may train on a GPU shows that its kernels can
            token = uuid.uuid4().hex[:8]
            checks = [self.client.submit(worker_device_problem, replace(options, source=None), workers=[a],
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

    def grade(self, todo, template: Path, work: Path, options) -> Iterator:
        from distributed import as_completed

        if not todo:
            return
        slots_per_host = self.check(options)
        bundle = self.client.scatter(CourseBundle.build(), hash=True)
        fingerprint = code_fingerprint()
        resources = {GPU_RESOURCE: 1} if options.device == "cuda" else None
        futures = {}
        for submission in todo:
            digest = submission.digest
            job = {"student_id": submission.student_id, "name": submission.name, "problems": submission.problems,
                   "digest": digest, "fingerprint": fingerprint, "options": replace(options, source=None),
                   "slots_per_host": slots_per_host,
                   "notebooks": {name: path.read_bytes() for name, path in submission.notebooks.items()}}
            # A key of the submission's content: two clients grading the same file at once share one task.
            key = f"ps3-grade-{submission.student_id}-{digest[:16]}"
            futures[self.client.submit(grade_on_worker, job, bundle, key=key, resources=resources, pure=False)] = \
                submission
        for future in as_completed(list(futures), loop=self.client.loop):  # this client's loop: not a default
            submission = futures.pop(future)
            yield self._result(future, submission, template)
            future.release()

    @staticmethod
    def _result(future, submission, template: Path):
        from .runner import SubmissionResult, _blank_cells

        try:
            return SubmissionResult.from_json(future.result())
        except Exception as exc:  # noqa: BLE001 - the cluster's failure is this submission's, not the batch's
            reason = f"{type(exc).__name__}: {str(exc).splitlines()[0][:300] if str(exc) else ''}"
            return SubmissionResult(submission.student_id, submission.name, "unfinished",
                                    problems=[*submission.problems, f"the cluster did not finish grading ({reason});"
                                              " the next run grades it"], digest=submission.digest,
                                    cells=_blank_cells(template, "not graded yet: the cluster lost the task"))

    def close(self) -> None:
        self.client.close()
