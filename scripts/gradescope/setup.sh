#!/usr/bin/env bash
# Gradescope runs this once, as root, while it builds the autograder's image (the Ubuntu 24.04 base image: see the
# README). It installs what grading needs where every user may read it (the students' code runs as a user id of
# its own), fetches and verifies MNIST, prepares the course, and then closes the autograder's own folder to
# everyone but root: the reference solutions, the hidden tests and the grader's code.
#
#   setup.sh            install (apt, a virtual environment in $PS3_PREFIX, MNIST)
#   setup.sh --check    install nothing: check the Python named by PS3_PYTHON against requirements.txt, then do
#                       the rest (MNIST, the course, the permissions); the tests run it so
#
# PS3_PREFIX (default /opt/ps3) must be the same for run_autograder.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
prefix="${PS3_PREFIX:-/opt/ps3}"
check=false
[[ "${1:-}" == "--check" ]] && check=true

mkdir -p "$prefix"
chmod 755 "$prefix"
if $check; then
    python="${PS3_PYTHON:?setup.sh --check needs PS3_PYTHON: the Python to check}"
else
    apt-get update
    # bubblewrap: the kernels' sandbox, where the container allows namespaces (otherwise they run as a user id of
    # their own: see the README)
    apt-get install -y --no-install-recommends python3 python3-venv bubblewrap ca-certificates
    if ! python3 -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
        echo "setup.sh: the grader needs Python 3.11 or newer; choose the Ubuntu 24.04 base image" >&2
        exit 1
    fi
    python3 -m venv "$prefix/venv"
    "$prefix/venv/bin/pip" install --no-cache-dir --quiet -r "$here/requirements.txt"
    python="$prefix/venv/bin/python"
fi

# The pinned packages, as requirements.txt gives them (the same as the course's pyproject.toml).
"$python" - "$here/requirements.txt" <<'CHECK'
import sys
from importlib.metadata import PackageNotFoundError, version
from packaging.requirements import Requirement

wrong = []
for line in open(sys.argv[1]):
    line = line.split("#")[0].strip()
    if not line:
        continue
    requirement = Requirement(line)
    try:
        found = version(requirement.name)
    except PackageNotFoundError:
        found = None
    if found is None or not requirement.specifier.contains(found, prereleases=True):
        wrong.append(f"{requirement} (found: {found or 'not installed'})")
if sys.version_info < (3, 11):
    wrong.append(f"Python >= 3.11 (found: {sys.version.split()[0]})")
if wrong:
    sys.exit("setup.sh: the grading Python lacks: " + "; ".join(wrong))
print(f"setup.sh: {sys.executable} has every pinned package")
CHECK

echo "PS3_PYTHON=$python" > "$prefix/settings"
chmod 644 "$prefix/settings"
export PYTHONPATH="$here/ps3:$here/ps3/source/ps3" MNIST_DIR="$prefix/mnist"
"$python" -m mnist_lab  # fetched and verified once, at build time: grading runs offline
chmod -R a+rX "$prefix/mnist"
"$python" -c 'from autograder.course import generated_course as g; print("setup.sh: course generated in", g())'
chmod -R go-rwx "$here"
echo "setup.sh: done; only root may read $here"
