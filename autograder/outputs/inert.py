"""A student's notebook made inert for the people who open it (formgrader, JupyterLab, nbconvert): nothing in it
can run in a browser, and nothing in it can pass for the grader's own verdict.

A student controls every byte of the notebooks and every output their code displays. What is kept:

- outputs: plain text (streams, ``text/plain``, errors), PNG and JPEG images, and HTML passed through an
  allow-list sanitizer (nh3, Ammonia's rules: no script, style, event handler, iframe, form, SVG, class or id,
  links only to http, https and mailto). JavaScript, widgets, SVG, Markdown and LaTeX outputs, JSON and anything
  unknown are replaced by a short note (their ``text/plain`` fallback is kept). Output metadata is dropped (it sets
  attributes such as an image's size, or asks for an iframe).
- cells: source and type; metadata only nbgrader's own (formgrader's score boxes need it), with plain values
  (a grade id is a plain name: formgrader writes it into HTML attributes unescaped).
  Markdown keeps the student's text, with its HTML shown as text: every ``<`` that would open a tag and every
  character reference outside code and math is escaped, and a link or image to anything but http(s), mailto or a
  relative address points nowhere. (nbgrader's formgrader and feedback templates render Markdown cells without
  nbconvert's ``sanitize_html``: what is written here is what a TA's browser gets.)
- the grader's verdict: any text of the student's that carries the grader's mark (``[autograder]``, however
  spelled) is marked as the student's own, or replaced when it is an output; the grader writes its verdicts as
  cells of its own afterwards (submission/formgrader_copies.py), which is the only place the mark appears.
"""

from __future__ import annotations

import base64
import binascii
import html
import re
import unicodedata

import nbformat
import nh3
from nbformat.notebooknode import NotebookNode
from nbformat.v4 import new_markdown_cell, new_output

MARK = "[autograder]"  # starts every verdict the grader writes into a notebook people open
# The mark as a student could imitate it: any case, spaces, a hyphen, full-width or look-alike letters (NFKC),
# invisible characters in between (removed before matching); or a grader named next to a score ("autograder: 1/1 pts").
IMITATION = re.compile(r"\[\s*auto\s*-?\s*grader\s*(verdict\s*)?\]|autograder\s+verdict|grader'?s\s+verdict", re.I)
GRADER = re.compile(r"\bauto\s*-?\s*grad(er|ing)\b", re.I)
SCORE = re.compile(r"\d+(\.\d+)?\s*(/|of|out\s+of)\s*\d+(\.\d+)?\s*(points?|pts?|marks?)?\b", re.I)
INVISIBLE = re.compile(r"[\u00ad\u034f\u061c\u115f\u1160\u17b4\u17b5\u180e\u200b-\u200f\u202a-\u202e\u2060-\u206f"
                       r"\u3164\ufe00-\ufe0f\ufeff\uffa0]")

KEPT_MIME = ("text/plain", "text/html", "image/png", "image/jpeg")
HTML_TAGS = {"a", "abbr", "b", "blockquote", "br", "caption", "code", "dd", "del", "div", "dl", "dt", "em", "h1",
             "h2", "h3", "h4", "h5", "h6", "hr", "i", "ins", "kbd", "li", "ol", "p", "pre", "q", "s", "samp", "small",
             "span", "strong", "sub", "sup", "table", "tbody", "td", "tfoot", "th", "thead", "tr", "u", "ul", "var"}
HTML_ATTRIBUTES = {"a": {"href", "title"}, "td": {"colspan", "rowspan"}, "th": {"colspan", "rowspan"}}
URL_SCHEMES = {"http", "https", "mailto"}
NBGRADER_KEYS = {"cell_type", "checksum", "grade", "grade_id", "locked", "points", "schema_version", "solution",
                 "task"}
NBGRADER_TEXT = re.compile(r"[A-Za-z0-9_.-]{1,128}")  # formgrader writes grade ids into HTML attributes unescaped
BASE64 = re.compile(r"[A-Za-z0-9+/=\s]*")
# HTML the sanitizer had to defuse, to say so in a note (the sanitizer decides what is kept, not this pattern)
ACTIVE_HTML = re.compile(r"<\s*(script|iframe|object|embed|svg|style|form|link|meta|base)\b|\bon[a-z]+\s*=|"
                         r"javascript:", re.I)

# Markdown that is not rendered as Markdown: fenced and inline code, display and inline math (nbconvert's renderer
# escapes all of them itself).
PROTECTED = re.compile(r"(```.*?```|~~~.*?~~~|`[^`\n]*`|\$\$.*?\$\$|\$[^$\n]+\$)", re.S)
TAG_START = re.compile(r"<(?=[A-Za-z/!?])")
CHARACTER_REFERENCE = re.compile(r"&(?=#|[A-Za-z][A-Za-z0-9]*;)")  # &#106;avascript: and &lt;script&gt; stay text
# A link's or image's address: inline [text](address), and a reference definition [label]: address
LINK = re.compile(r"(\]\(\s*<?)([^)\s>]*)|(^[ \t]*\[[^\]\n]+\]:[ \t]*<?)(\S*)", re.M)
SAFE_SCHEMES = ("http", "https", "mailto")
NOWHERE = "#unsafe-link-removed"

REMOVED = "[removed: an output of type {kinds} that could run in the browser of whoever opens this notebook]\n"
IMITATING = "[removed: an output of the student's code that imitates the grader's verdict]\n"
STUDENT_MARK = "[student-written mark]"
IMITATING_CELL = ("<div class=\"alert alert-warning\"><b>Written by the student</b>: this cell imitates the "
                  "grader's verdict. The grader's verdicts are the boxes headed &#91;autograder&#93; right under "
                  "each test cell.</div>\n\n")


def imitates_verdict(text: str) -> bool:
    """Whether ``text`` carries the grader's mark, however a student disguised it."""
    plain = INVISIBLE.sub("", unicodedata.normalize("NFKC", text))
    return bool(IMITATION.search(plain) or (GRADER.search(plain) and SCORE.search(plain)))


def sanitize_html(text: str) -> str:
    """HTML with only inert tags and attributes (HTML_TAGS, HTML_ATTRIBUTES); script and style lose their text too."""
    return nh3.clean(text, tags=HTML_TAGS, attributes=HTML_ATTRIBUTES, url_schemes=URL_SCHEMES,
                     clean_content_tags={"script", "style", "template", "noscript", "textarea", "title", "xmp"},
                     link_rel="noopener noreferrer nofollow")


def _text(value) -> str:
    return "".join(map(str, value)) if isinstance(value, list) else str(value)


def _is_image(data) -> bool:
    text = _text(data)
    if not BASE64.fullmatch(text):
        return False
    try:
        base64.b64decode("".join(text.split()), validate=True)
    except (binascii.Error, ValueError):
        return False
    return True


def inert_output(output) -> tuple[NotebookNode, list[str]]:
    """The output as a person may see it, and the kinds of data that were dropped from it."""
    kind = output.get("output_type") if isinstance(output, dict) else None
    if kind == "stream":
        text = _text(output.get("text", ""))
        if imitates_verdict(text):
            return new_output("stream", name="stderr", text=IMITATING), []
        return new_output("stream", name="stderr" if output.get("name") == "stderr" else "stdout", text=text), []
    if kind == "error":
        traceback = [_text(line) for line in output.get("traceback", [])] if isinstance(
            output.get("traceback"), list) else []
        error = new_output("error", ename=_text(output.get("ename", "")), evalue=_text(output.get("evalue", "")),
                           traceback=traceback)
        if imitates_verdict(" ".join([error.ename, error.evalue, *traceback])):
            return new_output("stream", name="stderr", text=IMITATING), []
        return error, []
    if kind in ("display_data", "execute_result"):
        data = output.get("data") if isinstance(output.get("data"), dict) else {}
        kept, dropped = {}, sorted(k for k in data if k not in KEPT_MIME)
        for mime in KEPT_MIME:
            if mime not in data:
                continue
            if mime.startswith("image/") and not _is_image(data[mime]):
                dropped.append(f"{mime} (not an image)")
            elif mime == "text/html":
                kept[mime] = sanitize_html(_text(data[mime]))
                if ACTIVE_HTML.search(_text(data[mime])):
                    dropped.append("text/html with scripts")
            else:
                kept[mime] = _text(data[mime]) if not mime.startswith("image/") else "".join(_text(data[mime]).split())
        visible = " ".join(v for k, v in kept.items() if k.startswith("text/"))
        if imitates_verdict(visible) or imitates_verdict(nh3.clean(visible, tags=set())):
            return new_output("stream", name="stderr", text=IMITATING), []
        if not kept:
            return new_output("stream", name="stderr", text=REMOVED.format(kinds=", ".join(dropped) or "none")), \
                dropped
        if kind == "execute_result":
            count = output.get("execution_count")
            return new_output(kind, data=kept, execution_count=count if isinstance(count, int) else None), dropped
        return new_output(kind, data=kept), dropped
    return new_output("stream", name="stderr", text=REMOVED.format(kinds=f"{str(kind)[:40]!r}")), [str(kind)[:40]]


def _safe_address(address: str) -> str:
    """``address`` if it is http(s), mailto or relative; else an anchor that leads nowhere. Judged as a browser
    would read it after Markdown: character references decoded, backslash escapes dropped, and tabs, line breaks and
    other controls ignored ("java&#x09;script:", "javascript\\:")."""
    plain = html.unescape(html.unescape(address)).replace("\\", "")
    plain = re.sub(r"[\x00-\x20\x7f]", "", plain).lower()
    head = re.split(r"[/?#]", plain, maxsplit=1)[0]
    if ":" in head and head.split(":", 1)[0] not in SAFE_SCHEMES:
        return NOWHERE
    return address


def _unsafe_text(text: str) -> str:
    text = TAG_START.sub("&lt;", CHARACTER_REFERENCE.sub("&amp;", text))
    return LINK.sub(lambda m: (m.group(1) or m.group(3)) + _safe_address(m.group(2) if m.group(1) else m.group(4)),
                    text)


def inert_markdown(source: str) -> str:
    """Markdown that renders to no active HTML: raw HTML and character references shown as text, unsafe links
    pointing nowhere; code and math (escaped by the renderer) and everything else as written."""
    parts = PROTECTED.split(source)
    return "".join(part if index % 2 else _unsafe_text(part) for index, part in enumerate(parts))


def _nbgrader_metadata(cell) -> dict:
    meta = cell.get("metadata", {}).get("nbgrader", {})
    if not isinstance(meta, dict):
        return {}
    return {k: v for k, v in meta.items() if k in NBGRADER_KEYS and (
        isinstance(v, (bool, int, float)) or isinstance(v, str) and NBGRADER_TEXT.fullmatch(v))}


def inert_cell(cell) -> tuple[NotebookNode, list[str]]:
    """The cell as a person may see it, and the kinds of output dropped from it."""
    cell_type = cell.get("cell_type")
    source = _text(cell.get("source", ""))
    metadata = {"nbgrader": _nbgrader_metadata(cell)} if _nbgrader_metadata(cell) else {}
    metadata.update({k: v for k, v in cell.get("metadata", {}).items() if k in ("deletable", "editable")
                     and isinstance(v, bool)})
    dropped = []
    if cell_type == "code":
        new = nbformat.v4.new_code_cell(source=source, metadata=metadata)
        for output in cell.get("outputs", []) if isinstance(cell.get("outputs"), list) else []:
            kept, lost = inert_output(output)
            new.outputs.append(kept)
            dropped += lost
        count = cell.get("execution_count")
        new.execution_count = count if isinstance(count, int) else None
    else:  # markdown, and raw or unknown cells as the text they hold (never rendered as HTML)
        if cell_type != "markdown":
            source = "```\n" + source.replace("```", "` ` `") + "\n```"
        source = inert_markdown(source)
        if imitates_verdict(source):
            source = IMITATING_CELL + IMITATION.sub(STUDENT_MARK, unicodedata.normalize("NFKC", source))
        new = new_markdown_cell(source=source, metadata=metadata)
    if isinstance(cell.get("id"), str) and re.fullmatch(r"[A-Za-z0-9_-]{1,64}", cell["id"]):
        new["id"] = cell["id"]
    return new, dropped


def inert_notebook(notebook, metadata: dict, name: str) -> tuple[NotebookNode, list[str]]:
    """``notebook`` (any JSON a kernel left) rebuilt from inert cells, with ``metadata`` (the release's), and the
    notes that say what was removed (``name`` labels them)."""
    cells = notebook.get("cells", []) if isinstance(notebook, dict) else []
    result = nbformat.v4.new_notebook(metadata=metadata)
    dropped = []
    for cell in cells if isinstance(cells, list) else []:
        if isinstance(cell, dict):
            kept, lost = inert_cell(cell)
            result.cells.append(kept)
            dropped += lost
    notes = []
    if dropped:
        notes.append(f"{name}: outputs that could run in a browser were removed from the notebook TAs open "
                     f"({', '.join(sorted(set(dropped)))[:200]})")
    return result, notes
