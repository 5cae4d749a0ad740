"""One memory limit for everything a submission's grading holds, in a cgroup of the submission's own: the grading
process, nbgrader, every kernel, every process a kernel forks, and the pages they write into their private tmpfs
(/tmp, /var/tmp and /dev/shm of the sandbox).

A limit per process (RLIMIT_DATA, processes.supervised) does not add up: each process a kernel forks gets the whole
limit again, and tmpfs pages belong to no process (four forked children and full tmpfs held 7.5 GB under a limit of
2 GB). A memory cgroup counts them all, tmpfs included: a page is charged to the cgroup of the process that writes
it. Which kind this machine gives (``place``), best first:

- cgroup v2: a child of this process's cgroup with ``memory.max`` (and ``memory.swap.max`` 0, where swap is
  accounted), where that cgroup offers the memory controller. cgroup v2 gives no child a controller while its
  parent holds processes (the root excepted), so where this process's cgroup holds only this process and its
  descendants (``systemd-run --scope -p Delegate=yes``) they first move into a leaf of their own (BATCH_LEAF);
- cgroup v1's memory controller: a child of this process's memory cgroup with ``memory.limit_in_bytes`` (and
  ``memory.memsw.limit_in_bytes``, memory plus swap, where swap is accounted);
- neither: each process keeps only its own limit, as before (PER_PROCESS).

The supervisor makes a cgroup per submission (``new_cgroup``) and removes it once the grading process is gone,
killing whatever is left in it (``Cgroup.remove``); the grading process enters it before it starts anything
(``enter``). A cgroup is named after the supervising process, so that one left by a batch that was itself killed is
removed by the next batch (``remove_stale``), as containment.new_runtime does for runtime folders.

At the limit the kernel's OOM killer ends one process of the cgroup: the one with the highest score, its resident
memory plus ``oom_score_adj`` thousandths of the limit. It must be a student's (a kernel, or what it forked:
execute.py reports a kernel that died "running out of memory", and the other notebooks keep their points), never
the grading process, whose death would lose the whole submission. So the supervisor raises every process of the
cgroup but the grading process to EXPENDABLE_OOM_SCORE_ADJ while it waits (``Cgroup.expose``, every
EXPOSE_SECONDS), which puts each of them ahead of the grading process whatever their sizes; and the grading
process lowers its own score to GRADER_OOM_SCORE_ADJ (``enter``) where it may: lowering needs CAP_SYS_RESOURCE,
which root lacks in some containers (this project's machines among them: there it stays at 0). A kernel starts
with the grading process's score, which it inherits, and is raised long before its first cell runs (ipykernel's
start alone takes a second). Raised by a supervisor with CAP_SYS_RESOURCE, a student's process cannot lower its
score again; raised by one without, it can go back down to the grading process's score, and the larger of the two
is then killed: a submission that does so risks its own grade only.
"""

from __future__ import annotations

import errno
import itertools
import os
import signal
import threading
import time
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import psutil

# How a submission's memory was limited (SubmissionResult.memory_limit):
CGROUP_V2 = "cgroup v2"  # the whole grading under one limit, tmpfs included
CGROUP_V1 = "cgroup v1"  # the same, through cgroup v1's memory controller
PER_PROCESS = "per process"  # no cgroup could be made: RLIMIT_DATA, each process on its own
UNLIMITED = "none"  # no limit asked for (--memory-limit-mb 0)

PREFIX = "ps3-mem-"  # a submission's cgroup: ps3-mem-<the supervising process's pid>-<number>
BATCH_LEAF = "batch"  # cgroup v2: ps3-mem-<pid>-batch holds the batch's own processes (see above)
# The grading process: the OOM killer's last choice, yet not exempt (-1000): were every process of a cgroup exempt,
# the OOM killer could end none, and the cgroup's processes would stall at the limit instead of one of them dying.
GRADER_OOM_SCORE_ADJ = -999
EXPENDABLE_OOM_SCORE_ADJ = 1000  # every other process of a submission's cgroup: the OOM killer's first choice
EXPOSE_SECONDS = 0.1
REMOVE_SECONDS = 10  # to kill what is left in a cgroup and remove it

MOUNTINFO = Path("/proc/self/mountinfo")
MEMBERSHIP = Path("/proc/self/cgroup")


class CgroupError(OSError):
    """A memory cgroup that could not be made or entered, with the reason."""

    def __str__(self) -> str:
        return self.strerror


def _failure(what: str, error: OSError) -> CgroupError:
    return CgroupError(error.errno, f"could not {what}: {error.strerror or error}")


@dataclass(frozen=True)
class Place:
    """Where the submissions' cgroups are made: a cgroup folder whose children get the memory controller."""

    kind: str  # CGROUP_V2 or CGROUP_V1
    parent: Path


@dataclass(frozen=True)
class Cgroup:
    """One submission's memory cgroup."""

    kind: str  # CGROUP_V2 or CGROUP_V1
    path: Path

    def processes(self) -> list[int]:
        return _pids(self.path)

    def expose(self, keep: int) -> None:
        """Make every process in the cgroup but ``keep`` (the grading process) the OOM killer's first choice."""
        for pid in self.processes():
            if pid != keep:
                _set_oom_score_adj(pid, EXPENDABLE_OOM_SCORE_ADJ)

    def peak_bytes(self) -> int | None:
        """The most memory the cgroup held at once (None where the kernel does not say: cgroup v2 before 5.19)."""
        name = "memory.peak" if self.kind == CGROUP_V2 else "memory.max_usage_in_bytes"
        try:
            return int((self.path / name).read_text())
        except (OSError, ValueError):
            return None

    def oom_kills(self) -> int:
        """How many processes the OOM killer has ended in the cgroup."""
        name = "memory.events" if self.kind == CGROUP_V2 else "memory.oom_control"
        for line in _lines(self.path / name):
            if line.startswith("oom_kill "):
                return int(line.split()[1])
        return 0

    def remove(self) -> bool:
        return remove(self.path)


def enter(cgroup: str | Path) -> None:
    """In the grading process, before it starts anything: move into ``cgroup`` (its children follow, as they are
    started there) and become the OOM killer's last choice there where it may. Raises CgroupError where it cannot
    enter."""
    try:
        _write(Path(cgroup) / "cgroup.procs", os.getpid())
    except OSError as error:
        raise _failure(f"enter the memory cgroup {cgroup}", error) from error
    _set_oom_score_adj("self", GRADER_OOM_SCORE_ADJ)


def new_cgroup(memory_mb: int) -> Cgroup | None:
    """A cgroup for one submission, its memory capped at ``memory_mb`` (swap included), or None where this machine
    gives none (``place``). Removes the cgroups of supervisors that are gone first. Raises CgroupError where the
    cgroup could not be made after all."""
    where = place()
    if where is None:
        return None
    remove_stale(where.parent)
    return _make(where, str(next(_numbers)), memory_mb * 2**20)


_numbers = itertools.count(1)


def remove(path: Path, seconds: float = REMOVE_SECONDS) -> bool:
    """Kill every process in the cgroup at ``path``, then remove it; whether it is gone. Never raises: a cgroup
    that cannot be removed now is removed by a later batch (remove_stale)."""
    deadline = time.monotonic() + seconds
    while _pids(path) and time.monotonic() < deadline:
        _kill_all(path)
        time.sleep(0.02)
    while True:
        try:
            path.rmdir()
            return True
        except FileNotFoundError:
            return True
        except OSError as error:  # EBUSY: a process still on its way out
            if error.errno != errno.EBUSY or time.monotonic() >= deadline:
                return False
            time.sleep(0.02)


def remove_stale(parent: Path) -> None:
    """Remove the cgroups under ``parent`` whose supervising process is gone (a batch that was killed)."""
    for path in parent.glob(f"{PREFIX}*"):
        owner = path.name[len(PREFIX):].split("-")[0]
        if path.is_dir() and owner.isdigit() and not psutil.pid_exists(int(owner)):
            remove(path)


# --- which kind of cgroup this machine gives -----------------------------------------------------------------

_place_lock = threading.Lock()


def place() -> Place | None:
    """Where this process makes the submissions' cgroups (the first of ``candidates`` that works: a cgroup with a
    limit is made and removed there), or None. Decided once per process."""
    with _place_lock:
        return _found_place()


@lru_cache(maxsize=1)
def _found_place() -> Place | None:
    try:
        found = candidates(MOUNTINFO.read_text(), MEMBERSHIP.read_text())
    except OSError:  # not Linux
        return None
    for candidate in found:
        remove_stale(candidate.parent)
        try:
            if candidate.kind == CGROUP_V2:
                _offer_memory_to_children(candidate.parent)
            _make(candidate, "probe", 2**30).remove()
        except OSError:
            continue
        return candidate
    return None


def candidates(mountinfo: str, membership: str) -> list[Place]:
    """Where a cgroup with a memory limit could be made, best first, from this process's mount table
    (/proc/self/mountinfo) and cgroups (/proc/self/cgroup): cgroup v2 where this process's cgroup offers the memory
    controller, then cgroup v1's memory controller. Only writable mounts that show this process's cgroup count."""
    paths = {}  # "" (cgroup v2) or a cgroup v1 controller -> this process's cgroup there
    for line in membership.splitlines():
        number, controllers, path = (line.split(":", 2) + ["", ""])[:3]
        for controller in controllers.split(",") if number != "0" else [""]:
            paths[controller] = path
    found = []
    for kind, wanted in ((CGROUP_V2, ""), (CGROUP_V1, "memory")):
        for root, mountpoint in _mounts(mountinfo, kind):
            folder = _folder(mountpoint, root, paths.get(wanted))
            if folder is None:
                continue
            if folder.name.startswith(PREFIX) and folder.name.endswith(f"-{BATCH_LEAF}"):
                folder = folder.parent  # the batch leaf of a grader above this one (cgroup v2): its cgroups go beside
            if kind == CGROUP_V1 or "memory" in _words(folder / "cgroup.controllers"):
                found.append(Place(kind, folder))
                break
    return found


def _mounts(mountinfo: str, kind: str) -> list[tuple[str, Path]]:
    """(the hierarchy's folder mounted, where) of each writable mount of ``kind``: cgroup2, or cgroup v1 with the
    memory controller. A line: ID PARENT MAJOR:MINOR ROOT MOUNTPOINT OPTIONS [OPTIONAL...] - TYPE SOURCE SUPER."""
    mounts = []
    for line in mountinfo.splitlines():
        fields, _, tail = line.partition(" - ")
        fields, tail = fields.split(), tail.split()
        if len(fields) < 6 or len(tail) < 3 or "rw" not in fields[5].split(","):
            continue
        if (kind == CGROUP_V2 and tail[0] == "cgroup2") or \
                (kind == CGROUP_V1 and tail[0] == "cgroup" and "memory" in tail[2].split(",")):
            mounts.append((_unescape(fields[3]), Path(_unescape(fields[4]))))
    return mounts


def _unescape(text: str) -> str:
    """mountinfo writes space, tab, newline and backslash in paths as octal escapes (\\040)."""
    return text.encode().decode("unicode_escape").encode("latin-1").decode()


def _folder(mountpoint: Path, root: str, path: str | None) -> Path | None:
    """The folder of cgroup ``path`` under a mount of the hierarchy's ``root`` at ``mountpoint``, if it shows it."""
    if path is None or not path.startswith("/"):
        return None
    inside = os.path.relpath(path, root)
    if inside == ".." or inside.startswith("../"):
        return None
    folder = mountpoint / inside if inside != "." else mountpoint
    return folder if folder.is_dir() else None


def _offer_memory_to_children(folder: Path) -> None:
    """cgroup v2: give the memory controller to ``folder``'s children. While it holds processes only the root
    cgroup may; where those are this process and its descendants, they first move into a leaf of their own."""
    if "memory" in _words(folder / "cgroup.subtree_control"):
        return
    try:
        _write(folder / "cgroup.subtree_control", "+memory")
    except OSError as error:
        if error.errno != errno.EBUSY:
            raise
        _move_into_leaf(folder)
        _write(folder / "cgroup.subtree_control", "+memory")


def _move_into_leaf(folder: Path) -> None:
    ours = {os.getpid(), *(child.pid for child in psutil.Process().children(recursive=True))}
    inside = set(_pids(folder))
    if inside - ours:
        raise CgroupError(errno.EBUSY, f"{folder} holds processes other than this one and its children")
    leaf = folder / f"{PREFIX}{os.getpid()}-{BATCH_LEAF}"
    leaf.mkdir(exist_ok=True)
    for pid in sorted(inside):
        try:
            _write(leaf / "cgroup.procs", pid)
        except ProcessLookupError:
            pass  # ended meanwhile


def _make(where: Place, name: str, limit: int) -> Cgroup:
    cgroup = Cgroup(where.kind, where.parent / f"{PREFIX}{os.getpid()}-{name}")
    try:
        cgroup.path.mkdir()
    except OSError as error:
        raise _failure(f"make the memory cgroup {cgroup.path}", error) from error
    try:
        if where.kind == CGROUP_V2:
            _write(cgroup.path / "memory.max", limit)
            _write_if_there(cgroup.path / "memory.swap.max", 0)
        else:  # memory first: memory plus swap may never be set below it
            _write(cgroup.path / "memory.limit_in_bytes", limit)
            _write_if_there(cgroup.path / "memory.memsw.limit_in_bytes", limit)
    except OSError as error:
        cgroup.remove()
        raise _failure(f"limit the memory cgroup {cgroup.path}", error) from error
    return cgroup


# --- files --------------------------------------------------------------------------------------------------

def _lines(path: Path) -> list[str]:
    try:
        return path.read_text().splitlines()
    except OSError:  # gone, or not offered by this kernel
        return []


def _words(path: Path) -> list[str]:
    return [word for line in _lines(path) for word in line.split()]


def _pids(cgroup: Path) -> list[int]:
    return [int(pid) for pid in _words(cgroup / "cgroup.procs")]


def _write(path: Path, value) -> None:
    """One write(2) of ``value``, as the kernel's files want it; with os calls only, as it runs in a
    ``preexec_fn`` too (between fork and exec)."""
    fd = os.open(path, os.O_WRONLY)
    try:
        os.write(fd, str(value).encode())
    finally:
        os.close(fd)


def _write_if_there(path: Path, value) -> None:
    if path.exists():
        _write(path, value)


def _set_oom_score_adj(pid: int | str, score: int) -> None:
    """A process that has gone, or whose score this one may not change (lowering needs CAP_SYS_RESOURCE), is left
    as it is."""
    try:
        _write(Path(f"/proc/{pid}/oom_score_adj"), score)
    except OSError:
        pass


def _kill_all(cgroup: Path) -> None:
    if (cgroup / "cgroup.kill").exists():  # cgroup v2 (Linux 5.14): every process at once, forks included
        try:
            _write(cgroup / "cgroup.kill", 1)
            return
        except OSError:
            pass
    for pid in _pids(cgroup):
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass
