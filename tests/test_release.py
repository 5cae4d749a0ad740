"""The committed release is what nbgrader generates from the source, holds no solutions, and works for a student."""

import shutil
import subprocess
import sys

import nbformat
import pytest

from autograder import release
from autograder.course import ROOT, release_dir, source_dir, tool_environment

NOTEBOOKS = ("problem5", "problem6", "problem7")


def test_source_notebooks_and_release_are_up_to_date():
    """Regenerates everything (solution sync, notebooks, nbgrader) in scratch space and compares."""
    assert release.release(check=True) == []


def test_drift_in_a_solution_region_is_detected(tmp_path):
    shutil.copy(ROOT / "nbgrader_config.py", tmp_path)
    shutil.copytree(ROOT / "source", tmp_path / "source")
    shutil.copytree(ROOT / "release", tmp_path / "release")
    pct = source_dir(tmp_path) / "problem7.pct.py"
    pct.write_text(pct.read_text().replace("return all(zi > 0 for zi in z)", "return all(zi >= 0 for zi in z)"))
    # solutions/ is the truth: the edited region is reported (its notebook would be rebuilt from the reference)
    assert release.release(tmp_path, check=True) == ["out of date: source/ps3/problem7.pct.py"]


def test_release_has_no_solutions_no_hidden_tests_and_ships_the_lab():
    folder = release_dir()
    for name in NOTEBOOKS:
        text = (folder / f"{name}.ipynb").read_text()
        for secret in ("BEGIN SOLUTION", "BEGIN HIDDEN TESTS", "autograder", "nn.Conv2d(1, 8", "Heaviside(z1)"):
            assert secret not in text, f"{name}.ipynb leaks {secret!r}"
        assert "raise NotImplementedError()" in text
    assert (folder / "mnist_lab" / "train.py").read_text() == (source_dir() / "mnist_lab" / "train.py").read_text()
    assert not list(folder.rglob("*.pct.py"))


def test_source_notebooks_have_no_outputs():
    for name in NOTEBOOKS:
        nb = nbformat.read(source_dir() / f"{name}.ipynb", as_version=4)
        assert all(not c.get("outputs") and c.get("execution_count") is None for c in nb.cells if c.cell_type == "code")


def filled_in(name: str, destination):
    """The release notebook with every solution cell answered as the reference does (a diligent student)."""
    student = nbformat.read(release_dir() / f"{name}.ipynb", as_version=4)
    answers = {c.id: c.source for c in nbformat.read(source_dir() / f"{name}.ipynb", as_version=4).cells}
    for cell in student.cells:
        if cell.get("metadata", {}).get("nbgrader", {}).get("solution"):
            cell.source = "\n".join(line for line in answers[cell.id].splitlines() if "### " not in line)
    path = destination / f"{name}.ipynb"
    nbformat.write(student, path)
    return path


def validate(path):
    return subprocess.run([sys.executable, "-m", "nbgrader", "validate", str(path)], capture_output=True, text=True,
                          env=tool_environment(), cwd=path.parent, timeout=900)


@pytest.mark.slow
@pytest.mark.parametrize("name", ["problem6", "problem7", "problem5"])
def test_filled_in_release_notebook_passes_nbgrader_validate(tmp_path, name):
    result = validate(filled_in(name, tmp_path))
    assert "Success! Your notebook passes all the tests." in result.stdout, result.stdout + result.stderr


@pytest.mark.slow
def test_untouched_release_notebook_fails_validate_with_the_stub_error(tmp_path):
    path = tmp_path / "problem7.ipynb"
    shutil.copy(release_dir() / "problem7.ipynb", path)
    result = validate(path)
    assert "Success!" not in result.stdout and "NotImplementedError" in result.stdout + result.stderr


def test_drift_in_the_shipped_lab_is_detected(tmp_path):
    shutil.copy(ROOT / "nbgrader_config.py", tmp_path)
    shutil.copytree(ROOT / "source", tmp_path / "source")
    shutil.copytree(ROOT / "release", tmp_path / "release")
    shipped = release_dir(tmp_path) / "mnist_lab" / "train.py"
    shipped.write_text(shipped.read_text() + "\n# edited by hand\n")
    assert release.release(tmp_path, check=True) == ["differs: release/ps3/mnist_lab/train.py"]
