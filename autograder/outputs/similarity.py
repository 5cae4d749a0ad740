"""Code similarity across the class, for the instructor only (no grade changes): which students' answer code is
alike beyond chance, and which students report the same problem-5 accuracies to every digit.

    python -m autograder similarity --out grading [--names]     (also a section of the class report)

writes ``<out>/similarity/similarity.html`` (self-contained) and ``similarity.csv`` (every pair that shares code)
and prints the top pairs.

What is compared: for every student and answer cell (the release's nbgrader solution code cells), the code the
student wrote minus the starter code of that cell in the release: the cell's lines that the release handed out
(the signature, the docstring, the imports) are taken out first (a line diff against the release), and what
fingerprints the starter code still has are discarded as boilerplate. Stubs, imports and comments handed out
never make two students look alike, and are never highlighted.

The engine is copydetect (``CodeFingerprint``, ``compare_files``: a maintained implementation of MOSS's
winnowing): it tokenises the code with Pygments and normalises it as similarity tools do (comments and whitespace
dropped, every identifier one letter, string literals one letter), so renamed variables and reformatted code
still match; a match must be at least ``NOISE`` normalised characters long, so an obvious one-liner
(``return dC_da3[o] * sigma_prime(z3[o])``) has no fingerprint at all. Fingerprints that more than
``common_limit(n)`` students share in a cell (the class's obvious answer) are discarded as MOSS does (its ``-m``).

Scale: an inverted index (cell, fingerprint) -> students gives the candidate pairs that share a fingerprint;
only those are compared (``compare_files``), never all n^2 pairs (benchmarks/bench_similarity.py: 300 students).

A pair's score in a problem: the tokens of both students' answers in that problem's cells that the other
student's answer matches, over all their answer tokens, and over at least ``MIN_EVIDENCE`` tokens (so a long
answer weighs more than a short one, and identical short answers, the obvious one-liners, never reach the
threshold alone). Pairs at ``THRESHOLD`` or above are flagged; the page shows each flagged pair's matching
fragments side by side.

The second signal, the numbers: problem 5's results carry each trained network's test accuracy as the grader
measured it (``CellResult.runs``). Two students with ``SAME_RUNS`` or more runs (condition, budget, epochs)
whose accuracies are equal to every digit are listed, with how alike their problem-5 code is: equal accuracies
from different code point to a pasted experiment. (Equal networks, layer for layer, do train to equal
accuracies under the grader's seed: the code score beside them says which it is.)

Student code is hostile: everything shown is escaped (``html.escape``), made printable and capped; CSV cells are
never formulas. Students are shown by the labels the caller gives (the class report's anonymous numbers unless
``--names``).
"""

from __future__ import annotations

import csv
import difflib
import html
import io
import itertools
import json
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from copydetect import CodeFingerprint

from ..course import ASSIGNMENT, NOTEBOOKS, release_dir
from ..ingest import MAX_NOTEBOOK_BYTES
from ..results import SubmissionResult
from ..text import cap, csv_cell, printable

FOLDER = "similarity"
PAGE = "similarity.html"
PAIRS_CSV = "similarity.csv"
NOISE = 25  # copydetect's noise threshold: the shortest match that counts, in normalised characters
WINDOW = 1  # winnowing window (guarantee threshold - noise threshold + 1): 1 keeps every fingerprint
COMMON_SHARE = 0.05  # a fingerprint in more than this share of the class (and COMMON_MIN students) is common
COMMON_MIN = 10
THRESHOLD = 0.5  # a pair's score in a problem from which it is flagged
# Answer tokens (normalised characters, both students together) a problem's score is taken over at least: short
# answers are alike by necessity (there are few ways to write a one-liner), so a pair whose answers in a problem
# are short cannot score high on them (all-short identical answers: at most 1/3 of the threshold's evidence).
MIN_EVIDENCE = 800
SAME_RUNS = 3  # runs with equal accuracies (to every digit) from which a pair is listed
SHOWN_PAIRS = 25  # flagged pairs shown with their fragments, per problem
SHOWN_BELOW = 5  # pairs below the threshold listed (without fragments) per problem, for scale
CODE_LIMIT = 6000  # characters of one answer shown
COMPARED_LIMIT = 20_000  # characters of one answer compared (an answer cell is a function or two; a cell of
# megabytes would only slow the comparison down)


@dataclass
class Answer:
    """One student's answer cell: the cell as submitted, and which of its lines are the student's own."""

    student: str
    grade_id: str
    notebook: str
    lines: list[str]  # the cell's lines (with their line ends)
    own: list[bool]  # per line: written by the student (not a line of the release's starter cell)

    @property
    def own_code(self) -> str:
        return "".join(line for line, mine in zip(self.lines, self.own) if mine)


@dataclass
class Pair:
    a: str
    b: str
    notebook: str
    score: float = 0.0
    matched: int = 0  # tokens of both answers that match
    tokens: int = 0  # tokens of both answers
    cells: dict = field(default_factory=dict)  # grade id -> (score, slices of a, slices of b)


@dataclass
class Similarity:
    students: list[str]
    answers: dict  # (student, grade id) -> Answer
    pairs: dict  # notebook -> [Pair], best first (every pair that shares a fingerprint)
    same_runs: list[dict]  # the numbers signal
    candidates: int = 0  # (pair, cell) comparisons made
    common: int = 0  # fingerprints discarded as the class's common answer

    def flagged(self, notebook: str) -> list[Pair]:
        return [p for p in self.pairs.get(notebook, []) if p.score >= THRESHOLD]


def common_limit(students: int) -> int:
    """Students that may share a fingerprint in a cell before it counts as the class's common answer."""
    return max(COMMON_MIN, int(COMMON_SHARE * students))


# ----------------------------------------------------------------------------------------------- the answers

def _grade_id(cell: dict) -> str | None:
    meta = cell.get("metadata", {}).get("nbgrader", {}) if isinstance(cell.get("metadata"), dict) else {}
    return meta.get("grade_id") if isinstance(meta, dict) and isinstance(meta.get("grade_id"), str) else None


def _source(cell: dict) -> str:
    source = cell.get("source", "")
    return "".join(source) if isinstance(source, list) else str(source)


def starter_cells(release: Path | None = None) -> dict[str, tuple[str, str]]:
    """grade id -> (notebook, starter code) of every answer code cell of the release (nbgrader solution cells)."""
    release = Path(release) if release else release_dir()
    found = {}
    for name in NOTEBOOKS:
        nb = json.loads((release / f"{name}.ipynb").read_text(encoding="utf-8"))
        for cell in nb.get("cells", []):
            meta = cell.get("metadata", {}).get("nbgrader", {})
            if cell.get("cell_type") == "code" and meta.get("solution") and meta.get("grade_id"):
                found[meta["grade_id"]] = (name, _source(cell))
    return found


def answer(student: str, grade_id: str, notebook: str, source: str, starter: str) -> Answer:
    """The student's cell, each line marked as the student's own or the starter's (a line diff)."""
    lines = source.splitlines(keepends=True)
    given = starter.splitlines(keepends=True)
    own = [True] * len(lines)
    matcher = difflib.SequenceMatcher(None, [l.rstrip() for l in given], [l.rstrip() for l in lines],
                                      autojunk=False)
    for block in matcher.get_matching_blocks():
        for i in range(block.b, block.b + block.size):
            own[i] = False
    handed_out = {line.strip() for line in given}
    for i, line in enumerate(lines):
        if not line.strip() or line.strip() in handed_out:
            own[i] = False  # blank lines are nobody's; a starter line moved elsewhere (functions reordered) is not
            # the student's either
    if lines and not lines[-1].endswith("\n"):
        lines[-1] += "\n"  # own code is joined line by line
    return Answer(student, grade_id, notebook, lines, own)


def notebook_answers(student: str, notebooks: dict[str, str], starters: dict[str, tuple[str, str]]
                     ) -> dict[str, Answer]:
    """grade id -> Answer of one student, from their notebooks' JSON texts (any names: cells by grade id)."""
    found = {}
    for text in notebooks.values():
        try:
            nb = json.loads(text)
        except ValueError:
            continue
        cells = nb.get("cells", []) if isinstance(nb, dict) else []
        for cell in cells if isinstance(cells, list) else []:
            if not isinstance(cell, dict) or cell.get("cell_type") != "code":
                continue
            grade_id = _grade_id(cell)
            if grade_id in starters and grade_id not in found:
                name, starter = starters[grade_id]
                found[grade_id] = answer(student, grade_id, name, _source(cell), starter)
    return found


def read_folder(out: Path) -> dict[str, dict[str, str]]:
    """student id -> {notebook file name: JSON text} from a grading folder's submitted/<id>/<assignment>/."""
    found = {}
    submitted = Path(out) / "submitted"
    if not submitted.is_dir():
        return found
    for folder in sorted(submitted.iterdir()):
        assignment = folder / ASSIGNMENT
        if not assignment.is_dir():
            continue
        texts = {}
        for path in sorted(assignment.glob("*.ipynb")):
            if path.is_file() and not path.is_symlink() and path.stat().st_size <= MAX_NOTEBOOK_BYTES:
                texts[path.name] = path.read_text(encoding="utf-8", errors="replace")
        if texts:
            found[folder.name] = texts
    return found


# ----------------------------------------------------------------------------------------------- comparing

def _engine():
    """copydetect, imported where it is used: it imports matplotlib.pyplot (0.7 s), which every command of the
    command line and every batch would otherwise pay whether it compares code or not."""
    import copydetect
    import copydetect.utils

    return copydetect


def _fingerprint(code: str, boilerplate) -> CodeFingerprint:
    return _engine().CodeFingerprint("answer.py", NOISE, WINDOW, boilerplate=boilerplate, language="python",
                                     fp=io.StringIO(code))


def _drop(fp: CodeFingerprint, hashes: set) -> None:
    """Discard fingerprints (the class's common answer) from ``fp``, as copydetect discards boilerplate."""
    if not hashes & fp.hashes:
        return
    fp.hashes = fp.hashes - hashes
    fp.hash_idx = {h: i for h, i in fp.hash_idx.items() if h not in hashes}
    fp.token_coverage = _engine().utils.get_token_coverage(fp.hash_idx, fp.k, len(fp.filtered_code))


def compare(submissions: dict[str, dict[str, str]], results: list[SubmissionResult] | None = None,
            release: Path | None = None, brute_force: bool = False) -> Similarity:
    """Every pair of students that shares answer code, scored per problem; and the numbers signal of ``results``.
    ``submissions``: student id -> {notebook file name: notebook JSON text}. ``brute_force`` compares every pair
    in every cell (for the benchmark's comparison with the inverted index)."""
    engine = _engine()
    starters = starter_cells(release)
    answers = {}
    for student, notebooks in submissions.items():
        for grade_id, ans in notebook_answers(student, notebooks, starters).items():
            answers[(student, grade_id)] = ans
    students = sorted(submissions)
    boiler = {}
    for grade_id, (_, starter) in starters.items():
        boiler[grade_id] = np.unique(np.array(list(
            engine.CodeFingerprint("starter.py", NOISE, 1, language="python", fp=io.StringIO(starter)).hashes),
            dtype=np.int64))

    prints: dict[str, dict[str, CodeFingerprint]] = defaultdict(dict)  # grade id -> student -> fingerprint
    for (student, grade_id), ans in answers.items():
        code = ans.own_code[:COMPARED_LIMIT]
        if code.strip():
            fp = _fingerprint(code, boiler[grade_id])
            if fp.hashes:
                prints[grade_id][student] = fp

    limit, common, candidates = common_limit(len(students)), 0, 0
    tallies: dict[tuple, Pair] = {}
    for grade_id, by_student in prints.items():
        index = defaultdict(list)  # the inverted index: fingerprint -> students
        for student, fp in by_student.items():
            for h in fp.hashes:
                index[h].append(student)
        frequent = {h for h, who in index.items() if len(who) > limit}
        common += len(frequent)
        for fp in by_student.values():
            _drop(fp, frequent)
        if brute_force:
            pairs = set(itertools.combinations(sorted(s for s, fp in by_student.items() if fp.hashes), 2))
        else:
            pairs = set()
            for h, who in index.items():
                if h not in frequent and len(who) > 1:
                    pairs.update(itertools.combinations(sorted(who), 2))
        notebook = starters[grade_id][0]
        for a, b in pairs:
            fa, fb = by_student[a], by_student[b]
            candidates += 1
            overlap, (sa, sb), slices = engine.compare_files(fa, fb)
            if not overlap:
                continue
            pair = tallies.setdefault((a, b, notebook), Pair(a, b, notebook))
            pair.matched += int(round(sa * fa.token_coverage + sb * fb.token_coverage))
            pair.cells[grade_id] = ((sa * fa.token_coverage + sb * fb.token_coverage)
                                    / max(1, fa.token_coverage + fb.token_coverage), slices[0], slices[1])

    ranked: dict[str, list[Pair]] = {name: [] for name in NOTEBOOKS}
    for (a, b, notebook), pair in tallies.items():
        pair.tokens = int(sum(prints[g][s].token_coverage for g in prints if starters[g][0] == notebook
                              for s in (a, b) if s in prints[g]))
        pair.score = pair.matched / max(MIN_EVIDENCE, pair.tokens)
        ranked[notebook].append(pair)
    for pairs in ranked.values():
        pairs.sort(key=lambda p: (-p.score, -p.matched, p.a, p.b))
    return Similarity(students, answers, ranked, same_runs(results or [], ranked), candidates, common)


def same_runs(results: list[SubmissionResult], ranked: dict[str, list[Pair]] | None = None) -> list[dict]:
    """Pairs of students whose problem-5 runs have equal accuracies to every digit (SAME_RUNS or more runs of the
    same condition, budget and epochs), with their problem-5 code score."""
    by_run = defaultdict(list)  # (condition, n, epochs, accuracy as text) -> students
    runs_of = {}
    for r in results:
        runs = [run for run in r.clean_runs if isinstance(run.get("accuracy"), (int, float))]
        runs_of[r.student_id] = len(runs)
        for run in runs:
            key = (run.get("condition"), run.get("n_examples"), run.get("epochs"), repr(float(run["accuracy"])))
            by_run[key].append(r.student_id)
    shared = defaultdict(list)
    for key, who in by_run.items():
        for a, b in itertools.combinations(sorted(set(who)), 2):
            shared[(a, b)].append(key)
    code = {(p.a, p.b): p.score for p in (ranked or {}).get("problem5", [])}
    found = []
    for (a, b), keys in shared.items():
        if len(keys) >= SAME_RUNS:
            score = code.get((a, b), 0.0)
            found.append({"a": a, "b": b, "same": len(keys), "runs_a": runs_of[a], "runs_b": runs_of[b],
                          "code_score": score, "code_differs": score < THRESHOLD,
                          "runs": [{"condition": c, "n_examples": n, "epochs": e, "accuracy": float(acc)}
                                   for c, n, e, acc in sorted(keys, key=str)]})
    found.sort(key=lambda f: (-f["same"], f["code_score"], f["a"], f["b"]))
    return found


# ----------------------------------------------------------------------------------------------- the page

CSS = """.sim table{border-collapse:collapse;margin:.4em 0 1em}.sim td,.sim th{border-bottom:1px solid #eaeef2;
padding:.3em .6em;text-align:left;vertical-align:top}.sim th{background:#f6f8fa}.sim td.n{text-align:right;
font-variant-numeric:tabular-nums}.sim .side{display:grid;grid-template-columns:minmax(0,1fr) minmax(0,1fr);gap:.6em;margin:.3em 0 .8em}
.sim pre{margin:0;padding:.5em;background:#f6f8fa;border:1px solid #d0d7de;border-radius:4px;overflow-x:auto;
font-size:.8em;line-height:1.35;white-space:pre}.sim pre .given{color:#8c959f}.sim mark{background:#ffd8b5;
color:inherit;border-bottom:2px solid #fb8f44}.sim .pair{margin:1em 0;border-top:1px solid #d0d7de}
.sim .pair h4{margin:.6em 0 .2em}.sim .flag{color:#cf222e;font-weight:600}.sim .muted{color:#656d76}
.sim details>summary{cursor:pointer}"""


def _label(labels: dict, student: str) -> str:
    return html.escape(cap(printable(labels.get(student, student)), 120))


def _highlight(ans: Answer, slices) -> str:
    """The answer cell, escaped: the starter's lines grey, the student's own code with the matches marked."""
    own = ans.own_code
    marked = np.zeros(len(own) + 1, dtype=bool)
    if slices is not None and len(slices) and slices.shape[-1]:
        for start, end in zip(slices[0], slices[1]):
            marked[max(0, int(start)):max(0, int(end))] = True
    out, pos, shown = [], 0, 0
    for line, mine in zip(ans.lines, ans.own):
        if shown > CODE_LIMIT:
            out.append('<span class="given">… (cut)</span>\n')
            break
        shown += len(line)
        text = printable(line.rstrip("\n"))
        if not mine:
            out.append(f'<span class="given">{html.escape(text)}</span>\n' if line.strip() else "\n")
            continue
        seg = line.rstrip("\n")
        flags = marked[pos:pos + len(seg)]
        pos += len(line)
        parts, i = [], 0
        while i < len(seg):
            j = i
            while j < len(seg) and flags[j] == flags[i]:
                j += 1
            chunk = html.escape(printable(seg[i:j]))
            # a comment inside a matching stretch is not part of the match (comments are not compared)
            match = flags[i] and seg[i:j].strip() and not seg[i:j].lstrip().startswith("#")
            parts.append(f"<mark>{chunk}</mark>" if match else chunk)
            i = j
        out.append("".join(parts) + "\n")
    return "".join(out)


def _pair_html(sim: Similarity, pair: Pair, labels: dict) -> str:
    blocks = []
    for grade_id, (score, slices_a, slices_b) in sorted(pair.cells.items(), key=lambda c: -c[1][0]):
        a, b = sim.answers[(pair.a, grade_id)], sim.answers[(pair.b, grade_id)]
        blocks.append(f"<p><b>{html.escape(grade_id)}</b> <span class=muted>{100 * score:.0f}% of this cell's "
                      f"tokens match</span></p><div class=side><div><div class=muted>{_label(labels, pair.a)}</div>"
                      f"<pre>{_highlight(a, slices_a)}</pre></div><div><div class=muted>{_label(labels, pair.b)}"
                      f"</div><pre>{_highlight(b, slices_b)}</pre></div></div>")
    return (f"<div class=pair><h4>{_label(labels, pair.a)} and {_label(labels, pair.b)}: "
            f"<span class=flag>{100 * pair.score:.0f}%</span> <span class=muted>({pair.matched} of "
            f"{pair.tokens} answer tokens match)</span></h4>{''.join(blocks)}</div>")


def section(sim: Similarity | None, labels: dict, heading: bool = True) -> str:
    """The "Code similarity" section (HTML): per problem, pairs ranked by score with the matching fragments side by
    side; then the pairs with equal problem-5 accuracies."""
    title = '<h2 id="similarity">Code similarity</h2>' if heading else ""
    if sim is None or not (sim.answers or sim.same_runs):
        return (f"{title}<p class=muted>No submitted notebooks in this grading folder (submitted/): nothing to "
                "compare.</p>")
    parts = [f"{title}<div class=sim><p>For the instructor only; no grade depends on it. {len(sim.students)} students' answer code (the code they wrote, without the "
             "release's starter code), normalised (comments, whitespace and names do not count) and compared with "
             f"copydetect's winnowing fingerprints (matches of at least {NOISE} normalised characters; fragments "
             f"that more than {common_limit(len(sim.students))} students share are the class's common answer and "
             f"do not count). A pair's score: the share of both students' answer tokens in a problem that match (taken "
             f"over at least {MIN_EVIDENCE} tokens: short answers are alike by necessity). "
             f"Pairs at {100 * THRESHOLD:.0f}% or more are flagged, with their matching code "
             "<mark>marked</mark> (the starter's lines grey, never marked). Similar code is a reason to look, not a "
             "finding.</p>"]
    for notebook in NOTEBOOKS:
        pairs = sim.pairs.get(notebook, [])
        flagged = sim.flagged(notebook)
        rows = "".join(
            f"<tr><td class=n>{i + 1}</td><td>{_label(labels, p.a)}</td><td>{_label(labels, p.b)}</td>"
            f"<td class=n>{'<span class=flag>' if p.score >= THRESHOLD else ''}{100 * p.score:.0f}%"
            f"{'</span>' if p.score >= THRESHOLD else ''}</td><td class=n>{p.matched} / {p.tokens}</td>"
            f"<td>{html.escape(', '.join(sorted(p.cells)))}</td></tr>"
            for i, p in enumerate(pairs[:len(flagged[:SHOWN_PAIRS]) + SHOWN_BELOW]))
        table = (f"<table><tr><th>#</th><th>student</th><th>student</th><th>score</th><th>matching tokens</th>"
                 f"<th>cells</th></tr>{rows}</table>" if rows else "<p class=muted>No two students share code.</p>")
        more = (f"<p class=muted>{len(flagged) - SHOWN_PAIRS} more flagged pairs in similarity.csv.</p>"
                if len(flagged) > SHOWN_PAIRS else "")
        fragments = "".join(_pair_html(sim, p, labels) for p in flagged[:SHOWN_PAIRS])
        parts.append(f"<h3>{notebook.replace('problem', 'Problem ')}: {len(flagged)} flagged of {len(pairs)} pairs "
                     f"that share code</h3>{table}{more}{fragments}")
    rows = "".join(
        f"<tr><td>{_label(labels, s['a'])}</td><td>{_label(labels, s['b'])}</td><td class=n>{s['same']} "
        f"(of {s['runs_a']} and {s['runs_b']})</td><td class=n>{100 * s['code_score']:.0f}%"
        f"{' <span class=flag>different code</span>' if s['code_differs'] else ''}</td><td>"
        + html.escape("; ".join(f"{r['condition']} {r['n_examples']:,} x {r['epochs']}: {r['accuracy']!r}"
                                for r in s["runs"])) + "</td></tr>" for s in sim.same_runs)
    parts.append("<h3>The numbers: equal problem-5 accuracies</h3><p>Pairs whose networks the grader measured at "
                 f"exactly the same test accuracy in {SAME_RUNS} or more runs (same condition, budget and epochs). "
                 "From different code that points to a pasted experiment; from the same network, layer for layer, "
                 "it is what the grader's fixed seed gives.</p>"
                 + (f"<table><tr><th>student</th><th>student</th><th>equal runs</th><th>problem 5 code</th>"
                    f"<th>accuracies</th></tr>{rows}</table>" if rows else "<p class=muted>None.</p>"))
    return "".join(parts) + "</div>"


def page(sim: Similarity, labels: dict) -> str:
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Problem set 3: code similarity</title><style>body{{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;
max-width:90em;margin:1.5em auto;padding:0 1em;color:#1f2328}}h2{{border-bottom:1px solid #d0d7de}}{CSS}</style>
</head><body><h1>Problem set 3 — code similarity</h1>{section(sim, labels)}</body></html>
"""


def rows(sim: Similarity, labels: dict) -> list[list]:
    """similarity.csv: every pair that shares code, per problem, best first."""
    return [[notebook, labels.get(p.a, p.a), labels.get(p.b, p.b), round(p.score, 4), p.matched, p.tokens,
             p.score >= THRESHOLD, " ".join(sorted(p.cells))]
            for notebook in NOTEBOOKS for p in sim.pairs.get(notebook, [])]


CSV_HEADER = ["problem", "student_a", "student_b", "score", "matched_tokens", "tokens", "flagged", "cells"]


def write(folder: Path, sim: Similarity, labels: dict) -> Path:
    """``folder``/similarity.html and similarity.csv; the page's path."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / PAIRS_CSV, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(CSV_HEADER)
        writer.writerows([csv_cell(v) if isinstance(v, str) else v for v in row] for row in rows(sim, labels))
    path = folder / PAGE
    path.write_text(page(sim, labels), encoding="utf-8")
    return path


def top_lines(sim: Similarity, labels: dict, count: int = 10) -> list[str]:
    """The top pairs as lines for a terminal (labels printable)."""
    pairs = sorted((p for ps in sim.pairs.values() for p in ps), key=lambda p: -p.score)[:count]
    lines = [f"{100 * p.score:5.1f}%  {p.notebook}  {printable(labels.get(p.a, p.a))} ~ "
             f"{printable(labels.get(p.b, p.b))}{'  FLAGGED' if p.score >= THRESHOLD else ''}" for p in pairs]
    lines += [f"equal accuracies in {s['same']} runs: {printable(labels.get(s['a'], s['a']))} ~ "
              f"{printable(labels.get(s['b'], s['b']))} (problem 5 code {100 * s['code_score']:.0f}%)"
              for s in sim.same_runs[:count]]
    return lines
