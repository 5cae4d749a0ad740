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
# How a submission's kernels ran (SubmissionResult.containment):
NAMESPACES = "namespaces"  # in bwrap's allow-list view of the machine, as a user id of their own
USER_ID = "user id"  # as a user id of their own only: file permissions keep what only root may read
NONE = "none"  # as the grader itself: they could read the references


def containment_kind(wanted: bool, namespaces: bool = True) -> str:
    """The strongest containment this machine gives (NAMESPACES, USER_ID or NONE), ``namespaces=False`` asking
    for USER_ID even where namespaces work (to try what a machine that refuses them gets)."""
    if not wanted or not sandbox.can_switch_user():
        return NONE
    return NAMESPACES if namespaces and sandbox.available() else USER_ID


def python_prefixes() -> list[str]:
    """The Python installation this grader (and so every kernel) runs: its virtual environment and base."""
    return sorted({sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix})


def grading_policy(workdir: Path, runtime: Path, hide: Iterable[str] = (), namespaces: bool = True
                   ) -> sandbox.Policy:
    """What one submission's kernels may see: their working and runtime folders (writable), Python and MNIST
    (read-only), and the system's programs and libraries (sandbox.SYSTEM); nothing else. ``hide`` lists what
    must stay covered even where it lies inside what is shown (the grader's code and the reference answers when
    installed into site-packages, the course cache, the batch's output and the submissions as given).

    Without namespaces nothing is covered or shown: the kernels see what their user id may read, and their home
    and temporary files live in the runtime folder (there is no private /tmp)."""
    hidden = [str(Path.home()), str(ROOT), str(GRADER_PACKAGE), str(Path(solutions.__file__).parent),
              str(COURSE_CACHE), *hide]
    env = {"MNIST_DIR": str(default_mnist_dir()), "TMPDIR": "/tmp"}
    if not namespaces:
        home, tmp = Path(runtime) / "home", Path(runtime) / "tmp"
        home.mkdir(exist_ok=True)
        tmp.mkdir(exist_ok=True)
        env.update(HOME=str(home), TMPDIR=str(tmp), MPLCONFIGDIR=str(home / "matplotlib"))
    return sandbox.Policy(uid=sandbox.uid_for(os.getpid()), hide=[h for h in hidden if h],
                          expose_ro=[*python_prefixes(), str(default_mnist_dir())],
                          expose_rw=[str(workdir), str(runtime)],
                          env=env, namespaces=namespaces)


def unreadable_for_kernels(paths: Iterable[str]) -> list[str]:
    """Those of ``paths`` a kernel running as a user id of its own without namespaces cannot read: a folder on the
    way without the others' search permission (a home folder), or the path itself without the others' read
    permission (a folder's files are checked one level down: MNIST's)."""
    unreadable = []
    for path in map(Path, paths):
        if not path.exists():
            continue
        blocked = [p for p in path.parents if p.is_dir() and not p.stat().st_mode & 0o001]
        inside = list(path.iterdir()) if path.is_dir() else []
        closed = [p for p in [path, *inside] if not p.stat().st_mode & (0o005 if p.is_dir() else 0o004)]
        if blocked or closed:
            unreadable.append(f"{path} ({'the folder ' + str(blocked[0]) if blocked else closed[0]} is closed "
                              "to other users)")
    return unreadable


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
    kind: str = NAMESPACES  # NAMESPACES or USER_ID
    uid: int = 0  # the kernels' user id
    writable: tuple[str, ...] = ()  # the folders the kernels may write

    def command(self, command: list[str]) -> list[str]:
        """``command`` started through the sandbox launcher."""
        return sandbox.launcher_command(self.policy_path, command)


def contain(workdir: Path, runtime: Path, hide: Iterable[str], wanted: bool, policy_folder: Path,
            namespaces: bool = True) -> Containment | None:
    """A containment for processes working in ``workdir`` with the runtime folder ``runtime``, or None where it is
    not wanted or not possible (containment_kind). With namespaces every process in the sandbox ends with the
    one it started (its PID namespace); without, the launcher and the execute step end whatever a kernel left
    (sandbox.end_user), and the grading process's supervisor kills whatever still runs as the submission's user
    id (process.py)."""
    kind = containment_kind(wanted, namespaces)
    if kind == NONE:
        return None
    policy = grading_policy(workdir, runtime, hide, namespaces=kind == NAMESPACES)
    return Containment(policy.write(Path(policy_folder) / "policy.json"), runtime, kind, policy.uid,
                       tuple(policy.expose_rw))
