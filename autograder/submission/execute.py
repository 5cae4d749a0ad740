"""nbgrader's Execute step, made resilient: a submission that crashes its kernel or runs out of time keeps the
points of the cells that completed, and every cell that did not run is marked failed with the reason.

Plain nbgrader gives up on a notebook whose kernel dies (nothing of it is graded), and a test cell that never
ran has no error output, which nbgrader would score as passed. Here, once the kernel is dead or the
submission's deadline has passed, each remaining code cell gets an error output instead of being executed.

Once a notebook's kernel has ended, nbgrader writes the executed notebook into the folder the kernel worked in,
as root: first every process the kernel left is ended and the folder taken back (its symlinks removed, owned by
root), or a symlink planted there would make that write land anywhere on the machine.

The kernels of a submission's notebooks all work in that one folder, and nbgrader handles the notebooks one after
the other, each in two passes (``convert_single_notebook`` in nbgrader/converters/autograde.py): it writes the
sanitized notebook there as ``problemN.ipynb`` (the first pass), reads it back, runs it in a kernel, and writes the
executed notebook over it (the second). Nothing else of nbgrader's reads or writes a notebook's path there, so a
kernel can only have put something at its own notebook's path or at the others' (earlier ones: executed already;
later ones: not yet written) by the time it has ended, and that is when ``take_back`` makes every notebook's path a
regular file again, before nbgrader writes or reads anything there: a FIFO would hold nbgrader's write until the
supervision limit, a folder would fail it and with it the whole submission. A notebook whose file was replaced by
something that is not a file (a FIFO, a folder, a socket, a device) while it ran or before it ran is not graded:
its code cells fail with the grader's reason (``SPOILED_WHILE``, ``SPOILED_BEFORE``) and score 0 (score.py).
One replaced after it ran keeps its points (they are recorded by then) and loses only its messages, as for any
other overwrite of it. A symlink keeps its own treatment, an empty file in its place and nothing lost: what it
aims at is root's write, which the take-back defeats.

Whatever the grader reads back of what a kernel could have written goes through ``read_back`` and
``read_notebook_back``: never through a link, never from anything but a regular file, with size limits.

Its options are traits, like nbgrader's own ``timeout`` (the per-cell limit): the grader passes them on
nbgrader's command line, e.g. ``--ResilientExecute.timeout=600 --ResilientExecute.deadline=1767225600``.
"""

import itertools
import json
import os
import stat
import time
from pathlib import Path

import nbformat
from nbclient.exceptions import CellTimeoutError, DeadKernelError
from nbformat.notebooknode import NotebookNode
from nbgrader.preprocessors import Execute
from traitlets import Dict, Float, Integer, List, Unicode, default

from ..course import NOTEBOOKS
from ..ingest import MAX_NOTEBOOK_BYTES
from ..isolation.sandbox import end_user
from .sanitize import valid_notebook

STOPPED = "GradingStopped"  # the error name of a cell this step did not run, or stopped
CELL_OUTPUT_LIMIT = 1 << 20  # bytes of output kept per cell; the rest is dropped with a note
TRUNCATED = "[output truncated by the grader"
# Why a cell did not run or was stopped, in the grader's words (a class report may quote these, never other text).
DIED_BEFORE = "the kernel died before this cell could run"
DIED_HERE = ("the kernel died while running this cell (a crash, os._exit, or running out of memory); the cells after "
             "it were not run")
TIMED_OUT = "this cell ran longer than {} s and could not be interrupted"
OUT_OF_TIME = "not run: the submission used up its time limit in an earlier cell"
DIED_EARLIER = "not run: the kernel died in an earlier cell"
STUCK_EARLIER = "not run: an earlier cell could not be interrupted after its time limit"
# Why a notebook was not graded: its file was replaced by something that is not a file (one of REPLACED_BY).
SPOILED_WHILE = "{name}: its file was replaced by the submission's own code ({what}) while it ran; its cells score 0"
SPOILED_BEFORE = ("{name}: its file was replaced by the submission's own code ({what}) before it could run; it was "
                  "not run and its cells score 0")
REPLACED_BY = {stat.S_IFIFO: "a FIFO", stat.S_IFDIR: "a folder", stat.S_IFSOCK: "a socket",
               stat.S_IFCHR: "a device", stat.S_IFBLK: "a device"}

# What the grader reads back of a kernel's folder, at most: a notebook of the largest size ingest reads, as JSON of
# at most NODE_LIMIT values nested at most DEPTH_LIMIT deep. An executed notebook has a few thousand values (its
# outputs are capped at 1 MB per cell), nested about ten deep; validating 100 000 values takes about a second, 8 MB
# of empty cells would cost nbformat.read 14 s and 1.4 GB, and JSON nested a thousand deep fails its recursion.
NOTEBOOK_LIMIT = MAX_NOTEBOOK_BYTES
NODE_LIMIT = 100_000
DEPTH_LIMIT = 64
# A kernel's folder, as taken back: nbgrader's last step walks it (os.walk, one recursion per level) and changes
# every file's mode by its path, as the next kernel's launcher changes its owner; whatever lies deeper or at a longer
# path (bytes) than this is removed. Far beyond any folder a notebook makes, far below Python's recursion limit and
# the system's path limit (4096 bytes).
TREE_DEPTH_LIMIT = 64
TREE_PATH_LIMIT = 2048

# Notebook path -> what a kernel left there, for the notebooks whose file an earlier notebook's kernel replaced
# before they ran: nbgrader makes a new step for each notebook, and the next one finds it here before it starts its
# kernel. A path names its submission's scratch course, and a grading process grades one submission.
_replaced_before_run: dict[str, str] = {}


def _failure(reason: str) -> NotebookNode:
    return NotebookNode(output_type="error", ename=STOPPED, evalue=reason, traceback=[f"{STOPPED}: {reason}"])


class ResilientExecute(Execute):
    long_cells = Dict(value_trait=Integer(), help="Grade ids of cells with limits of their own (seconds), instead "
                                                  "of timeout.").tag(config=True)
    deadline = Float(0.0, help="Seconds since the epoch by which every notebook of the submission must be done "
                               "(shared by all its notebooks); 0 for none.").tag(config=True)
    output_limit = Integer(CELL_OUTPUT_LIMIT, help="Bytes of output kept per cell.").tag(config=True)
    kernel_uid = Integer(0, help="The user id the contained kernels run as; 0: not contained (nothing to take "
                                 "back).").tag(config=True)
    kernel_folders = List(Unicode(), help="The folders the kernels could write, each taken back once a kernel "
                                          "ended.").tag(config=True)
    kernel_workdir = Unicode("", help="The kernels' working folder, where nbgrader writes the executed notebooks "
                                      "(made of real folders again where it lies inside one of kernel_folders)."
                             ).tag(config=True)

    @default("shutdown_kernel")
    def _kill_the_kernel(self):
        # What a kernel did is in its outputs and files by now: killing it costs nothing, a graceful shutdown up to
        # a second per notebook (and what it left is ended anyway, below).
        return "immediate"

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._cell_timeout = self.timeout  # as configured: each cell gets this, or what is left before the deadline

    def output(self, outs, msg, display_id, cell_index):
        """Keep at most ``output_limit`` bytes of a cell's output (a submission printing without end must not fill
        the grader's memory or the notebook)."""
        used = self._output_bytes.get(cell_index, 0)
        size = len(str(msg.get("content", "")))
        if used + size > self.output_limit:
            if used <= self.output_limit:
                outs.append(NotebookNode(output_type="stream", name="stderr",
                                         text=f"\n{TRUNCATED} after {self.output_limit} bytes]\n"))
            self._output_bytes[cell_index] = self.output_limit + 1
            return None
        self._output_bytes[cell_index] = used + size
        return super().output(outs, msg, display_id, cell_index)

    def preprocess(self, nb, resources=None, km=None):
        self._output_bytes = {}
        self._stopped = None
        path = self._notebook_path(resources or {})
        replaced = _replaced_before_run.pop(str(path), None)
        if replaced:  # an earlier kernel of the submission put it there: nbgrader wrote this notebook into a stand-in
            _fail_code_cells(nb, SPOILED_BEFORE.format(name=path.stem, what=replaced))
            return nb, resources
        try:
            nb, resources = self._execute(nb, resources, km)
        finally:  # before nbgrader writes this notebook, and the next one: also when this step failed
            replaced = self._take_back(path and path.parent)
        for name, what in replaced.items() if path else ():  # (nbgrader always says where: a direct call may not)
            if name == path.stem:
                _fail_code_cells(nb, SPOILED_WHILE.format(name=name, what=what))
            else:  # for a later notebook, when it comes (an earlier one ran and was graded: only its file is lost)
                _replaced_before_run[str(path.with_name(f"{name}.ipynb"))] = what
        return nb, resources

    def _execute(self, nb, resources, km):
        try:
            return super().preprocess(nb, resources, km)
        except DeadKernelError:
            # The kernel died outside a cell (e.g. at start-up): nothing ran, everything fails with the reason.
            for cell in nb.cells:
                if cell.cell_type == "code" and not any(o.get("output_type") == "error" for o in cell.outputs):
                    cell.outputs.append(_failure(DIED_BEFORE))
            return nb, resources

    def _notebook_path(self, resources: dict) -> Path | None:
        """Where nbgrader writes this notebook, in the kernels' working folder (None where nbgrader did not say)."""
        metadata = resources.get("metadata", {})
        folder, name = self.kernel_workdir or metadata.get("path"), metadata.get("name")
        return Path(folder) / f"{name}.ipynb" if folder and name else None

    def _take_back(self, notebook_folder: Path | None) -> dict[str, str]:
        """What the kernel left, taken back (``take_back``): notebook name -> what had replaced its file. Without
        containment (no root, nothing ended) only the notebooks' paths."""
        if not self.kernel_uid:
            return take_back_notebooks(notebook_folder) if notebook_folder else {}
        end_user(self.kernel_uid)
        replaced = {}
        for folder in map(Path, self.kernel_folders):
            replaced.update(take_back(folder, notebook_folder or folder))
        return replaced

    def preprocess_cell(self, cell, resources, index):
        if cell.cell_type != "code":
            return cell, resources
        grade_id = ((cell.get("metadata") or {}).get("nbgrader") or {}).get("grade_id")
        limit = self.long_cells.get(grade_id, self._cell_timeout)  # the grade id is the release's (sanitize.py)
        self.timeout = limit
        if self._stopped is None and self.deadline:
            remaining = self.deadline - time.time()
            if remaining <= 0:
                self._stopped = OUT_OF_TIME
            else:
                self.timeout = max(1, int(min(limit or remaining, remaining)))
        if self._stopped is not None:
            cell.outputs = [_failure(self._stopped)]
            return cell, resources
        try:
            return super().preprocess_cell(cell, resources, index)
        except DeadKernelError:
            cell.outputs.append(_failure(DIED_HERE))
            self._stopped = DIED_EARLIER
            return cell, resources
        except CellTimeoutError:
            cell.outputs.append(_failure(TIMED_OUT.format(self.timeout)))
            self._stopped = STUCK_EARLIER
            return cell, resources


def _fail_code_cells(nb, reason: str) -> None:
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.setdefault("outputs", []).append(_failure(reason))


def take_back(folder: Path, notebook_folder: Path) -> dict[str, str]:
    """``folder`` as its kernel's user id cannot have left it for root to write into or read, once no process of that
    id runs: the path from it to ``notebook_folder`` (where that lies inside) made of real folders again, every
    symlink in it replaced by an empty file, whatever lies too deep or at too long a path removed, everything owned
    by root (the next kernel's launcher hands it over again), and every notebook's path there a regular file
    (``take_back_notebooks``, whose answer it returns)."""
    if not folder.is_dir() or folder.is_symlink():
        return {}
    inside = notebook_folder.is_relative_to(folder)
    if inside:
        path = folder
        for part in notebook_folder.relative_to(folder).parts:
            path = path / part
            if path.is_symlink() or (path.exists() and not path.is_dir()):
                _remove(path)
            path.mkdir(exist_ok=True)
    _take_back_tree(folder)
    os.lchown(folder, 0, 0)
    return take_back_notebooks(notebook_folder) if inside else {}


def _take_back_tree(folder: Path) -> None:
    """Everything under ``folder``, walked without recursion (a chain of a thousand folders is a few lines of a
    notebook): symlinks replaced by empty files (a hand-in record there reads as unusable), whatever lies deeper
    than TREE_DEPTH_LIMIT or at a path longer than TREE_PATH_LIMIT removed, the rest owned by root."""
    pending = [(os.fsencode(folder), 0)]
    while pending:
        path, depth = pending.pop()
        with os.scandir(path) as entries:
            found = [(entry.name, entry.is_dir(follow_symlinks=False), entry.is_symlink()) for entry in entries]
        for name, is_dir, is_link in found:
            child = os.path.join(path, name)
            if depth >= TREE_DEPTH_LIMIT or len(child) > TREE_PATH_LIMIT:
                _remove(child)
            elif is_link:
                _replace_by_empty_file(child)
            else:
                os.lchown(child, 0, 0)
                if is_dir:
                    pending.append((child, depth + 1))


def take_back_notebooks(folder: Path) -> dict[str, str]:
    """Every notebook's path in ``folder`` made a regular file that nbgrader can write and the grader can read back:
    whatever else a kernel left there (a FIFO, a folder, a socket, a device, a symlink, a file that is no notebook
    ``read_notebook_back`` reads) is replaced by an empty file. Returns notebook name -> what had replaced its file,
    for each file replaced by something that is not a file (a symlink is not counted: see the module's docstring)."""
    replaced = {}
    for name in NOTEBOOKS:
        path = folder / f"{name}.ipynb"
        try:
            mode = os.lstat(path).st_mode
        except FileNotFoundError:
            continue
        if stat.S_ISREG(mode) and read_notebook_back(path) is not None:
            continue
        _replace_by_empty_file(path)
        if stat.S_IFMT(mode) in REPLACED_BY:
            replaced[name] = REPLACED_BY[stat.S_IFMT(mode)]
    return replaced


def _replace_by_empty_file(path) -> None:
    _remove(path)
    os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644))


def _remove(path) -> None:
    """Remove ``path``: a folder of any depth (shutil.rmtree recurses once per level), or anything else."""
    if not stat.S_ISDIR(os.lstat(path).st_mode):
        os.unlink(path)
        return
    os.chmod(path, 0o700)  # without containment the grader is no root: a folder the kernel closed is opened again
    folder = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
    try:
        _empty_folder(folder)
    finally:
        os.close(folder)
    os.rmdir(path)


def _empty_folder(folder: int) -> None:
    """Empty the folder open as ``folder`` with two descriptors and no path: the entries of each of its subfolders
    are moved up into it (under fresh names), then the emptied subfolder is removed, until nothing is left."""
    fresh = itertools.count()
    while found := _entries(folder):
        for name, is_dir in found:
            if not is_dir:
                os.unlink(name, dir_fd=folder)
                continue
            os.chmod(name, 0o700, dir_fd=folder)  # as in _remove
            inner = os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=folder)
            try:
                for item, _ in _entries(inner):
                    os.rename(item, _unused_name(folder, fresh), src_dir_fd=inner, dst_dir_fd=folder)
            finally:
                os.close(inner)
            os.rmdir(name, dir_fd=folder)


def _entries(folder: int) -> list[tuple[str, bool]]:
    with os.scandir(folder) as entries:
        return [(entry.name, entry.is_dir(follow_symlinks=False)) for entry in entries]


def _unused_name(folder: int, fresh) -> str:
    while True:
        name = f"removed-{next(fresh)}"
        try:
            os.lstat(name, dir_fd=folder)
        except FileNotFoundError:
            return name


def read_back(path: Path, limit: int) -> bytes | None:
    """The bytes of ``path`` if it is a regular file of at most ``limit`` bytes, else None: a kernel may have left a
    FIFO there (a read would wait for a writer for ever), a folder, a socket, a device, a symlink (never followed) or
    a file of a gigabyte."""
    try:
        if not stat.S_ISREG(os.lstat(path).st_mode):
            return None
        descriptor = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        return None
    with open(descriptor, "rb") as file:
        info = os.fstat(descriptor)
        if not stat.S_ISREG(info.st_mode) or info.st_size > limit:  # (replaced between the two looks)
            return None
        data = file.read(limit + 1)  # (grown since)
    return data if len(data) <= limit else None


def read_notebook_back(path: Path) -> NotebookNode | None:
    """The nbformat 4 notebook at ``path``, or None if a kernel could have left anything else there: not a regular
    file of at most NOTEBOOK_LIMIT bytes, not JSON, JSON larger or deeper than a notebook's (NODE_LIMIT,
    DEPTH_LIMIT), or not a valid notebook (nbformat's own validator)."""
    data = read_back(path, NOTEBOOK_LIMIT)
    if data is None:
        return None
    try:
        content = json.loads(data)
    except (ValueError, RecursionError, MemoryError):  # not UTF-8, not JSON, nested past the parser's limit
        return None
    if not isinstance(content, dict) or not _json_within_limits(content) or not valid_notebook(content):
        return None
    return nbformat.v4.to_notebook_json(content)  # as nbformat.read gives it: its lines joined into one text


def _json_within_limits(content) -> bool:
    """At most NODE_LIMIT values, nested at most DEPTH_LIMIT deep (counted without recursion)."""
    pending, count = [(content, 0)], 1
    while pending:
        value, depth = pending.pop()
        children = value.values() if isinstance(value, dict) else value if isinstance(value, list) else ()
        count += len(children)
        if count > NODE_LIMIT or (children and depth >= DEPTH_LIMIT):
            return False
        pending.extend((child, depth + 1) for child in children)
    return True


def arguments(cell_timeout: int, deadline: float, kernel_uid: int = 0, kernel_folders=(), kernel_workdir="",
              long_cells: dict[str, int] | None = None) -> list[str]:
    """nbgrader's command-line options that set this step's limits (and, for contained kernels, what it takes
    back after each)."""
    return [f"--ResilientExecute.timeout={cell_timeout}", f"--ResilientExecute.deadline={deadline!r}",
            *(f"--ResilientExecute.long_cells={grade_id}={seconds}" for grade_id, seconds in (long_cells or {}).items()),
            f"--ResilientExecute.kernel_uid={kernel_uid}", f"--ResilientExecute.kernel_workdir={kernel_workdir}",
            *(f"--ResilientExecute.kernel_folders={folder}" for folder in kernel_folders)]
