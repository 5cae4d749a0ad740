"""What a TA opens is inert: the red team's browser attacks (autograder/testing/redteam.py) graded, then opened in
formgrader in headless Chromium the way a TA does (list, student, notebook). No script of a student's runs (the
marker every attack sets stays unset, and a control shows the same script does run in this browser when it is not
defused), the gradebook keeps the grades the grader gave, the forged verdict is marked as the student's, and every
page carries the Content-Security-Policy. Screenshots go to test-artifacts/formgrader-safety/ (not committed)."""

import os
import re
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import nbformat
import psutil
import pytest
from browser import FormgraderPage, chromium_paths, formgrader_server, open_browser
from helpers import active_html, fast

from autograder.batch import grade_batch
from autograder.course import ASSIGNMENT, ROOT, open_gradebook, run_nbgrader
from autograder import formgrader
from autograder.formgrader import CONTENT_SECURITY_POLICY
from autograder.isolation import formgrader_view, sandbox
from autograder.outputs import grading_folder
from autograder.outputs.inert import IMITATING
from autograder.testing.redteam import FORMGRADER_ATTACK, ATTACKS, FORGED, OWNED, build

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(chromium_paths() is None, reason="needs chromium, chromium-driver and selenium"),
              pytest.mark.skipif(not sandbox.available(), reason="the red team runs contained")]

BROWSER_ATTACKS = ("javascript_output", "html_script_output", "svg_script", "forged_verdict")
ARTIFACTS = Path(os.environ.get("PS3_TEST_ARTIFACTS", ROOT / "test-artifacts")) / "formgrader-safety"
OWNED_JS = f"return window.{OWNED} === true || document.title === '{OWNED}';"
MARKDOWN_ATTACK = (f"My notes <script>{FORMGRADER_ATTACK}</script>\n\n<img src=x onerror=\"{FORMGRADER_ATTACK}\">\n\n"
                   f"<svg onload=\"{FORMGRADER_ATTACK}\"></svg>")


def students_code_runs(page: str) -> list[str]:
    """In a whole page (whose own template has scripts and styles): the student's script, event handlers, unsafe
    addresses."""
    scripts = re.findall(r"<script[^>]*>(.*?)</script>", page, re.S | re.I)
    return [*(f"<script>{s[:40]}" for s in scripts if OWNED in s), *(f for f in active_html(page) if " " in f)]


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    submissions = tmp_path_factory.mktemp("browser-attacks")
    build(submissions, {name: ATTACKS[name] for name in BROWSER_ATTACKS})
    # The same script in a Markdown cell of the student's own: kept as written, sanitized where it is rendered.
    path = submissions / "javascript_output" / ASSIGNMENT / "problem7.ipynb"
    notebook = nbformat.read(path, as_version=4)
    notebook.cells.append(nbformat.v4.new_markdown_cell(MARKDOWN_ATTACK))
    nbformat.write(notebook, path)
    out = tmp_path_factory.mktemp("browser-attacks-graded")
    results = {r.student_id: r for r in grade_batch(submissions, out, fast())}
    return out, results


def manual_scores(out: Path) -> dict:
    with open_gradebook(grading_folder.db_url(out)) as gb:
        return {(s.student.id, g.name): (g.auto_score, g.manual_score)
                for s in gb.find_assignment(ASSIGNMENT).submissions for nb in s.notebooks for g in nb.grades}


def test_the_attack_script_runs_in_this_browser_when_nothing_defuses_it(tmp_path):
    """The control: the marker test below can fail."""
    page = tmp_path / "undefused.html"
    page.write_text(f"<html><body><script>{FORMGRADER_ATTACK}</script></body></html>")
    with open_browser(ARTIFACTS) as browser:
        browser.driver.get(page.as_uri())
        time.sleep(0.5)
        assert browser.driver.execute_script(OWNED_JS)


def test_a_ta_opening_the_attacks_in_formgrader_runs_none_of_them(graded):
    out, results = graded
    before = manual_scores(out)
    assert all(manual is None for _, manual in before.values())
    with formgrader_server(out) as (base_url, token), open_browser(ARTIFACTS) as browser:
        page = FormgraderPage(browser, base_url, token)
        for student in BROWSER_ATTACKS:
            page.open()
            page.open_notebook(ASSIGNMENT, student, "problem7")
            time.sleep(1.0)  # time for a script that ran to call the API
            assert not browser.driver.execute_script(OWNED_JS), student
            browser.shot(f"{student}")
            assert results[student].automatic_points == ATTACKS[student].automatic
        forged = page.output_text("p7_gradient_tests")
        assert IMITATING.strip() in forged and FORGED not in forged, forged
        assert page.verdict_text("p7_gradient_tests").startswith("[autograder] 0 / 1 points:")
        browser.shot("forged-verdict-marked", page.cell("p7_gradient_tests"))
        request = urllib.request.Request(browser.driver.current_url, headers={"Authorization": f"token {token}"})
        with urllib.request.urlopen(request, timeout=30) as response:
            assert response.headers["Content-Security-Policy"] == CONTENT_SECURITY_POLICY
    assert manual_scores(out) == before  # no grade changed behind the TA's back


def test_formgraders_feedback_and_an_export_of_the_folder_run_nothing(graded):
    """A TA may click "Generate Feedback", or export a notebook with nbconvert in the grading folder."""
    out, _ = graded
    run_nbgrader(out, "generate_feedback", ASSIGNMENT, "--force", db_url=grading_folder.db_url(out))
    pages = sorted((out / "feedback").glob(f"*/{ASSIGNMENT}/problem7.html"))
    assert len(pages) == len(BROWSER_ATTACKS)
    notebook = out / "autograded" / "javascript_output" / ASSIGNMENT / "problem7.ipynb"
    exported = subprocess.run([sys.executable, "-m", "jupyter", "nbconvert", "--to", "html", "--output-dir",
                               str(out / "exported"), str(notebook)], cwd=out, capture_output=True, text=True,
                              timeout=300)
    assert exported.returncode == 0, exported.stderr
    attacked = [out / "feedback" / "javascript_output" / ASSIGNMENT / "problem7.html",
                out / "exported" / "problem7.html"]
    for page in [*pages, *attacked]:
        text = page.read_text(encoding="utf-8")
        assert students_code_runs(text) == [], page
        assert page not in attacked or "My notes" in text, page  # the student's Markdown is there, inert


KERNEL_FROM_THE_PAGE = """
const done = arguments[arguments.length - 1];
const xsrf = (document.cookie.match(/_xsrf=([^;]+)/) || [])[1] || "";
Promise.all(["/api/kernels", "/api/sessions", "/api/contents/owned.txt"].map((url, i) => fetch(url, {
    method: i === 2 ? "PUT" : "POST", headers: {"X-XSRFToken": decodeURIComponent(xsrf)},
    body: i === 2 ? JSON.stringify({type: "file", format: "text", content: "x"}) : "{}"}).then(r => r.status)))
    .then(done, e => done(String(e)));
"""


def test_formgraders_autograde_button_changes_nothing_and_the_page_can_start_no_kernel(graded):
    """A TA clicks Autograde for a graded student (Manage Assignments -> ps3 -> the flash icon): formgrader shows
    why it will not, and the grades, the verdicts and the notebooks stay as the grader left them."""
    out, _ = graded
    student = "forged_verdict"
    notebook = out / "autograded" / student / ASSIGNMENT / "problem7.ipynb"
    before, notebook_before = manual_scores(out), notebook.read_bytes()
    with formgrader_server(out) as (base_url, token), open_browser(ARTIFACTS) as browser:
        page = FormgraderPage(browser, base_url, token)
        page.open()
        page.open_submissions(ASSIGNMENT)
        answer = page.autograde(student)
        assert "Autograding and feedback belong to `python -m autograder grade`" in answer, answer
        browser.shot("autograde-refused")
        statuses = browser.driver.execute_async_script(KERNEL_FROM_THE_PAGE)
        assert statuses == [403, 403, 403], statuses
    assert manual_scores(out) == before and notebook.read_bytes() == notebook_before
    assert not (out / "owned.txt").exists()


def test_formgrader_runs_as_a_user_of_its_own_that_sees_the_folder_read_only_and_no_reference(graded):
    """Started by root (as here), the server is not root: it runs as formgrader's own user id, sees the grading
    folder read-only but for the gradebook, and sees no home folder and no repository (reference answers)."""
    out, _ = graded
    with formgrader_server(out) as (base_url, _token):
        port = base_url.rsplit(":", 1)[1]
        server, = [p for p in psutil.process_iter(["name", "cmdline"]) if p.info["name"] != "bwrap" and
                   f"--ServerApp.port={port}" in (p.info["cmdline"] or []) and
                   formgrader_view.__name__ not in p.info["cmdline"]]  # neither bwrap nor the launcher
        second = subprocess.run([sys.executable, "-m", "autograder", "formgrader", "--out", str(out), "--port", "1"],
                                capture_output=True, text=True, timeout=60)
        assert second.returncode == 2 and "formgrader runs on" in second.stderr and "already" in second.stderr
        assert server.uids().real == server.uids().effective == formgrader_view.FORMGRADER_UID
        assert server.gids().real == formgrader_view.FORMGRADER_UID and os.getuid() == 0
        seen = Path(f"/proc/{server.pid}/root")
        mounts = {line.split()[4]: line.split()[5].split(",") for line in
                  Path(f"/proc/{server.pid}/mountinfo").read_text().splitlines()}
        assert "ro" in mounts["/grading/nbgrader_config.py"] and "ro" in mounts["/grading/autograded"]
        assert "rw" in mounts["/grading/gradebook.db"]
        assert (seen / "grading" / "autograded").is_dir()
        assert not (seen / str(ROOT / "solutions").lstrip("/")).exists()
        assert not (seen / str(ROOT / "source").lstrip("/")).exists()
        assert sorted(p.name for p in (seen / "root").iterdir()) in ([], [".pyenv"])  # only what Python needs


def test_formgrader_as_root_refuses_a_sqlite_gradebook_outside_the_folder(tmp_path):
    folder = tmp_path / "grading"
    folder.mkdir()
    (folder / grading_folder.CONFIG).write_text(
        f"c = get_config()\nc.CourseDirectory.db_url = 'sqlite:///{tmp_path / 'elsewhere.db'}'\n")
    with pytest.raises(formgrader.RootWithoutView, match="lies outside it"):
        formgrader.command(folder)
