"""The student's side as a student meets it: release/ps3.zip unpacked into an empty folder outside the repository,
MNIST from a copy named by MNIST_DIR, and `nbgrader validate` run there on the reference answers (they pass), on
the untouched release (it fails with the stubs' messages) and on a notebook with a cell over the time limit (it
fails; nbgrader alone would say "Success!")."""

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import nbformat
import pytest

from autograder.course import ASSIGNMENT, NOTEBOOKS, RELEASE_TIME, ROOT, release_dir
from autograder.release import bundle_path
from autograder.submission.sanitize import repair
from autograder.testing.examples import EXAMPLES
from mnist_lab.data import default_root

# nbgrader's markers of answers and hidden tests, the reference package, a line of a reference written answer
SECRETS = ("BEGIN SOLUTION", "BEGIN HIDDEN TESTS", "import solutions", "from solutions", "At the same 468 steps")


def test_the_zip_holds_exactly_the_release_and_no_answer():
    with zipfile.ZipFile(bundle_path()) as archive:
        names = sorted(archive.namelist())
        texts = {name: archive.read(name).decode("utf-8") for name in names}
    released = sorted(f"{ASSIGNMENT}/{p.relative_to(release_dir()).as_posix()}" for p in release_dir().rglob("*")
                      if p.is_file() and "__pycache__" not in p.parts)
    assert names == released
    for name in (f"{ASSIGNMENT}/README.md", f"{ASSIGNMENT}/requirements.txt", f"{ASSIGNMENT}/nbgrader_config.py",
                 *(f"{ASSIGNMENT}/{n}.ipynb" for n in NOTEBOOKS)):
        assert name in names
    for name, text in texts.items():
        for secret in SECRETS:
            assert secret not in text, (name, secret)


# Import names whose package is named otherwise, or comes with another requirement (pillow with torchvision,
# IPython and the widgets with jupyterlab).
PROVIDED_BY = {"PIL": "torchvision", "IPython": "jupyterlab", "ipywidgets": "jupyterlab"}


def test_every_package_the_bundle_imports_is_in_its_requirements():
    """A student installs requirements.txt only (their README says so): every third-party module the lab and the
    notebooks import must be in it (tqdm was not, and every training imports it)."""
    import ast
    import re

    with zipfile.ZipFile(bundle_path()) as archive:
        sources = {name: archive.read(name).decode() for name in archive.namelist() if name.endswith(".py")}
        for name in archive.namelist():
            if name.endswith(".ipynb"):
                notebook = nbformat.reads(archive.read(name).decode(), as_version=4)
                sources[name] = "\n".join(c.source for c in notebook.cells if c.cell_type == "code"
                                          and not c.source.lstrip().startswith(("%", "!")))
        requirements = archive.read(f"{ASSIGNMENT}/requirements.txt").decode()
    required = {re.split(r"[<>=\s\[]", line.strip())[0].lower() for line in requirements.splitlines()
                if line.strip() and not line.startswith("#")}
    imported = set()
    for name, text in sources.items():
        for node in ast.walk(ast.parse(text, name)):
            if isinstance(node, ast.Import):
                imported |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
                imported.add(node.module.split(".")[0])
    third_party = {name for name in imported if name not in sys.stdlib_module_names and name != "mnist_lab"}
    missing = {name for name in third_party if PROVIDED_BY.get(name, name).lower() not in required}
    assert not missing, f"imported by the bundle but not in its requirements.txt: {sorted(missing)}"
    assert "tqdm" in third_party


def test_the_zips_files_are_as_old_as_the_release():
    """JupyterLab shows each file's age: the release's date, not a placeholder years back ("6y ago")."""
    with zipfile.ZipFile(bundle_path()) as archive:
        assert {info.date_time for info in archive.infolist()} == {RELEASE_TIME}
    assert RELEASE_TIME[0] >= 2026


@pytest.fixture(scope="module")
def unpacked(tmp_path_factory):
    """ps3.zip unpacked in an empty folder outside the repository, and a copy of MNIST's raw files."""
    base = tmp_path_factory.mktemp("student")
    assert ROOT not in base.parents
    with zipfile.ZipFile(bundle_path()) as archive:
        archive.extractall(base)
    mnist = base / "mnist"
    mnist.mkdir()
    for raw in default_root().glob("*-ubyte*"):
        shutil.copy(raw, mnist)
    return base / ASSIGNMENT, mnist


def with_reference_answers(released: Path, name: str):
    """The released notebook with the reference answers in its answer cells (the grader's own repair step takes
    exactly the answers from a notebook: here the reference example's), test cells as released."""
    reference = nbformat.read(EXAMPLES / "reference" / ASSIGNMENT / f"{name}.ipynb", as_version=4)
    return repair(reference, nbformat.read(released, as_version=4), name).notebook


def validate(folder: Path, mnist: Path, *notebooks: str, options=()) -> subprocess.CompletedProcess:
    """`nbgrader validate` as a student runs it in the unpacked folder (this environment's nbgrader)."""
    env = {**os.environ, "MNIST_DIR": str(mnist), "PATH": f"{Path(sys.executable).parent}{os.pathsep}"
           f"{os.environ.get('PATH', '')}"}
    env.pop("PYTHONPATH", None)  # the kernel imports mnist_lab from the folder, as a student's does
    return subprocess.run([sys.executable, "-m", "nbgrader", "validate", *notebooks, *options], cwd=folder, env=env,
                          capture_output=True, text=True, timeout=1800)


@pytest.mark.slow
@pytest.mark.acceptance
def test_the_reference_answers_pass_validate_in_the_unpacked_bundle(unpacked):
    """The student's whole path: the experiment with its three seeds and MNIST's cache made from the raw files, about
    six minutes on the 2-core machine (`make acceptance`; CI validates the filled-in notebooks in test_release)."""
    folder, mnist = unpacked
    work = folder.parent / "reference"
    shutil.copytree(folder, work)
    for name in NOTEBOOKS:  # the released notebooks with the reference answers typed in, as a student's would be
        nbformat.write(with_reference_answers(work / f"{name}.ipynb", name), work / f"{name}.ipynb")
    done = validate(work, mnist, *(f"{n}.ipynb" for n in NOTEBOOKS))
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert done.stdout.count("Success! Your notebook passes all the tests.") == 3, done.stdout
    assert (mnist / "mnist-cache.npz").is_file()  # the lab used MNIST_DIR


@pytest.mark.slow
def test_the_untouched_release_fails_with_the_stub_messages(unpacked):
    folder, mnist = unpacked
    done = validate(folder, mnist, *(f"{n}.ipynb" for n in NOTEBOOKS))
    assert done.stdout.count("VALIDATION FAILED") == 3 and "Success!" not in done.stdout, done.stdout
    assert "NotImplementedError" in done.stdout


@pytest.mark.slow
def test_a_cell_over_the_time_limit_fails_validate(unpacked):
    folder, mnist = unpacked
    work = folder.parent / "slow"
    shutil.copytree(folder, work)
    notebook = with_reference_answers(work / "problem7.ipynb", "problem7")
    notebook.cells.insert(1, nbformat.v4.new_code_cell("import time\ntime.sleep(60)"))
    nbformat.write(notebook, work / "problem7.ipynb")
    done = validate(work, mnist, "problem7.ipynb", options=["--Execute.timeout=5"])
    assert "Success!" not in done.stdout, done.stdout
    assert done.returncode != 0 and "timed out" in done.stdout + done.stderr, done.stdout[-2000:] + done.stderr[-2000:]
