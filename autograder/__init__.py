"""The grading runner and its checkers (see the README's grading section)."""

import os
import sys
from pathlib import Path

# nbgrader's Gradebook runs the `alembic` command by name: make this interpreter's scripts (the virtual
# environment's bin folder) findable even when the environment was not activated.
_bin = str(Path(sys.executable).parent)
if _bin not in os.environ.get("PATH", "").split(os.pathsep):
    os.environ["PATH"] = os.pathsep.join([_bin, os.environ.get("PATH", "")])
