"""Start nbgrader's formgrader on a grading folder, for TAs to grade the written answers.

It is a Jupyter server whose root is the grading folder (an nbgrader course: outputs/grading_folder.py), on the
loopback interface with a token by default. A TA on another machine reaches it through an SSH tunnel
(``ssh -L 8787:127.0.0.1:8787 grader-host``) and opens the printed address.

The pages show students' notebooks, so two walls keep a student's code out of the TA's browser: the notebooks are
inert (outputs/inert.py), and every page nbconvert renders sanitizes its HTML again (``sanitize_html``). A
Content-Security-Policy is the third: scripts only from this server (and MathJax's CDN), no request, image, frame
or form to any other host, so even a script that ran could not send the TA's token or a student's data away. It
cannot forbid inline scripts: formgrader's own pages are made of them.
"""

from __future__ import annotations

import json
import os
import secrets
import sys
from pathlib import Path

from .course import tool_environment
from .outputs import grading_folder

MATHJAX = "https://cdnjs.cloudflare.com"  # where nbconvert's templates load MathJax from (LaTeX in the answers)
CONTENT_SECURITY_POLICY = "; ".join([
    "default-src 'self'",
    f"script-src 'self' 'unsafe-inline' 'unsafe-eval' {MATHJAX}",  # formgrader's pages are inline scripts
    f"style-src 'self' 'unsafe-inline' {MATHJAX}",
    f"font-src 'self' data: {MATHJAX}",
    "img-src 'self' data:",  # students' plots are data: URIs; no image from elsewhere (no tracking pixel)
    "connect-src 'self'",
    "object-src 'none'", "frame-src 'none'", "worker-src 'none'", "media-src 'none'",
    "base-uri 'self'", "form-action 'self'", "frame-ancestors 'self'",
])
SERVER_CONFIG = ".formgrader_server_config.json"
GUARD = "autograder.formgrader_guard"  # the server extension that refuses what formgrader offers but we do not own


def command(out: Path, ip: str = "127.0.0.1", port: int = 8787, token: str | None = None) -> tuple[list[str], str]:
    """The server's command line (run it in ``out``) and the address a browser opens."""
    out = Path(out).resolve()
    grading_folder.db_url(out)  # refuses a folder that was never graded into
    token = token or secrets.token_urlsafe(24)
    exchange = out / ".exchange"  # nbgrader's assignment exchange is not used; a folder of its own keeps it quiet
    exchange.mkdir(exist_ok=True)
    config = out / SERVER_CONFIG
    config.write_text(json.dumps({"ServerApp": {
        "tornado_settings": {"headers": {"Content-Security-Policy": CONTENT_SECURITY_POLICY}},
        # formgrader's Autograde, feedback and release actions, kernels, terminals and file writes refused
        "jpserver_extensions": {GUARD: True}}}))
    args = [sys.executable, "-m", "jupyter", "server", f"--ServerApp.root_dir={out}", f"--ServerApp.ip={ip}",
            f"--ServerApp.port={port}", "--ServerApp.port_retries=0", "--ServerApp.open_browser=False",
            f"--IdentityProvider.token={token}", f"--Exchange.root={exchange}", f"--config={config}",
            "--HTMLExporter.sanitize_html=True",  # the grading form's notebook, rendered with its HTML sanitized
            "--ServerApp.terminals_enabled=False"]  # TAs grade; they need no shell on the grading machine
    if os.geteuid() == 0:  # a grading server run as root (the sandbox needs it); Jupyter refuses without this
        args.append("--allow-root")
    return args, f"http://{ip}:{port}/formgrader?token={token}"


def environment() -> dict:
    return tool_environment()
