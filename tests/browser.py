"""Drive nbgrader's formgrader in a real headless browser (Chromium + Selenium): helpers for browser tests.

This module holds no tests. A browser test starts a Jupyter server with the formgrader on a course folder, then:

    paths = chromium_paths()
    if paths is None:
        pytest.skip("needs chromium, chromium-driver (apt) and selenium (pip)")
    with open_browser(tmp_path / "screenshots") as browser:
        page = FormgraderPage(browser, "http://127.0.0.1:8888", token)
        page.open()
        page.open_notebook("ps3", "stu1", "problem5")     # clicks, as a TA would
        page.set_grade("p5b_answer", score=0.5, comment="...")
        page.reload()
        assert page.score("p5b_answer") == 0.5

What the formgrader pages are (nbgrader 0.9, all under <base_url>/formgrader/):
  manage_assignments                 the assignment list ("/formgrader" redirects here); a row per assignment,
                                     its "# submissions" cell (td.num-submissions) links to ...
  manage_submissions/<assignment>    the assignment's submissions; a row per student, td.student-id holds the id
                                     and td.student-name a link (only once autograded) to ...
  manage_students/<student>/<assignment>  the student's notebooks; td.name a links to ...
  submissions/<submitted notebook id>     the manual-grading form of one submitted notebook (the id is
                                     SubmittedNotebook.id in the gradebook).
The list pages fill their table (tbody#main-table) from the REST API after the page has loaded.

On the grading form, every cell of the notebook is a div.cell (div.text_cell or div.code_cell); a graded or
answer cell wraps its source in div.nbgrader_cell (a Bootstrap panel) whose heading holds the score input
input.score#<grade_id> (graded cells only) and whose footer holds the comment textarea
textarea.comment#<grade_id>-comment (answer cells only: solution or task cells, not test cells). A code cell's
outputs follow in div.output_wrapper, outside the panel. Scores and comments are saved one by one when the
input fires "change" (on blur after an edit): formgrade_models.js saves a Backbone model with PUT
<base_url>/formgrader/api/grade/<id> or .../api/comment/<id>; the check mark next to the heading
(.score-saved / .comment-saved) turns from a spinner into a tick when the server has answered and fades out a
second later. This module waits on the Backbone model's "sync" event instead of that tick, which is easy to miss.

Offline, the grading form cannot load MathJax (the page asks a public CDN for it): open_browser makes every host
but the local machine unresolvable, so the request fails at once instead of waiting for a network timeout.
Without MathJax the form still shows and saves everything, but formgrade.js stops initialising early: LaTeX is
shown as source, the keyboard shortcuts (Tab to the next input, Ctrl+. to the next submission) are not
registered, and formgrader.loaded stays false. So this module waits for the grades and comments to be loaded
(formgrader.grades.loaded, formgrader.comments.loaded), never for formgrader.loaded, and the browser console holds
two expected errors (the CDN request and "MathJax is not defined").
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Iterator

try:
    from selenium import webdriver
    from selenium.common.exceptions import TimeoutException, WebDriverException
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.remote.webelement import WebElement
    from selenium.webdriver.support.ui import WebDriverWait
except ImportError:  # chromium_paths() says None; nothing else here works without selenium
    webdriver = None

WINDOW_SIZE = (1400, 1000)
# Seconds an explicit wait may take: a page load, a table filled from the API, a save. Generous for a busy CI.
DEFAULT_TIMEOUT = 30.0
# How often the waits look again: a save answers in milliseconds here, the default half second would dominate.
POLL_S = 0.05


def chromium_paths() -> tuple[str, str] | None:
    """(chromium binary, chromedriver) when a browser test can run here, else None.

    Looks at $CHROMIUM_BINARY and $CHROMEDRIVER first, then the PATH (Debian's packages chromium and
    chromium-driver install /usr/bin/chromium and /usr/bin/chromedriver). None too when the selenium package is
    missing, so that one check decides whether to skip.
    """
    if webdriver is None:
        return None
    binary = os.environ.get("CHROMIUM_BINARY") or shutil.which("chromium") or shutil.which("chromium-browser")
    driver = os.environ.get("CHROMEDRIVER") or shutil.which("chromedriver")
    if not binary or not driver or not os.access(binary, os.X_OK) or not os.access(driver, os.X_OK):
        return None
    return binary, driver


class Browser:
    """A headless Chrome WebDriver (.driver) and where its screenshots go.

    Attributes not defined here are the driver's (browser.get(url), browser.find_element(...), ...).
    """

    def __init__(self, driver, screenshots: Path, timeout: float = DEFAULT_TIMEOUT):
        self.driver = driver
        self.screenshots = Path(screenshots)
        self.timeout = timeout
        self._shots = 0

    def __getattr__(self, name):
        return getattr(self.driver, name)

    def wait(self, timeout: float | None = None) -> WebDriverWait:
        return WebDriverWait(self.driver, self.timeout if timeout is None else timeout, poll_frequency=POLL_S)

    def shot(self, name: str, element: WebElement | None = None) -> Path:
        """Save the visible window as screenshots/<NN>-<name>.png (NN counts from 01); return the path.

        With an element, first scroll it to the middle of the window so that the picture shows it.
        """
        if element is not None:
            self.driver.execute_script("arguments[0].scrollIntoView({block: 'center', inline: 'nearest'});", element)
        self._shots += 1
        safe = re.sub(r"[^A-Za-z0-9_.-]+", "-", name).strip("-") or "shot"
        path = self.screenshots / f"{self._shots:02d}-{safe}.png"
        if not self.driver.save_screenshot(str(path)):
            raise RuntimeError(f"the browser could not save the screenshot {path}")
        return path

    def console_errors(self) -> list[str]:
        """Messages of level SEVERE from the browser console since the last call (the log is consumed)."""
        return [entry["message"] for entry in self.driver.get_log("browser") if entry.get("level") == "SEVERE"]


@contextlib.contextmanager
def open_browser(screenshots: Path, timeout: float = DEFAULT_TIMEOUT) -> Iterator[Browser]:
    """Start headless Chromium (window 1400x1000) through chromedriver; yield a Browser; always quit it.

    Uses the chromium and chromedriver of chromium_paths() explicitly, so that Selenium Manager never looks for
    (or downloads) a browser or driver. Creates the screenshots folder.
    """
    paths = chromium_paths()
    if paths is None:
        raise RuntimeError("a browser test needs chromium and chromedriver (apt-get install chromium "
                           "chromium-driver) and the selenium package (pip install selenium)")
    binary, driver_path = paths
    screenshots = Path(screenshots)
    screenshots.mkdir(parents=True, exist_ok=True)

    options = webdriver.ChromeOptions()
    options.binary_location = binary
    options.add_argument("--headless=new")
    options.add_argument(f"--window-size={WINDOW_SIZE[0]},{WINDOW_SIZE[1]}")
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        # Chromium refuses to start its sandbox as root (containers, CI); as any other user it keeps it.
        options.add_argument("--no-sandbox")
    # Containers often give /dev/shm only 64 MB, which crashes tabs; /tmp does as well.
    options.add_argument("--disable-dev-shm-usage")
    options.add_argument("--disable-gpu")
    # No network but this machine: the grading form's MathJax (a public CDN) then fails at once, and nothing
    # else leaves the test (no updates, no field trials, no safe browsing).
    options.add_argument("--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE localhost, EXCLUDE 127.0.0.1")
    for flag in ("--no-first-run", "--no-default-browser-check", "--disable-extensions",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--password-store=basic", "--use-mock-keychain"):
        options.add_argument(flag)
    profile = tempfile.mkdtemp(prefix="chromium-profile-")
    options.add_argument(f"--user-data-dir={profile}")
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})

    try:
        driver = webdriver.Chrome(service=Service(executable_path=driver_path), options=options)
    except WebDriverException as exc:
        shutil.rmtree(profile, ignore_errors=True)
        raise RuntimeError(f"could not start {binary} through {driver_path}: {exc.msg or exc}") from exc
    try:
        driver.set_window_size(*WINDOW_SIZE)
        driver.set_page_load_timeout(max(timeout, 10.0) * 2)
        yield Browser(driver, screenshots, timeout)
    finally:
        try:
            driver.quit()
        finally:
            shutil.rmtree(profile, ignore_errors=True)


@contextlib.contextmanager
def formgrader_server(out: Path) -> Iterator[tuple[str, str]]:
    """`python -m autograder formgrader` on the grading folder ``out``, as the README starts it: yields (base
    address, token) once it listens; always stopped."""
    port = _free_port()
    server = subprocess.Popen([sys.executable, "-m", "autograder", "formgrader", "--out", str(out),
                               "--port", str(port)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        first = server.stdout.readline()
        match = re.search(r"open (http://127\.0\.0\.1:\d+)/formgrader\?token=(\S+)", first)
        assert match, first
        for _ in range(300):  # the server listens within seconds
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", port)) == 0:
                    break
            assert server.poll() is None, server.stdout.read()
            time.sleep(0.1)
        yield match.group(1), match.group(2)
    finally:
        server.terminate()
        server.wait(timeout=30)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _xpath_literal(text: str) -> str:
    """text as an XPath 1.0 string literal (XPath has no escapes: concat() pieces for mixed quotes)."""
    if "'" not in text:
        return f"'{text}'"
    if '"' not in text:
        return f'"{text}"'
    return "concat(" + ", \"'\", ".join(f"'{part}'" for part in text.split("'")) + ")"


def _has_class(name: str) -> str:
    """XPath predicate body: the element's class attribute holds the class name."""
    return f"contains(concat(' ', normalize-space(@class), ' '), ' {name} ')"


# On the grading form: the Backbone model of one grade or comment and the number of its saves so far.
# Returns null until the page's formgrader has loaded that collection, "missing" when no model has the name.
_SAVE_STATE_JS = """
var name = arguments[0], kind = arguments[1];
var fg = window.formgrader;
if (!fg || !fg[kind] || !fg[kind].loaded) { return null; }
var model = fg[kind].findWhere({name: name});
if (!model) { return "missing"; }
if (!model._testSaves) {
    model._testSaves = {synced: 0, failed: 0, status: null, text: null};
    model.on("sync", function () { model._testSaves.synced += 1; });
    model.on("error", function (m, xhr) {
        model._testSaves.failed += 1;
        model._testSaves.status = xhr && xhr.status;
        model._testSaves.text = xhr && xhr.responseText ? String(xhr.responseText).slice(0, 500) : null;
    });
}
var saves = model._testSaves;
return {synced: saves.synced, failed: saves.failed, status: saves.status, text: saves.text,
        manual_score: model.get("manual_score"), manual_comment: model.get("manual_comment")};
"""

# The grading form is ready when its grades and comments came from the API and are bound to the inputs.
_FORM_READY_JS = """
var fg = window.formgrader;
return document.readyState === "complete" && !!fg && !!fg.grades && fg.grades.loaded === true
    && !!fg.comments && fg.comments.loaded === true;
"""


class FormgraderPage:
    """The formgrader of a running Jupyter server, as a TA uses it: open it, click to a notebook, grade cells.

    base_url: the server's address and base path, e.g. "http://127.0.0.1:8888" (no trailing /formgrader).
    token: the server's token (--IdentityProvider.token); the first page is opened with ?token=..., after which
    the server's login cookie authenticates the clicks and the REST calls.
    """

    def __init__(self, browser: Browser, base_url: str, token: str | None = None,
                 timeout: float | None = None):
        self.browser = browser
        self.driver = browser.driver
        self.base_url = base_url.rstrip("/")
        self.token = token
        self.timeout = browser.timeout if timeout is None else timeout

    # ----------------------------------------------------------------------------------------------- waiting
    def _where(self) -> str:
        """The current page for error messages (the token blanked out)."""
        try:
            url, title = self.driver.current_url, self.driver.title
        except WebDriverException:
            return "(the browser did not answer)"
        if self.token:
            url = url.replace(self.token, "<token>")
        return f"page {title!r} at {url}"

    def _wait(self, condition, what: str, timeout: float | None = None):
        """Wait for condition(driver) to be truthy and return it; on timeout raise AssertionError naming what."""
        try:
            return self.browser.wait(self.timeout if timeout is None else timeout).until(condition)
        except TimeoutException:
            raise AssertionError(f"timed out after {self.timeout if timeout is None else timeout:g} s waiting "
                                 f"for {what} on the {self._where()}") from None

    def _wait_for_xpath(self, xpath: str, what: str, clickable: bool = False) -> WebElement:
        def found(driver):
            for element in driver.find_elements(By.XPATH, xpath):
                if not clickable or (element.is_displayed() and element.is_enabled()):
                    return element
            return False
        return self._wait(found, what)

    def _wait_for_table(self, what: str) -> None:
        """Wait until a list page has filled its table from the API (the page's Backbone collection `models`)."""
        self._wait(lambda d: d.execute_script(
            "return document.readyState === 'complete' && typeof models !== 'undefined' && !!models"
            " && models.loaded === true;"), f"the table of {what}")

    def _click(self, element: WebElement) -> None:
        """Click a link or button where a TA would: scrolled into view first."""
        self.driver.execute_script("arguments[0].scrollIntoView({block: 'center', inline: 'nearest'});", element)
        element.click()

    def _wait_for_form(self) -> None:
        self._wait(lambda d: d.execute_script(_FORM_READY_JS),
                   "the grading form (its grades and comments loaded from the formgrader API)")

    # -------------------------------------------------------------------------------------------- navigation
    def open(self) -> None:
        """Open <base_url>/formgrader?token=... (it redirects to the assignment list) and wait for the list."""
        url = f"{self.base_url}/formgrader"
        if self.token:
            url += f"?token={self.token}"
        self.driver.get(url)
        self._wait(lambda d: "/formgrader/manage_assignments" in d.current_url,
                   "the redirect to /formgrader/manage_assignments (is the token right and nbgrader's "
                   "server extension enabled?)")
        self._wait_for_table("assignments (manage_assignments)")

    def _follow(self, here: str, key_class: str, key: str, link_class: str, link_what: str, there: str,
                there_what: str) -> None:
        """On a list page (``here`` in its URL), click the link in column ``link_class`` of the row whose column
        ``key_class`` reads ``key``; wait for the page at ``there`` (``there_what``) to be ready."""
        if here not in self.driver.current_url:
            raise AssertionError(f"the next click ({link_what}) starts on a page at {here}, not on the "
                                 f"{self._where()}")
        row = f"//tbody[@id='main-table']/tr[td[{_has_class(key_class)}][normalize-space()={_xpath_literal(key)}]]"
        self._click(self._wait_for_xpath(f"{row}/td[{_has_class(link_class)}]//a", link_what, clickable=True))
        self._wait(lambda d: there in d.current_url, there_what)
        if there == "/formgrader/submissions/":
            self._wait_for_form()
        else:
            self._wait_for_table(there_what)

    def autograde(self, student: str) -> str:
        """On an assignment's submissions list, click the student's Autograde icon (the flash) as a TA would; the
        text of the dialog formgrader answers with (#success-modal or #error-modal)."""
        row = (f"//tbody[@id='main-table']/tr[td[{_has_class('student-id')}]"
               f"[normalize-space()={_xpath_literal(student)}]]")
        self._click(self._wait_for_xpath(f"{row}/td[{_has_class('autograde')}]//a", f"{student}'s Autograde icon",
                                         clickable=True))
        shown = self._wait(lambda d: [e for e in d.find_elements(By.CSS_SELECTOR, "#success-modal, #error-modal")
                                      if e.is_displayed()], "formgrader's answer to Autograde")
        return shown[0].text

    def open_submissions(self, assignment: str) -> None:
        """From the assignment list, click the assignment's number of submissions: its submissions list."""
        self._follow("/formgrader/manage_assignments", "name", assignment, "num-submissions",
                     f"a link to the submissions of assignment {assignment!r} (its row in the assignment list, column "
                     f"'# Submissions'; none when nothing was collected)",
                     f"/formgrader/manage_submissions/{assignment}", f"the submissions of {assignment!r}")

    def open_student(self, student: str) -> None:
        """From an assignment's submissions list, click the student's name: the student's notebooks."""
        self._follow("/formgrader/manage_submissions/", "student-id", student, "student-name",
                     f"a link for student {student!r} in the submissions list (the name is a link only once the "
                     f"submission is autograded)", f"/formgrader/manage_students/{student}/",
                     f"the notebooks of student {student!r}")

    def open_student_notebook(self, notebook: str) -> None:
        """From a student's notebook list, click the notebook: its grading form."""
        self._follow("/formgrader/manage_students/", "name", notebook, "name",
                     f"a link to notebook {notebook!r} in the student's notebook list (no link: '(file missing)')",
                     "/formgrader/submissions/", f"the grading form of {notebook!r}")

    def open_notebook(self, assignment: str, student: str, notebook: str) -> None:
        """Click from the assignment list to a student's notebook: assignment list -> the assignment's
        submissions -> the student's notebooks -> the notebook's grading form. Starts from any page."""
        if "/formgrader/manage_assignments" not in self.driver.current_url:
            self.open()
        self.open_submissions(assignment)
        self.open_student(student)
        self.open_student_notebook(notebook)

    def reload(self) -> None:
        """Reload the current page and wait until it is ready again (the grading form: its grades loaded)."""
        self.driver.refresh()
        if "/formgrader/submissions/" in self.driver.current_url:
            self._wait_for_form()
        else:
            self._wait_for_table("the reloaded page")

    @property
    def submission_id(self) -> str:
        """The submitted notebook's id of the grading form on screen (the last part of its URL)."""
        match = re.search(r"/formgrader/submissions/([^/?#]+)", self.driver.current_url)
        if not match:
            raise AssertionError(f"not on a grading form: the {self._where()}")
        return match.group(1)

    # ------------------------------------------------------------------------------------ cells on the form
    def _require_form(self, what: str) -> None:
        if "/formgrader/submissions/" not in self.driver.current_url:
            raise AssertionError(f"{what} needs a grading form (formgrader/submissions/<id>), not the {self._where()}")

    def cell(self, grade_id: str) -> WebElement:
        """The div.cell of the graded or answer cell grade_id (found by its score input or comment box)."""
        self._require_form(f"cell({grade_id!r})")
        ids = f"@id={_xpath_literal(grade_id)} or @id={_xpath_literal(grade_id + '-comment')}"
        cells = self.driver.find_elements(By.XPATH, f"//*[{ids}]/ancestor::div[{_has_class('cell')}][1]")
        if not cells:
            raise AssertionError(f"no cell with grade id {grade_id!r} (no input #{grade_id} or "
                                 f"#{grade_id}-comment) on the {self._where()}")
        return cells[0]

    def cell_text(self, grade_id: str) -> str:
        """The visible text of the cell's source as the form shows it: rendered Markdown or highlighted code."""
        body = self.cell(grade_id).find_elements(By.CSS_SELECTOR, ".nbgrader_cell > .panel-body")
        if not body:
            raise AssertionError(f"the cell {grade_id!r} has no source panel on the {self._where()}")
        return body[0].text

    def verdict_text(self, grade_id: str) -> str:
        """The grader's verdict on the test cell grade_id: the text of the cell right under it (the grader's own
        Markdown cell, see autograder/submission/formgrader_copies.py)."""
        below = self.cell(grade_id).find_elements(By.XPATH, f"following-sibling::div[{_has_class('cell')}][1]")
        if not below:
            raise AssertionError(f"no cell under {grade_id!r} on the {self._where()}")
        return below[0].text

    def handed_in_cell(self, below: str) -> WebElement:
        """The grader's cell that shows what the code cell ``below`` (its cell id, for the message) showed in the
        student's own run: the div.cell whose code starts "# As handed in" (formgrader writes no cell ids)."""
        cells = self.driver.find_elements(
            By.XPATH, f"//div[{_has_class('cell')}][.//*[contains(text(), 'As handed in')]]")
        if not cells:
            raise AssertionError(f"no cell with the outputs of {below!r} as handed in on the {self._where()}")
        return cells[-1]

    def output_text(self, grade_id: str) -> str:
        """The visible text of a code cell's outputs (tracebacks included); "" when it has none."""
        cell = self.cell(grade_id)
        if "code_cell" not in (cell.get_attribute("class") or "").split():
            raise AssertionError(f"the cell {grade_id!r} is not a code cell, it has no outputs ({self._where()})")
        outputs = cell.find_elements(By.CSS_SELECTOR, ".output_wrapper .output")
        return outputs[0].text if outputs else ""

    def score_input(self, grade_id: str) -> WebElement:
        self._require_form(f"score_input({grade_id!r})")
        found = self.driver.find_elements(By.ID, grade_id)
        if not found:
            raise AssertionError(f"no score input #{grade_id} (is {grade_id!r} a graded cell?) on the {self._where()}")
        return found[0]

    def comment_box(self, grade_id: str) -> WebElement:
        self._require_form(f"comment_box({grade_id!r})")
        found = self.driver.find_elements(By.ID, f"{grade_id}-comment")
        if not found:
            raise AssertionError(f"no comment box #{grade_id}-comment (only solution and task cells take "
                                 f"comments) on the {self._where()}")
        return found[0]

    def score(self, grade_id: str) -> float | None:
        """The manual score shown in the cell's score input; None when it is empty (no manual score)."""
        value = self.score_input(grade_id).get_attribute("value")
        return None if value in (None, "") else float(value)

    def auto_score(self, grade_id: str) -> float | None:
        """The automatic score, which the form shows as the score input's placeholder."""
        value = self.score_input(grade_id).get_attribute("placeholder")
        return None if value in (None, "", "null") else float(value)

    def comment(self, grade_id: str) -> str:
        """The manual comment shown in the cell's comment box ("" when none)."""
        return self.comment_box(grade_id).get_attribute("value") or ""

    def _save_state(self, grade_id: str, kind: str) -> dict:
        state = self._wait(lambda d: d.execute_script(_SAVE_STATE_JS, grade_id, kind),
                           f"the formgrader's {kind} to load")
        if state == "missing":
            raise AssertionError(f"the formgrader API has no {kind[:-1]} named {grade_id!r} for this submission "
                                 f"({self._where()})")
        return state

    def _enter(self, grade_id: str, kind: str, element: WebElement, text: str, field: str, expected) -> None:
        """Type text into a score input or comment box as a TA does, leave it, wait for the server's answer."""
        before = self._save_state(grade_id, kind)
        if before[field] == expected or (field == "manual_score" and before[field] is not None
                                         and expected is not None and float(before[field]) == expected):
            return  # already stored: leaving the unchanged input fires no "change", so there is nothing to save
        self.driver.execute_script("arguments[0].scrollIntoView({block: 'center', inline: 'nearest'});", element)
        element.click()
        # Select all and type over it; Selenium's clear() would fire a "change" of its own (a save of "").
        element.send_keys(Keys.CONTROL, "a")
        element.send_keys(text if text else Keys.DELETE)
        # Leave the input like a TA (Tab): the blur fires "change", which makes the page PUT the new value.
        element.send_keys(Keys.TAB)

        def answered(driver):
            state = driver.execute_script(_SAVE_STATE_JS, grade_id, kind)
            if isinstance(state, dict) and (state["synced"] > before["synced"] or state["failed"] > before["failed"]):
                return state
            return False
        what = "score" if kind == "grades" else "comment"
        state = self._wait(answered, f"the server to save the {what} of {grade_id!r} (PUT formgrader/api/"
                                     f"{kind[:-1]}/<id>)")
        if state["failed"] > before["failed"]:
            raise AssertionError(f"saving the {what} of {grade_id!r} failed: HTTP {state['status']} "
                                 f"{state['text'] or ''} ({self._where()})")
        stored = state[field]
        if field == "manual_score" and stored is not None:
            stored = float(stored)
        if stored != expected:
            raise AssertionError(f"the server stored {stored!r} as the {what} of {grade_id!r}, not {expected!r} "
                                 f"({self._where()})")

    def set_grade(self, grade_id: str, score: float | None = None, comment: str | None = None) -> None:
        """Enter the manual score and/or comment of cell grade_id; return once the server has stored each.

        Each field is typed, then left with Tab, which saves it (one PUT per field); the server's answer is
        compared with what was typed (the page caps a score above the cell's points at its points and one
        below zero at zero, which fails here). A field already holding the value is left alone.
        """
        self._require_form(f"set_grade({grade_id!r})")
        if score is not None:
            self._enter(grade_id, "grades", self.score_input(grade_id), f"{score:g}", "manual_score", float(score))
        if comment is not None:
            self._enter(grade_id, "comments", self.comment_box(grade_id), comment, "manual_comment", comment)
