"""The autograder an instructor uploads to Gradescope: ``gradescope/ps3-autograder.zip``.

    setup.sh, run_autograder   from scripts/gradescope/: Gradescope runs them as root (at build, per submission)
    settings.sh                the package's options (Settings): the autograder timeout set in Gradescope, from
                               which every limit is derived, and when students see each test
    requirements.txt           the course's packages, pinned as pyproject.toml pins them
    ps3/                       the course root: nbgrader_config.py, source/ps3 (the notebooks with their hidden
                               tests, the training lab), autograder/ and solutions/

Nothing else of the repository: no release, no tests, no examples, no grading folders. The zip is built from the
tree alone (sorted, fixed times: reproducible bytes) and not committed (it holds the references); ``--check``
says whether a zip an instructor has is what the tree builds now.
"""

from __future__ import annotations

import io
import tomllib
import zipfile
from pathlib import Path

from dataclasses import dataclass

from .course import ASSIGNMENT, ROOT, course_files, reproducible_zip, source_dir
from .options import Limits

PACKAGE = Path("gradescope") / f"{ASSIGNMENT}-autograder.zip"  # under the repository
SCRIPTS = Path("scripts") / "gradescope"
CODE = ("autograder", "solutions")  # the grader and the references, next to the course's source
COURSE = "ps3"  # the folder of the zip that is the course root (the grader's ROOT once unpacked)
SETTINGS = "settings.sh"


@dataclass(frozen=True)
class Settings:
    """What an instructor sets when building the zip (run_autograder reads them from SETTINGS; an environment
    variable of the same name still wins, for tests)."""

    server_timeout: int = 1200  # seconds: the "Autograder timeout" set in Gradescope (the README's 20 minutes)
    visibility: str = "visible"  # Gradescope's visibility of each test

    def __post_init__(self) -> None:
        Limits.within(self.server_timeout)  # refuses a timeout that leaves no time to grade

    def script(self) -> str:
        return "".join([
            f"# written by `python -m autograder gradescope-package --server-timeout {self.server_timeout} "
            f"--visibility {self.visibility}`\n",
            "# PS3_SERVER_TIMEOUT must equal the autograder timeout set in Gradescope (seconds): every limit comes "
            "from it\n",
            f': "${{PS3_SERVER_TIMEOUT:={self.server_timeout}}}"\n',
            f': "${{PS3_VISIBILITY:={self.visibility}}}"\n'])


def requirements(root: Path = ROOT) -> str:
    """requirements.txt: the course's dependencies as pyproject.toml gives them (the pins explained there)."""
    project = tomllib.loads((root / "pyproject.toml").read_text())["project"]
    return "".join(["# the packages of smdl-ps3, pinned as its pyproject.toml pins them (reasons there)\n",
                    *(f"{dependency}\n" for dependency in project["dependencies"])])


def package_entries(root: Path = ROOT, settings: Settings = Settings()) -> list[tuple[str, bytes, int]]:
    """The zip's (name, data, mode) entries."""
    entries = [(path.name, path.read_bytes(), 0o755) for path in course_files(root / SCRIPTS)]
    entries.append((SETTINGS, settings.script().encode(), 0o644))
    entries.append(("requirements.txt", requirements(root).encode(), 0o644))
    entries.append((f"{COURSE}/nbgrader_config.py", (root / "nbgrader_config.py").read_bytes(), 0o644))
    for folder in [source_dir(root), *(root / name for name in CODE)]:
        entries += [(f"{COURSE}/{path.relative_to(root).as_posix()}", path.read_bytes(), 0o644)
                    for path in course_files(folder)]
    return entries


def build_package(root: Path = ROOT, settings: Settings = Settings()) -> bytes:
    return reproducible_zip(package_entries(root, settings))


def differences(data: bytes, path: Path) -> list[str]:
    """How the zip at ``path`` differs from ``data`` (the zip the tree builds): a line per file."""
    if not path.is_file():
        return [f"missing: {path}"]
    with zipfile.ZipFile(path) as old, zipfile.ZipFile(io.BytesIO(data)) as new:
        before = {i.filename: old.read(i) for i in old.infolist()}
        after = {i.filename: new.read(i) for i in new.infolist()}
    lines = [f"{'changed' if name in before and name in after else 'only in the tree' if name in after else 'gone'}"
             f": {name}" for name in sorted(before.keys() | after.keys()) if before.get(name) != after.get(name)]
    if not lines and path.read_bytes() != data:
        lines.append(f"same files, other bytes: {path} was not built by this command")
    return lines


def write_package(out: Path | None = None, root: Path = ROOT, check: bool = False,
                  settings: Settings = Settings()) -> tuple[Path, list[str]]:
    """Write the zip (default: gradescope/ps3-autograder.zip); with ``check``, write nothing and say how the one
    there differs from what the tree builds with these settings (no lines: up to date)."""
    out = Path(out) if out else root / PACKAGE
    data = build_package(root, settings)
    if check:
        return out, differences(data, out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(data)
    return out, []
