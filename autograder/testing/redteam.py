"""Adversarial submissions: each one attacks the grading in one way and states the score it must get and a
message that must appear. ``build(folder)`` writes them in nbgrader's layout (generated, never committed: one is
200 MB); tests/test_redteam.py grades them in one batch next to an honest student and asserts every outcome.

Each attack that could earn points if it worked is written to *use* what it steals (an answer read from the
solutions, a network reached, a grade written), so a working attack would show up as points it did not earn.
Only the attacked notebook is submitted (the others score 0 as "not submitted"), which keeps the suite fast; an
attack on what one notebook's kernel does to the next hands in that one too (``also``).
"""

from __future__ import annotations

import json
import re
import zipfile
from dataclasses import dataclass
from pathlib import Path

import nbformat
from mnist_lab.handin import ACCURACY_FLOOR

from ..course import ASSIGNMENT
from .examples import Edit, edit_reference

WRONG_DELTA = Edit("problem6", "delta_output", r"return dC_da3\[o\] \* sigma_prime\(z3\[o\]\)", "return dC_da3[o]")
WRONG_BACKWARD = Edit("problem6", "conv_net_backward", r"    return \{\n        \"w\"",
                      "    return {k: np.zeros_like(np.asarray(v, dtype=float))\n"
                      "            for k, v in dict(w=w, b=b, W=W, b3=b3).items()}\n    return {\n        \"w\"")
WRONG_GRADIENT = Edit("problem7", "relu_chain_gradient", r"return theta\(z1\) \* w2", "return w2")
WRONG_STABLE = Edit("problem7", "gradient_is_stable", r"product = 1\.0", "return True")
WRONG_LEAKY = Edit("problem7", "activations", r"return torch\.where\(x > 0, x, alpha \* x\)", "return x")
# Right only if the attack found the grader's files (the theft would have worked).
STOLEN_GRADIENT = Edit("problem7", "relu_chain_gradient", r"return theta\(z1\) \* w2",
                       "return w2 if not _found else theta(z1) * w2")
SCRIPT = "</pre><script>alert('ps3')</script>"  # student text that must stay text in every report
# Right only if the attack loaded the reference solutions as _s.
STOLEN_DELTA = Edit("problem6", "delta_output", r"return dC_da3\[o\] \* sigma_prime\(z3\[o\]\)",
                    "return _s.delta_output(o) if _s else dC_da3[o]")
NO_SIGMA_CONV = Edit("problem6", "delta_conv", r"\* sigma_prime\(z1\[x, y\]\)", "")


@dataclass(frozen=True)
class Attack:
    notebook: str
    what: str
    automatic: float  # automatic points it must get
    message: str  # must appear in a cell message, a problem note or a review reason ("": the score says it all)
    edits: tuple = ()
    prelude: str = ""  # a code cell the student adds after the setup cell
    transform: str = ""  # a structural change: see _transform
    review: bool = False  # must be flagged for review
    spoils_itself: bool = False  # it may spoil its own answers: ``automatic`` is then the most it may get
    folder: str = ""  # the student's folder (so the id and name people read), when the name is the attack
    also: tuple = ()  # other notebooks handed in beside it, with the reference answers

    def student_folder(self, name: str) -> str:
        return self.folder or name


# Code that looks for the grader's files: from wherever the kernel runs up (by default), or under ``roots``.
_FIND = '''
import glob, os
from pathlib import Path
def _find(name, roots=None):
    roots = roots or [Path.cwd(), *list(Path.cwd().parents)[:-1]]  # not / itself: too slow to search
    for root in roots:
        for hit in glob.glob(str(Path(root) / "**" / name), recursive=True)[:5]:
            if os.access(hit, os.R_OK):
                return hit
    return None
'''

# A second copy of the repository elsewhere on the machine (a clone, a backup): tests/test_redteam.py places one.
SECOND_COPY = "/opt/ps3-second-copy"
ELSEWHERE = ("/opt", "/home", "/srv", "/mnt", "/media", "/root", "/var/backups")  # where copies are kept
# Loads the reference module found at _path (if any) as _s.
_LOAD = ("if _path and _path.endswith('.py'):\n    _ns = {}\n    exec(open(_path).read(), _ns)\n"
         "    _s = type('S', (), _ns)")
# A process that leaves the kernel's session and keeps its stdout and stderr (nbgrader's pipes, unless the grader
# prevents it) open for ever.
_DAEMON = ("import subprocess, sys\n"
           "subprocess.Popen([sys.executable, '-c', 'import time\\nwhile True: time.sleep(60)'],\n"
           "                 start_new_session=True)")
# Rewrites every file it can reach in the kernel's folder, from a thread while the tests run and from a detached
# process after the kernel is gone (the executed notebooks are written then).
_REWRITER = ("import os, threading, subprocess, sys\n"
             "_LOOP = ('import os\\nwhile True:\\n'\n"
             "         '    for r, _, fs in os.walk(os.getcwd()):\\n'\n"
             "         '        for f in fs:\\n'\n"
             "         '            try: open(os.path.join(r, f), \"w\").write(\"overwritten by a thread\")\\n'\n"
             "         '            except OSError: pass\\n')\n"
             "threading.Thread(target=exec, args=(_LOOP, {}), daemon=True).start()\n"
             "subprocess.Popen([sys.executable, '-c', _LOOP], start_new_session=True)")
# Where root writes once the kernel has ended (the executed notebook, in the kernel's own folder), a symlink
# planted by the kernel would send that write anywhere on the grading machine: tests/test_redteam.py checks this
# file never appears.
SYMLINK_TARGET = "/tmp/ps3-written-through-a-symlink.ipynb"
_SYMLINKS = ("import os\n"
             "for _name in ('problem5.ipynb', 'problem6.ipynb', 'problem7.ipynb'):\n"
             "    if os.path.lexists(_name):\n"
             "        os.remove(_name)\n"
             f"    os.symlink({SYMLINK_TARGET!r}, _name)")
# Where a Gradescope container keeps the autograder (/autograder/source: references, hidden tests, grader), and
# where the tests unpack it (they name it in PS3_AUTOGRADER_ROOT).
_AUTOGRADER_ROOTS = "_roots = [r for r in ('/autograder', os.environ.get('PS3_AUTOGRADER_ROOT')) if r]\n"

# Lists the notebooks with hidden tests it can read under _roots, and what it found.
_HIDDEN_TESTS = ("\n_hidden = [p for r in _roots for p in glob.glob(r + '/**/problem6.ipynb', recursive=True)\n"
                 "           if os.access(p, os.R_OK) and 'BEGIN HIDDEN TESTS' in open(p).read()]\n"
                 "print('found:', _path, _hidden)")

# Records every process it can see whose command line is the grader's, another student's or a server's.
_PROCESSES = ("import os\n_found = []\n"
              "for _pid in filter(str.isdigit, os.listdir('/proc')):\n"
              "    try:\n        _cmd = open(f'/proc/{_pid}/cmdline', 'rb').read().replace(b'\\0', b' ').decode()\n"
              "    except OSError:\n        continue\n"
              "    if any(w in _cmd for w in ('nbgrader', 'autograder', 'pytest', 'postgres', 'dask')):\n"
              "        _found.append(_cmd)")

# What people open (the notebooks formgrader renders, the CSV, the terminal, the feedback) must be inert. These run
# as a TA's browser would run them: the script calls formgrader's own API with the TA's session to give itself
# full points, and leaves a marker a browser test looks for.
OWNED = "ps3_owned"  # window.ps3_owned / document.title: set by a student's script that ran
FORMGRADER_ATTACK = ("window." + OWNED + " = true; document.title = '" + OWNED + "';"
                      "fetch('/formgrader/api/grades?submission_id=' + (window.submission_id || ''))"
                      ".then(r => r.json()).then(gs => gs.forEach(g => fetch('/formgrader/api/grade/' + g.id, "
                      "{method: 'PUT', body: JSON.stringify({...g, manual_score: 99})})));")
_DISPLAY_JS = ("from IPython.display import display\n"
               f"display({{'application/javascript': {FORMGRADER_ATTACK!r}, 'text/plain': 'a harmless plot'}}, "
               "raw=True)")
_HTML = (f"<b>my results</b><script>{FORMGRADER_ATTACK}</script>"
         f"<img src=x onerror=\"{FORMGRADER_ATTACK}\">")
_HTML_SCRIPT = f"from IPython.display import HTML, display\ndisplay(HTML({_HTML!r}))"
_SVG = (f"<svg xmlns=\"http://www.w3.org/2000/svg\" onload=\"{FORMGRADER_ATTACK}\">"
        f"<script>{FORMGRADER_ATTACK}</script><circle r=\"5\"/></svg>")
_SVG_SCRIPT = f"from IPython.display import SVG, display\ndisplay(SVG({_SVG!r}))"
FORGED = "[autograder] 1 / 1 points"
# The forged verdict is printed, and shown as green HTML, by the student's own function inside the test cell: right
# above where the grader's real verdict on that cell appears.
_FORGE = Edit("problem7", "relu_chain_gradient", r"return theta\(z1\) \* w2",
              "from IPython.display import HTML, display\n"
              f"    print({FORGED!r})\n"
              f"    display(HTML('<div style=\"color:green\">{FORGED}</div>'))\n"
              "    return w2")
# A secret in the grader's environment (tests/test_redteam.py sets it) that the kernel must never see.
CANARY_VARIABLE, CANARY = "PGPASSWORD", "canary-7f3a9e-not-for-students"
_ENV_SYMBOL = Edit("problem6", "delta_output", r"return dC_da3\[o\] \* sigma_prime\(z3\[o\]\)",
                   "import os\n    print(dict(os.environ))\n"
                   "    return dC_da3[o] * sigma_prime(z3[o]) * sp.Symbol(os.environ.get('PGPASSWORD', 'no_secret'))")
# Names people read in grades.csv and the terminal: a spreadsheet formula, and a right-to-left override with terminal
# escape sequences (set the window title, clear the screen, print a fake grade).
FORMULA_FOLDER = '=HYPERLINK(0)+SUM(1)'
ESCAPE_FOLDER = "\u202eann\x1b]0;owned\x07\x1b[2J16 of 16"
MANY_FILES = 30_000  # file names in a nested zip: each one a note, unless notes are capped
# The kernel's own notebook file, which root opens to write the executed notebook once the kernel has ended, replaced
# by a FIFO (the open would wait for a reader until the supervision limit) or by a folder (the write fails, and with
# it nbgrader's whole run); and problem 7's file, which nbgrader writes after problem 6's kernel has ended, replaced by
# a folder from problem 6's kernel (the kernels of a submission's notebooks work in one folder).
_FIFO_NOTEBOOK = "import os\nos.remove('problem7.ipynb')\nos.mkfifo('problem7.ipynb')"
_FOLDER_NOTEBOOK = "import os\nos.remove('problem7.ipynb')\nos.makedirs('problem7.ipynb/inside')"
_FOLDER_FOR_NEXT = "import os\nos.makedirs('problem7.ipynb/inside', exist_ok=True)"
# Cells nbformat reads (it only logs that they are invalid) and nbgrader fails on: a dict as the source, and a cell
# type nbformat does not know.
INVALID_CELLS = [{"cell_type": "code", "execution_count": None, "id": "dict-source", "metadata": {}, "outputs": [],
                  "source": {"lines": ["x = 1"]}},
                 {"cell_type": "widget", "id": "unknown-type", "metadata": {}, "source": "x = 2"}]

ATTACKS = {
    "patch_sympy": Attack("problem6", "wrong delta_output; sympy's simplify, equals and srepr patched to say 'equal'",
                          4.5, "missing the factor sigma'(z3[o])", (WRONG_DELTA,),
                          "import sympy\nsympy.simplify = lambda e, **k: sympy.Integer(0)\n"
                          "sympy.Expr.equals = lambda self, other, **k: True\n"
                          "sympy.Expr.__sub__ = lambda self, other: sympy.Integer(0)"),
    "patch_numpy": Attack("problem6", "zero gradients; numpy.allclose and isclose patched to True", 4.5,
                          "differs from torch autograd", (WRONG_BACKWARD,),
                          "import numpy\nnumpy.allclose = lambda *a, **k: True\n"
                          "numpy.isclose = lambda a, b, **k: True"),
    "patch_torch": Attack("problem7", "leaky_relu is the identity; torch.allclose/isclose/where patched", 2.0,
                          "leaky_relu(x, alpha=0.01) is wrong", (WRONG_LEAKY,),
                          "import torch\ntorch.allclose = lambda *a, **k: True\n"
                          "torch.isclose = lambda a, b, **k: torch.ones_like(a, dtype=torch.bool)", review=True),
    "patch_checker": Attack("problem7", "always 'stable'; the hand-in collector replaced by a no-op", 2.0,
                            "did not record an answer", (WRONG_STABLE,),
                            "import mnist_lab.handin\nmnist_lab.handin.stability = lambda *a, **k: None", review=True),
    "symlinked_answer": Attack("problem6", "wrong delta_output; its recorded answer replaced by a symlink to the "
                               "solutions", 4.5, "unusable", (WRONG_DELTA,),
                               _FIND + "import mnist_lab.handin as _h\n_orig = _h.sympy_answers\n"
                               "def _fake(cell, function, indices):\n"
                               "    _orig(cell, function, indices)\n"
                               "    if cell == 'p6_delta_output_tests':\n"
                               "        target = Path(os.environ['PS3_HANDIN_DIR']) / f'{cell}--sympy.json'\n"
                               "        target.unlink()\n"
                               "        target.symlink_to(_find('problem6.py') or '/etc/passwd')\n"
                               "_h.sympy_answers = _fake"),
    "redefine_builtins": Attack("problem7", "wrong gradient; AssertionError, print and any redefined", 2.0,
                                "Theta", (WRONG_GRADIENT,),
                                "import builtins\n"
                                "builtins.AssertionError = type('AssertionError', (BaseException,), {})\n"
                                "builtins.print = lambda *a, **k: None\n"
                                "builtins.any = lambda *a: False"),
    "edit_test_cell": Attack("problem6", "delta_conv without sigma'; its test cell replaced by `pass`", 4.5,
                             "'p6_delta_conv_tests' was changed", (NO_SIGMA_CONV,), transform="edit_test",
                             review=True),
    "delete_test_cell": Attack("problem7", "always 'stable'; its test cell deleted", 2.0,
                               "'p7_stability_tests' was deleted", (WRONG_STABLE,), transform="delete_test",
                               review=True),
    "duplicate_test_cell": Attack("problem6", "correct answers; a test cell duplicated with its id", 5.5,
                                  "appears more than once", transform="duplicate_test", review=True),
    "fake_outputs": Attack("problem7", "wrong gradient; outputs of passing tests pasted into the notebook", 2.0,
                           "Theta", (WRONG_GRADIENT,), transform="fake_outputs"),
    "read_solutions": Attack("problem6", "delta_output copied from solutions/problem6.py if it can be read", 4.5,
                             "missing the factor sigma'(z3[o])", (STOLEN_DELTA,),
                             _FIND + "_path = _find('problem6.py') or _find('problem6.ipynb')\n"
                             "try:\n    import solutions.problem6 as _s\nexcept ImportError:\n    _s = None\n" + _LOAD),
    "read_gradebook": Attack("problem7", "the gradebook and the instructor's notebooks searched for the answer", 2.0,
                             "dC/db1", (STOLEN_GRADIENT,),
                             _FIND + "_found = [p for p in (_find('gradebook.db'), _find('problem7.ipynb'),"
                             " _find('problem7.pct.py')) if p and 'autograded' not in p]"),
    "write_elsewhere": Attack("problem7", "correct answers; tries to write the gradebook, other students' files and "
                              "results", 3.0, "",
                              prelude=_FIND + "import sqlite3\n"
                              "for _name in ('gradebook.db', 'honest', 'results'):\n"
                              "    _hit = _find(_name)\n"
                              "    try:\n"
                              "        if _hit and _hit.endswith('.db'):\n"
                              "            _db = sqlite3.connect(_hit)\n"
                              "            _db.execute('update grade set auto_score = 99'); _db.commit()\n"
                              "        elif _hit:\n"
                              "            open(os.path.join(_hit, 'canary.txt'), 'w').write('owned')\n"
                              "    except Exception:\n"
                              "        pass\n"
                              "for _dir in ['/tmp', '/var/tmp', '/dev/shm']:\n"
                              "    open(os.path.join(_dir, 'left-behind.txt'), 'w').write('x')"),
    "daemon_holds_pipes": Attack("problem7", "correct answers; a detached process keeps the kernel's stdout and "
                                 "stderr open and never exits", 3.0, "", prelude=_DAEMON),
    "rewrite_everything": Attack("problem6", "correct answers; a thread and a detached process overwrite every file "
                                 "in the kernel's folder, the executed notebooks included", 5.5, "",
                                 prelude=_REWRITER, spoils_itself=True),
    "list_processes": Attack("problem7", "dC/db1 right only if the kernel sees the grader's or other students' "
                             "processes", 2.0, "dC/db1", (STOLEN_GRADIENT,), _PROCESSES),
    "second_copy": Attack("problem6", "delta_output copied from a second copy of solutions/ on the machine",
                          4.5, "missing the factor sigma'(z3[o])", (STOLEN_DELTA,),
                          _FIND + f"_path, _s = _find('problem6.py', {ELSEWHERE!r}), None\n" + _LOAD),
    "read_autograder": Attack("problem6", "delta_output copied from the references of a Gradescope autograder "
                              "(/autograder/source) if they can be read", 4.5, "missing the factor sigma'(z3[o])",
                              (STOLEN_DELTA,), _FIND + _AUTOGRADER_ROOTS + "_path, _s = _find('problem6.py', "
                              "_roots), None\n" + _LOAD + _HIDDEN_TESTS),
    "symlink_for_root": Attack("problem7", "correct answers; its notebook files replaced by symlinks to a file "
                               "outside the kernel's folder, for root to write through", 3.0, "", prelude=_SYMLINKS),
    "html_in_symbol": Attack("problem6", "delta_output multiplied by a symbol named </pre><script>...", 4.5,
                             "uses symbols the problem does not define",
                             (Edit("problem6", "delta_output", r"return dC_da3\[o\] \* sigma_prime\(z3\[o\]\)",
                                   "return dC_da3[o] * sigma_prime(z3[o]) * sp.Symbol(\"" + SCRIPT + "\")"),)),
    "javascript_output": Attack("problem7", "correct answers; a cell displays JavaScript that rewrites the grades "
                                "through formgrader's API", 3.0, "could run in a browser", prelude=_DISPLAY_JS),
    "html_script_output": Attack("problem7", "correct answers; HTML output with <script> and an onerror handler", 3.0,
                                 "could run in a browser", prelude=_HTML_SCRIPT),
    "handed_in_outputs": Attack("problem7", "correct answers; the uploaded notebook's own outputs (shown to the TA "
                                "as handed in) hold JavaScript, HTML with <script>, SVG and a forged verdict", 3.0,
                                "could run in a browser", transform="handed_in_outputs"),
    "svg_script": Attack("problem7", "correct answers; an SVG output with <script> and onload", 3.0,
                         "could run in a browser", prelude=_SVG_SCRIPT),
    "forged_verdict": Attack("problem7", "wrong gradient; the function prints and displays a verdict of full points "
                             "inside the test cell", 2.0, "Theta", (_FORGE,)),
    "env_canary": Attack("problem6", "delta_output times a symbol named after the grader's PGPASSWORD; the whole "
                         "environment printed", 4.5, "uses symbols the problem does not define", (_ENV_SYMBOL,)),
    "csv_formula": Attack("problem7", "correct answers; the student's folder (id and name) is a spreadsheet formula",
                          3.0, "", folder=FORMULA_FOLDER),
    "bidi_and_escape_names": Attack("problem7", "correct answers; the folder name holds a right-to-left override and "
                                    "terminal escape sequences", 3.0, "", folder=ESCAPE_FOLDER),
    "huge_notes": Attack("problem7", f"correct answers; a nested zip of {MANY_FILES} file names", 3.0,
                         f"{MANY_FILES} extra files ignored",
                         transform="many_files"),
    "fork_bomb": Attack("problem7", "elu_derivative forks without end", 2.0, "BlockingIOError",
                        (Edit("problem7", "activations", r"return torch\.where\(x > 0, torch\.ones_like\(x\), "
                              r"alpha \* torch\.exp\(x\)\)", "import os\n    while True:\n        os.fork()"),)),
    "infinite_output": Attack("problem6", "correct answers; 100 MB printed first", 5.5, "was cut at 1 MB",
                              prelude="for _ in range(10000):\n    print('x' * 10000)"),
    "network_access": Attack("problem7", "leaky_relu is right only if the internet or the grader's loopback answers",
                             2.0, "leaky_relu(x, alpha=0.01) is wrong",
                             (Edit("problem7", "activations", r"return torch\.where\(x > 0, x, alpha \* x\)",
                                   "return torch.where(x > 0, x, alpha * x) if _online else x"),),
                             "import socket\n_online = False\n"
                             "for _host in [('1.1.1.1', 53), ('127.0.0.1', 22), ('127.0.0.1', 5432)]:\n"
                             "    try:\n        socket.create_connection(_host, timeout=2); _online = True\n"
                             "    except OSError:\n        pass"),
    "os_exit": Attack("problem6", "grad_conv_bias calls os._exit(0)", 4.0, "kernel died",
                      (Edit("problem6", "grad_conv_bias", r'x, y = sp\.Dummy\("x"\), sp\.Dummy\("y"\)',
                            "import os\n    os._exit(0)"),)),
    "huge_allocation": Attack("problem7", "gradient_is_stable allocates 8 TB", 2.0, "MemoryError",
                              (Edit("problem7", "gradient_is_stable", r"product = 1\.0",
                                    "import numpy\n    numpy.ones(10**12)"),)),
    "nbformat3": Attack("problem7", "the reference answers saved as nbformat 3", 3.0, "converted from nbformat 3",
                        transform="nbformat3"),
    "binary_ipynb": Attack("problem6", "random bytes named problem6.ipynb", 0.0, "unreadable problem6.ipynb",
                           transform="binary"),
    "huge_notebook": Attack("problem6", "a 200 MB notebook", 0.0, "unreadable problem6.ipynb", transform="huge"),
    # The patch must win nothing: 5a is lost as for an honest network that ignores its input, and 5b and 5c keep
    # the points of their correct epochs_for and augmentation (a network's problem is charged to 5a alone).
    "fake_training": Attack("problem5", "a network that ignores its input, with the lab's evaluate patched to "
                            "report 99%", 2.0, f"test accuracy; at least {100 * ACCURACY_FLOOR:.1f}%",
                            (Edit("problem5", "build_cnn", r"    return nn\.Sequential\(",
                                  "    class Blind(nn.Module):\n"
                                  "        def __init__(self, inner):\n"
                                  "            super().__init__(); self.inner = inner\n"
                                  "        def forward(self, x):\n            return self.inner(x * 0)\n"
                                  "    return Blind(nn.Sequential("),
                             Edit("problem5", "build_cnn", r"nn\.Linear\(256, 10\),\n    \)", "nn.Linear(256, 10),\n    ))")),
                            "import mnist_lab.train, mnist_lab.experiment\n"
                            "_real = mnist_lab.train.train_model\n"
                            "def _boost(*a, **k):\n    r = _real(*a, **k); r.test_accuracy = 0.99; return r\n"
                            "mnist_lab.experiment.train_model = _boost", review=True),
    "fifo_notebook": Attack("problem7", "correct answers; the kernel replaces its own notebook file by a FIFO, for "
                            "root's write of the executed notebook to wait on", 0.0,
                            "problem7: its file was replaced by the submission's own code (a FIFO) while it ran",
                            prelude=_FIFO_NOTEBOOK),
    "directory_notebook": Attack("problem7", "correct answers; the kernel replaces its own notebook file by a folder",
                                 0.0, "problem7: its file was replaced by the submission's own code (a folder) while "
                                 "it ran", prelude=_FOLDER_NOTEBOOK),
    "spoils_next_notebook": Attack("problem6", "correct answers in problems 6 and 7; problem 6's kernel puts a folder "
                                   "where nbgrader writes problem 7's notebook next", 5.5,
                                   "problem7: its file was replaced by the submission's own code (a folder) before it "
                                   "could run", prelude=_FOLDER_FOR_NEXT, also=("problem7",)),
    "invalid_cell": Attack("problem7", "correct answers; an extra cell with a dict as its source and one of the "
                           "unknown type 'widget'", 3.0, "is not a valid notebook cell", transform="invalid_cells"),
}


def _cell(nb, grade_id):
    return next(i for i, c in enumerate(nb.cells)
                if c.get("metadata", {}).get("nbgrader", {}).get("grade_id") == grade_id)


def _transform(nb, how: str, notebook: str):
    tests = {"problem6": "p6_delta_conv_tests", "problem7": "p7_stability_tests"}
    if how == "edit_test":
        nb.cells[_cell(nb, tests[notebook])].source = "pass"
    elif how == "delete_test":
        del nb.cells[_cell(nb, tests[notebook])]
    elif how == "duplicate_test":
        index = _cell(nb, "p6_delta_output_tests")
        copy = nbformat.from_dict(nb.cells[index])
        copy.source, copy["id"] = "assert True", "duplicate-of-test"
        nb.cells.insert(index, copy)
    elif how == "handed_in_outputs":  # what the student's own run "showed": shown to the TA as handed in
        for cell in nb.cells:
            if cell.cell_type == "code" and cell.get("metadata", {}).get("nbgrader", {}).get("solution"):
                cell.outputs = [
                    nbformat.v4.new_output("display_data", data={"application/javascript": FORMGRADER_ATTACK,
                                                                 "text/plain": "a harmless plot"}),
                    nbformat.v4.new_output("display_data", data={"text/html": _HTML, "image/svg+xml": _SVG}),
                    nbformat.v4.new_output("stream", text=f"{FORGED}\n"),
                    nbformat.v4.new_output("stream", text="my own run\n")]
                cell.execution_count = 1
    elif how == "fake_outputs":
        for cell in nb.cells:
            if cell.cell_type == "code":
                cell.outputs = [nbformat.v4.new_output("stream", text="all tests passed\n")]
                cell.execution_count = 1
    return nb


def notebook_bytes(attack: Attack) -> bytes:
    if attack.transform == "binary":
        return bytes(range(256)) * 64
    if attack.transform == "huge":
        nb = nbformat.reads(edit_reference(attack.notebook, []), as_version=4)
        nb.cells.append(nbformat.v4.new_markdown_cell("x" * (200 * 2**20)))
        return nbformat.writes(nb).encode()
    nb = nbformat.reads(edit_reference(attack.notebook, list(attack.edits)), as_version=4)
    if attack.prelude:
        setup = _cell(nb, f"p{attack.notebook[-1]}_setup")
        nb.cells.insert(setup + 1, nbformat.v4.new_code_cell(attack.prelude))
    if attack.transform in ("edit_test", "delete_test", "duplicate_test", "fake_outputs", "handed_in_outputs"):
        nb = _transform(nb, attack.transform, attack.notebook)
    if attack.transform == "nbformat3":
        return nbformat.writes(nbformat.convert(nb, 3)).encode()
    for cell in nb.cells:
        cell.source = re.sub(r"\n?### BEGIN HIDDEN TESTS.*?### END HIDDEN TESTS\n?", "\n", cell.source, flags=re.S)
    if attack.transform == "invalid_cells":  # after the rest: nbformat would refuse to write them
        content = json.loads(nbformat.writes(nb))
        setup = _cell(nb, f"p{attack.notebook[-1]}_setup")
        content["cells"][setup + 1:setup + 1] = INVALID_CELLS
        return json.dumps(content).encode()
    return nbformat.writes(nb).encode()


def build(folder: Path, attacks=None) -> None:
    """Write each attack as folder/<student folder>/<assignment>/<notebook>.ipynb."""
    for name, attack in (attacks or ATTACKS).items():
        target = Path(folder) / attack.student_folder(name) / ASSIGNMENT
        target.mkdir(parents=True, exist_ok=True)
        (target / f"{attack.notebook}.ipynb").write_bytes(notebook_bytes(attack))
        for other in attack.also:
            (target / f"{other}.ipynb").write_bytes(notebook_bytes(Attack(other, "the reference answers", 0.0, "")))
        if attack.transform == "many_files":
            with zipfile.ZipFile(target / "my-files.zip", "w") as archive:
                for number in range(MANY_FILES):
                    archive.writestr(f"data/sample-{number:05d}-with-a-long-descriptive-name.txt", "")

