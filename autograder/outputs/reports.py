"""Reports of a graded batch: grades.csv, a Moodle grading worksheet, Gradescope results, feedback pages, a table.

Feedback shows each test cell's name, points and failure message, never the code of hidden tests; a written
answer's points and a TA's comment once a person graded it.

Names, ids, notes and messages can hold a student's own text (a folder name, a file name from a zip, a symbol's
name): every report shows them through ``text`` (printable, capped; CSV cells that no spreadsheet runs as formulas).
"""

from __future__ import annotations

import csv
import html
import json
import re
import zipfile
from pathlib import Path

from ..cells import CELLS, MAX_POINTS, label
from ..course import NOTEBOOKS
from ..results import UNFINISHED, SubmissionResult
from ..text import (COMMENT_LIMIT, MESSAGE_LIMIT, NAME_LIMIT, NOTE_LIMIT, NOTES_LIMIT, cap, cap_list, csv_cell,
                    one_line, printable)
from .gradebook import STALE
from .moodle import Comment, WorksheetReport, WorksheetRow, fill_worksheet, is_participant

WORKSHEET = "moodle_grading_worksheet.csv"
# For the assignment's "Upload multiple feedback files in a zip": a folder per participant, named the way Moodle's
# importer (assignfeedback_file's zip importer) reads it: <name>_<participant id>_assignfeedback_file_/<file>.
FEEDBACK_ZIP = "moodle-feedback-files.zip"
FEEDBACK_FILE = "ps3-feedback.html"


def _points(value) -> str:
    return "pending" if value is None else f"{value:g}"


def for_students(comment: str) -> str:
    """A person's comment as students read it: without the grader's own stale mark."""
    return comment.removeprefix(STALE).strip()


def shown_notes(notes: list[str]) -> list[str]:
    """Notes (or reasons for review) as people read them: printable, each capped, at most NOTES_LIMIT of them."""
    return cap_list([printable(note) for note in notes], NOTES_LIMIT, NOTE_LIMIT)


def shown_comment(comment: str) -> str:
    """A person's comment as students read it: printable and capped."""
    return cap(printable(for_students(comment)), COMMENT_LIMIT)


def cell_text(cell) -> str:
    """What a student reads about one cell: the grader's message and a person's comment, printable and capped."""
    return "\n".join(filter(None, [cap(printable(cell.message), MESSAGE_LIMIT), shown_comment(cell.comment)]))


def shown_name(text: str) -> str:
    """A student id or name on one line (a table row, a list of ids, a page title): printable and capped."""
    return cap(one_line(text), NAME_LIMIT)


def write_grades_csv(path: Path, results: list[SubmissionResult]) -> None:
    """grades.csv: numbers as numbers, every text cell through ``csv_cell`` (one line, capped, never a formula)."""
    cells = [cell.grade_id for cell in CELLS]
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["student", "name", *(label(c) for c in cells),
                         *(f"problem {name.removeprefix('problem')}" for name in NOTEBOOKS),
                         "automatic total", "manual pending", "hand graded", "total", "final", "maximum", "status",
                         "seconds", "notes", "review", "contained", "comments"])
        for r in results:
            by_id = {c.grade_id: c for c in r.cells}
            per_problem = [r.points_of(name) for name in NOTEBOOKS]
            comments = [f"{label(c.grade_id)}: {shown_comment(c.comment)}" for c in r.cells if c.comment]
            writer.writerow([csv_cell(r.student_id, NAME_LIMIT), csv_cell(r.name, NAME_LIMIT),
                             *(_points(by_id[c].points) if c in by_id else "" for c in cells),
                             *(f"{p:g}" for p in per_problem), f"{r.automatic_points:g}", f"{r.pending_points:g}",
                             f"{r.hand_points:g}", f"{r.total_points:g}", "yes" if r.final else "no",
                             f"{r.max_points:g}", csv_cell(r.status), f"{r.seconds:.1f}",
                             csv_cell("; ".join(shown_notes(r.notes))), csv_cell("; ".join(shown_notes(r.review))),
                             "yes" if r.contained else "no", csv_cell(" | ".join(comments))])


def moodle_rows(results: list[SubmissionResult], partial: bool = False) -> list[WorksheetRow]:
    """One worksheet row per student: the total, or no grade (blank) while written answers wait for a person or
    the grading failed, unless ``partial`` grades are asked for; the comment says what was lost and why, and what
    a person wrote (``fill_worksheet`` writes it in the worksheet's language)."""
    rows = []
    for r in results:
        give = r.final or (partial and r.status != UNFINISHED)
        lost = tuple((label(c.grade_id), c.points, c.max_points, printable(c.message)) for c in r.cells
                     if not c.written and c.points is not None and c.points < c.max_points)
        remarks = tuple((label(c.grade_id), shown_comment(c.comment)) for c in r.cells if c.comment)
        comment = Comment(total=r.total_points, maximum=r.max_points, automatic=r.automatic_points,
                          written=r.hand_points, pending=r.pending_points, failed=r.status == "error", lost=lost,
                          remarks=remarks)
        rows.append(WorksheetRow(r.student_id, r.name, r.total_points if give else None, comment))
    return rows


GRADESCOPE_VISIBILITY = ("visible", "hidden", "after_due_date", "after_published")  # Gradescope's own words


def gradescope_results(result: SubmissionResult, visibility: str = "visible") -> dict:
    """Gradescope's results.json: automatic cells (and written answers once a person graded them) as tests, each
    shown to the student as ``visibility`` says (GRADESCOPE_VISIBILITY: e.g. "after_due_date").
    Messages can quote a student's own text (a symbol's name): every output is declared plain text, so Gradescope
    shows it as written and renders none of it as HTML or Markdown; printable and capped, as everywhere."""
    if visibility not in GRADESCOPE_VISIBILITY:
        raise ValueError(f"visibility must be one of {', '.join(GRADESCOPE_VISIBILITY)}, not {visibility!r}")
    tests = [{"name": f"{c.notebook}: {label(c.grade_id)}", "score": c.points, "max_score": c.max_points,
              "status": "passed" if c.points == c.max_points else "failed",
              "output": cell_text(c), "output_format": "text", "visibility": visibility}
             for c in result.cells if c.points is not None]
    notes = shown_notes(result.notes)
    if result.review:
        notes.append("this submission will be looked at by a person: " + "; ".join(shown_notes(result.review)))
    if result.pending_points:
        notes.append(f"{result.pending_points:g} points of written answers are graded by hand")
    return {"score": result.total_points, "execution_time": round(result.seconds, 1),
            "output": "\n".join(notes), "output_format": "text", "test_output_format": "text", "tests": tests,
            # for the instructor (students see neither): how the student's code was contained, and the run's output
            "extra_data": {"contained": result.contained, "containment": result.containment,
                           "memory_limit": result.memory_limit},
            "stdout_visibility": "hidden"}


def feedback_html(result: SubmissionResult) -> str:
    rows = []
    for c in result.cells:
        if c.points is None:
            state, css = "graded by hand later", "pending"
        elif c.written and not c.message:  # a message says why a person had nothing to grade
            state, css = "graded by hand", "hand"
        elif c.points == c.max_points:
            state, css = "passed", "passed"
        else:
            state, css = "failed", "failed"
        text = cell_text(c)
        rows.append(f"<tr class='{css}'><td>{html.escape(c.notebook)}</td><td>{html.escape(label(c.grade_id))}</td>"
                    f"<td>{_points(c.points)} / {c.max_points:g}</td><td>{state}</td>"
                    f"<td><pre>{html.escape(text)}</pre></td></tr>")
    review = ([f"A person will look at this submission: {'; '.join(shown_notes(result.review))}."]
              if result.review else [])
    notes = "".join(f"<li>{html.escape(p)}</li>" for p in shown_notes(result.notes) + review)
    name = html.escape(shown_name(result.name))
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Problem set 3: {name}</title>
<style>body{{font-family:sans-serif;max-width:60em;margin:2em auto}}td,th{{border-bottom:1px solid #ddd;padding:.3em .6em;
text-align:left;vertical-align:top}}pre{{white-space:pre-wrap;margin:0}}.passed td:nth-child(4){{color:#1a7f37}}
.failed td:nth-child(4){{color:#cf222e}}.pending td:nth-child(4){{color:#9a6700}}</style></head><body>
<h1>Problem set 3 — feedback for {name}</h1>
<p>Points: <b>{result.total_points:g}</b> of {result.max_points:g} (automatic {result.automatic_points:g}, written
answers {result.hand_points:g}); still to be graded by hand: {result.pending_points:g}; status:
{html.escape(printable(result.status))}.</p>
{f"<h2>About your files</h2><ul>{notes}</ul>" if notes else ""}
<table><tr><th>notebook</th><th>part</th><th>points</th><th>result</th><th>message</th></tr>
{"".join(rows)}</table></body></html>
"""


def gets_feedback_file(result: SubmissionResult, partial: bool = False) -> bool:
    """Whether the feedback zip holds this student's page: a Moodle participant whose grade the worksheet gives."""
    return is_participant(result.student_id) and (result.final or (partial and result.status != UNFINISHED))


def write_feedback_zip(path: Path, results: list[SubmissionResult], partial: bool = False) -> list[str]:
    """The feedback pages of the students whose grade the worksheet gives (uploading a file notifies the student),
    in Moodle's layout; students without a Moodle participant number are left out. Returns the ids written."""
    written = []
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for r in results:
            if not gets_feedback_file(r, partial):
                continue
            # Moodle splits the folder name at "_" and takes the second part as the participant: a name must hold
            # none (nor a "/", which would start another folder).
            name = re.sub(r"[_/\\\x00-\x1f]+", " ", shown_name(r.name)).strip() or "participant"
            zf.writestr(f"{name}_{int(r.student_id)}_assignfeedback_file_/{FEEDBACK_FILE}", feedback_html(r))
            written.append(r.student_id)
    return written


def summary_table(results: list[SubmissionResult]) -> str:
    lines = [f"{'student':<24} {'name':<26} {'auto':>6} {'hand':>5} {'pending':>7} {'status':<10} {'time':>7}  review"]
    for r in results:
        lines.append(f"{one_line(r.student_id)[:24]:<24} {one_line(r.name)[:26]:<26} {r.automatic_points:>6g} "
                     f"{r.hand_points:>5g} {r.pending_points:>7g} "
                     f"{one_line(r.status):<10} {r.seconds:>6.1f}s  {'yes' if r.review else ''}")
    return "\n".join(lines)


def write_all(out: Path, results: list[SubmissionResult], worksheet: Path | None = None,
              partial: bool = False) -> WorksheetReport:
    """Every report of ``results``; the Moodle worksheet fills ``worksheet`` (one downloaded from Moodle) if given.
    Raises WorksheetError (and writes no worksheet) for a grade Moodle would refuse."""
    write_grades_csv(out / "grades.csv", results)
    report = fill_worksheet(moodle_rows(results, partial), out / WORKSHEET, worksheet, MAX_POINTS)
    write_feedback_zip(out / "feedback" / FEEDBACK_ZIP, results, partial)
    for r in results:
        folder = out / "gradescope" / r.student_id
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "results.json").write_text(json.dumps(gradescope_results(r), indent=1))
        (out / "feedback").mkdir(exist_ok=True)
        (out / "feedback" / f"{r.student_id}.html").write_text(feedback_html(r), encoding="utf-8")
    return report
