"""Shared by the grading tests: the options of a quick batch, a batch's grades as a comparable table, reference
batches, killing a batch, reading a gradebook back, and finding what in an HTML page could run."""

import json
import re
from html.parser import HTMLParser

from autograder.options import BatchOptions, Limits
from mnist_lab.data import default_root

FAST_LIMITS = Limits(cell_timeout=60)  # the looping example stops after 60 s
WORKER_ENV = {"MNIST_DIR": str(default_root())}  # loopback Dask workers use the verified MNIST (cached there)


def fast(**batch) -> BatchOptions:
    """A quick batch: two workers, no progress bar, the short cell limit (plus ``batch``'s options)."""
    return BatchOptions(**{"limits": FAST_LIMITS, "workers": 2, "progress": False, **batch})


def grades_table(results) -> dict:
    """student -> (status, automatic, pending, ((notebook, grade id, points), ...)): what a grade is, without times
    or the machine that graded it."""
    return {r.student_id: (r.status, r.automatic_points, r.pending_points,
                           tuple((c.notebook, c.grade_id, c.points) for c in r.cells)) for r in results}


def reference_batch(folder, students=("s1", "s2", "s3", "s4"), notebooks=("problem6", "problem7")):
    """``folder`` in nbgrader's layout: each student hands in the reference answers of ``notebooks``."""
    from autograder.course import ASSIGNMENT
    from autograder.testing.examples import EXAMPLES

    for student in students:
        (folder / student / ASSIGNMENT).mkdir(parents=True)
        for name in notebooks:
            (folder / student / ASSIGNMENT / f"{name}.ipynb").write_bytes(
                (EXAMPLES / "reference" / ASSIGNMENT / f"{name}.ipynb").read_bytes())
    return folder


def kill_after_results(process, results, count: int, timeout: float = 600) -> dict:
    """SIGKILL ``process``'s session once ``results`` holds ``count`` result files; the finished ones'
    modification times by student."""
    import os
    import signal
    import time

    deadline = time.monotonic() + timeout
    while len(list(results.glob("*.json"))) < count:
        assert process.poll() is None and time.monotonic() < deadline, \
            f"the batch ended or stalled before {count} results"
        time.sleep(0.2)
    os.killpg(process.pid, signal.SIGKILL)  # the grading processes of the batch die with it
    process.wait()
    return saved_times(results)


def saved_times(results) -> dict:
    """student id -> modification time of each result saved in the folder ``results`` (files are named after a
    digest of the id too: the id is read from the result)."""
    return {json.loads(p.read_text())["student_id"]: p.stat().st_mtime_ns for p in results.glob("*.json")}


def gradebook_rows(db_url: str) -> dict:
    """student -> (number of submission rows of the assignment, {(notebook, cell): [auto scores of every row]})."""
    from autograder.course import ASSIGNMENT, open_gradebook

    rows = {}
    with open_gradebook(db_url) as gb:
        for student in gb.students:
            submissions = [s for s in student.submissions if s.assignment.name == ASSIGNMENT]
            cells = {}
            for submission in submissions:
                for notebook in submission.notebooks:
                    for grade in notebook.grades:
                        cells.setdefault((notebook.name, grade.name), []).append(grade.auto_score)
            rows[student.id] = (len(submissions), cells)
    return rows


def assert_recorded_exactly_once(db_url: str, results) -> None:
    """The gradebook holds each result once: one submission row per student, one grade row per cell, its points."""
    rows = gradebook_rows(db_url)
    assert rows.keys() == {r.student_id for r in results}
    for result in results:
        count, cells = rows[result.student_id]
        assert count == 1, result.student_id
        assert cells == {(c.notebook, c.grade_id): [c.points] for c in result.cells}, result.student_id


def ps3_folders() -> set[str]:
    """The grader's folders in /tmp (runtime folders ``ps3-rt-*`` above all): none may outlive a batch."""
    import os

    return {name for name in os.listdir("/tmp") if name.startswith("ps3-")}


ACTIVE_TAGS = {"script", "iframe", "object", "embed", "svg", "math", "frame", "frameset", "applet", "base", "form",
               "meta", "link", "style", "template"}


def active_html(page: str) -> list[str]:
    """What in HTML could run or leave the page: script-like elements ("<script>"), event-handler attributes and
    addresses with a scheme other than http(s), mailto or a data: image ("<a href=javascript:...>")."""
    found = []

    class Finder(HTMLParser):
        def handle_starttag(self, tag, attrs):
            if tag in ACTIVE_TAGS:
                found.append(f"<{tag}>")
            for name, value in attrs:
                plain = re.sub(r"[\x00-\x20]", "", value or "").lower()
                if name.startswith("on"):
                    found.append(f"<{tag} {name}=...>")
                elif name in ("href", "src", "action", "formaction", "xlink:href", "srcdoc") and \
                        re.match(r"[a-z][a-z0-9+.-]*:", plain):
                    scheme = plain.split(":", 1)[0]
                    if scheme not in ("http", "https", "mailto") and not plain.startswith("data:image/png") \
                            and not plain.startswith("data:image/jpeg"):
                        found.append(f"<{tag} {name}={plain[:40]}>")

    Finder().feed(page)
    return found
