"""How to grade, as two frozen records: ``Limits`` travel with every submission (to a local grading process or a
Dask worker); ``BatchOptions`` are the batch's alone (workers, regrading, the gradebook, the cluster).

Core counting lives here too: the default number of workers and each kernel's training threads derive from it.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field, replace

import psutil

# Per-cell limits sized for full training (six runs, ~15 s alone on a 2-core CPU, ~2 s on a GPU) with room for a
# slower machine and several workers sharing it.
CELL_TIMEOUT = {"cpu": 600, "cuda": 120}
CELLS_PER_SUBMISSION = 4  # a submission's time limit, in cells' worth, when none is given
# Cells that get more than one cell's worth of time, in cells' worth. Problem 5(c)'s hidden test trains three
# networks on 180000 augmented images, and an augmentation the lab cannot batch (a PIL round trip, a v2 pipeline
# with ToImage, a class of the student's own) is applied image by image: measured with
# benchmarks/bench_augmentation.py (README, "Per-image augmentations"), such a test needs up to about twice the
# cell limit on a busy 2-core machine. The submission's own time limit is unchanged.
LONG_CELLS = {"p5c_tests": 2}
# A grading server's own limit (Gradescope's "autograder timeout") leaves room, beyond the submission's time limit,
# for the supervisor's slack (submission/process.py), starting Python, judging and writing the results.
SERVER_RESERVE_SECONDS = 240


def available_cores() -> int:
    """The cores this process may run on (a container's or a Slurm job's share, not the machine's)."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return max(1, os.cpu_count() or 1)


# What one submission may hold while it is graded, for sizing the default number of workers: host memory (a
# kernel with torch and MNIST, plus its grading process, stays well under it) and, on a shared GPU, the cap each
# kernel's training gets (the lab's per-process share of the GPU's memory: MNIST_LAB_GPU_MEMORY_GB).
HOST_MEMORY_PER_WORKER_GB = 2
GPU_MEMORY_PER_KERNEL_GB = 4


def default_workers(device: str = "cpu") -> int:
    """Submissions graded at once by default: one per core, each kernel training on one thread (on the 2-core
    machine two workers graded 1.4x as many submissions a minute as one: README "Grading speed"); on CUDA also
    no more than the GPU holds at GPU_MEMORY_PER_KERNEL_GB each; never more than the host's memory holds."""
    workers = min(available_cores(), int(psutil.virtual_memory().total / 2**30 // HOST_MEMORY_PER_WORKER_GB))
    gpu = gpu_memory_gb() if device == "cuda" else 0.0
    if gpu:
        workers = min(workers, int(gpu // GPU_MEMORY_PER_KERNEL_GB))
    return max(1, workers)


def gpu_memory_gb() -> float:
    """The first CUDA device's memory; 0 where there is none (the batch's preflight then refuses, saying why)."""
    if not cuda_available():
        return 0.0
    import torch  # heavy: only on a CUDA machine

    return torch.cuda.get_device_properties(0).total_memory / 2**30


# The device files CUDA opens on Linux: the NVIDIA driver's, or WSL 2's GPU bridge. Without any of them torch
# cannot see a GPU, and asking it would cost a grading command a second importing torch.
CUDA_DEVICE_FILES = ("/dev/nvidiactl", "/dev/dxg")


def cuda_available() -> bool:
    """Whether torch sees a CUDA device (on Linux, without importing torch where no driver's device file exists)."""
    if sys.platform.startswith("linux") and not any(os.path.exists(path) for path in CUDA_DEVICE_FILES):
        return False
    import torch  # heavy: only where a GPU may be

    return torch.cuda.is_available()


@dataclass(frozen=True)
class Limits:
    """What one submission may use. ``None`` timeouts are derived from the device."""

    device: str = "auto"  # auto | cpu | cuda: where the students' networks train
    cell_timeout: int | None = None  # seconds per notebook cell
    time_limit: int | None = None  # seconds per submission, all notebooks together
    # The memory of a submission's whole grading (one cgroup: isolation/memory.py), and each of its processes' data
    # segment (RLIMIT_DATA: an unbounded allocation is a MemoryError in the student's cell); 0: none.
    memory_limit_mb: int = 6144
    sandbox: bool = True  # run kernels in the sandbox where it is available (isolation/sandbox.py)
    # False: as a user id of their own without namespaces even where the machine allows them (what a container
    # that refuses namespaces gets: a Gradescope run); for trying that mode
    namespaces: bool = True

    def resolved_device(self) -> str:
        if self.device == "auto":
            return "cuda" if cuda_available() else "cpu"
        return self.device

    def cell_seconds(self, device: str | None = None) -> int:
        return self.cell_timeout or CELL_TIMEOUT[device or self.resolved_device()]

    def long_cell_seconds(self, device: str | None = None) -> dict[str, int]:
        """The cells of LONG_CELLS with their own limits (grade id -> seconds), within the submission's limit."""
        cell, total = self.cell_seconds(device), self.submission_seconds(device)
        return {grade_id: min(cell * factor, total) for grade_id, factor in LONG_CELLS.items()}

    @classmethod
    def within(cls, server_seconds: int, **given) -> "Limits":
        """Limits that always end inside a grading server's own timeout of ``server_seconds``: the submission gets
        what is left after SERVER_RESERVE_SECONDS, a cell at most that (and at most its usual limit). A
        ``cell_timeout`` or ``time_limit`` given explicitly is kept where it fits."""
        budget = server_seconds - SERVER_RESERVE_SECONDS
        if budget < 60:
            raise ValueError(f"a server timeout of {server_seconds} s leaves no time to grade: it must be at "
                             f"least {SERVER_RESERVE_SECONDS + 60} s")
        limits = cls(**given)
        time_limit = min(limits.time_limit or budget, budget)
        cell = min(limits.cell_timeout or limits.cell_seconds(), time_limit)
        return replace(limits, time_limit=time_limit, cell_timeout=cell)

    def submission_seconds(self, device: str | None = None) -> int:
        return self.time_limit or CELLS_PER_SUBMISSION * self.cell_seconds(device)


@dataclass(frozen=True)
class BatchOptions:
    """How to grade a batch."""

    limits: Limits = field(default_factory=Limits)
    workers: int = 1  # submissions graded at once (on a cluster: each host's own worker threads decide)
    force: bool = False  # regrade submissions whose files did not change
    retry_errors: bool = True  # regrade a submission whose grading failed (status "error") though it did not change
    db_url: str | None = None  # the gradebook (default: sqlite in the output folder)
    progress: bool = True
    cluster: str | None = None  # a Dask scheduler's address: grade there, one task per submission

    def threads_per_submission(self) -> int:
        """Each kernel's training threads: this machine's cores shared by the submissions graded at once."""
        return max(1, available_cores() // max(1, self.workers))
