"""Start nbgrader's formgrader on a grading folder, for TAs to grade the written answers.

It is a Jupyter server whose root is the grading folder (an nbgrader course: outputs/grading_folder.py), on the
loopback interface with a token by default. Started by root (a grading server), it runs as an unprivileged user of
its own in a view where the grading folder is read-only but for the gradebook (isolation/formgrader_view.py). A TA on another machine reaches it through an SSH tunnel
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
from .isolation import formgrader_view
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


AlreadyRunning = formgrader_view.AlreadyRunning


class RootWithoutView(RuntimeError):
    """Root was asked to start formgrader where the unprivileged view cannot be built."""


def command(out: Path, ip: str = "127.0.0.1", port: int = 8787, token: str | None = None,
            as_root: bool = False) -> tuple[list[str], str]:
    """The server's command line (run it in ``out``) and the address a browser opens. As root it runs in the
    unprivileged view (formgrader_view); ``as_root`` keeps it root where that view cannot be built."""
    out = Path(out).resolve()
    db_url = grading_folder.db_url(out)  # refuses a folder that was never graded into
    token = token or secrets.token_urlsafe(24)
    exchange = out / ".exchange"  # nbgrader's assignment exchange is not used; a folder of its own keeps it quiet
    exchange.mkdir(exist_ok=True)
    (out / SERVER_CONFIG).write_text(json.dumps({"ServerApp": {
        "tornado_settings": {"headers": {"Content-Security-Policy": CONTENT_SECURITY_POLICY}},
        # formgrader's Autograde, feedback and release actions, kernels, terminals and file writes refused
        "jpserver_extensions": {GUARD: True}}}))
    viewed = os.geteuid() == 0 and not as_root
    if viewed and not formgrader_view.available():
        raise RootWithoutView(
            "formgrader is not started as root: the unprivileged view it runs in needs bubblewrap (bwrap) and user "
            "namespaces, which this machine refuses. Start it as an ordinary user that can read the grading folder "
            "and write its gradebook, or pass --as-root to run it as root anyway (it then reads and writes what "
            "root can: see the README)")
    if viewed:
        formgrader_view.running(out)
    seen = Path(formgrader_view.VIEW) if viewed else out
    args = [sys.executable, "-m", "jupyter", "server", f"--ServerApp.root_dir={seen}", f"--ServerApp.ip={ip}",
            f"--ServerApp.port={port}", "--ServerApp.port_retries=0", "--ServerApp.open_browser=False",
            f"--IdentityProvider.token={token}",
            # nbgrader checks on every page that its (unused) exchange is writable: in the view, the server's own /tmp
            f"--Exchange.root={'/tmp' if viewed else exchange}",
            f"--config={seen / SERVER_CONFIG}",
            "--HTMLExporter.sanitize_html=True",  # the grading form's notebook, rendered with its HTML sanitized
            "--ServerApp.terminals_enabled=False"]  # TAs grade; they need no shell on the grading machine
    if viewed:
        args = formgrader_view.launcher_command(out, local_gradebook(out, db_url), args)
    elif os.geteuid() == 0:  # --as-root: Jupyter refuses root without this
        args.append("--allow-root")
    return args, f"http://{ip}:{port}/formgrader?token={token}"


def local_gradebook(out: Path, db_url: str) -> Path | None:
    """The folder's own sqlite gradebook (None for a database server). One elsewhere is refused: the view shows
    the grading folder only."""
    if not db_url.startswith("sqlite:"):
        return None
    path = Path(db_url.split("sqlite:///", 1)[-1]).resolve()
    if path.parent != out:
        raise RootWithoutView(f"formgrader shows the grading folder only, and this folder's sqlite gradebook {path} "
                              f"lies outside it: move it into {out} (and name it in nbgrader_config.py), or pass "
                              "--as-root")
    return path


def environment() -> dict:
    return tool_environment()
