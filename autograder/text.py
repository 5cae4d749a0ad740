"""What people read: text made inert.

A student controls every byte of their notebook and of what their code prints, and some of that text reaches
files people open: a student id or name (from a folder or Moodle name), a note quoting a file name from a nested
zip, a symbol name the judge quotes in its message. Before any of it is written where a person reads it:

- ``printable``: control characters (ESC sequences retitle or clear a terminal), bidi overrides (U+202E shows
  "txt.exe" as "exe.txt") and invisible characters become visible escapes such as ``\\x1b`` or ``\\u202e``:
  inert, and a reader still sees that something was there;
- ``one_line``: the same, with line breaks and tabs as spaces (a table row, a CSV cell);
- ``cap`` / ``cap_list``: a size limit, so 30 000 file names make a short note, not a megabyte;
- ``csv_cell``: a cell no spreadsheet runs as a formula (OWASP's "CSV injection").

This is the lowest layer: it imports nothing of the autograder, so every other module may use it.
"""

from __future__ import annotations

import re

# ---- the caps (characters) ------------------------------------------------------------------------------------

# One note about a submission's files or grading: a real one is under 300 characters (a file name or two, a
# reason); 500 leaves room for a long path and still keeps a list of notes readable.
NOTE_LIMIT = 500
# Notes shown per submission: a real submission has a handful; past a dozen they repeat one problem (30 000 extra
# files in a nested zip), and "... and N more" says as much as the rest would.
NOTES_LIMIT = 12
# One message of the grader about one cell: the judge's longest is a few hundred characters with the student's
# text quoted; 1000 is what the judge always cut its messages to.
MESSAGE_LIMIT = 1000
# Student text quoted inside a message (a symbol's name, an expression): enough to recognise what was written.
QUOTE_LIMIT = 80
# An error message of the student's own code quoted in a message: torch's shape errors run to 150-250 characters
# and are what a student needs to find the bug.
ERROR_LIMIT = 300
# A student id or name: Moodle's names and participant numbers are far shorter; a folder name may be anything.
NAME_LIMIT = 120
# A person's comment to a student (a TA's in formgrader), or the whole feedback comment written into Moodle:
# a few sentences per written answer, with room to spare.
COMMENT_LIMIT = 5000
# One CSV cell by default: what a spreadsheet holds (Excel's limit is 32 767 characters; past it Excel cuts the
# cell and moves the rest of the row). Text that should be shorter is capped first (notes, names, messages).
CELL_LIMIT = 32_000

CUT = " … (cut)"

# ---- made visible -----------------------------------------------------------------------------------------------

# C0 controls but \t and \n, DEL, C1 controls; the bidi and invisible format characters (zero-width space, joiners
# and marks U+200B-U+200F, embeddings and overrides U+202A-U+202E, the word joiner, invisible operators and
# isolates U+2060-U+206F, the Arabic letter mark U+061C, the byte order mark U+FEFF), the line and paragraph
# separators U+2028/U+2029 (line breaks a terminal does not expect), and lone surrogates (a folder name that is
# not UTF-8, decoded by Python, which no UTF-8 file can hold).
HIDDEN = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200b-\u200f\u2028\u2029\u202a-\u202e\u2060-\u206f"
                    "\ufeff\ud800-\udfff]")
# What makes a spreadsheet read a cell as a formula, or run one after it (OWASP's list: tab and CR too).
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _escape(match: re.Match) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}"


def printable(text: str) -> str:
    """``text`` with every control, bidi and invisible character shown as an escape (``\\x1b``, ``\\u202e``);
    line breaks, tabs and ordinary text in any script are kept."""
    return HIDDEN.sub(_escape, str(text))


def one_line(text: str) -> str:
    """``printable(text)`` on one line: line breaks and tabs shown as spaces."""
    return printable(text).replace("\n", " ").replace("\t", " ")


# ---- capped -----------------------------------------------------------------------------------------------------


def cap(text: str, limit: int) -> str:
    """``text`` if it has at most ``limit`` characters, else its start ending in " … (cut)", within ``limit``."""
    if len(text) <= limit:
        return text
    if limit <= len(CUT):  # no room for the marker
        return text[:max(limit, 0)]
    return text[:limit - len(CUT)].rstrip() + CUT


def cap_list(items: list[str], count: int, each: int) -> list[str]:
    """At most ``count`` items, each capped at ``each``; past ``count``, one last item says how many were left out."""
    kept = [cap(item, each) for item in items[:count]]
    if len(items) > count:
        kept.append(f"… and {len(items) - count} more (cut)")
    return kept


def quote(text, limit: int = QUOTE_LIMIT) -> str:
    """Student text to quote inside a message of ours: printable and short."""
    return cap(printable(str(text)), limit)


# ---- CSV --------------------------------------------------------------------------------------------------------


def _formula_like(text: str) -> bool:
    # Also after leading whitespace: spreadsheets skip it before deciding that a cell is a formula.
    return text.lstrip(" ").startswith(FORMULA_START) or text.lstrip().startswith(FORMULA_START)


def csv_cell(text: str, limit: int = CELL_LIMIT) -> str:
    """One CSV cell a spreadsheet shows as text: on one line, printable, at most ``limit`` characters, and prefixed
    with ``'`` where a spreadsheet would read it as a formula (OWASP's advice against CSV injection)."""
    text = str(text)
    cell = cap(one_line(text), limit)
    if _formula_like(text) or _formula_like(cell):
        return "'" + cap(cell, limit - 1)
    return cell
