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
same order, only the grade, feedback comment and last-modified cells of graded participants changed, every other
byte kept. Grades Moodle would skip silently are refused here, with the participant named.

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
from datetime import datetime, timezone
from functools import lru_cache
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from ..text import COMMENT_LIMIT, NAME_LIMIT, cap, csv_cell, printable

BOM = "\ufeff"
NO_DATE = "-"  # what Moodle writes for "never graded" / "never submitted"


@dataclass(frozen=True)
class WorksheetRow:
    student_id: str  # the Moodle participant number as text ("123456"); other ids are just not found in a worksheet
    name: str  # full name (used when writing a new English worksheet)
    grade: float | None  # None: leave the Grade cell blank, so Moodle keeps what it had (pending or failed grading)
    comment: str  # plain-text feedback comment (only written where grade is not None)


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
    date_formats: tuple[str, ...]  # langconfig:strftimedaydatetime (userdate's default); the first is written
    decimal_separator: str  # langconfig:decsep
    day_names: tuple[str, ...]  # %A, Monday first
    month_names: tuple[str, ...]  # %B, January first
    am_pm: tuple[str, str]  # %p
    importer_reads_dates: bool  # whether PHP's strtotime understands these dates (it knows English names only)


ENGLISH = Language(
    code="en",
    identifier=("Identifier",),
    grade=("Grade",),
    maximum_grade=("Maximum Grade", "Maximum grade"),
    last_modified_grade=("Last modified (grade)",),
    last_modified_submission=("Last modified (submission)",),
    feedback_comments=("Feedback comments",),
    participant="Participant ",
    date_formats=("%A, %d %B %Y, %I:%M %p", "%A, %B %d, %Y, %I:%M %p"),  # en, then en_us
    decimal_separator=".",
    day_names=("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"),
    month_names=("January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
                 "November", "December"),
    am_pm=("AM", "PM"),
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
    date_formats=("%A, %d. %B %Y, %H:%M",),
    decimal_separator=",",
    day_names=("Montag", "Dienstag", "Mittwoch", "Donnerstag", "Freitag", "Samstag", "Sonntag"),
    month_names=("Januar", "Februar", "März", "April", "Mai", "Juni", "Juli", "August", "September", "Oktober",
                 "November", "Dezember"),
    am_pm=("vormittags", "nachmittags"),
    importer_reads_dates=False,
)

LANGUAGES = (ENGLISH, GERMAN)

# A new worksheet (no download at hand) has Moodle 4.x's English columns for an assignment with file submissions
# and feedback comments; Moodle's importer reads only Identifier, Grade, Last modified (grade), Feedback comments.
NEW_HEADER = ("Identifier", "Full name", "Email address", "Status", "Grade", "Maximum Grade", "Grade can be changed",
              "Last modified (submission)", "Last modified (grade)", "Feedback comments")
NEW_STATUS = "Submitted for grading"
NEW_CAN_CHANGE = "Yes"

_PARTICIPANT = re.compile(r"\s*(\D*?)\s*(\d+)\s*")


def fill_worksheet(rows: list[WorksheetRow], out: Path, template: Path | None = None, max_grade: float = 16.0,
                   now: datetime | None = None, tz: str | None = None) -> WorksheetReport:
    """Write ``out``: the downloaded worksheet ``template`` with these grades filled in, or (no template) a new
    English worksheet of ``rows`` out of ``max_grade``. ``now`` (default: the current time) is written as the
    last-modified time of each grade, shown in time zone ``tz`` (default: this machine's). Nothing is written when
    anything is wrong (WorksheetError); the download itself is never overwritten."""
    out = Path(out)
    _check_unique(rows)
    moment = _local_time(now, tz)
    if template is None:
        return _new_worksheet(rows, out, max_grade, moment)
    template = Path(template)
    if _same_file(out, template):
        raise WorksheetError(f"refusing to write {out}: it is the downloaded worksheet itself; write the filled copy "
                             f"to another file so the download stays as Moodle made it")
    return _fill_template(rows, out, template, moment)


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


def _fill_template(rows: list[WorksheetRow], out: Path, template: Path, moment: datetime) -> WorksheetReport:
    sheet = _read_sheet(template)
    participants = sheet.participants()
    present = [row for row in rows if _number(row.student_id) in participants]
    graded = [row for row in present if row.grade is not None]
    _check_fillable(sheet, graded, participants)
    separator = _decimal_separator(sheet)
    date_format, warnings = _date_format(sheet)
    warnings += _stale_warnings(sheet, graded, participants)  # before the cells it reads are overwritten
    stamp = _moodle_date(moment, date_format, sheet.language)
    style = _QuoteStyle(sheet.delimiter, _quotes_spaces(sheet.records))
    cols = sheet.columns
    for row in present:
        record = participants[_number(row.student_id)]
        if row.grade is None:
            _set(record, {cols["grade"]: ""}, style)
            continue
        cells = {cols["grade"]: _format_grade(row.grade, separator), cols["last_modified_grade"]: stamp}
        if cols["feedback_comments"] is not None:
            cells[cols["feedback_comments"]] = _comment_html(row.comment)
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
    if cols["feedback_comments"] is None and any(row.comment.strip() for row in graded):
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


def _date_format(sheet: _Sheet) -> tuple[str, list[str]]:
    """The language's date format that the file's own dates follow (en and en_us differ), else its first."""
    language = sheet.language
    roles = ("last_modified_grade", "last_modified_submission")
    dates = [r.value(sheet.columns[role]).strip() for r in sheet.records[1:] for role in roles]
    dates = [d for d in dates if d and d != NO_DATE]
    for candidate in language.date_formats:
        if all(_date_pattern(candidate, language).fullmatch(d) for d in dates):
            return candidate, []
    return language.date_formats[0], [f"{sheet.path}: its dates (e.g. {dates[0]!r}) follow none of the known "
                                      f"{language.code} formats; wrote the last-modified times as "
                                      f"{language.date_formats[0]!r}"]


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


def _new_worksheet(rows: list[WorksheetRow], out: Path, max_grade: float, moment: datetime) -> WorksheetReport:
    # Students graded from a folder rather than Moodle's zip have no participant number: Moodle could not match
    # them, so they are left out (and named), and everyone else's grades are still written.
    unmatched = [row.student_id for row in rows if not row.student_id.strip().isdigit()]
    rows = [row for row in rows if row.student_id.strip().isdigit()]
    problems = [p for row in rows if row.grade is not None and (p := _grade_problem(row, max_grade, "."))]
    if problems:
        raise WorksheetError(f"{out}: nothing written:\n  " + "\n  ".join(problems))
    style = _QuoteStyle(",", spaces=True)
    stamp = _moodle_date(moment, ENGLISH.date_formats[0], ENGLISH)
    lines = [NEW_HEADER] + [_new_row(row, max_grade, stamp) for row in rows]
    _write(out, BOM + "".join(",".join(style.encode(cell) for cell in line) + "\n" for line in lines))
    return WorksheetReport(filled=[r.student_id for r in rows if r.grade is not None],
                           blank=[r.student_id for r in rows if r.grade is None], not_in_worksheet=unmatched,
                           language=ENGLISH.code)


def _new_row(row: WorksheetRow, max_grade: float, stamp: str) -> tuple[str, ...]:
    graded = row.grade is not None
    return (ENGLISH.participant + _number(row.student_id), csv_cell(row.name, NAME_LIMIT), "", NEW_STATUS,
            _format_grade(row.grade, ".") if graded else "", _format_grade(max_grade, "."), NEW_CAN_CHANGE, NO_DATE,
            stamp if graded else NO_DATE, _comment_html(row.comment) if graded else "")


# ---- values -----------------------------------------------------------------------------------------------------


def _moodle_date(moment: datetime, fmt: str, language: Language) -> str:
    """Moodle's userdate(): strftime in the language's names, without the leading zero of %d and %I."""
    values = {"%A": language.day_names[moment.weekday()], "%d": str(moment.day),
              "%B": language.month_names[moment.month - 1], "%Y": f"{moment.year:04d}", "%H": f"{moment.hour:02d}",
              "%I": str(moment.hour % 12 or 12), "%M": f"{moment.minute:02d}",
              "%p": language.am_pm[moment.hour >= 12], "%%": "%"}
    return re.sub(r"%.", lambda m: values[m.group()], fmt)


@lru_cache(maxsize=None)
def _date_pattern(fmt: str, language: Language) -> re.Pattern:
    def words(names):
        return "(?:" + "|".join(map(re.escape, names)) + ")"
    tokens = {"%A": words(language.day_names), "%d": r"\d{1,2}", "%B": words(language.month_names),
              "%Y": r"\d{4}", "%H": r"\d{2}", "%I": r"\d{1,2}", "%M": r"\d{2}", "%p": words(language.am_pm),
              "%%": "%"}
    return re.compile("".join(tokens.get(part, re.escape(part)) for part in re.split(r"(%.)", fmt)))


def _local_time(now: datetime | None, tz: str | None) -> datetime:
    moment = now if now is not None else datetime.now(timezone.utc)  # a naive `now` is this machine's local time
    if tz is None:
        return moment.astimezone()
    try:
        return moment.astimezone(ZoneInfo(tz))
    except (ZoneInfoNotFoundError, ValueError):
        raise WorksheetError(f"unknown time zone {tz!r}; give an IANA name such as 'Europe/Berlin'") from None


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


def _comment_html(comment: str) -> str:
    """The importer stores the cell as an HTML comment (FORMAT_HTML): printable and capped (it may quote a person's
    comments and a student's text), escaped, its line breaks kept."""
    text = cap(printable(comment.strip().replace("\r\n", "\n")), COMMENT_LIMIT)
    return "<br>".join(html.escape(line, quote=False) for line in text.split("\n")) if text else ""


def _number(student_id: str) -> str:
    """A participant number as Moodle compares it (an integer), for ids that are one; other ids stay as they are."""
    text = student_id.strip()
    return str(int(text)) if text.isdigit() else text


def _check_unique(rows: list[WorksheetRow]) -> None:
    counts = Counter(_number(row.student_id) for row in rows)
    twice = sorted(student for student, count in counts.items() if count > 1)
    if twice:
        raise WorksheetError(f"student ids given twice: {', '.join(twice)}; one grade per participant")


def _same_file(out: Path, template: Path) -> bool:
    if out.exists() and template.exists():
        return os.path.samefile(out, template)
    return out.resolve() == template.resolve()


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
