"""The resilient Execute step: its options travel as nbgrader's own command-line options, like its ``timeout``;
what it takes back from a contained kernel before nbgrader writes there; a notebook whose file a kernel replaced is
not graded (with a stand-in for the kernel where none is needed)."""

import os
import shutil
import tempfile
import threading
import time
from pathlib import Path

import nbformat
import psutil
import pytest
from nbconvert.preprocessors import ExecutePreprocessor
from nbgrader.apps import AutogradeApp

from autograder.course import NbgraderError, generated_course, release_dir, tool_environment
from autograder.submission import execute
from autograder.submission.execute import ResilientExecute
from autograder.submission.scratch import ScratchCourse
from autograder.testing.examples import EXAMPLES


def test_the_limits_reach_the_step_as_nbgrader_arguments():
    app = AutogradeApp()
    app.parse_command_line(execute.arguments(cell_timeout=7, deadline=1767225600.25))
    step = ResilientExecute(config=app.config)
    assert (step.timeout, step.deadline) == (7, 1767225600.25)


def test_a_long_cell_gets_its_own_limit_as_an_nbgrader_argument():
    app = AutogradeApp()
    app.parse_command_line(execute.arguments(7, 0.0, long_cells={"p5c_tests": 14}))
    assert ResilientExecute(config=app.config).long_cells == {"p5c_tests": 14}


@pytest.mark.slow
def test_only_the_long_cell_may_run_past_the_cell_limit(tmp_path):
    """A cell limit of 2 s: the same 3-second cell passes where its grade id has a limit of 6 s of its own, and is
    stopped (as any cell) where it has none; the deadline still bounds both."""
    def cell(grade_id):
        return nbformat.v4.new_code_cell("import time; time.sleep(3)",
                                         metadata={"nbgrader": {"grade_id": grade_id, "grade": True}})
    notebook = nbformat.v4.new_notebook(cells=[cell("p5c_tests"), cell("p5b_tests")])
    step = ResilientExecute(timeout=2, long_cells={"p5c_tests": 6}, deadline=time.time() + 60)
    executed, _ = step.preprocess(notebook, {"metadata": {"path": str(tmp_path)}})
    long, ordinary = executed.cells
    assert not [o for o in long.outputs if o.output_type == "error"]
    stopped = [o for o in ordinary.outputs if o.output_type == "error"]  # interrupted at 2 s (or ended)
    assert "CellTimeoutError" in {o.ename for o in stopped}, stopped


def test_without_arguments_the_course_configuration_decides():
    step = ResilientExecute()
    assert step.deadline == 0.0 and step.output_limit == execute.CELL_OUTPUT_LIMIT
    assert step.shutdown_kernel == "immediate"  # its outputs and files are all there: no graceful shutdown


def test_autograde_runs_in_this_process_and_a_failure_is_an_error_that_leaves_it_as_it_was(tmp_path):
    """nbgrader autograde runs inside the grading process (no second Python): its failure (here: nothing
    submitted) raises NbgraderError, and the working folder and environment it ran with are this process's again."""
    cwd, environment, tempdir = os.getcwd(), dict(os.environ), tempfile.gettempdir()
    with pytest.raises(NbgraderError, match="nbgrader autograde failed"):
        ScratchCourse(tmp_path).autograde("s1", env={**tool_environment(), "PS3_HANDIN_SEED": "7",
                                                     "TMPDIR": str(tmp_path)})
    assert os.getcwd() == cwd and dict(os.environ) == environment and tempfile.gettempdir() == tempdir


def test_nothing_runs_alongside_an_autograde_that_starts_no_kernel(tmp_path):
    ran = []
    with pytest.raises(NbgraderError):
        ScratchCourse(tmp_path).autograde("s1", env={**tool_environment(), "TMPDIR": str(tmp_path)},
                                          meanwhile=lambda: ran.append(1))
    assert ran == []


@pytest.mark.slow
def test_what_runs_alongside_autograde_starts_with_the_first_kernel_and_ends_before_the_environment_is_restored(
        tmp_path):
    """``meanwhile`` (the judge's imports) runs in another thread once a kernel is ready, in the kernels'
    environment, and is joined before this process's environment is restored."""
    seen = {}

    def meanwhile():
        kernels = [p for p in psutil.Process().children(recursive=True) if "ipykernel" in " ".join(p.cmdline())]
        time.sleep(1.0)  # longer than the rest of this autograde: it must still be waited for
        seen.update(thread=threading.current_thread() is not threading.main_thread(),
                    seed=os.environ.get("PS3_HANDIN_SEED"), kernels=len(kernels))
    course = ScratchCourse.copy_of(generated_course(), tmp_path / "course")
    course.submit("s1", {"problem7": EXAMPLES / "reference" / "ps3" / "problem7.ipynb"})
    course.autograde("s1", env={**tool_environment(), "PS3_HANDIN_SEED": "7", "TMPDIR": str(tmp_path)},
                     meanwhile=meanwhile)
    assert seen == {"thread": True, "seed": "7", "kernels": 1}
    assert "PS3_HANDIN_SEED" not in os.environ
    assert [g.grade_id for g in course.grades("s1") if g.notebook == "problem7" and g.score][:1]


def test_what_to_take_back_reaches_the_step_as_nbgrader_arguments():
    app = AutogradeApp()
    app.parse_command_line(execute.arguments(7, 0.0, kernel_uid=200123, kernel_folders=["/a/work", "/b/rt"],
                                             kernel_workdir="/b/rt/autograded/s/ps3"))
    step = ResilientExecute(config=app.config)
    assert (step.kernel_uid, step.kernel_folders, step.kernel_workdir) == \
        (200123, ["/a/work", "/b/rt"], "/b/rt/autograded/s/ps3")


def test_take_back_removes_what_a_kernel_planted_for_roots_writes(tmp_path):
    """A kernel's user id may leave symlinks where root writes next (the executed notebook), or swap a folder on
    the way to its working folder for one: taken back, the folders are real and nothing points out of them."""
    runtime, outside = tmp_path / "runtime", tmp_path / "outside"
    workdir = runtime / "autograded" / "student" / "ps3"
    workdir.mkdir(parents=True)
    outside.mkdir()
    (workdir / "problem7.ipynb").symlink_to(outside / "owned.txt")  # nbgrader would write through it
    (workdir / "answers.json").write_text("{}")
    (workdir / "sub").mkdir()
    (workdir / "sub" / "link").symlink_to(outside, target_is_directory=True)
    os.chown(workdir / "answers.json", 4242, 4242)
    execute.take_back(runtime, workdir)
    for planted in (workdir / "problem7.ipynb", workdir / "sub" / "link"):  # empty files now, owned by root
        assert not planted.is_symlink() and planted.is_file() and planted.stat().st_size == 0, planted
    assert (workdir / "answers.json").stat().st_uid == 0
    (workdir / "problem7.ipynb").write_text("executed")
    assert list(outside.iterdir()) == []
    # A folder on the way replaced by a symlink (to a folder root must not write into) becomes a real one again.
    shutil.rmtree(runtime / "autograded")
    (runtime / "autograded").symlink_to(outside, target_is_directory=True)
    execute.take_back(runtime, workdir)
    assert not (runtime / "autograded").is_symlink() and workdir.is_dir() and list(outside.iterdir()) == []


def notebook_in(folder, name: str):
    """``name``'s released notebook written into ``folder`` as nbgrader writes it before running it; the resources
    nbgrader gives the step with it."""
    notebook = nbformat.read(release_dir() / f"{name}.ipynb", as_version=4)
    nbformat.write(notebook, folder / f"{name}.ipynb")
    return notebook, {"metadata": {"path": str(folder), "name": name}, "unique_key": name}


def kernel_that(action, ran: list):
    """Stands in for nbclient's run of a notebook: the student's code does ``action`` in the kernel's folder."""
    def run(step, nb, resources=None, km=None):
        ran.append(resources["metadata"]["name"])
        action(Path(resources["metadata"]["path"]))
        return nb, resources
    return run


def failures(notebook) -> set:
    """The last error of every code cell, as score.kernel_outcomes reads them."""
    return {f"{o.ename}: {o.evalue}" for c in notebook.cells if c.cell_type == "code"
            for o in c.outputs[-1:] if o.output_type == "error"}


def test_a_notebook_whose_kernel_replaced_its_file_is_not_graded_and_nbgrader_can_write_it(tmp_path, monkeypatch):
    notebook, resources = notebook_in(tmp_path, "problem7")

    def fifo_for_itself(folder):
        (folder / "problem7.ipynb").unlink()
        os.mkfifo(folder / "problem7.ipynb")
    monkeypatch.setattr(ExecutePreprocessor, "preprocess", kernel_that(fifo_for_itself, []))
    executed, _ = ResilientExecute().preprocess(notebook, resources)
    reason = execute.SPOILED_WHILE.format(name="problem7", what="a FIFO")
    assert failures(executed) == {f"{execute.STOPPED}: {reason}"}
    assert (tmp_path / "problem7.ipynb").is_file()  # nbgrader's write goes through at once


def test_a_notebook_an_earlier_kernel_replaced_is_not_run_and_the_next_one_is(tmp_path, monkeypatch):
    """nbgrader writes each notebook into the kernels' shared folder just before it runs it: what problem 6's kernel
    put at problem 7's path is taken back once that kernel has ended, and problem 7 is then not run."""
    ran = []
    monkeypatch.setattr(ExecutePreprocessor, "preprocess", kernel_that(
        lambda folder: (folder / "problem7.ipynb" / "inside").mkdir(parents=True, exist_ok=True), ran))
    six, resources = notebook_in(tmp_path, "problem6")
    executed, _ = ResilientExecute().preprocess(six, resources)
    assert failures(executed) == set() and (tmp_path / "problem7.ipynb").is_file()
    seven, resources = notebook_in(tmp_path, "problem7")
    executed, _ = ResilientExecute().preprocess(seven, resources)
    reason = execute.SPOILED_BEFORE.format(name="problem7", what="a folder")
    assert failures(executed) == {f"{execute.STOPPED}: {reason}"} and ran == ["problem6"]
    monkeypatch.setattr(ExecutePreprocessor, "preprocess", kernel_that(lambda folder: None, ran))
    again, resources = notebook_in(tmp_path, "problem7")  # found once: a regrade runs it again
    ResilientExecute().preprocess(again, resources)
    assert ran == ["problem6", "problem7"]
