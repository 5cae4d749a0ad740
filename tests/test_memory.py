"""One memory limit per submission (isolation/memory.py): which cgroup a machine gives, read from hand-built mount
tables and cgroup folders; stale cgroups removed; the grading process entering its cgroup first thing; and, where
this machine can make a memory cgroup, a sandboxed program that forks and fills its tmpfs held under the limit."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from autograder.course import ROOT
from autograder.ingest import Submission
from autograder.isolation import memory, sandbox
from autograder.isolation.processes import supervised
from autograder.options import Limits
from autograder.submission import launch
from autograder.submission.process import grade_submission

needs_cgroup = pytest.mark.skipif(
    memory.place() is None, reason="no memory cgroup can be made here: it needs root and cgroup v1's memory "
    "controller mounted read-write, or a cgroup v2 subtree that offers the memory controller")
needs_sandbox = pytest.mark.skipif(not sandbox.available(),
                                   reason="containment needs root, bubblewrap and user namespaces")
MB = 2**20


def _mount(number: int, mountpoint: Path, kind: str, options: str = "rw", root: str = "/") -> str:
    """One line of /proc/self/mountinfo for a cgroup v1 memory (``kind`` "memory") or a cgroup2 mount."""
    where = str(mountpoint).replace(" ", "\\040")
    tail = "cgroup2 cgroup2 rw,nsdelegate" if kind == "cgroup2" else f"cgroup cgroup {options},memory"
    return f"{number} 25 0:{number} {root} {where} {options},nosuid,nodev,noexec,relatime shared:{number} - {tail}"


def _cgroup_folder(path: Path, controllers: str = "") -> Path:
    path.mkdir(parents=True)
    (path / "cgroup.controllers").write_text(controllers + "\n")
    return path


def _dead_pid() -> int:
    ended = subprocess.Popen(["true"])
    ended.wait()
    return ended.pid


def _ended(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE  # killed, not reaped yet
    except psutil.NoSuchProcess:
        return True


def _oom_score_adj(pid: int) -> int:
    return int(Path(f"/proc/{pid}/oom_score_adj").read_text())


def _grader_score() -> int:
    """The grading process's score in its cgroup: lowered where a process may lower scores (CAP_SYS_RESOURCE,
    capability 24, which root lacks in some containers: this project's machines), else the one it inherits."""
    status = dict(line.split(":\t", 1) for line in Path("/proc/self/status").read_text().splitlines())
    may_lower = int(status["CapEff"], 16) >> 24 & 1
    return memory.GRADER_OOM_SCORE_ADJ if may_lower else _oom_score_adj(os.getpid())


def _wait_until_blocked(pid: int, seconds: float = 120) -> None:
    """Until the grading process waits to open its request (a FIFO nobody writes): set up, about to grade."""
    deadline = time.time() + seconds
    while Path(f"/proc/{pid}/wchan").read_text() not in ("fifo_open", "wait_for_partner"):
        assert time.time() < deadline, "the grading process never got to its request"
        time.sleep(0.05)


def test_cgroup_v2_with_the_memory_controller_comes_first_then_v1_then_none(tmp_path):
    unified, v1 = tmp_path / "unified", tmp_path / "memory"
    grader_v2 = _cgroup_folder(unified / "grader.scope", "cpu io memory pids")
    grader_v1 = _cgroup_folder(v1 / "job")
    membership = "4:memory:/job\n3:cpu,cpuacct:/\n0::/grader.scope\n"
    both = "\n".join([_mount(30, unified, "cgroup2"), _mount(35, v1, "memory"), "40 25 8:1 / / rw - ext4 /dev/sda1 rw"])
    assert memory.candidates(both, membership) == [memory.Place(memory.CGROUP_V2, grader_v2),
                                                   memory.Place(memory.CGROUP_V1, grader_v1)]
    # cgroup2 beside v1's controllers, without the memory controller (this project's machines): v1
    (grader_v2 / "cgroup.controllers").write_text("\n")
    assert memory.candidates(both, membership) == [memory.Place(memory.CGROUP_V1, grader_v1)]
    # v1 mounted read-only, or no cgroup at all: each process keeps its own limit
    read_only = "\n".join([_mount(30, unified, "cgroup2"), _mount(35, v1, "memory", options="ro")])
    assert memory.candidates(read_only, membership) == []
    assert memory.candidates("40 25 8:1 / / rw - ext4 /dev/sda1 rw", "0::/\n") == []


def test_the_cgroup_is_found_where_the_mount_shows_it(tmp_path):
    mounted = tmp_path / "cgroup fs"  # a space: mountinfo writes it as \040
    scope = _cgroup_folder(mounted / "job", "memory")
    container = _mount(30, mounted, "cgroup2", root="/docker/abc")  # a container's part of the hierarchy
    assert memory.candidates(container, "0::/docker/abc/job\n") == [memory.Place(memory.CGROUP_V2, scope)]
    assert memory.candidates(container, "0::/elsewhere/job\n") == []  # not shown by this mount
    # Inside the batch leaf of a grader above (cgroup v2): its cgroups go beside it, where memory is offered
    leaf = _cgroup_folder(scope / f"{memory.PREFIX}{os.getpid()}-{memory.BATCH_LEAF}", "memory")
    assert leaf.is_dir()
    assert memory.candidates(_mount(30, mounted, "cgroup2"), f"0::/job/{leaf.name}\n") == [
        memory.Place(memory.CGROUP_V2, scope)]


def test_only_the_cgroups_of_a_supervisor_that_is_gone_are_removed(tmp_path):
    dead, alive = _dead_pid(), os.getpid()
    stale = [tmp_path / f"{memory.PREFIX}{dead}-1", tmp_path / f"{memory.PREFIX}{dead}-{memory.BATCH_LEAF}"]
    kept = [tmp_path / f"{memory.PREFIX}{alive}-2", tmp_path / "system.slice", tmp_path / f"{memory.PREFIX}x-1"]
    for path in stale + kept:
        path.mkdir()
    memory.remove_stale(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(p.name for p in kept)


def test_a_grading_process_that_cannot_enter_its_cgroup_says_why_and_grades_nothing(tmp_path):
    missing = tmp_path / "gone"
    request, log = tmp_path / "request.json", tmp_path / "grading.log"
    request.write_text('{"course": "/nowhere"}')
    forked = launch.start(request, log, memory_mb=0, cgroup=str(missing))
    assert forked.wait(timeout=120) == 1
    assert log.read_text().strip() == f"could not enter the memory cgroup {missing}: No such file or directory"
    fresh = subprocess.run(["true"], capture_output=True, text=True, preexec_fn=supervised(0, str(missing)))
    assert fresh.returncode == 1 and "could not enter the memory cgroup" in fresh.stderr


@needs_cgroup
def test_a_stale_cgroup_is_emptied_and_removed_by_the_next_batch():
    parent = memory.place().parent
    stale = parent / f"{memory.PREFIX}{_dead_pid()}-1"
    stale.mkdir()
    left = subprocess.Popen(["sleep", "60"], preexec_fn=lambda: memory.enter(stale))
    try:
        assert memory.Cgroup(memory.place().kind, stale).processes() == [left.pid]
        fresh = memory.new_cgroup(64)
        assert left.wait(timeout=10) == -signal.SIGKILL and not stale.exists()
        assert fresh.path.is_dir() and fresh.path.name.startswith(f"{memory.PREFIX}{os.getpid()}-")
        assert fresh.remove() and not fresh.path.exists()
    finally:
        left.kill()
        memory.remove(stale)


@needs_cgroup
def test_the_grader_is_the_oom_killers_last_choice_and_what_it_starts_the_first(tmp_path):
    cgroup = memory.new_cgroup(512)
    code = "import subprocess, time; subprocess.Popen(['sleep', '60']); time.sleep(60)"
    grader = subprocess.Popen([sys.executable, "-c", code], preexec_fn=supervised(512, str(cgroup.path)))
    try:
        deadline = time.time() + 30
        while len(cgroup.processes()) < 2 and time.time() < deadline:
            time.sleep(0.05)
        (child,) = set(cgroup.processes()) - {grader.pid}
        assert psutil.Process(grader.pid).rlimit(psutil.RLIMIT_DATA) == (512 * MB,) * 2
        assert _oom_score_adj(grader.pid) == _oom_score_adj(child) == _grader_score()  # the child inherits it
        cgroup.expose(keep=grader.pid)
        assert _oom_score_adj(grader.pid) == _grader_score()
        assert _oom_score_adj(child) == memory.EXPENDABLE_OOM_SCORE_ADJ
    finally:
        assert cgroup.remove()  # what is left is killed first
    assert grader.wait(timeout=10) == -signal.SIGKILL and _ended(child) and not cgroup.path.exists()


@needs_cgroup
def test_a_forked_grading_process_enters_its_cgroup_first_thing(tmp_path):
    cgroup = memory.new_cgroup(1024)
    request, log = tmp_path / "request.json", tmp_path / "grading.log"
    os.mkfifo(request)  # reading it blocks: the process can be looked at before it grades
    process = launch.start(request, log, memory_mb=1024, cgroup=str(cgroup.path))
    try:
        _wait_until_blocked(process.pid)
        assert process.pid in cgroup.processes()
        assert _oom_score_adj(process.pid) == _grader_score()
    finally:
        cgroup.remove()
    assert process.wait(timeout=30) == -signal.SIGKILL


@needs_cgroup
def test_every_result_says_how_memory_was_limited_and_no_cgroup_is_left(tmp_path):
    notebook = tmp_path / "problem7.ipynb"
    notebook.write_text("{}")
    submission = Submission("ann", "Ann", {"problem7": notebook})
    kind = memory.place().kind
    for limit, said in ((2048, kind), (0, memory.UNLIMITED)):
        result = grade_submission(submission, tmp_path / "no course", tmp_path / "work",
                                  Limits(device="cpu", memory_limit_mb=limit))
        assert result.status == "error" and result.memory_limit == said
        assert "no course" in result.notes[-1] and "cgroup" not in result.notes[-1]  # it got as far as the course
        assert not list(memory.place().parent.glob(f"{memory.PREFIX}{os.getpid()}-*"))


# A program that forks four children, each holding 600 MB and writing 600 MB into /dev/shm, then waiting: 4.8 GB
# asked for, in a sandbox whose /dev/shm holds 1 GB. Each child says what stopped it; the parent how each ended.
FORKS = """
import errno, os, time
MB = 2**20
def child(i):
    try:
        held = bytearray(600 * MB)
        held[::4096] = b"x" * len(range(0, len(held), 4096))  # every page written: resident
    except MemoryError:
        print(f"child {i}: MemoryError", flush=True)
        os._exit(3)
    try:
        with open(f"/dev/shm/fill-{i}", "wb") as shm:
            for _ in range(600):
                shm.write(b"x" * MB)
    except OSError as error:
        print(f"child {i}: {errno.errorcode[error.errno]}", flush=True)
        os._exit(4)
    print(f"child {i}: holds 1200 MB", flush=True)
    time.sleep(5)
    os._exit(0)
children = []
for i in range(4):
    pid = os.fork()
    if pid == 0:
        child(i)
    children.append(pid)
print("exits", [os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]) for pid in children], flush=True)
"""


@pytest.mark.slow
@needs_cgroup
@needs_sandbox
def test_forked_children_and_full_tmpfs_stay_under_the_submissions_limit(tmp_path):
    """The sandboxed program started as a kernel is (the launcher, under the grading process's cgroup, limits and
    scores), the supervisor's part played here: the cgroup's peak stays at the limit, and the program's children
    are killed or refused, never the process standing for the grader."""
    limit_mb, work = 2048, tmp_path / "work"
    work.mkdir()
    policy = sandbox.Policy(uid=sandbox.uid_for(os.getpid()), hide=[str(ROOT), str(Path.home())],
                            expose_ro=sorted({sys.prefix, sys.base_prefix}), expose_rw=[str(work)])
    command = sandbox.launcher_command(policy.write(tmp_path / "policy.json"), [sys.executable, "-c", FORKS])
    cgroup = memory.new_cgroup(limit_mb)
    output = tmp_path / "output.txt"
    try:
        with open(output, "w") as out:
            grader = subprocess.Popen(command, cwd=work, stdout=out, stderr=subprocess.STDOUT,
                                      preexec_fn=supervised(limit_mb, str(cgroup.path)))
        deadline = time.time() + 300
        while grader.poll() is None and time.time() < deadline:
            cgroup.expose(keep=grader.pid)
            time.sleep(memory.EXPOSE_SECONDS)
        peak, killed = cgroup.peak_bytes(), cgroup.oom_kills()
    finally:
        cgroup.remove()
    said = output.read_text()
    print(json.dumps({"kind": cgroup.kind, "limit_mb": limit_mb, "peak_mb": round(peak / MB, 1),
                      "oom_kills": killed, "output": said.splitlines()}))
    assert grader.returncode is not None, said  # it ended in time
    assert peak <= limit_mb * MB, (peak, said)
    exits = json.loads(said.split("exits ", 1)[1].splitlines()[0]) if "exits " in said else None
    assert exits is not None, said  # the program's own process lived on to say how its children ended
    stopped = [e for e in exits if e == -signal.SIGKILL] + [line for line in said.splitlines()
                                                             if "MemoryError" in line or "ENOSPC" in line]
    assert stopped and exits.count(0) < 4, said
    assert killed == exits.count(-signal.SIGKILL), (killed, said)
