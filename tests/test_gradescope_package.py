"""The Gradescope autograder package: what it holds (fast), and the zip unpacked into a root laid out like a
Gradescope container, set up and run as Gradescope runs it (slow).

Gradescope's containers (Docker) are expected to refuse the namespaces bubblewrap needs, so the slow tests run
``run_autograder --no-namespaces``: the students' kernels as a user id of their own, with the references readable
by root only. That mode needs a Python every user may run; this machine's virtual environment is built on one in
root's home, so the tests make one from the system's Python of the same version with this environment's packages.
"""

import io
import json
import os
import shutil
import stat
import subprocess
import sys
import tempfile
import tomllib
import zipfile
from pathlib import Path

import pytest

from autograder.isolation import memory
from autograder.course import ASSIGNMENT, ROOT
from autograder.gradescope_package import COURSE, SETTINGS, Settings, build_package, differences
from autograder.isolation import sandbox
from autograder.isolation.containment import unreadable_for_kernels
from autograder.testing.examples import EXAMPLES
from autograder.testing.redteam import ATTACKS, notebook_bytes
from mnist_lab.data import default_root as mnist_dir

RESULT_FIELDS = {"score", "execution_time", "output", "tests"}
TEST_FIELDS = {"name", "score", "max_score", "status", "output"}


def _zip_entries(data: bytes) -> dict[str, zipfile.ZipInfo]:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        return {info.filename: info for info in archive.infolist()}


def test_the_package_holds_the_scripts_the_course_and_the_references_and_nothing_else():
    data = build_package()
    assert build_package() == data  # reproducible bytes
    entries = _zip_entries(data)
    for script in ("setup.sh", "run_autograder"):
        assert stat.S_IMODE(entries[script].external_attr >> 16) == 0o755, script
    assert {f"{COURSE}/nbgrader_config.py", f"{COURSE}/solutions/problem6.py", f"{COURSE}/autograder/cli.py",
            f"{COURSE}/source/{ASSIGNMENT}/problem6.ipynb", f"{COURSE}/source/{ASSIGNMENT}/mnist_lab/handin.py",
            "requirements.txt"} <= set(entries)
    tops = {name.split("/")[1] for name in entries if name.startswith(f"{COURSE}/") and name.count("/") > 1}
    assert tops == {"autograder", "solutions", "source"}  # no release, tests, examples or grading folders
    assert not [name for name in entries if "__pycache__" in name or name.endswith(".pyc")]
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        pinned = [line for line in archive.read("requirements.txt").decode().splitlines()
                  if line and not line.startswith("#")]
    assert pinned == tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]


def test_check_names_what_differs_in_a_zip_an_instructor_has(tmp_path):
    fresh = build_package()
    current = tmp_path / "current.zip"
    current.write_bytes(fresh)
    assert differences(fresh, current) == []
    stale = tmp_path / "stale.zip"
    with zipfile.ZipFile(io.BytesIO(fresh)) as source, zipfile.ZipFile(stale, "w") as target:
        for info in source.infolist():
            if info.filename != f"{COURSE}/solutions/problem7.py":
                data = source.read(info)
                mended = info.filename == f"{COURSE}/solutions/problem6.py"
                target.writestr(info, data + b"# mended\n" if mended else data)
    assert differences(fresh, stale) == [f"changed: {COURSE}/solutions/problem6.py",
                                         f"only in the tree: {COURSE}/solutions/problem7.py"]
    assert differences(fresh, tmp_path / "none.zip") == [f"missing: {tmp_path / 'none.zip'}"]
    done = subprocess.run([sys.executable, "-m", "autograder", "gradescope-package", "--out", str(stale), "--check"],
                          capture_output=True, text=True)
    assert done.returncode == 1 and f"changed: {COURSE}/solutions/problem6.py" in done.stdout


def _settings_seen(data: bytes, tmp_path: Path, environment: dict) -> list[str]:
    """PS3_SERVER_TIMEOUT and PS3_VISIBILITY as run_autograder sees them after sourcing the zip's settings."""
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        (tmp_path / SETTINGS).write_bytes(archive.read(SETTINGS))
    shown = subprocess.run(["bash", "-euc", f'. "{tmp_path / SETTINGS}"; echo "$PS3_SERVER_TIMEOUT $PS3_VISIBILITY"'],
                           capture_output=True, text=True, check=True,
                           env={"PATH": os.environ["PATH"], **environment})
    return shown.stdout.split()


def test_the_gradescope_timeout_and_visibility_are_options_of_the_package(tmp_path):
    assert _settings_seen(build_package(), tmp_path, {}) == ["1200", "visible"]
    longer = build_package(settings=Settings(server_timeout=2700, visibility="after_due_date"))
    assert _settings_seen(longer, tmp_path, {}) == ["2700", "after_due_date"]
    assert _settings_seen(longer, tmp_path, {"PS3_SERVER_TIMEOUT": "900"}) == ["900", "after_due_date"]
    run_autograder = (ROOT / "scripts" / "gradescope" / "run_autograder").read_text()
    assert '--server-timeout "$PS3_SERVER_TIMEOUT"' in run_autograder and f'/{SETTINGS}"' in run_autograder
    out = tmp_path / "ps3-autograder.zip"
    done = subprocess.run([sys.executable, "-m", "autograder", "gradescope-package", "--out", str(out),
                           "--server-timeout", "200"], capture_output=True, text=True)
    assert done.returncode == 2 and "leaves no time to grade" in done.stderr and not out.exists()
    done = subprocess.run([sys.executable, "-m", "autograder", "gradescope-package", "--out", str(out),
                           "--server-timeout", "2700", "--visibility", "after_due_date"], capture_output=True, text=True)
    assert done.returncode == 0 and "timeout set to 2700 s" in done.stdout and out.read_bytes() == longer


# --- the zip in a Gradescope-like root ------------------------------------------------------------------------

def _python_for_everyone(folder: Path) -> Path:
    """A virtual environment every user may run: the system's Python of this version, with this environment's
    packages (a .pth file) and tools (links: nbgrader runs alembic by name)."""
    base = Path(f"/usr/bin/python{sys.version_info.major}.{sys.version_info.minor}")
    site = next(Path(p) for p in sys.path if p.endswith("site-packages") and Path(p).is_dir())
    if not base.is_file() or unreadable_for_kernels([str(site)]):
        pytest.skip(f"needs {base} and this environment's packages ({site}) readable by every user")
    subprocess.run([str(base), "-m", "venv", "--without-pip", str(folder)], check=True)
    target = next(folder.glob("lib/python*/site-packages"))
    (target / "ps3-packages.pth").write_text(f"{site}\n")
    for tool in Path(sys.executable).parent.iterdir():
        if not (folder / "bin" / tool.name).exists():
            (folder / "bin" / tool.name).symlink_to(tool)
    return folder / "bin" / "python"


@pytest.fixture(scope="module")
def gradescope(tmp_path_factory):
    """The zip unpacked to <root>/source, set up with ``setup.sh --check``; a function that runs run_autograder
    on a submission folder and returns (results.json, the run)."""
    if not sandbox.can_switch_user():
        pytest.skip("the Gradescope run needs root (Gradescope runs it as root)")
    root, home = tmp_path_factory.mktemp("gradescope-root"), tmp_path_factory.mktemp("gradescope-home")
    prefix = Path(tempfile.mkdtemp(prefix="ps3-gradescope-prefix-", dir="/tmp"))  # /opt/ps3 of the container
    prefix.chmod(0o755)
    python = _python_for_everyone(prefix / "venv")
    (prefix / "mnist").mkdir()
    for name in os.listdir(mnist_dir()):  # what setup.sh would fetch (torchvision's download, at build time)
        if "ubyte" in name:
            shutil.copy(mnist_dir() / name, prefix / "mnist" / name)
    with zipfile.ZipFile(io.BytesIO(build_package())) as archive:
        for info in archive.infolist():
            target = root / "source" / info.filename
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(archive.read(info))
            target.chmod(stat.S_IMODE(info.external_attr >> 16))
    env = {"PATH": "/usr/bin:/bin", "HOME": str(home), "PS3_PREFIX": str(prefix), "PS3_AUTOGRADER_ROOT": str(root)}
    setup = subprocess.run(["bash", str(root / "source" / "setup.sh"), "--check"], capture_output=True, text=True,
                           env={**env, "PS3_PYTHON": str(python)}, cwd=root / "source", timeout=600)
    assert setup.returncode == 0, setup.stdout + setup.stderr
    assert "has every pinned package" in setup.stdout and "MNIST verified" in setup.stdout

    def run(submission: Path, *options: str) -> tuple[dict, subprocess.CompletedProcess]:
        shutil.rmtree(root / "submission", ignore_errors=True)
        shutil.rmtree(root / "results", ignore_errors=True)
        shutil.copytree(submission, root / "submission")
        done = subprocess.run([str(root / "source" / "run_autograder"), *options], capture_output=True, text=True,
                              env=env, cwd="/", timeout=900)
        assert done.returncode == 0, done.stdout + done.stderr
        return json.loads((root / "results" / "results.json").read_text()), done

    yield root, run
    shutil.rmtree(prefix)


def _check_fields(results: dict) -> dict:
    """results.json as Gradescope's specification has it; the tests by name."""
    assert RESULT_FIELDS <= set(results) and isinstance(results["execution_time"], float)
    assert results["output_format"] == results["test_output_format"] == "text"
    for test in results["tests"]:
        assert TEST_FIELDS <= set(test) and test["status"] in ("passed", "failed"), test
        assert 0 <= test["score"] <= test["max_score"]
    assert results["score"] == pytest.approx(sum(t["score"] for t in results["tests"]))
    return {test["name"]: test for test in results["tests"]}


@pytest.mark.slow
def test_setup_leaves_the_autograder_to_root_alone(gradescope):
    root, _ = gradescope
    source = root / "source"
    assert not [p for p in [source, *source.rglob("*")] if p.stat().st_mode & 0o077]


@pytest.mark.slow
def memory_limit_here() -> str:
    """How a submission's memory is limited on this machine (isolation/memory.py): what results.json must say."""
    found = memory.place()
    return found.kind if found else memory.PER_PROCESS


def test_run_autograder_grades_the_reference_and_the_crop_only_example(gradescope):
    root, run = gradescope
    reference, done = run(EXAMPLES / "reference" / ASSIGNMENT, "--no-namespaces")
    tests = _check_fields(reference)
    assert reference["score"] == 12.5 and len(tests) == 12 and all(t["status"] == "passed" for t in tests.values())
    assert reference["extra_data"] == {"contained": True, "containment": "user id",
                                       "memory_limit": memory_limit_here()}
    assert "3.5 points of written answers are graded by hand" in reference["output"]
    assert "readable by root only" in done.stdout

    crop, _ = run(EXAMPLES / "crop_only" / ASSIGNMENT, "--no-namespaces")
    lost = {name: t for name, t in _check_fields(crop).items() if t["score"] < t["max_score"]}
    assert crop["score"] == 11.5 and list(lost) == ["problem5: 5c auto"]
    assert "rotat" in lost["problem5: 5c auto"]["output"]  # the grader's message, as plain text


def _found(kept: Path) -> str:
    """What the attack printed about what it could read (from the executed notebook, kept with --out)."""
    notebook = json.loads((kept / "autograded" / "submission" / ASSIGNMENT / "problem6.ipynb").read_text())
    return next(line for cell in notebook["cells"] for output in cell.get("outputs", [])
                for line in "".join(output.get("text", "")).splitlines() if line.startswith("found:"))


@pytest.mark.slow
def test_without_namespaces_the_references_stay_out_of_a_submissions_reach(gradescope, tmp_path):
    """The attack reads solutions/problem6.py and the notebooks with hidden tests wherever it finds them under
    the autograder's root: run without any containment (as the grader itself) it finds both and gets the point it
    did not earn; as a user id of its own it finds neither, and its delta_output scores 0 with the grader's
    message."""
    root, run = gradescope
    submission = tmp_path / "submission"
    submission.mkdir()
    (submission / "problem6.ipynb").write_bytes(notebook_bytes(ATTACKS["read_autograder"]))
    delta_output = "problem6: 6 delta_output"

    unprotected, done = run(submission, "--no-sandbox", "--out", str(tmp_path / "unprotected"))
    assert _check_fields(unprotected)[delta_output]["score"] == 1.0  # the theft works where nothing stops it
    assert "WARNING" in done.stdout and "WITHOUT containment" in done.stdout
    found = _found(tmp_path / "unprotected")
    assert f"{COURSE}/solutions/problem6.py" in found and f"{COURSE}/source/{ASSIGNMENT}/problem6.ipynb" in found

    protected, _ = run(submission, "--no-namespaces", "--out", str(tmp_path / "protected"))
    test = _check_fields(protected)[delta_output]
    assert test["score"] == 0 and "missing the factor sigma'(z3[o])" in test["output"]
    assert protected["extra_data"]["containment"] == "user id"
    assert _found(tmp_path / "protected") == "found: None []"
