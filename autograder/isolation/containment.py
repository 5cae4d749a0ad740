"""The grading policy: what a submission's kernels may see, and the containment that starts them under it.

Used alike for a submission's kernels (submission/pipeline.py, through a kernel spec) and for the device probe
(preflight.py, through the launcher), so the probe runs exactly as a kernel would.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

import psutil

import solutions
from mnist_lab.data import default_root as default_mnist_dir

from ..course import COURSE_CACHE, ROOT
from . import sandbox

GRADER_PACKAGE = Path(__file__).resolve().parent.parent  # autograder/, wherever it is installed
RUNTIME_PREFIX = "ps3-rt-"


def grading_policy(workdir: Path, runtime: Path, hide: Iterable[str] = ()) -> sandbox.Policy:
    """What one submission's kernels may see: their working and runtime folders (writable), Python and MNIST
    (read-only), and the system's programs and libraries (sandbox.SYSTEM); nothing else. ``hide`` lists what
    must stay covered even where it lies inside what is shown (the grader's code and the reference answers when
    installed into site-packages, the course cache, the batch's output and the submissions as given)."""
    hidden = [str(Path.home()), str(ROOT), str(GRADER_PACKAGE), str(Path(solutions.__file__).parent),
              str(COURSE_CACHE), *hide]
    prefixes = sorted({sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix})
    return sandbox.Policy(uid=sandbox.uid_for(os.getpid()), hide=[h for h in hidden if h],
                          expose_ro=[*prefixes, str(default_mnist_dir())], expose_rw=[str(workdir), str(runtime)],
                          env={"MNIST_DIR": str(default_mnist_dir()), "TMPDIR": "/tmp"})


def new_runtime() -> Path:
    """A short folder of a submission's own for its kernels' sockets and temporary files: a Unix socket's path
    holds at most 107 bytes, and batch folders (a Dask worker's scratch space above all) can be deeper. The
    process that supervises the grading makes it and removes it, so a grading process killed at any point
    leaves none behind; the folder is named after that process, so the folders of a supervisor that was itself
    killed (SIGKILL to a batch, a lost Dask worker) are removed by the next one."""
    for folder in Path("/tmp").glob(f"{RUNTIME_PREFIX}*"):
        owner = folder.name[len(RUNTIME_PREFIX):].split("-")[0]
        if owner.isdigit() and not psutil.pid_exists(int(owner)):
            shutil.rmtree(folder, ignore_errors=True)
    return Path(tempfile.mkdtemp(prefix=f"{RUNTIME_PREFIX}{os.getpid()}-", dir="/tmp"))


@dataclass(frozen=True)
class Containment:
    policy_path: Path  # the policy the launcher reads
    runtime: Path  # the kernels' runtime folder (new_runtime)

    def command(self, command: list[str]) -> list[str]:
        """``command`` started through the sandbox launcher."""
        return sandbox.launcher_command(self.policy_path, command)


def contain(workdir: Path, runtime: Path, hide: Iterable[str], wanted: bool, policy_folder: Path
            ) -> Containment | None:
    """A containment for processes working in ``workdir`` with the runtime folder ``runtime``, or None where it is
    not wanted or not available (see sandbox.available). Nothing to clean up: every process in the sandbox ends
    with the one it started (its PID namespace); the grading process's supervisor also kills whatever still runs
    as the submission's user id (process.py)."""
    if not (wanted and sandbox.available()):
        return None
    return Containment(grading_policy(workdir, runtime, hide).write(Path(policy_folder) / "policy.json"), runtime)
