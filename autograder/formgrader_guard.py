"""A Jupyter server extension loaded with formgrader (formgrader.py): what formgrader's pages offer but the project
does not own is refused, so that a click can never undo the grading.

formgrader's Autograde button runs plain nbgrader autograde on the server, outside the sandbox and without the
judge: verdicts vanish, a wrong answer can get its point and a TA's hand grades go back to "needs manual grade".
Its Generate/Release Feedback, Assign, Release and Collect buttons belong to nbgrader's own exchange, which this
course does not use (``export`` writes the feedback). And the server's kernels, sessions and terminals would run
code as the grader's user beside the hidden tests. So:

- formgrader's actions answer as formgrader's pages expect (JSON, ``success: false``) with the reason, and change
  nothing: its page shows the reason in its own error dialog;
- starting a kernel, a session or a terminal is forbidden (403), and so is writing through the contents API;
  reading stays (a TA may download a notebook).

Loaded first: Jupyter loads server extensions in alphabetical order and Tornado tries the rules of earlier
extensions first, so these routes come before nbgrader's and the server's own.
"""

from __future__ import annotations

import json

from jupyter_server.base.handlers import JupyterHandler, path_regex
from jupyter_server.services.contents.handlers import ContentsHandler
from jupyter_server.utils import url_path_join
from tornado import web

REFUSED = ("Nothing was changed: this formgrader grades written answers only.\n"
           "Autograding and feedback belong to `python -m autograder grade` and `export`,\n"
           "which grade in the sandbox and keep the TAs' grades (see the README).")
NO_CODE = "this formgrader runs no code: no kernels, sessions or terminals, and no file is written through it"

FORMGRADER_ACTIONS = [
    r"/formgrader/api/submission/[^/]+/[^/]+/autograde",
    r"/formgrader/api/assignment/[^/]+/(?:assign|release|unrelease|collect|generate_feedback|release_feedback)",
    r"/formgrader/api/assignment/[^/]+/[^/]+/(?:generate_feedback|release_feedback)",
]
CODE = [r"/api/kernels(?:/.*)?", r"/api/sessions(?:/.*)?", r"/api/terminals(?:/.*)?", r"/terminals/.*",
        r"/api/contents%s/trust" % path_regex]


class RefusedAction(JupyterHandler):
    """One of formgrader's actions, answered with formgrader's own "it did not work" and the reason."""

    def post(self, *_) -> None:
        # As nbgrader's own handlers answer: JSON text that the page parses itself, shown under "Log Output".
        self.finish(json.dumps({"success": False, "error": "", "log": REFUSED}))

    put = post


class NoCode(JupyterHandler):
    """Kernels, sessions, terminals and notebook trust: forbidden, whatever the method."""

    @web.authenticated
    def _refuse(self, *_, **__) -> None:
        raise web.HTTPError(403, NO_CODE)

    get = head = post = put = patch = delete = _refuse


class ReadOnlyContents(ContentsHandler):
    """The contents API for reading only."""

    @web.authenticated  # who asks is known before the refusal (the error page names the user)
    def _refuse(self, *_, **__) -> None:
        raise web.HTTPError(403, NO_CODE)

    post = put = patch = delete = _refuse


def _jupyter_server_extension_points():
    return [{"module": "autograder.formgrader_guard"}]


def _load_jupyter_server_extension(serverapp) -> None:
    base = serverapp.web_app.settings["base_url"]
    handlers = [(url_path_join(base, pattern), RefusedAction) for pattern in FORMGRADER_ACTIONS]
    handlers += [(url_path_join(base, pattern), NoCode) for pattern in CODE]
    handlers.append((url_path_join(base, r"/api/contents%s" % path_regex), ReadOnlyContents))
    serverapp.web_app.add_handlers(".*$", handlers)
    serverapp.log.info("formgrader guard: formgrader's autograde, feedback and release actions, kernels, sessions, "
                       "terminals and file writes are refused")
