"""Text made inert before people read it (autograder/text.py), on hostile input: each function alone, then through
the real writers (grades.csv, the feedback page, Gradescope's results.json, the terminal table, the Moodle
worksheet) and the judge's messages that quote a student's own text."""

import csv
import json
import unicodedata

import pytest
import sympy as sp

from autograder.judge.symbolic import check_expression
from autograder.judge.sympy_text import SympyTextError, parse_srepr
from autograder.judge.verdicts import shown
from autograder.outputs.class_report import FOLDER, PAGE, write_report
from autograder.outputs.moodle import WorksheetRow, fill_worksheet
from autograder.outputs.reports import feedback_html, gradescope_results, summary_table, write_grades_csv
from autograder.results import SubmissionResult, blank_cells
from autograder.text import (CELL_LIMIT, CUT, MESSAGE_LIMIT, NAME_LIMIT, NOTE_LIMIT, NOTES_LIMIT, QUOTE_LIMIT, cap,
                             cap_list, csv_cell, one_line, printable, quote)

TITLE = "\x1b]0;graded 16/16\x07"  # sets a terminal's title
CLEAR = "\x1b[2J\x1b[H"  # clears the screen
RLO = "\u202e"  # right-to-left override: "txt.exe" reads "exe.txt"
HYPERLINK = '=HYPERLINK("http://x","16/16")'
FORMULAS = [HYPERLINK, "@SUM(A1)", "+1", "-2", "=1+1", "  =1+1", "\t=1+1", "\r=1+1", "\t1", "\r1"]
PLAIN = ["Zoë Müller-Lüdenscheidt", "中文名字", "über", "a-b = c", "1001", ""]
FILE_NAMES = [f"ps3/nested/{i:05d}_{RLO}txt.exe" for i in range(30_000)]


def hidden_characters(text: str) -> list[str]:
    """Every control, format (bidi, invisible), separator or surrogate character but a line break and a tab, by
    Unicode's own categories (not the module's list, so that the test checks it)."""
    return [ch for ch in text if ch not in "\n\t" and unicodedata.category(ch) in ("Cc", "Cf", "Zl", "Zp", "Cs")]


# ---- each function alone ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("hostile, shown_as", [
    (TITLE, "\\x1b]0;graded 16/16\\x07"), (CLEAR, "\\x1b[2J\\x1b[H"), (RLO + "txt.exe", "\\u202etxt.exe"),
    ("a\x00b\x7fc\x85d\x9fe", "a\\x00b\\x7fc\\x85d\\x9fe"), ("\r", "\\x0d"), ("\ufeffbom", "\\ufeffbom"),
    ("zero\u200bwidth\u200fmark", "zero\\u200bwidth\\u200fmark"), ("\u2066isolate\u2069", "\\u2066isolate\\u2069"),
    ("\u061c\u2028\u2029", "\\u061c\\u2028\\u2029"), ("not utf-8 \udcff", "not utf-8 \\udcff"),
])
def test_printable_shows_controls_and_bidi_characters_as_escapes(hostile, shown_as):
    assert printable(hostile) == shown_as
    assert not hidden_characters(printable(hostile))


@pytest.mark.parametrize("text", PLAIN + ["two\nlines\tand a tab", "emoji 🎉, accents àéîõü, Ελληνικά"])
def test_printable_keeps_plain_text_in_any_script(text):
    assert printable(text) == text


def test_one_line_shows_line_breaks_and_tabs_as_spaces():
    assert one_line("a\nb\tc\r\nd") == "a b c\\x0d d"
    assert one_line(f"id{CLEAR}") == "id\\x1b[2J\\x1b[H"
    assert one_line("中 é") == "中 é"


def test_cap_cuts_within_the_limit_and_says_so():
    assert cap("short", 10) == "short"
    assert cap("x" * 10, 10) == "x" * 10
    long = cap("word " * 1000, 100)
    assert len(long) <= 100 and long.endswith(" … (cut)") and long.startswith("word word")
    assert cap("abcdefghijkl", len(CUT)) == "abcdefgh"  # no room for the marker: just the start
    assert cap("abc", 0) == ""


def test_cap_list_keeps_a_few_items_and_counts_the_rest():
    shown = cap_list(FILE_NAMES, 12, 20)
    assert len(shown) == 13 and shown[-1] == "… and 29988 more (cut)"
    assert all(len(item) <= 20 for item in shown[:12])
    assert cap_list(["a", "b"], 12, 20) == ["a", "b"]
    assert cap_list(["x" * 50], 1, 20) == [cap("x" * 50, 20)]


@pytest.mark.parametrize("hostile", FORMULAS)
def test_csv_cell_never_starts_a_formula(hostile):
    cell = csv_cell(hostile)
    assert cell.startswith("'")
    assert not hidden_characters(cell) and "\t" not in cell and "\n" not in cell


@pytest.mark.parametrize("text", PLAIN)
def test_csv_cell_keeps_plain_text(text):
    assert csv_cell(text) == text


def test_csv_cell_is_one_capped_printable_line():
    cell = csv_cell(f"{TITLE}a\nb{RLO}" + "x" * 100, 50)
    assert len(cell) <= 50 and cell.endswith("(cut)") and "\n" not in cell and not hidden_characters(cell)
    formula = csv_cell("=" + "x" * 100, 50)
    assert len(formula) <= 50 and formula.startswith("'=")
    assert len(csv_cell("y" * 10 * CELL_LIMIT)) <= CELL_LIMIT


def test_quote_is_printable_and_short():
    quoted = quote(CLEAR * 100)
    assert len(quoted) <= QUOTE_LIMIT and not hidden_characters(quoted) and quoted.endswith("(cut)")


# ---- through the real writers -----------------------------------------------------------------------------------

def hostile_result(student_id: str = "1001") -> SubmissionResult:
    """A submission whose every text is the student's: a formula name, notes with escapes, bidi and 30 000 files."""
    notes = [f"extra file {TITLE}{CLEAR}evil{RLO}txt.exe ignored",
             "unpacked nested zip " + ", ".join(FILE_NAMES),
             *(f"extra file {name} ignored" for name in FILE_NAMES)]
    cells = blank_cells(f"uses symbols the problem does not define: {TITLE}{'x' * 10**5}")
    cells[0].comment = f"@SUM(A1) {CLEAR}"
    return SubmissionResult(student_id, HYPERLINK, "graded", cells, notes=notes, seconds=1.0,
                            review=[f"the kernel and the grader disagree {RLO}"])


def test_grades_csv_holds_no_formula_no_control_character_and_capped_notes(tmp_path):
    path = tmp_path / "grades.csv"
    write_grades_csv(path, [hostile_result(f"-1{CLEAR}"), hostile_result("1002")])
    text = path.read_bytes().decode("utf-8")
    assert not hidden_characters(text.replace("\r\n", "\n"))  # the csv module's own line ends aside
    with open(path, newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 2
    for row in rows:
        for column, cell in row.items():
            assert not cell.lstrip().startswith(("=", "+", "-", "@", "\t", "\r")), (column, cell)
        assert row["name"] == "'" + HYPERLINK
        assert row["notes"].endswith("(cut)")
        assert len(row["notes"]) <= NOTES_LIMIT * (NOTE_LIMIT + 2) + 40  # a dozen capped notes and the count
        assert "\\x1b]0;graded 16/16\\x07" in row["notes"] and "\\u202e" in row["notes"]  # seen, not run
        assert "@SUM(A1) \\x1b[2J" in row["comments"]  # inside a cell: not a formula, seen, not run
        assert row["5a"] == "0" and row["total"] == "0"  # numbers stay numbers
    assert rows[0]["student"] == "'-1\\x1b[2J\\x1b[H"
    assert len(text) < 50_000  # was a megabyte


def test_the_feedback_page_is_small_escaped_and_printable():
    page = feedback_html(hostile_result())
    assert len(page.encode("utf-8")) < 50_000  # was 1.3 MB
    assert not hidden_characters(page)
    assert "\\x1b]0;graded 16/16\\x07" in page and "(cut)" in page
    assert f"… and {len(FILE_NAMES) + 2 - NOTES_LIMIT} more (cut)" in page


def test_gradescope_outputs_are_capped_and_printable():
    results = gradescope_results(hostile_result())
    text = json.dumps(results, ensure_ascii=False)
    assert not hidden_characters(json.loads(text)["output"]) and len(results["output"]) < 10_000
    for test in results["tests"]:
        assert not hidden_characters(test["output"]) and len(test["output"]) <= MESSAGE_LIMIT + 5001


def test_the_summary_table_shows_no_escape_sequence():
    table = summary_table([hostile_result(f"10{TITLE}{CLEAR}"), hostile_result("1002")])
    assert "\x1b" not in table and "\x07" not in table and not hidden_characters(table)
    assert len(table.splitlines()) == 3  # a line per student, whatever the ids hold


def test_the_moodle_comment_is_printable_and_capped_and_a_new_worksheets_name_no_formula(tmp_path):
    out = tmp_path / "worksheet.csv"
    fill_worksheet([WorksheetRow("101", HYPERLINK, 3.0, f"Problem set 3. {TITLE}{RLO}" + "y" * 10**5)], out)
    text = out.read_text(encoding="utf-8-sig")
    assert not hidden_characters(text)
    row = next(csv.DictReader(text.splitlines()))
    assert row["Full name"] == "'" + HYPERLINK
    assert row["Feedback comments"].startswith("Problem set 3. \\x1b]0;") and len(row["Feedback comments"]) < 6000


def test_the_class_report_with_names_shows_ids_printable_and_no_formula(tmp_path):
    results = [hostile_result(f"-1{TITLE}"), hostile_result(f"@2{RLO}")]
    for r in results:
        r.cells[0].mistake, r.cells[0].scrubbed = "unknown_symbols", "uses symbols the problem does not define: …"
    write_report(tmp_path, results, names=True)
    folder = tmp_path / FOLDER
    for path in [folder / PAGE, *folder.glob("*.csv"), folder / "summary.json"]:
        text = path.read_text(encoding="utf-8")
        assert not hidden_characters(text.replace("\r\n", "\n")), path.name
    page = (folder / PAGE).read_text(encoding="utf-8")
    assert "-1\\x1b]0;graded 16/16\\x07" in page and "@2\\u202e" in page
    with open(folder / "mistakes.csv", newline="", encoding="utf-8") as fh:
        cells = [cell for row in csv.reader(fh) for cell in row]
    assert "'-1\\x1b]0;graded 16/16\\x07; @2\\u202e" in cells
    assert not any(cell.lstrip().startswith(("=", "+", "-", "@")) for cell in cells)


# ---- the judge's messages that quote the student ----------------------------------------------------------------

def test_a_symbol_name_is_quoted_capped_and_printable():
    x = sp.Symbol("x")
    hostile = sp.Symbol(f"{TITLE}{CLEAR}{RLO}" + "q" * 150)
    comparison = check_expression(x + hostile, x, {})
    assert not comparison.correct and comparison.mistake == "unknown_symbols"
    quoted = comparison.message.split("does not define: ", 1)[1]
    assert len(quoted) <= QUOTE_LIMIT and quoted.startswith("\\x1b]0;graded") and quoted.endswith("(cut)")
    assert not hidden_characters(comparison.message)
    assert comparison.scrubbed.endswith("does not define: …")


def test_a_long_unknown_name_in_the_recorded_text_is_quoted_capped():
    with pytest.raises(SympyTextError) as error:
        parse_srepr("Add(" + "a" * 10_000 + ", Integer(1))")
    assert len(str(error.value)) < QUOTE_LIMIT + 40 and "(cut)" in str(error.value)


def test_a_verdicts_message_is_printable_and_capped():
    message = shown(f"f failed: {TITLE}" + "z" * 10**5)
    assert len(message) <= MESSAGE_LIMIT and not hidden_characters(message) and message.endswith("(cut)")
    assert shown("5a: expected 0 < x\nand more") == "5a: expected 0 < x\nand more"


def test_ids_and_names_are_capped():
    assert len(csv_cell("9" * 1000, NAME_LIMIT)) <= NAME_LIMIT
