"""Filling Moodle's offline grading worksheet: real files in tmp_path, written as Moodle writes them (UTF-8 byte order
mark, PHP fputcsv quoting: fields with a comma, quote, space or line break quoted; \\n line ends) in English and in
German, with the dates userdate() writes (strftimedaydatetime, no leading zero on the day or the 12-hour hour).

"Last modified (grade)" is checked against the rule of Moodle's importer (assignfeedback_offline's
process_import_grades): a row is skipped when the grade in Moodle was modified more than 60 s after the row's time
(strtotime of the cell; 0 for "-" and for dates it cannot read), unless "ignore modified" is ticked."""

import csv
from datetime import datetime, timezone

import pytest

from autograder.outputs.moodle import Comment, WorksheetError, WorksheetRow, fill_worksheet

BOM = "\ufeff"

ENGLISH_HEADER = ('Identifier,"Full name","Email address",Status,Grade,"Maximum Grade","Grade can be changed",'
                  '"Last modified (submission)","Last modified (grade)","Feedback comments"')
ENGLISH_ROWS = [
    '"Participant 1504327","Ada Lovelace",ada@example.org,"Submitted for grading",,16.00,Yes,'
    '"Monday, 3 March 2025, 9:41 AM",-,',
    '"Participant 1504328","Alan Turing",alan@example.org,"Submitted for grading - Graded",12.50,16.00,Yes,'
    '"Sunday, 2 March 2025, 11:02 PM","Tuesday, 4 March 2025, 10:15 AM","<p>Good work</p>"',
    '"Participant 1504329","Grace Hopper",grace@example.org,"No submission",,16.00,Yes,-,-,',
]
GERMAN_HEADER = ('ID,"Vollständiger Name",E-Mail-Adresse,Status,Bewertung,Bestwertung,'
                 '"Bewertung kann geändert werden","Zuletzt geändert (Abgabe)","Zuletzt geändert (Bewertung)",'
                 '"Feedback als Kommentar"')
GERMAN_ROWS = [
    'Teilnehmer/in1504327,"Ada Lovelace",ada@example.org,"Zur Bewertung abgegeben",,"16,00",Ja,'
    '"Montag, 3. März 2025, 09:41",-,',
    'Teilnehmer/in1504328,"Alan Turing",alan@example.org,"Zur Bewertung abgegeben - Bewertet","12,50","16,00",Ja,'
    '"Sonntag, 2. März 2025, 23:02","Dienstag, 4. März 2025, 10:15",<p>Gut</p>',
    'Teilnehmer/in1504329,"Grace Hopper",grace@example.org,"Keine Abgabe",,"16,00",Ja,-,-,',
]


def moodle_takes(cell: str, graded_in_moodle_at: datetime | None, ignore_modified: bool = False) -> bool:
    """Moodle's importer on one row: whether it writes the grade, given the row's "Last modified (grade)" and when
    (if ever) the grade in Moodle was last changed. PHP's strtotime reads English dates only (False -> 0)."""
    try:
        modified = datetime.strptime(cell, "%A, %d %B %Y, %I:%M %p").replace(tzinfo=timezone.utc).timestamp()
    except ValueError:
        modified = 0
    stale = graded_in_moodle_at is not None and graded_in_moodle_at.timestamp() > modified + 60
    return ignore_modified or not stale


def worksheet(tmp_path, header, rows, name="download.csv", bom=BOM, end="\n"):
    path = tmp_path / name
    path.write_bytes((bom + "".join(line + end for line in [header, *rows])).encode("utf-8"))
    return path


def lines(path):
    text = path.read_bytes().decode("utf-8")
    assert text.startswith(BOM)
    return text[1:].split("\n")


def test_english_worksheet_is_filled_and_the_rest_kept(tmp_path):
    template = worksheet(tmp_path, ENGLISH_HEADER, ENGLISH_ROWS)
    out = tmp_path / "upload.csv"
    rows = [WorksheetRow("1504327", "Ada Lovelace", 13.5, "Well done.\nSee 2 < 3 & more"),
            WorksheetRow("1504328", "Alan Turing", None, "pending"),
            WorksheetRow("9999999", "Not Enrolled", 10.0, ""),
            WorksheetRow("s-77", "Some Login", 8.0, "")]
    report = fill_worksheet(rows, out, template)

    assert lines(out) == [
        ENGLISH_HEADER,
        '"Participant 1504327","Ada Lovelace",ada@example.org,"Submitted for grading",13.50,16.00,Yes,'
        '"Monday, 3 March 2025, 9:41 AM",-,"Well done.<br>See 2 &lt; 3 &amp; more"',
        '"Participant 1504328","Alan Turing",alan@example.org,"Submitted for grading - Graded",,16.00,Yes,'
        '"Sunday, 2 March 2025, 11:02 PM","Tuesday, 4 March 2025, 10:15 AM","<p>Good work</p>"',
        ENGLISH_ROWS[2],  # not among the rows: untouched
        "",
    ]
    assert (report.filled, report.blank, report.not_in_worksheet) == (["1504327"], ["1504328"], ["9999999", "s-77"])
    assert report.language == "en" and report.warnings == []
    read_back = list(csv.DictReader(out.read_text(encoding="utf-8-sig").splitlines()))
    assert read_back[0]["Grade"] == "13.50" and read_back[0]["Last modified (grade)"] == "-"


def test_german_worksheet_gets_decimal_comma_and_keeps_its_dates(tmp_path):
    template = worksheet(tmp_path, GERMAN_HEADER, GERMAN_ROWS)
    out = tmp_path / "hochladen.csv"
    rows = [WorksheetRow("1504327", "Ada Lovelace", 12.25, "Sehr gut"),
            WorksheetRow("1504328", "Alan Turing", 15, "Prima")]
    report = fill_worksheet(rows, out, template)

    assert lines(out) == [
        GERMAN_HEADER,
        'Teilnehmer/in1504327,"Ada Lovelace",ada@example.org,"Zur Bewertung abgegeben","12,25","16,00",Ja,'
        '"Montag, 3. März 2025, 09:41",-,"Sehr gut"',
        'Teilnehmer/in1504328,"Alan Turing",alan@example.org,"Zur Bewertung abgegeben - Bewertet","15,00","16,00",Ja,'
        '"Sonntag, 2. März 2025, 23:02","Dienstag, 4. März 2025, 10:15",Prima',
        GERMAN_ROWS[2],
        "",
    ]
    assert report.language == "de" and report.filled == ["1504327", "1504328"]
    # Moodle reads the date with strtotime, which knows no German: the one already graded needs "ignore modified".
    assert len(report.warnings) == 1 and "1504328" in report.warnings[0] and "1504327" not in report.warnings[0]


def test_last_modified_stays_as_downloaded_so_moodle_keeps_a_colleagues_later_grade(tmp_path):
    """The importer's own check against grades changed in Moodle after the download works on the filled file: a
    grade a colleague changed after the download is kept by Moodle; one unchanged since the download is replaced;
    a participant never graded is written. Writing the export's time there would make every row look newer."""
    template = worksheet(tmp_path, ENGLISH_HEADER, ENGLISH_ROWS)
    out = tmp_path / "upload.csv"
    fill_worksheet([WorksheetRow("1504327", "Ada Lovelace", 13.5, ""), WorksheetRow("1504328", "Alan Turing", 14, ""),
                    WorksheetRow("1504329", "Grace Hopper", 0, "")], out, template)
    filled = {row["Full name"]: row["Last modified (grade)"]
              for row in csv.DictReader(out.read_text(encoding="utf-8-sig").splitlines())}
    downloaded = {row["Full name"]: row["Last modified (grade)"]
                  for row in csv.DictReader(template.read_text(encoding="utf-8-sig").splitlines())}
    assert filled == downloaded
    as_downloaded = datetime(2025, 3, 4, 10, 15, tzinfo=timezone.utc)  # Alan's grade when the file was downloaded
    changed_later = datetime(2025, 3, 12, 8, 0, tzinfo=timezone.utc)  # a colleague's grade after the download
    assert moodle_takes(filled["Alan Turing"], as_downloaded)
    assert not moodle_takes(filled["Alan Turing"], changed_later)
    assert moodle_takes(filled["Alan Turing"], changed_later, ignore_modified=True)
    assert moodle_takes(filled["Ada Lovelace"], None)  # never graded in Moodle
    # the export's own time, as written before, would have let the upload overwrite the colleague's grade
    assert moodle_takes("Thursday, 13 March 2025, 9:00 AM", changed_later)


def test_the_comment_is_written_in_the_worksheets_language_one_line_each(tmp_path):
    """A comment in German with decimal commas, the automatic messages in short, a TA's remark; the same in English
    with decimal points; line breaks as <br> (Moodle stores the comment as HTML), the student's text escaped."""
    comment = Comment(total=10.5, maximum=16, automatic=9.5, written=1, pending=2.5,
                      lost=(("5a", 0, 2, "28x28 inputs leave 16 x 5 x 5 = 400 values after the second pooling, not "
                                     "256" + " and more" * 40),
                            ("6 delta_conv", 0.5, 1, "delta_conv(<b>) is missing sigma'(z1[x, y])")),
                      remarks=(("5b manual", "Gut beobachtet,\naber zu kurz."),))
    for header, rows, name, expected in (
            (GERMAN_HEADER, GERMAN_ROWS, "de.csv",
             ["Übungsblatt 3: 10,5 von 16 Punkten (automatisch 9,5, schriftliche Antworten 1).",
              "Vorläufige Bewertung: 2,5 Punkte schriftlicher Antworten sind noch nicht bewertet.",
              "5a: 0 von 2 Punkten: 28x28 inputs leave 16 x 5 x 5 = 400 values after the second pooling",
              "6 delta_conv: 0,5 von 1 Punkten: delta_conv(&lt;b&gt;) is missing sigma'(z1[x, y])",
              "5b manual (Kommentar): Gut beobachtet, aber zu kurz."]),
            (ENGLISH_HEADER, ENGLISH_ROWS, "en.csv",
             ["Problem set 3: 10.5 of 16 points (automatic 9.5, written answers 1).",
              "Partial grade: 2.5 points of written answers are not graded yet.",
              "5a: 0 of 2 points: 28x28 inputs leave 16 x 5 x 5 = 400 values after the second pooling",
              "6 delta_conv: 0.5 of 1 points: delta_conv(&lt;b&gt;) is missing sigma'(z1[x, y])",
              "5b manual: Gut beobachtet, aber zu kurz."])):
        template = worksheet(tmp_path, header, rows, name=f"download-{name}")
        out = tmp_path / name
        fill_worksheet([WorksheetRow("1504327", "Ada Lovelace", 10.5, comment)], out, template)
        cell = list(csv.reader(out.read_text(encoding="utf-8-sig").splitlines()))[1][-1]
        shown = cell.split("<br>")
        assert len(shown) == len(expected)
        for line, start in zip(shown, expected):
            assert line.startswith(start), (line, start)
        assert shown[2].endswith("… (cut)") and len(shown[2]) < 200


def test_nothing_to_fill_writes_the_download_back_byte_for_byte(tmp_path):
    for header, rows in ((ENGLISH_HEADER, ENGLISH_ROWS), (GERMAN_HEADER, GERMAN_ROWS)):
        template = worksheet(tmp_path, header, rows)
        out = tmp_path / "copy.csv"
        report = fill_worksheet([WorksheetRow("42", "Nobody", 3.0, "")], out, template)
        assert out.read_bytes() == template.read_bytes()
        assert report.not_in_worksheet == ["42"]


def test_a_spreadsheets_resave_keeps_its_semicolons_crlf_and_no_bom(tmp_path):
    header = ("ID;Vollständiger Name;E-Mail-Adresse;Status;Bewertung;Bestwertung;Bewertung kann geändert werden;"
              "Zuletzt geändert (Abgabe);Zuletzt geändert (Bewertung);Feedback als Kommentar")
    row = ("Teilnehmer/in1504327;Ada Lovelace;ada@example.org;Zur Bewertung abgegeben;;16,00;Ja;"
           "Montag, 3. März 2025, 09:41;-;")
    template = worksheet(tmp_path, header, [row], bom="", end="\r\n")
    out = tmp_path / "out.csv"
    fill_worksheet([WorksheetRow("1504327", "Ada Lovelace", 7.5, "ok")], out, template)
    assert out.read_bytes().decode("utf-8") == (
        header + "\r\n" + "Teilnehmer/in1504327;Ada Lovelace;ada@example.org;Zur Bewertung abgegeben;7,50;16,00;Ja;"
        "Montag, 3. März 2025, 09:41;-;ok\r\n")


def test_whole_number_maximum_falls_back_to_the_languages_separator(tmp_path):
    template = worksheet(tmp_path, GERMAN_HEADER, [GERMAN_ROWS[0].replace('"16,00"', "16")])
    out = tmp_path / "out.csv"
    fill_worksheet([WorksheetRow("1504327", "Ada Lovelace", 12.5, "")], out, template)
    assert lines(out)[1].split(",")[4:7] == ['"12', '50"', "16"]


def test_grade_above_the_maximum_is_refused_and_nothing_written(tmp_path):
    for header, rows, grade, shown, maximum in ((ENGLISH_HEADER, ENGLISH_ROWS, 16.5, "16.50", "16.00"),
                                                (GERMAN_HEADER, GERMAN_ROWS, 17, "17,00", "16,00")):
        template = worksheet(tmp_path, header, rows)
        out = tmp_path / "out.csv"
        grades = [WorksheetRow("1504327", "Ada Lovelace", 10, ""), WorksheetRow("1504329", "Grace", grade, "")]
        with pytest.raises(WorksheetError) as error:
            fill_worksheet(grades, out, template)
        message = str(error.value)
        assert "1504329" in message and shown in message and maximum in message and "1504327" not in message
        assert not out.exists()
        assert sorted(p.name for p in tmp_path.iterdir()) == ["download.csv"]  # no temporary file left behind


def test_unknown_language_is_refused_with_the_columns_looked_for(tmp_path):
    french = ('Identifiant,"Nom complet",Statut,Note,"Note maximale","Dernière modification (note)",'
              '"Feedback par commentaires"')
    template = worksheet(tmp_path, french, ['"Participant 1504327","Ada Lovelace",,,"16,00",-,'])
    out = tmp_path / "out.csv"
    with pytest.raises(WorksheetError) as error:
        fill_worksheet([WorksheetRow("1504327", "Ada Lovelace", 10, "")], out, template)
    message = str(error.value)
    for looked_for in ("'Identifier'", "'Last modified (grade)'", "'ID'", "'Bewertung'",
                       "'Zuletzt geändert (Bewertung)'"):
        assert looked_for in message
    assert "Identifiant" in message and str(template) in message
    assert not out.exists()


def test_comments_need_the_feedback_comments_column(tmp_path):
    header = ENGLISH_HEADER.rsplit(",", 1)[0]
    template = worksheet(tmp_path, header, [r.rsplit(",", 1)[0] for r in ENGLISH_ROWS])
    out = tmp_path / "out.csv"
    with pytest.raises(WorksheetError, match="Feedback comments"):
        fill_worksheet([WorksheetRow("1504327", "Ada Lovelace", 10, "nice")], out, template)
    fill_worksheet([WorksheetRow("1504327", "Ada Lovelace", 10, "")], out, template)
    assert lines(out)[1].endswith('"Monday, 3 March 2025, 9:41 AM",-')


def test_new_english_worksheet_without_a_download(tmp_path):
    out = tmp_path / "new" / "worksheet.csv"
    rows = [WorksheetRow("101", "Zoë Müller", 12, 'Says "fine", mostly'),
            WorksheetRow("102", "Jan de Vries", None, "x")]
    report = fill_worksheet(rows, out, max_grade=16.0)
    assert lines(out) == [
        ENGLISH_HEADER,
        '"Participant 101","Zoë Müller",,"Submitted for grading",12.00,16.00,Yes,-,-,"Says ""fine"", mostly"',
        '"Participant 102","Jan de Vries",,"Submitted for grading",,16.00,Yes,-,-,',
        "",
    ]
    assert (report.filled, report.blank, report.not_in_worksheet, report.language) == (["101"], ["102"], [], "en")
    # "-": Moodle keeps a grade it already has (a file not downloaded from it knows none); the uploader is told
    assert len(report.warnings) == 1 and "not downloaded from Moodle" in report.warnings[0]


def test_new_worksheet_leaves_out_students_without_a_participant_number(tmp_path):
    out = tmp_path / "worksheet.csv"
    report = fill_worksheet([WorksheetRow("s-77", "Some Login", 3, ""), WorksheetRow("101", "Zoë", 2, "")], out)
    assert (report.filled, report.not_in_worksheet) == (["101"], ["s-77"])
    assert [line.split(",")[0] for line in lines(out)[1:-1]] == ['"Participant 101"']


def test_new_worksheet_refuses_what_moodle_would_skip(tmp_path):
    out = tmp_path / "worksheet.csv"
    with pytest.raises(WorksheetError, match="grade 20.00 is outside 0 to 10.00"):
        fill_worksheet([WorksheetRow("101", "Zoë", 20, "")], out, max_grade=10)
    with pytest.raises(WorksheetError, match="given twice"):
        fill_worksheet([WorksheetRow("101", "Zoë", 2, ""), WorksheetRow("101", "Zoë", 3, "")], out)
    assert not out.exists()


def test_out_equal_to_the_template_is_refused(tmp_path):
    template = worksheet(tmp_path, ENGLISH_HEADER, ENGLISH_ROWS)
    before = template.read_bytes()
    for out in (template, tmp_path / "." / "download.csv"):
        with pytest.raises(WorksheetError, match="downloaded worksheet itself"):
            fill_worksheet([WorksheetRow("1504327", "Ada Lovelace", 10, "")], out, template)
    assert template.read_bytes() == before
