"""What a kernel can leave in its folder, taken back before nbgrader writes or reads there again (execute.take_back),
and read back by the grader without blocking or crashing (execute.read_back and read_notebook_back, the kernel's
outcomes in score.py, the formgrader copies): FIFOs, folders, sockets, devices and symlinks at the notebooks' paths,
trees too deep or too long for a recursive walk, files too large, JSON no notebook has. On tmp folders, no kernel."""

import json
import os
import shutil
import socket
import stat
import threading

import nbformat
import pytest

from autograder.cells import JUDGED
from autograder.course import release_dir
from autograder.judge.verdicts import CellVerdict
from autograder.results import CellResult
from autograder.submission.execute import (NODE_LIMIT, NOTEBOOK_LIMIT, SPOILED_BEFORE, SPOILED_WHILE, STOPPED,
                                           TREE_DEPTH_LIMIT, TREE_PATH_LIMIT, read_back, read_notebook_back, take_back,
                                           take_back_notebooks)
from autograder.submission.formgrader_copies import SPOILED, for_formgrader
from autograder.submission.scratch import CellGrade
from autograder.submission.score import is_stop, kernel_outcomes, score

as_root = pytest.mark.skipif(os.geteuid() != 0, reason="take_back hands a kernel's folder to root: it runs as root")


def promptly(function, *args, seconds: float = 10):
    """``function(*args)``, failing the test where it blocks (a FIFO's open waits for ever) instead of hanging it."""
    outcome = {}

    def run():
        try:
            outcome["value"] = function(*args)
        except BaseException as exc:  # noqa: BLE001 - raised again in the test's thread
            outcome["error"] = exc
    worker = threading.Thread(target=run, daemon=True)
    worker.start()
    worker.join(seconds)
    assert not worker.is_alive(), f"{function.__name__} blocked"
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]


def release_notebook(name="problem7") -> nbformat.NotebookNode:
    return nbformat.read(release_dir() / f"{name}.ipynb", as_version=4)


def kernel_folder(tmp_path):
    """A runtime folder with the kernels' working folder inside, as the grading process lays them out."""
    workdir = tmp_path / "runtime" / "autograded" / "student" / "ps3"
    workdir.mkdir(parents=True)
    return tmp_path / "runtime", workdir


def plant(workdir, outside):
    """A FIFO, a folder (with a symlink out of the kernel's folder inside) and a socket at the three notebooks'
    paths; the socket's own, which must stay open while it is taken back."""
    os.mkfifo(workdir / "problem5.ipynb")
    (workdir / "problem6.ipynb").mkdir()
    (workdir / "problem6.ipynb" / "link").symlink_to(outside / "secret.txt")
    server = socket.socket(socket.AF_UNIX)
    # bound by a path relative to the folder: a socket's path may hold at most 107 bytes, and pytest's folders
    # grow longer with every run on a machine (/tmp/pytest-of-root/pytest-100/...)
    here = os.getcwd()
    os.chdir(workdir)
    try:
        server.bind("problem7.ipynb")
    finally:
        os.chdir(here)
    return server


def is_empty_file(path) -> bool:
    info = os.lstat(path)
    return stat.S_ISREG(info.st_mode) and info.st_size == 0


def test_whatever_is_not_a_file_at_a_notebooks_path_becomes_an_empty_file_and_is_reported(tmp_path):
    """take_back_notebooks (no root needed: also what runs without containment)."""
    workdir, outside = tmp_path / "ps3", tmp_path / "outside"
    workdir.mkdir()
    outside.mkdir()
    (outside / "secret.txt").write_text("not the kernel's")
    with plant(workdir, outside):
        replaced = promptly(take_back_notebooks, workdir)
    assert replaced == {"problem5": "a FIFO", "problem6": "a folder", "problem7": "a socket"}
    assert all(is_empty_file(workdir / f"{name}.ipynb") for name in replaced)
    assert (outside / "secret.txt").read_text() == "not the kernel's"
    (workdir / "problem5.ipynb").write_text("executed")  # nbgrader's write now goes through at once


def test_a_symlink_at_a_notebooks_path_is_replaced_but_costs_nothing(tmp_path):
    (tmp_path / "elsewhere.ipynb").write_text("root must not write here")
    (tmp_path / "problem7.ipynb").symlink_to(tmp_path / "elsewhere.ipynb")
    assert take_back_notebooks(tmp_path) == {}
    assert is_empty_file(tmp_path / "problem7.ipynb")
    assert (tmp_path / "elsewhere.ipynb").read_text() == "root must not write here"


def test_a_notebook_file_the_grader_could_not_read_back_is_emptied_a_readable_one_kept(tmp_path):
    """A later kernel may overwrite an earlier notebook's executed file with anything; the grader's readers then find
    an empty file (its messages are lost, never the grading)."""
    executed = nbformat.writes(release_notebook())
    (tmp_path / "problem5.ipynb").write_text(executed)
    (tmp_path / "problem6.ipynb").write_text("[" * 5000 + "]" * 5000)  # nbformat.read recurses past Python's limit
    with open(tmp_path / "problem7.ipynb", "wb") as huge:
        huge.truncate(NOTEBOOK_LIMIT + 1)
    assert take_back_notebooks(tmp_path) == {}
    assert (tmp_path / "problem5.ipynb").read_text() == executed
    assert is_empty_file(tmp_path / "problem6.ipynb") and is_empty_file(tmp_path / "problem7.ipynb")


@as_root
def test_take_back_hands_the_folder_to_root_and_every_notebook_path_to_nbgrader(tmp_path):
    runtime, workdir = kernel_folder(tmp_path)
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_text("not the kernel's")
    (workdir / "answers.json").write_text("{}")
    os.chown(workdir / "answers.json", 4242, 4242)
    with plant(workdir, outside):
        replaced = promptly(take_back, runtime, workdir)
    assert replaced == {"problem5": "a FIFO", "problem6": "a folder", "problem7": "a socket"}
    for path in [workdir / f"{name}.ipynb" for name in replaced] + [workdir / "answers.json"]:
        assert stat.S_ISREG(os.lstat(path).st_mode) and os.lstat(path).st_uid == 0, path
    assert (outside / "secret.txt").read_text() == "not the kernel's"
    assert take_back(runtime, tmp_path / "elsewhere") == {}  # notebooks outside the folder are not its to take back


@as_root
def test_a_device_at_a_notebooks_path_is_reported(tmp_path):
    os.mknod(tmp_path / "problem6.ipynb", stat.S_IFCHR | 0o600, os.makedev(1, 3))  # /dev/null's numbers
    assert take_back_notebooks(tmp_path) == {"problem6": "a device"}
    assert is_empty_file(tmp_path / "problem6.ipynb")


@as_root
def test_take_back_removes_what_is_too_deep_or_too_long_for_a_recursive_walk(tmp_path):
    """nbgrader walks the folder with os.walk (one recursion per level) and changes each file's mode by its path,
    as the next kernel's launcher changes its owner: a chain of 3000 folders, or names that add up past the
    system's path limit, would fail either, and with it the submission."""
    runtime, workdir = kernel_folder(tmp_path)
    (workdir / ".handin").mkdir()
    (workdir / ".handin" / "record.json").write_text("{}")
    deep = workdir / "deep"
    deep.mkdir()
    descriptor = os.open(deep, os.O_RDONLY)
    for _ in range(3000):  # made through descriptors: its path is far past PATH_MAX
        os.mkdir("d", dir_fd=descriptor)
        inner = os.open("d", os.O_RDONLY, dir_fd=descriptor)
        os.close(descriptor)
        descriptor = inner
    os.close(os.open("leaf", os.O_WRONLY | os.O_CREAT, dir_fd=descriptor))
    os.close(descriptor)
    long = workdir / "long"
    long.mkdir()
    for _ in range(12):
        long = long / ("n" * 250)
        long.mkdir()
    take_back(runtime, workdir)
    walked = list(os.walk(runtime))  # would raise RecursionError before
    assert all(len(os.fsencode(root)) <= TREE_PATH_LIMIT for root, _, _ in walked)
    assert max(os.path.relpath(root, runtime).count(os.sep) for root, _, _ in walked) < TREE_DEPTH_LIMIT
    assert (workdir / ".handin" / "record.json").read_text() == "{}"
    shutil.rmtree(runtime)  # as the supervisor removes it


def test_read_back_never_blocks_never_follows_and_never_reads_too_much(tmp_path):
    os.mkfifo(tmp_path / "fifo")
    (tmp_path / "folder").mkdir()
    (tmp_path / "file").write_bytes(b"12345")
    (tmp_path / "link").symlink_to(tmp_path / "file")
    for name in ("fifo", "folder", "link", "missing"):
        assert promptly(read_back, tmp_path / name, 100) is None, name
    assert read_back(tmp_path / "file", 5) == b"12345"
    assert read_back(tmp_path / "file", 4) is None


@pytest.mark.parametrize("content", [
    "not JSON", b"\xff\xfe not UTF-8", "[" * 5000 + "]" * 5000, json.dumps([1, 2]),
    json.dumps({"nbformat": 4, "nbformat_minor": 5, "metadata": {}, "cells": [{}] * (NODE_LIMIT + 1)}),
    json.dumps({"nbformat": 4, "nbformat_minor": 5, "metadata": {"a": json.loads("[" * 100 + "]" * 100)},
                "cells": []}),
    json.dumps({"nbformat": 4, "nbformat_minor": 5, "metadata": {}, "cells": [{"cell_type": "widget"}]}),
], ids=["text", "bytes", "nested", "list", "too-many-values", "too-deep", "invalid"])
def test_json_no_notebook_has_reads_as_none(tmp_path, content):
    path = tmp_path / "problem7.ipynb"
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    assert read_notebook_back(path) is None


def test_a_notebook_reads_back_as_nbformat_reads_it(tmp_path):
    nbformat.write(release_notebook(), tmp_path / "problem7.ipynb")  # sources as lists of lines on disk
    assert read_notebook_back(tmp_path / "problem7.ipynb") == nbformat.read(tmp_path / "problem7.ipynb", as_version=4)


def test_the_kernels_outcomes_of_a_spoiled_file_are_a_note_never_a_hang(tmp_path):
    os.mkfifo(tmp_path / "problem6.ipynb")
    notes = []
    assert promptly(kernel_outcomes, tmp_path / "problem6.ipynb", notes) == {}
    assert notes == ["problem6: its executed notebook was overwritten by the submission's own code; the reasons its "
                     "cells failed cannot be shown"]
    assert kernel_outcomes(tmp_path / "problem5.ipynb", notes) == {} and len(notes) == 1  # not submitted: no note


def executed_with(reason: str, name: str = "problem7") -> nbformat.NotebookNode:
    """The release's notebook as the execute step leaves one it did not grade: each code cell failed with the
    grader's reason."""
    notebook = release_notebook(name)
    for cell in notebook.cells:
        if cell.cell_type == "code":
            cell.outputs = [nbformat.v4.new_output("error", ename=STOPPED, evalue=reason, traceback=[])]
    return notebook


@pytest.mark.parametrize("template", [SPOILED_WHILE, SPOILED_BEFORE], ids=["while", "before"])
def test_a_notebook_not_graded_scores_0_whatever_the_verdict_with_the_graders_reason(tmp_path, template):
    reason = template.format(name="problem7", what="a FIFO")
    nbformat.write(executed_with(reason), tmp_path / "problem7.ipynb")
    notes = []
    kernel = kernel_outcomes(tmp_path / "problem7.ipynb", notes)
    assert notes == [reason]
    tests = [c for c in JUDGED if c.notebook == "problem7"]
    grades = [CellGrade("problem7", c.grade_id, 0.0, c.points, False) for c in tests]
    verdicts = {c.grade_id: CellVerdict(True, "", recorded=True) for c in tests}  # its records were right
    cells, review = score(grades, verdicts, kernel)
    assert [(c.points, c.message) for c in cells] == [(0.0, reason)] * len(tests)
    assert review == [] and not any(is_stop(c.message) for c in cells)  # graded, not incomplete


def test_a_submissions_own_error_of_that_name_with_other_words_is_not_the_graders(tmp_path):
    reason = "problem7: its file was replaced by the submission's own code (a hoax) while it ran; its cells score 0"
    nbformat.write(executed_with(reason), tmp_path / "problem7.ipynb")
    notes = []
    kernel_outcomes(tmp_path / "problem7.ipynb", notes)
    assert notes == []


def test_formgrader_shows_the_submitted_notebook_where_the_executed_file_is_a_fifo(tmp_path):
    submitted = tmp_path / "sanitized" / "problem7.ipynb"
    submitted.parent.mkdir()
    nbformat.write(release_notebook(), submitted)
    (tmp_path / "autograded").mkdir()
    os.mkfifo(tmp_path / "autograded" / "problem7.ipynb")
    cells = [CellResult(c.notebook, c.grade_id, 0.0, c.points, "") for c in JUDGED if c.notebook == "problem7"]
    notes = []
    kept = promptly(for_formgrader, {"problem7": submitted}, tmp_path / "autograded", cells, notes)
    assert sorted(kept) == ["autograded/problem7.ipynb", "submitted/problem7.ipynb"]
    assert notes == [SPOILED.format(name="problem7")]
