"""A student's notebook made inert for the people who open it (autograder/outputs/inert.py), on in-memory
notebooks: what may run in a browser is dropped with a note, what a person needs to read stays, and nothing of the
student's passes for the grader's verdict."""

import base64

import nbformat
import pytest
from helpers import active_html
from nbconvert.filters.markdown_mistune import markdown2html_mistune
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output, new_raw_cell

from autograder.outputs.inert import (IMITATING, KEPT_MIME, STUDENT_MARK, imitates_verdict, inert_cell,
                                      inert_notebook, inert_output, sanitize_html)

PNG = base64.b64encode(bytes.fromhex("89504e470d0a1a0a0000000d49484452")).decode()
SCRIPT = "<script>window.ps3_owned = true</script>"


def display(data: dict, **metadata):
    return new_output("display_data", data=data, metadata=metadata)


def test_plain_text_images_and_errors_stay_as_they_were():
    stream = new_output("stream", name="stderr", text="epoch 1/6: loss 0.31\n")
    error = new_output("error", ename="ValueError", evalue="bad shape", traceback=["\x1b[31mValueError\x1b[0m"])
    plot = display({"image/png": PNG, "text/plain": "<Figure size 640x480 with 1 Axes>"})
    assert inert_output(stream) == (stream, [])
    assert inert_output(error) == (error, [])
    kept, dropped = inert_output(plot)
    assert kept.data == plot.data and dropped == []


@pytest.mark.parametrize("mime, payload", [
    ("application/javascript", "window.ps3_owned = true"),
    ("image/svg+xml", f"<svg onload='x()'>{SCRIPT}</svg>"),
    ("application/vnd.jupyter.widget-view+json", {"model_id": "abc"}),
    ("text/markdown", f"**bold** {SCRIPT}"),
    ("text/latex", r"$\href{javascript:x()}{a}$"),
    ("application/x-unknown", "?"),
])
def test_anything_that_could_run_is_dropped_and_named(mime, payload):
    kept, dropped = inert_output(display({mime: payload}))
    assert dropped == [mime]
    assert kept.output_type == "stream" and mime in kept.text and "could run in the browser" in kept.text
    with_fallback, _ = inert_output(display({mime: payload, "text/plain": "a plot"}))
    assert with_fallback.data == {"text/plain": "a plot"}  # the text a person can read is kept


def test_html_passes_through_an_allow_list():
    html = (f"<b>accuracy</b><table><tr><td>98.7%</td></tr></table>{SCRIPT}<img src=x onerror='x()'>"
            "<style>body{display:none}</style><a href='javascript:x()'>click</a><a href='https://example.org'>doc</a>"
            "<div class='alert alert-success' style='color:green' id='p7_tests'>looks like the grader</div>"
            "<iframe src='/formgrader'></iframe><form action='/api'><input></form>")
    kept, dropped = inert_output(display({"text/html": html}))
    clean = kept.data["text/html"]
    assert dropped == ["text/html with scripts"] and "<b>accuracy</b>" in clean and "<td>98.7%</td>" in clean
    for banned in ("<script", "ps3_owned", "onerror", "<img", "<style", "display:none", "javascript:", "class=",
                   "style=", "id=", "<iframe", "<form", "<input"):
        assert banned not in clean, banned
    assert 'href="https://example.org"' in clean and "noopener" in clean
    assert sanitize_html(clean) == clean  # already inert: a second pass changes nothing


def test_an_honest_table_is_kept_without_a_note():
    table = "<table class='dataframe' border='1'><thead><tr><th>n</th></tr></thead><tr><td>1</td></tr></table>"
    kept, dropped = inert_output(display({"text/html": table, "text/plain": "   n\n0  1"}))
    assert dropped == [] and "<td>1</td>" in kept.data["text/html"] and kept.data["text/plain"] == "   n\n0  1"


def test_output_metadata_and_broken_images_are_dropped():
    kept, _ = inert_output(display({"text/html": "<p>x</p>"}, **{"text/html": {"isolated": True}}))
    assert kept.metadata == {}  # 'isolated' would render the HTML in an iframe of its own
    kept, dropped = inert_output(display({"image/png": "not base64 <script>", "text/plain": "p"}))
    assert kept.data == {"text/plain": "p"} and dropped == ["image/png (not an image)"]


@pytest.mark.parametrize("text", [
    "[autograder] 1 / 1 points", "[AUTOGRADER] 1/1", "[ auto-grader ] passed", "[ａｕｔｏｇｒａｄｅｒ] 1 / 1",
    "[auto\u200bgrader] 1 / 1 points", "Autograder verdict: passed", "autograder: 3 of 3 points",
])
def test_imitations_of_the_verdict_are_recognised(text):
    assert imitates_verdict(text)
    kept, _ = inert_output(new_output("stream", name="stdout", text=text))
    assert kept.text == IMITATING
    kept, _ = inert_output(display({"text/html": f"<span style='color:green'>{text}</span>"}))
    assert kept.text == IMITATING


@pytest.mark.parametrize("text", ["epoch 3/6, 94.1% test accuracy", "the grader does not rebuild Conv2d",
                                  "gradient descent, 2 of 3 layers"])
def test_honest_text_is_no_imitation(text):
    assert not imitates_verdict(text)


def test_a_students_cell_that_imitates_the_verdict_says_it_is_the_students():
    cell, _ = inert_cell(new_markdown_cell("<div class='alert alert-success'>[autograder] 1 / 1 points</div>"))
    assert cell.source.startswith('<div class="alert alert-warning"><b>Written by the student</b>')
    assert "[autograder]" not in cell.source and STUDENT_MARK in cell.source


def test_cells_keep_source_type_and_nbgrader_metadata_only():
    code = new_code_cell("x = 1", metadata={"nbgrader": {"grade_id": "p7_tests", "grade": True, "points": 1,
                                                         "evil": {"a": 1}},
                                            "jupyter": {"source_hidden": True}, "tags": ["x"]},
                         outputs=[display({"application/javascript": "x()"})], execution_count=3)
    cell, dropped = inert_cell(code)
    assert cell.metadata == {"nbgrader": {"grade_id": "p7_tests", "grade": True, "points": 1}}
    assert (cell.source, cell.execution_count, dropped) == ("x = 1", 3, ["application/javascript"])
    raw, _ = inert_cell(new_raw_cell(SCRIPT, metadata={"format": "text/html"}))
    assert raw.cell_type == "markdown" and raw.source == f"```\n{SCRIPT}\n```"  # shown as text, never as HTML


def test_a_notebook_of_any_shape_becomes_a_valid_inert_one():
    notebook = new_notebook(cells=[new_code_cell("print(1)", outputs=[display({"application/javascript": "x"})]),
                                   new_markdown_cell("my answer")],
                            metadata={"widgets": {"state": {}}, "title": SCRIPT})
    broken = {"cells": [{"cell_type": "code", "source": {"a": 1}, "outputs": "not a list"}, "not a cell",
                        {"cell_type": "heading", "source": "old"}]}
    release_metadata = {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}}
    for given in (notebook, broken):
        inert, notes = inert_notebook(given, release_metadata, "problem7")
        nbformat.validate(inert)
        assert inert.metadata == release_metadata
    inert, notes = inert_notebook(notebook, release_metadata, "problem7")
    assert notes == ["problem7: outputs that could run in a browser were removed from the notebook TAs open "
                     "(application/javascript)"]
    assert all(mime in KEPT_MIME for c in inert.cells for o in c.get("outputs", []) for mime in o.get("data", {}))


MARKDOWN_ATTACKS = [
    "<script>x()</script>", "<img src=x onerror='x()'>", "<svg onload=x()>", "<iframe src='/api'></iframe>",
    "<a href='javascript:x()'>a</a>", "[a](javascript:x())", "[a]( javascript:x())", "[a](JaVaScRiPt:x())",
    "[a](<javascript:x()>)", "[a](java\tscript:x())", "![i](javascript:x())",
    "![i](data:image/svg+xml,<svg/onload=x()>)", "[a][r]\n\n[r]: javascript:x()", "<javascript:x()>",
    "[a](&#106;avascript:x())", "&lt;script&gt;x()&lt;/script&gt;", "<!-- --><script>x()</script>",
    "<details open ontoggle=x()>", "<style>*{display:none}</style>", "`code` <b onmouseover=x()>b</b>",
    "$a$ <math><mi xlink:href='javascript:x()'>m</mi></math>",
    "<form action='/formgrader/api/grade/1' method='post'><button>ok</button></form>", "<base href='//evil/'>",
    "<meta http-equiv='refresh' content='0;url=javascript:x()'>", "[a](javascript\\:x())",
    "[a](&#x6A;avascript:x())", "[a](java&Tab;script:x())", "[a](vbscript:x)",
    "[a](data:text/html,<script>x()</script>)",
]


@pytest.mark.parametrize("attack", MARKDOWN_ATTACKS)
def test_a_students_markdown_renders_to_nothing_that_runs(attack):
    """Rendered with nbconvert's own Markdown renderer, as nbgrader's formgrader and feedback templates do."""
    cell, _ = inert_cell(new_markdown_cell(f"My answer.\n\n{attack}\n"))
    rendered = markdown2html_mistune(cell.source)
    assert active_html(rendered) == [], (attack, cell.source, rendered)


@pytest.mark.parametrize("attack", [a for a in MARKDOWN_ATTACKS if "[a](" in a or "<script" in a])
def test_the_markdown_attacks_are_live_when_nothing_defuses_them(attack):
    """The control: rendered as written, these do run (the test above can fail)."""
    not_links_as_written = ("java\t", "&Tab;", "&lt;")  # mistune itself makes no live link of these
    assert active_html(markdown2html_mistune(attack)) != [] or any(s in attack for s in not_links_as_written)


def test_markdown_a_person_needs_renders_as_before():
    answer = ("**More images** beat more epochs: $a_{30000} < b$ and $$\\sigma'(z) \\le 1/4$$, see `epochs_for`;\n\n"
              "> a quote\n\n- a list\n- [the paper](https://arxiv.org/abs/1) and [a section](#problem-5)\n\n"
              "```python\nx = a < b\n```\n")
    cell, _ = inert_cell(new_markdown_cell(answer))
    assert cell.source == answer
    assert markdown2html_mistune(cell.source) == markdown2html_mistune(answer)
