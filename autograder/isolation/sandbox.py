"""Contain a student's kernel on Linux without containers: a kernel spec whose launcher isolates, then execs.

``python -m autograder.isolation.sandbox POLICY -- KERNEL COMMAND`` runs as root (the grader) and, before it replaces
itself with the kernel:

1. enters new mount, network and IPC namespaces: the kernel has no network at all (not even loopback; it talks
   to nbclient over Unix sockets, ``KernelManager.transport = ipc``) and no shared System V IPC;
2. covers the grader's secrets with empty read-only tmpfs mounts: the repository (solutions, sources, tests,
   git history), the batch folder (gradebook, results, other students' submissions and scratch folders), the
   submissions as given and the grader's home; then re-mounts what the kernel needs at the same paths: its
   own working folder and runtime folder (writable), the Python installation and MNIST (read-only);
3. gives /tmp, /var/tmp and /dev/shm fresh private size-limited tmpfs mounts;
4. sets limits (processes, file size, open files, no core dumps; memory is inherited from the grading process) and drops
   to an unprivileged user id of its own (one per submission, so the process limit is per submission and every
   leftover process can be found and killed by that id), with no_new_privs (setuid programs cannot give root back).

Without root (or where namespaces are refused) ``available()`` is False and the grader runs kernels without
containment, saying so in every result. What this does not protect against is in the README.
"""

from __future__ import annotations

import ctypes
import json
import os
import resource
import stat
import subprocess
import sys
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from pathlib import Path

CLONE_NEWNS, CLONE_NEWNET, CLONE_NEWIPC = 0x00020000, 0x40000000, 0x08000000
PR_SET_NO_NEW_PRIVS = 38
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_REMOUNT, MS_BIND, MS_REC, MS_PRIVATE = 1, 2, 4, 32, 4096, 16384, 1 << 18
MNT_DETACH = 2
STAGE = "/mnt"  # exists on every Linux; covered by a private tmpfs only inside the kernel's namespace
KERNEL_NAME = "ps3-sandbox"
UID_BASE = 200_000  # uid = UID_BASE + pid of the submission's grading process: unique while it lives


@dataclass
class Policy:
    """What one submission's kernels may see and use."""

    uid: int
    hide: list[str]  # folders (covered by an empty tmpfs) and files (covered by /dev/null)
    expose_ro: list[str]  # folders re-mounted read-only at their own path inside hidden ones
    expose_rw: list[str]  # folders re-mounted writable and given to the kernel's uid
    env: dict[str, str] = field(default_factory=dict)
    tmp_size: str = "1g"
    max_processes: int = 256  # threads count too: torch and the kernel use a few dozen
    max_file_bytes: int = 1 << 30
    max_open_files: int = 1024

    def write(self, path: Path) -> Path:
        path.write_text(json.dumps(asdict(self)))
        return path


def uid_for(pid: int) -> int:
    return UID_BASE + pid


@lru_cache(maxsize=1)
def available() -> bool:
    """Whether this process can build the sandbox (root, and mount and network namespaces allowed)."""
    if os.geteuid() != 0 or not sys.platform.startswith("linux"):
        return False
    probe = "import ctypes,sys; sys.exit(ctypes.CDLL(None, use_errno=True).unshare(%d) != 0)" % (
        CLONE_NEWNS | CLONE_NEWNET | CLONE_NEWIPC)
    return subprocess.run([sys.executable, "-c", probe], capture_output=True).returncode == 0


def launcher_command(policy_path: Path, command: list[str]) -> list[str]:
    """``command`` started through the launcher: contained by the policy written at ``policy_path``."""
    return [sys.executable, "-m", "autograder.isolation.sandbox", str(policy_path), "--", *command]


def write_kernel_spec(jupyter_dir: Path, policy_path: Path) -> None:
    """A kernel spec ``ps3-sandbox`` (found through JUPYTER_PATH) that starts ipykernel through the launcher."""
    folder = jupyter_dir / "kernels" / KERNEL_NAME
    folder.mkdir(parents=True, exist_ok=True)
    argv = launcher_command(policy_path, [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"])
    (folder / "kernel.json").write_text(json.dumps({"argv": argv, "display_name": "Python 3 (ps3 sandbox)",
                                                     "language": "python"}))


def kill_user(uid: int) -> int:
    """Kill every live process running as ``uid`` (what a submission left behind); how many there were.
    (Zombies are left to whoever reaps orphans: they hold no memory and run nothing.)"""
    import psutil

    killed = 0
    for process in psutil.process_iter(["uids", "status"]):
        try:
            if process.info["uids"] and process.info["uids"].real == uid and \
                    process.info["status"] != psutil.STATUS_ZOMBIE:
                process.kill()
                killed += 1
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            pass
    return killed


# --- the launcher ---------------------------------------------------------------------------------------------

_libc = ctypes.CDLL(None, use_errno=True)


def _check(result: int, what: str) -> None:
    if result != 0:
        errno = ctypes.get_errno()
        raise OSError(errno, f"{what}: {os.strerror(errno)}")


def _mount(source: str | None, target: str, fstype: str | None, flags: int, data: str | None = None) -> None:
    enc = lambda s: s.encode() if s is not None else None  # noqa: E731
    _check(_libc.mount(enc(source), enc(target), enc(fstype), ctypes.c_ulong(flags), enc(data)), f"mount {target}")


def _blocked_ancestors(path: str) -> list[str]:
    """Ancestors of ``path`` that other users cannot enter (they must be covered so the path can be reached)."""
    blocked, current = [], Path(path)
    for parent in current.parents:
        try:
            if not os.stat(parent).st_mode & stat.S_IXOTH:
                blocked.append(str(parent))
        except OSError:
            pass
    return blocked


def enter(policy: Policy) -> None:
    """Build the namespaces and mounts, set the limits and become the policy's user (runs as root)."""
    exposed = [(p, False) for p in policy.expose_ro] + [(p, True) for p in policy.expose_rw]
    exposed = [(p, rw) for p, rw in exposed if os.path.exists(p)]
    hide = set(policy.hide)
    for path, _ in exposed:
        hide.update(_blocked_ancestors(path))
    for path, rw in exposed:
        if rw:
            for root, dirs, files in os.walk(path):
                for name in [root, *(os.path.join(root, f) for f in dirs + files)]:
                    os.lchown(name, policy.uid, policy.uid)

    _check(_libc.unshare(CLONE_NEWNS | CLONE_NEWNET | CLONE_NEWIPC), "unshare")
    _mount(None, "/", None, MS_REC | MS_PRIVATE)
    # Stage what stays visible under a private tmpfs first (a bind mount needs a source in this namespace),
    # then cover the hidden paths, then bind the staged copies back at their own paths.
    _mount("ps3-stage", STAGE, "tmpfs", MS_NOSUID | MS_NODEV, "size=1m,mode=700")
    for number, (path, _) in enumerate(exposed):
        staged = os.path.join(STAGE, str(number))
        if os.path.isdir(path):
            os.mkdir(staged)
        else:
            Path(staged).touch()
        _mount(path, staged, None, MS_BIND | MS_REC)
    for path in ("/tmp", "/var/tmp", "/dev/shm"):
        if os.path.isdir(path):
            _mount("ps3-tmp", path, "tmpfs", MS_NOSUID | MS_NODEV, f"size={policy.tmp_size},mode=1777")
    for path in sorted(hide, key=len):
        if os.path.isdir(path) and not os.path.islink(path):
            _mount("ps3-hidden", path, "tmpfs", MS_NOSUID | MS_NODEV, "size=1m,mode=755")
        elif os.path.isfile(path):
            _mount("/dev/null", path, None, MS_BIND)
    for number, (path, rw) in enumerate(exposed):
        staged = os.path.join(STAGE, str(number))
        if os.path.isdir(staged):
            os.makedirs(path, mode=0o755, exist_ok=True)
        elif not os.path.exists(path):
            os.makedirs(os.path.dirname(path), mode=0o755, exist_ok=True)
            Path(path).touch()
        _mount(staged, path, None, MS_BIND | MS_REC)
        if not rw:
            _mount(None, path, None, MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID)
    _check(_libc.umount2(STAGE.encode(), MNT_DETACH), "umount stage")

    for limit, value in ((resource.RLIMIT_NPROC, policy.max_processes), (resource.RLIMIT_FSIZE, policy.max_file_bytes),
                         (resource.RLIMIT_NOFILE, policy.max_open_files), (resource.RLIMIT_CORE, 0)):
        resource.setrlimit(limit, (value, value))
    os.setgroups([])
    os.setgid(policy.uid)
    os.setuid(policy.uid)
    _check(_libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "no_new_privs")  # setuid programs cannot regain root
    os.environ.update(policy.env)
    os.environ.update(HOME="/tmp", MPLCONFIGDIR="/tmp/matplotlib", USER="student")
    os.chdir(os.getcwd())  # re-enter the working folder through its new mount, not the covered one


def main(argv: list[str]) -> None:
    policy_path, separator, *command = argv
    if separator != "--" or not command:
        raise SystemExit("usage: python -m autograder.isolation.sandbox POLICY -- COMMAND...")
    enter(Policy(**json.loads(Path(policy_path).read_text())))
    os.execv(command[0], command)


if __name__ == "__main__":
    main(sys.argv[1:])
