"""formgrader as an unprivileged user, in a view of the machine where the grading folder is read-only.

formgrader is a web server TAs (and anyone holding its token) drive, and it renders students' notebooks. Started
as root (a grading server runs as root: the sandbox needs it) it would read and write everything root can. So
``python -m autograder.isolation.formgrader_view FOLDER GRADEBOOK -- SERVER COMMAND`` runs as root and

1. gives the grading folder's files to FORMGRADER_UID's group for reading (root keeps them; the notebooks are
   written 0600), makes the sqlite gradebook (``GRADEBOOK``, or ``-`` for a database server) writable for that
   group, and prepares the view folder ``FOLDER/.formgrader`` (that user's, on disk);
2. stages what the server needs (sandbox.stage: bind mounts in a mount namespace of this process's own), becomes
   FORMGRADER_UID (no groups, no_new_privs, sandbox.enter) and starts bwrap, in which the server sees
   - the system's programs and libraries, the Python installation and the grader's package, read-only;
   - VIEW (``/grading``): every entry of the grading folder read-only, but the gradebook read-write;
   - no home folder, no repository (no reference answers), nothing else of the file system; fresh /tmp;
   - the machine's network (it must listen on the loopback interface), its own PID namespace, where the server
     is process 1 (it starts no process: kernels and terminals are refused by formgrader_guard).
3. stays as the server's parent: Ctrl-C (or SIGTERM) becomes SIGTERM to the server, which then ends cleanly.

The view folder is on disk, not a tmpfs, because sqlite writes its rollback journal beside the database *as
opened* (``/grading/gradebook.db-journal``): should the server die in the middle of saving a grade, the journal
stays in ``FOLDER/.formgrader`` and the next formgrader start rolls the half-written save back.
Until that start, root's own commands (``export``, ``grade``) open the gradebook without that journal and
may read the half-written save: after a crash of formgrader (or of the machine) while a TA saved, start
formgrader once before exporting.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import signal
import stat
import subprocess
import sys
from pathlib import Path

from ..outputs.grading_folder import READER_GID
from . import sandbox
from .containment import GRADER_PACKAGE, python_prefixes  # the guard extension the server loads lives in the package

FORMGRADER_UID = READER_GID  # below every kernel's user id (sandbox.UID_BASE + pid): no kernel shares its group
VIEW = "/grading"  # where the server sees the grading folder
VIEW_FOLDER = ".formgrader"  # inside the grading folder: the view's own folder (mount points, sqlite's journal)
LOCK = ".formgrader.lock"  # held by the launcher while its server runs: one formgrader a folder (TAs share it)
JOURNAL_SUFFIX = "-journal"  # sqlite's rollback journal, kept across starts (see above)
# Where PostgreSQL's clients find its Unix socket (a gradebook on the same machine, named without a host).
POSTGRES_SOCKETS = ("/run/postgresql", "/var/run/postgresql")
STOP_SECONDS = 20
SERVER_ENVIRONMENT = {"HOME": "/tmp", "JUPYTER_RUNTIME_DIR": "/tmp/runtime", "USER": "formgrader"}


def available() -> bool:
    """Whether formgrader can be started this way here: root, and bwrap allowed to build its namespaces."""
    return sandbox.available()


def launcher_command(folder: Path, gradebook: Path | None, command: list[str]) -> list[str]:
    """``command`` (the server, its paths given as seen from VIEW) started in the view of ``folder``."""
    return [sys.executable, "-m", __name__, str(folder), str(gradebook) if gradebook else "-", "--", *command]


class AlreadyRunning(RuntimeError):
    """A formgrader runs on this grading folder already."""


def hold(folder: Path):
    """The folder's formgrader lock, held as long as the returned file stays open (and its process lives)."""
    handle = open(folder / LOCK, "a+")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.seek(0)
        holder = handle.read().strip() or "another process"
        handle.close()
        raise AlreadyRunning(f"formgrader runs on {folder} already ({holder}): TAs share that one (its address "
                             "was printed where it was started), or stop it first") from None
    handle.seek(0)
    handle.truncate()
    handle.write(f"pid {os.getpid()}")
    handle.flush()
    return handle


def running(folder: Path) -> None:
    """Raise AlreadyRunning where a formgrader holds ``folder`` (checked before anything is printed or started)."""
    if (folder / LOCK).exists():
        hold(folder).close()


def prepare(folder: Path, gradebook: Path | None) -> Path:
    """Step 1 (as root): the gradebook writable for the server's group, and an empty view folder of its own
    (but for a journal sqlite may have left there)."""
    for root, dirs, files in os.walk(folder):
        dirs[:] = [d for d in dirs if not (root == str(folder) and d == VIEW_FOLDER)]
        for name in [root, *(os.path.join(root, f) for f in files)]:
            share_for_reading(name)
    if gradebook is not None:
        os.chown(gradebook, -1, FORMGRADER_UID)
        os.chmod(gradebook, 0o660)
    view = folder / VIEW_FOLDER
    view.mkdir(mode=0o700, exist_ok=True)
    os.lchown(view, FORMGRADER_UID, FORMGRADER_UID)
    for entry in view.iterdir():  # mount points of earlier starts: the folder's entries may have changed since
        if entry.name.endswith(JOURNAL_SUFFIX):
            continue
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry)
        else:
            entry.unlink()
    return view


def share_for_reading(path: str) -> None:
    """``path`` readable (a folder: searchable) for formgrader's group where others may not read it, as root;
    symbolic links are left alone."""
    info = os.lstat(path)
    if stat.S_ISLNK(info.st_mode):
        return
    read = 0o050 if stat.S_ISDIR(info.st_mode) else 0o040
    if info.st_mode & (read >> 3) == read >> 3:  # readable by everyone already (0644, 0755)
        return
    if info.st_gid != FORMGRADER_UID:
        os.lchown(path, -1, FORMGRADER_UID)
    if info.st_mode & read != read:
        os.chmod(path, stat.S_IMODE(info.st_mode) | read)


def entries(folder: Path) -> list[Path]:
    """What the server sees of the grading folder: every entry but the view folder and the lock."""
    return sorted(p for p in folder.iterdir() if p.name not in (VIEW_FOLDER, LOCK))


def bwrap_arguments(view: str, staged: dict[str, str], shown: dict[str, str], gradebook: str | None) -> list[str]:
    """bwrap's options: ``staged`` maps the paths shown at their own place (Python, the grader's package, the
    PostgreSQL sockets) and ``shown`` the grading folder's entries (by name) to their staged paths; ``view`` is the
    staged view folder, ``gradebook`` the name of the one entry shown writable."""
    args = ["--unshare-user", "--unshare-pid", "--unshare-ipc", "--unshare-uts", "--unshare-cgroup-try",
            "--die-with-parent", "--as-pid-1", "--hostname", "ps3-formgrader", *sandbox.system_arguments(),
            "--perms", "0700", "--tmpfs", "/tmp"]
    for path, source in staged.items():
        args += ["--ro-bind", source, path]
    args += ["--bind", view, VIEW]
    for name, source in shown.items():
        args += ["--bind" if name == gradebook else "--ro-bind", source, f"{VIEW}/{name}"]
    for name, value in SERVER_ENVIRONMENT.items():
        args += ["--setenv", name, value]
    return [*args, "--chdir", VIEW]


def main(argv: list[str]) -> int:
    folder, gradebook, separator, *command = argv
    if separator != "--" or not command:
        raise SystemExit("usage: python -m autograder.isolation.formgrader_view FOLDER GRADEBOOK|- -- COMMAND...")
    folder = Path(folder).resolve()
    db = Path(gradebook).resolve() if gradebook != "-" else None
    try:
        lock = hold(folder)  # noqa: F841 - kept open (not inherited by bwrap) until this process ends
    except AlreadyRunning as exc:
        raise SystemExit(f"error: {exc}") from None
    view = prepare(folder, db)
    sandbox.unshare_mounts()
    # Each entry is staged on its own, before any of them is shown: a student's folder name cannot steer a mount.
    own_place = [*python_prefixes(), str(GRADER_PACKAGE), *(p for p in POSTGRES_SOCKETS if os.path.isdir(p))]
    staged = dict(sandbox.stage(own_place))
    listed = entries(folder)
    shown = {Path(path).name: source for path, source in sandbox.stage([str(p) for p in listed])}
    (view_source, _), = [(s, p) for p, s in sandbox.stage([str(view)])]
    arguments = bwrap_arguments(view_source, staged, shown, db.name if db and db.parent == folder else None)
    sandbox.enter(sandbox.Policy(uid=FORMGRADER_UID, hide=[], expose_ro=[], expose_rw=[]))
    server: list[int] = []

    def stop(signum, _frame):
        # SIGTERM first (Jupyter saves nothing half-way and ends); one still there STOP_SECONDS later is killed.
        end = signal.SIGKILL if signum == signal.SIGALRM else signal.SIGTERM
        for pid in server:
            try:
                os.kill(pid, end)
            except ProcessLookupError:
                pass
        signal.alarm(STOP_SECONDS)

    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGALRM):
        signal.signal(signum, stop)
    info_read, info_write = os.pipe()
    environment = {**sandbox.kernel_environment(os.environ), **SERVER_ENVIRONMENT}
    # A session of its own: the terminal's Ctrl-C reaches this process only, which ends the server cleanly (bwrap,
    # signalled by the terminal, would die at once and its --die-with-parent would SIGKILL the server mid-save).
    bwrap = subprocess.Popen(["bwrap", "--info-fd", str(info_write), *arguments, "--", *command],
                             env=environment, pass_fds=(info_write,), start_new_session=True)
    os.close(info_write)
    server.extend(_child_pid(info_read))
    return bwrap.wait()


def _child_pid(fd: int) -> list[int]:
    """The server's process id as bwrap's --info-fd gives it (one JSON object; bwrap may keep the pipe open)."""
    text, decoder = "", json.JSONDecoder()
    with os.fdopen(fd, "rb", buffering=0) as info:
        while chunk := info.read(4096):
            text += chunk.decode()
            try:
                return [int(decoder.raw_decode(text.strip())[0]["child-pid"])]
            except (ValueError, KeyError):
                continue
    return []


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
