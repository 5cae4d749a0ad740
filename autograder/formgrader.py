"""Start nbgrader's formgrader on a grading folder, for TAs to grade the written answers.

It is a Jupyter server whose root is the grading folder (an nbgrader course: outputs/grading_folder.py), on the
loopback interface with a token by default. A TA on another machine reaches it through an SSH tunnel
(``ssh -L 8787:127.0.0.1:8787 grader-host``) and opens the printed address.
"""

from __future__ import annotations

import os
import secrets
import sys
from pathlib import Path

from .course import tool_environment
from .outputs import grading_folder


def command(out: Path, ip: str = "127.0.0.1", port: int = 8787, token: str | None = None) -> tuple[list[str], str]:
    """The server's command line (run it in ``out``) and the address a browser opens."""
    out = Path(out).resolve()
    grading_folder.db_url(out)  # refuses a folder that was never graded into
    token = token or secrets.token_urlsafe(24)
    exchange = out / ".exchange"  # nbgrader's assignment exchange is not used; a folder of its own keeps it quiet
    exchange.mkdir(exist_ok=True)
    args = [sys.executable, "-m", "jupyter", "server", f"--ServerApp.root_dir={out}", f"--ServerApp.ip={ip}",
            f"--ServerApp.port={port}", "--ServerApp.port_retries=0", "--ServerApp.open_browser=False",
            f"--IdentityProvider.token={token}", f"--Exchange.root={exchange}",
            "--ServerApp.terminals_enabled=False"]  # TAs grade; they need no shell on the grading machine
    if os.geteuid() == 0:  # a grading server run as root (the sandbox needs it); Jupyter refuses without this
        args.append("--allow-root")
    return args, f"http://{ip}:{port}/formgrader?token={token}"


def environment() -> dict:
    return tool_environment()
