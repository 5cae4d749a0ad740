"""Contain a student's kernel: an allow-list view of the machine built by bubblewrap (``bwrap``, the sandbox Flatpak
uses), started by a launcher that first drops to a user id of the submission's own.

``python -m autograder.isolation.sandbox POLICY -- KERNEL COMMAND`` runs as root (the grader) and

1. hands the kernel's writable folders (its working folder and its runtime folder) to the submission's user id,
   sets limits (processes, file size, open files, no core dumps; memory is inherited from the grading process),
   becomes that user id (no groups, no_new_privs: setuid programs cannot give root back), then
2. replaces itself with bwrap, which builds new user, PID, network, IPC, UTS and mount namespaces and starts the
   kernel in them. The kernel sees
   - the system's programs and libraries, the few files of /etc the dynamic loader and fonts need, /sys, the
     Python installation and MNIST, all read-only;
   - its own working and runtime folders (writable), fresh size-limited /tmp, /var/tmp and /dev/shm, a minimal
     /dev (plus NVIDIA's device files where they exist) and a /proc of its own PID namespace: it sees only its
     own processes;
   - nothing else of the file system: no other checkout of the repository, no home folder, no batch folder;
   - no network at all (it talks to nbclient over Unix sockets in its runtime folder).
   When the kernel exits, bwrap's init process ends and the kernel ends every process left in the namespace:
   a daemon a student detaches (setsid, double fork) dies with its notebook. If the process that started bwrap
   dies, bwrap and everything in the sandbox are killed (``--die-with-parent``).

``available()`` says whether this machine can do it (root, bwrap, unprivileged user namespaces allowed). Where it
cannot but the grader is root (a Docker container without the privileges namespaces need: a Gradescope run), a
policy with ``namespaces=False`` keeps what file permissions alone can keep: the launcher does step 1 and starts
the kernel directly as the submission's user id, which cannot read what only root may (the references, the hidden
tests, the grading folders: see containment.py); it sees the network, other processes and the world-readable
files. Where the grader is not root, kernels run without containment, saying so in every result. What this does
not protect against is in the README.
"""

from __future__ import annotations

import ctypes
import glob
import json
import os
import resource
import shutil
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from pathlib import Path

from .processes import die_with_parent

PR_SET_NO_NEW_PRIVS = 38
CLONE_NEWNS = 0x00020000
MS_NOSUID, MS_NODEV, MS_BIND, MS_REC, MS_PRIVATE = 2, 4, 4096, 16384, 1 << 18
STAGE = "/mnt"  # exists on every Linux; covered by a private tmpfs only in the launcher's mount namespace
KERNEL_NAME = "ps3-sandbox"
UID_BASE = 200_000  # uid = UID_BASE + pid of the submission's grading process: unique while it lives
# What every kernel sees of the machine besides its policy's folders: programs, libraries and their configuration.
SYSTEM = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32", "/sys")
SYSTEM_ETC = ("/etc/ld.so.cache", "/etc/ld.so.conf", "/etc/ld.so.conf.d", "/etc/alternatives", "/etc/fonts",
              "/etc/localtime", "/etc/mime.types", "/etc/nsswitch.conf")
DEVICES = ("/dev/nvidia*", "/dev/nvidia-caps", "/dev/dri")  # GPUs, where there are any
# The grader's environment a kernel may see: an allow-list, so that a secret of the grader's (a database password,
# a cloud token) never reaches a student's code, which could quote it back in an answer. Names a kernel, Python,
# torch, CUDA, the lab and nbgrader read; a prefix stands for every name that starts with it. Keep secrets out of
# the PS3_ names (the project's own settings).
KERNEL_ENVIRONMENT = ("PATH", "LANG", "LANGUAGE", "TZ", "TERM", "PYTHONPATH", "PYTHONHASHSEED", "PYTHONIOENCODING",
                      "PYTHONUTF8", "PYTHONDONTWRITEBYTECODE", "VIRTUAL_ENV", "LD_LIBRARY_PATH", "MPLBACKEND",
                      "MNIST_DIR", "TMPDIR", "HOME", "USER", "MPLCONFIGDIR")
KERNEL_ENVIRONMENT_PREFIXES = ("LC_", "PS3_", "MNIST_LAB_", "NBGRADER_", "JUPYTER_", "JPY_", "CUDA_", "NVIDIA_",
                               "CUBLAS_", "CUDNN_", "NCCL_", "TORCH_", "OMP_", "MKL_", "OPENBLAS_", "KMP_")


@dataclass
class Policy:
    """What one submission's kernels may see and use."""

    uid: int
    hide: list[str]  # folders (covered by an empty tmpfs) and files (covered by /dev/null) inside exposed ones
    expose_ro: list[str]  # folders and files shown read-only at their own path
    expose_rw: list[str]  # folders shown writable at their own path and given to the kernel's uid
    env: dict[str, str] = field(default_factory=dict)
    tmp_bytes: int = 1 << 30  # each of /tmp, /var/tmp and /dev/shm
    max_processes: int = 256  # threads count too: torch and the kernel use a few dozen
    max_file_bytes: int = 1 << 30
    max_open_files: int = 1024
    namespaces: bool = True  # bwrap's namespaces (above); False: only the user id and the limits (step 1)

    def write(self, path: Path) -> Path:
        path.write_text(json.dumps(asdict(self)))
        return path


def kernel_environment(environment: dict) -> dict:
    """The part of ``environment`` a student's kernel may see (KERNEL_ENVIRONMENT)."""
    return {name: value for name, value in environment.items()
            if name in KERNEL_ENVIRONMENT or name.startswith(KERNEL_ENVIRONMENT_PREFIXES)}


def uid_for(pid: int) -> int:
    return UID_BASE + pid


@lru_cache(maxsize=1)
def available() -> bool:
    """Whether this process can build the sandbox: root (to become the submission's user id), bwrap, and user
    namespaces open to that user id."""
    bwrap = shutil.which("bwrap")
    if os.geteuid() != 0 or not sys.platform.startswith("linux") or bwrap is None:
        return False
    probe = [bwrap, "--ro-bind", "/", "/", "--proc", "/proc", "--dev", "/dev", "--unshare-user", "--unshare-pid",
             "--unshare-net", "--unshare-ipc", "--die-with-parent", "true"]
    try:
        return subprocess.run(probe, capture_output=True, user=UID_BASE, group=UID_BASE, extra_groups=[],
                              timeout=30).returncode == 0
    except (OSError, subprocess.SubprocessError):
        return False


def can_switch_user() -> bool:
    """Whether kernels can at least run as a user id of their own (root on Linux), namespaces or not."""
    return os.geteuid() == 0 and sys.platform.startswith("linux")


def launcher_command(policy_path: Path, command: list[str]) -> list[str]:
    """``command`` started through the launcher: contained by the policy written at ``policy_path``."""
    return [sys.executable, "-m", "autograder.isolation.sandbox", str(policy_path), "--", *command]


def write_kernel_spec(jupyter_dir: Path, policy_path: Path) -> None:
    """A kernel spec ``ps3-sandbox`` (found through JUPYTER_PATH) that starts ipykernel through the launcher."""
    folder = jupyter_dir / "kernels" / KERNEL_NAME
    folder.mkdir(parents=True, exist_ok=True)
    argv = launcher_command(policy_path, [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"])
    # Interrupts as messages: jupyter_client would signal the process group of the process it started (bwrap,
    # outside the kernel's namespace and session), which never reaches the kernel; ipykernel interrupts itself.
    (folder / "kernel.json").write_text(json.dumps({"argv": argv, "display_name": "Python 3 (ps3 sandbox)",
                                                     "language": "python", "interrupt_mode": "message"}))


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


def end_user(uid: int, seconds: float = 10) -> None:
    """Kill every process of ``uid`` until none is left alive (one that forks while being killed needs another
    round; a killed one is gone, or a zombie, within milliseconds)."""
    deadline = time.monotonic() + seconds
    while kill_user(uid) and time.monotonic() < deadline:
        time.sleep(0.02)


# --- the launcher ---------------------------------------------------------------------------------------------

def _inside(path: str, folders: list[str]) -> bool:
    return any(path == f or path.startswith(f.rstrip("/") + "/") for f in folders)


def bwrap_arguments(policy: Policy, cwd: str, staged_ro: list[tuple[str, str]], staged_rw: list[tuple[str, str]]
                    ) -> list[str]:
    """bwrap's options for ``policy`` (its folders staged as (path, staged path) pairs), in the order bwrap applies
    them (a later mount covers an earlier one)."""
    args = ["--unshare-user", "--unshare-pid", "--unshare-net", "--unshare-ipc", "--unshare-uts",
            "--unshare-cgroup-try", "--die-with-parent", "--new-session", "--hostname", "ps3-kernel",
            *system_arguments()]
    for device in sorted(d for pattern in DEVICES for d in glob.glob(pattern)):
        args += ["--dev-bind", device, device]
    for path in ("/tmp", "/var/tmp", "/dev/shm"):
        args += ["--perms", "1777", "--size", str(policy.tmp_bytes), "--tmpfs", path]
    # The policy's folders are bound from their staged copies (see stage): the user id bwrap runs as may not be
    # allowed to walk to them where they are (a Python installation in root's home, a batch folder).
    for path, staged in staged_ro:
        args += ["--ro-bind", staged, path]
    for path in sorted(policy.hide, key=len):  # only what lies inside a folder shown above needs covering
        if not _inside(path, [*SYSTEM, *(p for p, _ in staged_ro)]) or not os.path.exists(path):
            continue
        args += ["--tmpfs", path] if os.path.isdir(path) else ["--ro-bind", "/dev/null", path]
    for path, staged in staged_rw:
        args += ["--bind", staged, path]
    home = "/tmp"
    env = {**policy.env, "HOME": home, "MPLCONFIGDIR": f"{home}/matplotlib", "USER": "student"}
    for name, value in env.items():
        args += ["--setenv", name, value]
    # ipykernel would watch its parent (the pid jupyter_client names here) and, seeing bwrap's init as its parent
    # (pid 1 in the namespace), take it for dead and exit. --die-with-parent already ends it with its parent.
    args += ["--unsetenv", "JPY_PARENT_PID"]
    return [*args, "--chdir", cwd]


def system_arguments() -> list[str]:
    """bwrap's options that show the system's programs and libraries read-only (SYSTEM, SYSTEM_ETC), a /proc of
    the new PID namespace and a minimal /dev."""
    args = []
    for path in SYSTEM + SYSTEM_ETC:
        if os.path.islink(path):
            args += ["--symlink", os.readlink(path), path]
        elif os.path.exists(path):
            args += ["--ro-bind", path, path]
    return [*args, "--proc", "/proc", "--dev", "/dev"]


def stage(paths: list[str]) -> list[tuple[str, str]]:
    """Bind each existing path at a folder of its own under STAGE, in a mount namespace private to this process
    (and so to bwrap after it): (path, staged path) pairs. Runs as root, after unshare_mounts."""
    staged = []
    for path in paths:
        if not os.path.exists(path):
            continue
        target = os.path.join(STAGE, str(len(os.listdir(STAGE))))
        if os.path.isdir(path):
            os.mkdir(target)
        else:
            Path(target).touch()
        _mount(path, target, None, MS_BIND | MS_REC)
        staged.append((path, target))
    return staged


def unshare_mounts() -> None:
    """A mount namespace of this process's own, with an empty private STAGE folder (a tmpfs only it sees)."""
    _check(_libc.unshare(CLONE_NEWNS), "unshare")
    _mount(None, "/", None, MS_REC | MS_PRIVATE)
    _mount("ps3-stage", STAGE, "tmpfs", MS_NOSUID | MS_NODEV, "size=1m,mode=755")


_libc = ctypes.CDLL(None, use_errno=True)


def _check(result: int, what: str) -> None:
    if result != 0:
        errno = ctypes.get_errno()
        raise OSError(errno, f"{what}: {os.strerror(errno)}")


def _mount(source: str | None, target: str, fstype: str | None, flags: int, data: str | None = None) -> None:
    enc = lambda s: s.encode() if s is not None else None  # noqa: E731
    _check(_libc.mount(enc(source), enc(target), enc(fstype), ctypes.c_ulong(flags), enc(data)), f"mount {target}")


def enter(policy: Policy) -> None:
    """Hand the writable folders to the policy's user, set the limits and become that user (runs as root)."""
    for path in policy.expose_rw:
        for root, dirs, files in os.walk(path):
            for name in [root, *(os.path.join(root, f) for f in dirs + files)]:
                os.lchown(name, policy.uid, policy.uid)
    for limit, value in ((resource.RLIMIT_NPROC, policy.max_processes), (resource.RLIMIT_FSIZE, policy.max_file_bytes),
                         (resource.RLIMIT_NOFILE, policy.max_open_files), (resource.RLIMIT_CORE, 0)):
        resource.setrlimit(limit, (value, value))
    # The kernel is the OOM killer's first choice inside the submission's memory cgroup (isolation/memory.py), never
    # the grading process; set as root, a student's process cannot lower it again where root holds
    # CAP_SYS_RESOURCE.
    try:
        Path("/proc/self/oom_score_adj").write_text("1000")
    except OSError:
        pass
    os.setgroups([])
    os.setgid(policy.uid)
    os.setuid(policy.uid)
    _check(_libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "no_new_privs")  # setuid programs cannot regain root


def main(argv: list[str]) -> None:
    policy_path, separator, *command = argv
    if separator != "--" or not command:
        raise SystemExit("usage: python -m autograder.isolation.sandbox POLICY -- COMMAND...")
    policy = Policy(**json.loads(Path(policy_path).read_text()))
    # Whatever an earlier kernel of this submission left must not run while its folders are handed over (it could
    # swap a folder for a symlink between the walk and the chown): with namespaces it died with that kernel.
    end_user(policy.uid)
    if not policy.namespaces:
        _start_as_user(policy, command)
    bwrap = shutil.which("bwrap")
    if bwrap is None:
        raise SystemExit("the sandbox needs bubblewrap (bwrap) on PATH")
    cwd = os.getcwd()
    unshare_mounts()
    arguments = bwrap_arguments(policy, cwd, stage(policy.expose_ro), stage(policy.expose_rw))
    enter(policy)
    # The options go through a descriptor, not the command line: bwrap's init stays in the kernel's PID namespace,
    # and its command line there would name the grader's paths.
    options = os.memfd_create("bwrap-options", 0)  # inherited by bwrap (no close-on-exec)
    os.write(options, b"".join(a.encode() + b"\0" for a in arguments))
    os.lseek(options, 0, os.SEEK_SET)
    os.execve(bwrap, [bwrap, "--args", str(options), "--", *command], kernel_environment(os.environ))


def _start_as_user(policy: Policy, command: list[str]) -> None:
    """The kernel without namespaces: as the policy's user id, with its limits and environment, ended with the
    process that starts it (nbgrader's, as bwrap's --die-with-parent does)."""
    enter(policy)
    die_with_parent()  # after setuid, which clears it
    os.execvpe(command[0], command, {**kernel_environment(os.environ), **policy.env, "USER": "student"})


if __name__ == "__main__":
    main(sys.argv[1:])
