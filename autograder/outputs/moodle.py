"""Fill Moodle's offline grading worksheet (assignment > "Download grading worksheet" / "Upload grading worksheet").

The worksheet is a CSV file Moodle writes in the downloading person's interface language: a UTF-8 byte order mark,
commas, PHP ``fputcsv`` quoting (a field is quoted when it holds a comma, a quote, a line break, a tab or a space),
``\\n`` line ends. Moodle's importer finds its columns by their header text in the uploading person's language
(identifier, grade, "Last modified (grade)", one column per feedback plugin field), takes the participant number
after the "Participant " prefix, reads the grade with the language's decimal separator and the date with PHP's
``strtotime``. It skips a row silently when the grade is blank (the old grade stays), negative or above the maximum,
and when the grade in Moodle is newer than the row's "Last modified (grade)" (unless the uploader ticks "Allow
updating records that have been modified more recently in Moodle than in the spreadsheet").

So this module fills the file the instructor downloaded rather than writing its own: same header, same rows in the
same order, only the grade and feedback comment cells of graded participants changed, every other byte kept.
"Last modified (grade)" stays as downloaded: it is Moodle's safety check (``process_import_grades`` skips a row
whose grade in Moodle changed more than 60 s after that time, unless the uploader ticks "Allow updating records
that have been modified more recently in Moodle than in the spreadsheet"), so a grade a colleague entered in Moodle
after the download is never overwritten by the upload; writing the export's own time there would defeat it. Grades
Moodle would skip silently are refused here, with the participant named. The feedback comment is written in the
worksheet's language (COMMENT_PHRASES), one line per point lost, with the worksheet's decimal separator.

What this module writes is made inert (``text``): the feedback comment is printable and capped, and a new
worksheet's names are CSV cells no spreadsheet runs as formulas. What Moodle itself wrote into a downloaded
worksheet (identifiers, names, e-mail addresses) is never changed: Moodle matches its rows on them.
"""

from __future__ import annotations

import html
import math
import os
import re
import tempfile
from collections import Counter
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from ..text import COMMENT_LIMIT, NAME_LIMIT, cap, csv_cell, one_line, printable

BOM = "\ufeff"
NO_DATE = "-"  # what Moodle writes for "never graded" / "never submitted"


@dataclass(frozen=True)
class WorksheetRow:
    student_id: str  # the Moodle participant number as text ("123456"); other ids are just not found in a worksheet
    name: str  # full name (used when writing a new English worksheet)
    grade: float | None  # None: leave the Grade cell blank, so Moodle keeps what it had (pending or failed grading)
    comment: str | Comment  # the feedback comment: plain text, or what it says (written in the sheet's language)


@dataclass(frozen=True)
class Comment:
    """What a student's feedback comment says; ``fill_worksheet`` writes it in the worksheet's language."""

    total: float
    maximum: float
    automatic: float
    written: float  # points of written answers a person gave
    pending: float = 0.0  # points of written answers no person has graded yet
    failed: bool = False  # the grading failed and will be repeated
    lost: tuple[tuple[str, float, float, str], ...] = ()  # (part, points, out of, the grader's message)
    remarks: tuple[tuple[str, str], ...] = ()  # (part, a person's comment)


class WorksheetError(ValueError):
    """The worksheet can't be filled as asked; the message names the file, the row or participant and the fix."""


@dataclass
class WorksheetReport:
    filled: list[str]  # student ids whose grade was written
    blank: list[str]  # student ids left blank (grade None)
    not_in_worksheet: list[str]  # student ids in rows that have no row in the template
    language: str  # "en", "de", ... the language recognised from the header
    warnings: list[str] = field(default_factory=list)  # what the uploader must do for Moodle to take every grade


@dataclass(frozen=True)
class Language:
    """Moodle's strings for one interface language: the worksheet's file format. Each field names its Moodle string
    (component:identifier); alternatives cover other Moodle versions. Add a language by adding an instance to
    LANGUAGES with the strings of its language pack."""

    code: str
    identifier: tuple[str, ...]  # assign:recordid
    grade: tuple[str, ...]  # core gradenoun (Moodle >= 4.1), core grade before: the same text
    maximum_grade: tuple[str, ...]  # assign:maxgrade
    last_modified_grade: tuple[str, ...]  # assign:lastmodifiedgrade
    last_modified_submission: tuple[str, ...]  # assign:lastmodifiedsubmission
    feedback_comments: tuple[str, ...]  # assignfeedback_comments:pluginname
    participant: str  # assign:hiddenuser, written right before the number
    decimal_separator: str  # langconfig:decsep
    importer_reads_dates: bool  # whether PHP's strtotime reads Moodle's dates in it (it knows English names only)


ENGLISH = Language(
    code="en",
    identifier=("Identifier",),
    grade=("Grade",),
    maximum_grade=("Maximum Grade", "Maximum grade"),
    last_modified_grade=("Last modified (grade)",),
    last_modified_submission=("Last modified (submission)",),
    feedback_comments=("Feedback comments",),
    participant="Participant ",
    decimal_separator=".",
    importer_reads_dates=True,
)

GERMAN = Language(
    code="de",
    identifier=("ID",),
    grade=("Bewertung",),
    maximum_grade=("Bestwertung", "Bestbewertung"),  # the second in old language packs (Moodle 2.5)
    last_modified_grade=("Zuletzt geändert (Bewertung)",),
    last_modified_submission=("Zuletzt geändert (Abgabe)",),
    feedback_comments=("Feedback als Kommentar",),
    participant="Teilnehmer/in",  # no space: the language pack's string has none, so the number follows directly
    decimal_separator=",",
    importer_reads_dates=False,
)

LANGUAGES = (ENGLISH, GERMAN)


@dataclass(frozen=True)
class Phrases:
    """The feedback comment's sentences in one language (numbers are filled in with the worksheet's separator)."""

    total: str  # {total} {maximum} {automatic} {written}
    pending: str  # {pending}
    failed: str
    lost: str  # {part} {points} {maximum} {message}: one line per automatic part that lost points
    remark: str  # {part} {comment}: a person's comment


COMMENT_PHRASES = {
    "en": Phrases(total="Problem set 3: {total} of {maximum} points (automatic {automatic}, written answers "
                        "{written}).",
                  pending="Partial grade: {pending} points of written answers are not graded yet.",
                  failed="Partial grade: the grading failed and will be repeated.",
                  lost="{part}: {points} of {maximum} points: {message}",
                  remark="{part}: {comment}"),
    "de": Phrases(total="Übungsblatt 3: {total} von {maximum} Punkten (automatisch {automatic}, schriftliche "
                        "Antworten {written}).",
                  pending="Vorläufige Bewertung: {pending} Punkte schriftlicher Antworten sind noch nicht bewertet.",
                  failed="Vorläufige Bewertung: die automatische Bewertung ist fehlgeschlagen und wird wiederholt.",
                  lost="{part}: {points} von {maximum} Punkten: {message}",
                  remark="{part} (Kommentar): {comment}"),
}
LOST_MESSAGE_LIMIT = 160  # the grader's message in a comment line: its gist; the feedback page has all of it

# A new worksheet (no download at hand) has Moodle 4.x's English columns for an assignment with file submissions
# and feedback comments; Moodle's importer reads only Identifier, Grade, Last modified (grade), Feedback comments.
NEW_HEADER = ("Identifier", "Full name", "Email address", "Status", "Grade", "Maximum Grade", "Grade can be changed",
              "Last modified (submission)", "Last modified (grade)", "Feedback comments")
NEW_STATUS = "Submitted for grading"
NEW_CAN_CHANGE = "Yes"

_PARTICIPANT = re.compile(r"\s*(\D*?)\s*(\d+)\s*")


def fill_worksheet(rows: list[WorksheetRow], out: Path, template: Path | None = None,
                   max_grade: float = 16.0) -> WorksheetReport:
    """Write ``out``: the downloaded worksheet ``template`` with these grades filled in, or (no template) a new
    English worksheet of ``rows`` out of ``max_grade``. Nothing is written when anything is wrong (WorksheetError);
    the download itself is never overwritten."""
    out = Path(out)
    _check_unique(rows)
    if template is None:
        return _new_worksheet(rows, out, max_grade)
    template = Path(template)
    if same_file(out, template):
        raise WorksheetError(f"refusing to write {out}: it is the downloaded worksheet itself; write the filled copy "
                             f"to another file so the download stays as Moodle made it")
    return _fill_template(rows, out, template)


# ---- reading the downloaded worksheet -------------------------------------------------------------------------


@dataclass
class _Field:
    value: str
    raw: str  # exactly as in the file, quotes included, so untouched cells are written back byte for byte
    quoted: bool


@dataclass
class _Record:
    fields: list[_Field]
    end: str  # the line end that followed it in the file ("" for a last line without one)

    def text(self, delimiter: str) -> str:
        return delimiter.join(f.raw for f in self.fields) + self.end

    def value(self, index: int | None) -> str:
        return self.fields[index].value if index is not None and index < len(self.fields) else ""


@dataclass
class _Sheet:
    path: Path
    bom: str
    delimiter: str
    records: list[_Record]
    language: Language
    columns: dict[str, int | None]  # role -> column index

    def participants(self) -> dict[str, _Record]:
        """Participant number -> its row; blank lines are passed over, any other unreadable identifier refused."""
        found: dict[str, _Record] = {}
        for number, record in enumerate(self.records[1:], start=2):
            cell = record.value(self.columns["identifier"])
            if not cell.strip() and not "".join(f.value for f in record.fields).strip():
                continue
            match = _PARTICIPANT.fullmatch(cell)
            if not match:
                raise WorksheetError(f"{self.path}: row {number} has no participant number in its identifier cell "
                                     f"({cell!r}); Moodle writes {self.language.participant!r} followed by the number")
            key = _number(match.group(2))
            if key in found:
                raise WorksheetError(f"{self.path}: participant {key} has two rows (the second is row {number})")
            found[key] = record
        return found


def _read_sheet(path: Path) -> _Sheet:
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise WorksheetError(f"{path}: no such file (the worksheet downloaded from the assignment)") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise WorksheetError(f"{path}: not UTF-8 (byte {exc.start}); Moodle writes the worksheet in UTF-8: download it "
                             f"again, or save it from the spreadsheet as 'CSV UTF-8'") from None
    bom = BOM if text.startswith(BOM) else ""
    text = text[len(bom):]
    if not text.strip():
        raise WorksheetError(f"{path}: the file is empty")
    delimiter, records, language, columns = _recognise(path, text)
    return _Sheet(path, bom, delimiter, records, language, columns)


def _recognise(path: Path, text: str) -> tuple[str, list[_Record], Language, dict[str, int | None]]:
    """Moodle writes commas; a spreadsheet re-saving the file in a German locale writes semicolons."""
    header: list[str] = []
    unreadable = ""
    for delimiter in (",", ";", "\t"):
        try:
            records = _parse(text, delimiter)
        except WorksheetError as exc:  # a wrong delimiter can make a quote look unclosed: try the next
            unreadable = unreadable or f" (as CSV: {exc})"
            continue
        header = [f.value.strip() for f in records[0].fields]
        for language in LANGUAGES:
            columns = _columns(header, language)
            if None not in (columns["identifier"], columns["grade"], columns["last_modified_grade"]):
                return delimiter, records, language, columns
        if len(header) > 1:
            break  # the right delimiter split the header, and still no language matched
    looked_for = "; ".join(f"{lang.code}: {lang.identifier[0]!r}, {lang.grade[0]!r}, {lang.last_modified_grade[0]!r}"
                           for lang in LANGUAGES)
    raise WorksheetError(f"{path}: the header row is not a Moodle grading worksheet in a known language{unreadable}. "
                         f"Its columns are {header}; looked for the columns Moodle's importer needs ({looked_for}). "
                         f"Download the worksheet again from the assignment, or add the language to LANGUAGES in "
                         f"{__name__}")


def _columns(header: list[str], language: Language) -> dict[str, int | None]:
    roles = {"identifier": language.identifier, "grade": language.grade, "maximum_grade": language.maximum_grade,
             "last_modified_grade": language.last_modified_grade,
             "last_modified_submission": language.last_modified_submission,
             "feedback_comments": language.feedback_comments}
    return {role: next((i for i, name in enumerate(header) if name in names), None) for role, names in roles.items()}


def _parse(text: str, delimiter: str) -> list[_Record]:
    """Split CSV text into records, keeping each field's raw text and each line end (fields may span lines)."""
    records: list[_Record] = []
    fields: list[_Field] = []
    pos = 0
    while True:
        if pos < len(text) and text[pos] == '"':
            item, pos = _quoted_field(text, pos, delimiter)
        else:
            end = _field_end(text, pos, delimiter)
            item, pos = _Field(text[pos:end], text[pos:end], False), end
        fields.append(item)
        if pos < len(text) and text[pos] == delimiter:
            pos += 1
            continue
        line_end = "\r\n" if text.startswith("\r\n", pos) else text[pos:pos + 1]
        records.append(_Record(fields, line_end))
        fields, pos = [], pos + len(line_end)
        if pos >= len(text):
            return records


def _quoted_field(text: str, start: int, delimiter: str) -> tuple[_Field, int]:
    parts, pos = [], start + 1
    while True:
        close = text.find('"', pos)
        if close < 0:
            raise WorksheetError(f"a quoted field starting at character {start} is never closed")
        parts.append(text[pos:close])
        if text.startswith('""', close):
            parts.append('"')
            pos = close + 2
            continue
        end = _field_end(text, close + 1, delimiter)
        parts.append(text[close + 1:end])  # text after a closing quote belongs to the field, as spreadsheets read it
        return _Field("".join(parts), text[start:end], True), end


def _field_end(text: str, pos: int, delimiter: str) -> int:
    match = _field_end_pattern(delimiter).search(text, pos)
    return match.start() if match else len(text)


@lru_cache(maxsize=None)
def _field_end_pattern(delimiter: str) -> re.Pattern:
    return re.compile(f"[{re.escape(delimiter)}\r\n]")


# ---- filling it -------------------------------------------------------------------------------------------------


def _fill_template(rows: list[WorksheetRow], out: Path, template: Path) -> WorksheetReport:
    sheet = _read_sheet(template)
    participants = sheet.participants()
    present = [row for row in rows if _number(row.student_id) in participants]
    graded = [row for row in present if row.grade is not None]
    _check_fillable(sheet, graded, participants)
    separator = _decimal_separator(sheet)
    warnings = _stale_warnings(sheet, graded, participants)
    style = _QuoteStyle(sheet.delimiter, _quotes_spaces(sheet.records))
    cols = sheet.columns
    for row in present:
        record = participants[_number(row.student_id)]
        if row.grade is None:
            _set(record, {cols["grade"]: ""}, style)
            continue
        cells = {cols["grade"]: _format_grade(row.grade, separator)}  # "Last modified (grade)" stays: see above
        if cols["feedback_comments"] is not None:
            cells[cols["feedback_comments"]] = _comment_html(row.comment, sheet.language.code, separator)
        _set(record, cells, style)
    _write(out, sheet.bom + "".join(r.text(sheet.delimiter) for r in sheet.records))
    return WorksheetReport(filled=[r.student_id for r in graded],
                           blank=[r.student_id for r in present if r.grade is None],
                           not_in_worksheet=[r.student_id for r in rows if _number(r.student_id) not in participants],
                           language=sheet.language.code, warnings=warnings)


def _check_fillable(sheet: _Sheet, graded: list[WorksheetRow], participants: dict[str, _Record]) -> None:
    """Refuse, before anything is written, every grade Moodle would drop without a word."""
    if not graded:
        return
    cols, language = sheet.columns, sheet.language
    if cols["maximum_grade"] is None:
        raise WorksheetError(f"{sheet.path}: no {language.maximum_grade[0]!r} column, so the assignment is graded on a "
                             f"scale (or the file was edited); numeric grades can't be imported into it")
    if cols["feedback_comments"] is None and any(_comment_html(row.comment, "en", ".") for row in graded):
        raise WorksheetError(f"{sheet.path}: no {language.feedback_comments[0]!r} column for the feedback comments; "
                             f"enable 'Feedback comments' in the assignment's settings and download the worksheet "
                             f"again")
    separator = _decimal_separator(sheet)
    problems = []
    for row in graded:
        record = participants[_number(row.student_id)]
        cell = record.value(cols["maximum_grade"])
        maximum = _parse_number(cell, separator)
        if maximum is None:
            problems.append(f"participant {row.student_id}: the maximum grade cell {cell!r} is not a number")
        elif problem := _grade_problem(row, maximum, separator):
            problems.append(problem)
    if problems:
        raise WorksheetError(f"{sheet.path}: nothing written:\n  " + "\n  ".join(problems))


def _set(record: _Record, cells: dict[int | None, str], style: _QuoteStyle) -> None:
    for index, value in cells.items():
        if index is None:
            continue
        while len(record.fields) <= index:  # a row a spreadsheet cut short: the missing cells are empty
            record.fields.append(_Field("", "", False))
        old = record.fields[index]
        if value != old.value:
            record.fields[index] = _Field(value, style.encode(value, old.quoted), old.quoted)


@dataclass(frozen=True)
class _QuoteStyle:
    delimiter: str
    spaces: bool  # PHP fputcsv (Moodle) also quotes fields with a space or a tab; spreadsheets don't

    def encode(self, value: str, quoted: bool = False) -> str:
        specials = (self.delimiter, '"', "\n", "\r") + ((" ", "\t") if self.spaces else ())
        if quoted or any(s in value for s in specials):
            return '"' + value.replace('"', '""') + '"'
        return value


def _quotes_spaces(records: list[_Record]) -> bool:
    """Whether the file was written the way Moodle writes it; a spreadsheet's re-save leaves 'Full name' bare."""
    return not any(not f.quoted and (" " in f.value or "\t" in f.value) for r in records for f in r.fields)


def _decimal_separator(sheet: _Sheet) -> str:
    """The separator of the file's own numbers (its Maximum Grade cells), else the language's."""
    for record in sheet.records[1:]:
        cell = record.value(sheet.columns["maximum_grade"])
        for separator in (",", "."):
            if separator in cell:
                return separator
    return sheet.language.decimal_separator


def _stale_warnings(sheet: _Sheet, graded: list[WorksheetRow], participants: dict[str, _Record]) -> list[str]:
    """Moodle skips a row whose grade in Moodle is newer than its 'Last modified (grade)'. PHP's strtotime reads no
    day or month names but English ones, so for other languages every participant already graded is skipped."""
    if sheet.language.importer_reads_dates:
        return []
    column = sheet.columns["last_modified_grade"]
    regraded = [row.student_id for row in graded
                if participants[_number(row.student_id)].value(column).strip() not in ("", NO_DATE)]
    if not regraded:
        return []
    return [f"Moodle's importer can't read {sheet.language.code} dates, so it treats the grades of participants "
            f"already graded in Moodle ({', '.join(regraded)}) as changed since the download and skips them: tick "
            f"'Allow updating records that have been modified more recently in Moodle than in the spreadsheet' "
            f"when uploading"]


# ---- a new English worksheet ------------------------------------------------------------------------------------


def _new_worksheet(rows: list[WorksheetRow], out: Path, max_grade: float) -> WorksheetReport:
    # Students graded from a folder rather than Moodle's zip have no participant number: Moodle could not match
    # them, so they are left out (and named), and everyone else's grades are still written.
    unmatched = [row.student_id for row in rows if not is_participant(row.student_id)]
    rows = [row for row in rows if is_participant(row.student_id)]
    problems = [p for row in rows if row.grade is not None and (p := _grade_problem(row, max_grade, "."))]
    if problems:
        raise WorksheetError(f"{out}: nothing written:\n  " + "\n  ".join(problems))
    style = _QuoteStyle(",", spaces=True)
    lines = [NEW_HEADER] + [_new_row(row, max_grade) for row in rows]
    _write(out, BOM + "".join(",".join(style.encode(cell) for cell in line) + "\n" for line in lines))
    warnings = [NOT_DOWNLOADED] if any(row.grade is not None for row in rows) else []
    return WorksheetReport(filled=[r.student_id for r in rows if r.grade is not None],
                           blank=[r.student_id for r in rows if r.grade is None], not_in_worksheet=unmatched,
                           language=ENGLISH.code, warnings=warnings)


# A new worksheet knows no time a grade had in Moodle: its "Last modified (grade)" is Moodle's "-" (never), so Moodle
# keeps every grade it already has unless the uploader says otherwise.
NOT_DOWNLOADED = ("this worksheet was not downloaded from Moodle (no --worksheet): Moodle will skip every participant "
                  "who already has a grade there; download the grading worksheet and export with --worksheet (or "
                  "tick 'Allow updating records that have been modified more recently in Moodle than in the "
                  "spreadsheet' when uploading)")


def _new_row(row: WorksheetRow, max_grade: float) -> tuple[str, ...]:
    graded = row.grade is not None
    return (ENGLISH.participant + _number(row.student_id), csv_cell(row.name, NAME_LIMIT), "", NEW_STATUS,
            _format_grade(row.grade, ".") if graded else "", _format_grade(max_grade, "."), NEW_CAN_CHANGE, NO_DATE,
            NO_DATE, _comment_html(row.comment, ENGLISH.code, ".") if graded else "")


# ---- values -----------------------------------------------------------------------------------------------------


def _grade_problem(row: WorksheetRow, maximum: float, separator: str) -> str | None:
    """Why Moodle would skip this grade without a word (not a number, negative, above the maximum), if it would."""
    if not math.isfinite(row.grade):
        return f"participant {row.student_id}: grade {row.grade!r} is not a number"
    if not 0 <= _rounded(row.grade) <= maximum:
        return (f"participant {row.student_id}: grade {_format_grade(row.grade, separator)} is outside 0 to "
                f"{_format_grade(maximum, separator)} (the maximum); Moodle would skip it without a word")
    return None


def _rounded(grade: float) -> float:
    return round(grade, 2)  # what the file will say, so the comparison with the maximum is Moodle's


def _format_grade(grade: float, separator: str) -> str:
    return f"{_rounded(grade):.2f}".replace(".", separator)


def _parse_number(cell: str, separator: str) -> float | None:
    """Moodle's unformat_float: spaces dropped, the language's decimal separator read as a point."""
    try:
        return float(cell.replace(" ", "").replace(separator, "."))
    except ValueError:
        return None


def _comment_html(comment: str | Comment, language: str, separator: str) -> str:
    """The importer stores the cell as an HTML comment (FORMAT_HTML): a ``Comment`` in ``language``'s phrases, one
    line each; every line printable and capped (it may quote a person's comments and a student's text), escaped;
    lines joined by <br>."""
    if isinstance(comment, Comment):
        lines = _comment_lines(comment, COMMENT_PHRASES.get(language, COMMENT_PHRASES["en"]), separator)
    else:
        lines = comment.strip().replace("\r\n", "\n").split("\n")
    text = cap(printable("\n".join(lines).strip()), COMMENT_LIMIT)
    return "<br>".join(html.escape(line, quote=False) for line in text.split("\n")) if text else ""


def _comment_lines(comment: Comment, phrases: Phrases, separator: str) -> list[str]:
    def number(value: float) -> str:
        return f"{value:g}".replace(".", separator)
    lines = [phrases.total.format(total=number(comment.total), maximum=number(comment.maximum),
                                  automatic=number(comment.automatic), written=number(comment.written))]
    if comment.pending:
        lines.append(phrases.pending.format(pending=number(comment.pending)))
    if comment.failed:
        lines.append(phrases.failed)
    lines += [phrases.lost.format(part=part, points=number(points), maximum=number(maximum),
                                  message=cap(one_line(message), LOST_MESSAGE_LIMIT))
              for part, points, maximum, message in comment.lost]
    lines += [phrases.remark.format(part=part, comment=one_line(remark)) for part, remark in comment.remarks]
    return lines


def is_participant(student_id: str) -> bool:
    """Whether a student id is a Moodle participant number (ingest takes it from Moodle's folder names)."""
    return student_id.strip().isdigit()


def _number(student_id: str) -> str:
    """A participant number as Moodle compares it (an integer), for ids that are one; other ids stay as they are."""
    text = student_id.strip()
    return str(int(text)) if text.isdigit() else text


def _check_unique(rows: list[WorksheetRow]) -> None:
    counts = Counter(_number(row.student_id) for row in rows)
    twice = sorted(student for student, count in counts.items() if count > 1)
    if twice:
        raise WorksheetError(f"student ids given twice: {', '.join(twice)}; one grade per participant")


def same_file(a: Path, b: Path) -> bool:
    """Whether two paths name one file (the same path, or links to it)."""
    if a.exists() and b.exists():
        return os.path.samefile(a, b)
    return a.resolve() == b.resolve()


def _write(out: Path, text: str) -> None:
    """Atomically: a reader (or Moodle's upload form) never sees half a worksheet, and a failure leaves none."""
    out.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{out.name}.", dir=out.parent)
    try:
        with os.fdopen(handle, "wb") as stream:
            stream.write(text.encode("utf-8"))
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(temporary, out)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
