"""Final grades out of a grading folder: the saved results, with the gradebook's word on every cell (a TA's
scores and comments from formgrader), into every report: grades.csv, the Moodle worksheet, Gradescope's
results.json, the feedback pages and the class report. ``grade`` ends with it; ``export`` runs it alone after hand
grading."""

from __future__ import annotations

import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

from ..results import UNFINISHED, ResultStore, SubmissionResult
from ..text import printable
from . import class_report, grading_folder, gradebook, reports
from .moodle import WorksheetError, WorksheetReport, same_file

# The worksheet as downloaded from Moodle, kept in the grading folder by the first export given one.
DOWNLOADED = "moodle_worksheet_downloaded.csv"


@dataclass
class Export:
    results: list[SubmissionResult]
    worksheet: WorksheetReport
    class_report: Path | None = None  # None: it could not be written (the other reports are; see stderr)
    partial: bool = False  # --partial: the points so far written for students without a final grade

    def students(self, which) -> list[str]:
        return [r.student_id for r in self.results if which(r)]

    def summary(self) -> str:
        """What an instructor reads before uploading the worksheet: who got a final grade, who did not and why.
        Printed to a terminal: student ids (folder names: any text) on one line each, printable and capped."""
        pending = _ids(self.students(lambda r: r.pending_points and r.status != "error"))
        failed = _ids(self.students(lambda r: r.status in ("error", UNFINISHED)))
        flagged = _ids(self.students(lambda r: any(reason.startswith(gradebook.FLAGGED) for reason in r.review)))
        lines = [f"{len(self.students(lambda r: r.final))} of {len(self.results)} students have a final grade."]
        if pending:
            lines.append(f"written answers still to grade in formgrader ({len(pending)}): {', '.join(pending)}")
        if failed:
            lines.append(f"grading failed or unfinished ({len(failed)}): {', '.join(failed)}")
        if flagged:
            lines.append(f"flagged for review ({len(flagged)}): {', '.join(flagged)}")
        if self.partial:
            unfinal = self.students(lambda r: not r.final and r.status != UNFINISHED)
            lines.append(f"--partial: the points so far were written for {_students(len(unfinal))} without a final "
                         "grade (pending written answers count 0)")
        pages = self.students(lambda r: reports.gets_feedback_file(r, self.partial))
        lines.append(f"feedback/{reports.FEEDBACK_ZIP}: " + (
            f"the feedback pages of {_students(len(pages))} (Moodle: \"Upload multiple feedback files in a zip\")"
            if pages else "empty, no student has a final grade yet: nothing to upload"))
        blank = _ids(self.worksheet.blank)
        if blank:
            lines.append(f"left blank in the Moodle worksheet (Moodle keeps what it had): {', '.join(blank)}")
        lines += self.worksheet.warnings
        if self.worksheet.not_in_worksheet:
            lines.append("not in the downloaded worksheet (not written): "
                         + ", ".join(_ids(self.worksheet.not_in_worksheet)))
        return printable("\n".join(lines))  # the worksheet's warnings quote ids and cells too


def _students(count: int) -> str:
    return f"{count} student" + ("" if count == 1 else "s")


def _ids(student_ids: list[str]) -> list[str]:
    """Student ids as a comma-separated list shows them: each printable, on one line, capped."""
    return [reports.shown_name(student_id) for student_id in student_ids]


def export(out: Path, results: list[SubmissionResult] | None = None, worksheet: Path | None = None,
           partial: bool = False) -> Export:
    """Write every report of the grading folder ``out`` (of ``results``, default: every saved result). Raises
    GradebookUnavailable (writing nothing) where the gradebook cannot be reached: the reports need a person's
    grades from it.

    The Moodle worksheet is filled from ``worksheet`` (downloaded from Moodle), which is then kept in the folder
    (DOWNLOADED): every later export or ``grade`` fills the same download again, so a filled worksheet is never
    replaced by a new English one that lacks Moodle's rows. A worksheet that cannot be filled (WorksheetError)
    removes the folder's earlier filled one: it holds the grades of before, and must not be uploaded."""
    out = Path(out).resolve()
    store = ResultStore(out / "results")
    if results is None:
        results = store.load_all()
    db_url = grading_folder.db_url(out)
    try:
        grading_folder.record_pending(out, db_url, store)
        final = gradebook.final_results(db_url, results)
    except grading_folder.GRADEBOOK_ERRORS as exc:
        raise grading_folder.unavailable(db_url, exc, grading_folder.pending_count(out)) from None
    final = sorted(final, key=_student_order)  # every report in one order, whichever command wrote it
    kept = out / DOWNLOADED
    template = Path(worksheet) if worksheet is not None else (kept if kept.exists() else None)
    try:
        done = Export(final, reports.write_all(out, final, template, partial), partial=partial)
    except WorksheetError as exc:
        filled = out / reports.WORKSHEET
        if filled.exists() and not (template is not None and same_file(template, filled)):
            filled.unlink()
            raise WorksheetError(f"{exc}\n(the earlier {filled.name} was removed: it held the grades of an earlier "
                                 f"export)") from None
        raise
    if worksheet is not None and not (kept.exists() and same_file(Path(worksheet), kept)):
        shutil.copyfile(worksheet, kept)  # after it was filled: only a readable worksheet is kept
    try:
        done.class_report = class_report.write_report(out, final)
    except Exception as exc:  # noqa: BLE001 - the grades are written; a figure must not make the batch fail
        print(f"warning: the class report could not be written: {type(exc).__name__}: {exc}", file=sys.stderr)
    return done


def _student_order(result: SubmissionResult) -> tuple:
    """Moodle's participant numbers as numbers (9 before 10), then any other id as text."""
    student = result.student_id
    return (0, int(student), "") if student.isdigit() else (1, 0, student)
