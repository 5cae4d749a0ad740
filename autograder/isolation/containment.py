"""The grading policy and its life cycle: what a submission's kernels may see, set up before they start and
cleaned up after (every process left running as the submission's user id is killed).

Used alike for a submission's kernels (submission/pipeline.py, through a kernel spec) and for the device probe
(preflight.py, through the launcher), so the probe runs exactly as a kernel would.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Iterator

import solutions
from mnist_lab.data import default_root as default_mnist_dir

from ..course import COURSE_CACHE, ROOT
from . import sandbox

GRADER_PACKAGE = Path(__file__).resolve().parent.parent  # autograder/, wherever it is installed


def grading_policy(workdir: Path, runtime: Path, hide: Iterable[str] = ()) -> sandbox.Policy:
    """What one submission's kernels may see: their working and runtime folders (writable), Python and MNIST
    (read-only); never the grader's code, the reference answers, the course cache, the grader's home, or ``hide``
    (the batch's output and the submissions as given)."""
    # The grader's own code and the reference answers stay hidden wherever they are installed (site-packages is
    # exposed with the rest of Python).
    hidden = [str(Path.home()), str(ROOT), str(GRADER_PACKAGE), str(Path(solutions.__file__).parent),
              str(COURSE_CACHE), *hide, "/etc/shadow"]
    prefixes = sorted({sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix})
    return sandbox.Policy(uid=sandbox.uid_for(os.getpid()), hide=[h for h in hidden if h],
                          expose_ro=[*prefixes, str(default_mnist_dir())], expose_rw=[str(workdir), str(runtime)],
                          env={"MNIST_DIR": str(default_mnist_dir()), "TMPDIR": "/tmp"})


@dataclass(frozen=True)
class Containment:
    policy_path: Path  # the policy the launcher reads
    runtime: Path  # a short folder of the kernel's own for its sockets and temporary files

    def command(self, command: list[str]) -> list[str]:
        """``command`` started through the sandbox launcher."""
        return sandbox.launcher_command(self.policy_path, command)


@contextlib.contextmanager
def contained(workdir: Path, hide: Iterable[str], wanted: bool, policy_folder: Path) -> Iterator[Containment | None]:
    """A containment for processes working in ``workdir``, or None where it is not wanted or not available (not
    root, namespaces refused). On exit every process of the policy's user id is killed and the runtime removed."""
    if not (wanted and sandbox.available()):
        yield None
        return
    # A short folder of its own: a Unix socket's path holds at most 107 bytes, and batch folders (a Dask worker's
    # scratch space above all) can be deeper than that.
    runtime = Path(tempfile.mkdtemp(prefix="ps3-rt-", dir="/tmp"))
    policy = grading_policy(workdir, runtime, hide)
    try:
        yield Containment(policy.write(Path(policy_folder) / "policy.json"), runtime)
    finally:
        sandbox.kill_user(policy.uid)
        shutil.rmtree(runtime, ignore_errors=True)
