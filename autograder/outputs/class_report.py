"""The class report: what the whole class got right and wrong, and the class's own data-budget experiment, on one
page an instructor can show in the next lecture.

    python -m autograder report --out grading [--names]      (also written at the end of every batch and export)

writes ``<out>/class-report/``: ``class-report.html`` (self-contained: the figures are embedded), the figures as
PNG and the numbers as CSV and JSON beside it:

- scores: the distribution of points in total and per problem, each cell's outcomes (full points, partial, none,
  waiting for a person), the statuses and how many grades are final;
- for every automatically graded cell, its failures grouped by the grader's named mistake (mistakes.py),
  with counts and one example message each: the message without anything the submission wrote (``scrubbed``);
  failures without a named mistake are counted as "other", and their messages are not shown;
- problem 5's question answered by the class: every submission's six trained networks (plain and augmented,
  10000 x 6, 20000 x 3, 30000 x 2) at the test accuracy the grader measured itself (never the kernel's own
  report), pooled, beside the reference's seeds (docs/budget-experiment.json), and the gain of more distinct
  examples per submission (the same network compared with itself, which removes the spread between networks);
- code similarity, for the instructor only (outputs/similarity.py; no grade depends on it): pairs of students whose
  answer code (without the release's starter code) is alike, ranked per problem with the matching fragments side by
  side, and pairs whose problem-5 networks the grader measured at equal accuracies; the section is folded (a
  ``<details>``) so that the page can still be shown in a lecture. Its code is students' code: escaped.

Nothing identifies a student unless ``names`` is asked for: the page and the files then list who made each mistake
and whose runs are whose; without it, runs are numbered in an order that does not follow the student ids. Points
are the final ones (a person's grades from the gradebook included), as in grades.csv.

Student ids (folder names: any text) and example messages are shown printable and capped (``text``), escaped on the
page, and the CSV files' text cells are cells no spreadsheet runs as formulas.
"""

from __future__ import annotations

import base64
import csv
import hashlib
import html
import importlib
import io
import json
import math
import statistics
from collections import Counter
from datetime import datetime, timezone
from pathlib import Path

from ..cells import CELLS, JUDGED
from ..course import NOTEBOOKS, ROOT
from ..mistakes import MISTAKES, OTHER, title
from ..results import UNFINISHED, ResultStore, SubmissionResult
from ..text import MESSAGE_LIMIT, cap, csv_cell, printable
from . import gradebook, grading_folder, similarity
from .reports import shown_name

FOLDER = "class-report"
PAGE = "class-report.html"
REFERENCE = ROOT / "docs" / "budget-experiment.json"
# Problem 5's experiment (mnist_lab.experiment's BUDGETS, REFERENCE_EPOCHS and CONDITIONS, and handin's floor;
# repeated here so that a report needs no torch).
BUDGETS = (10000, 20000, 30000)
EPOCHS = {10000: 6, 20000: 3, 30000: 2}
CONDITIONS = ("plain", "augmented")
FLOOR = 0.90
NOT_SCORED = ("error", UNFINISHED)  # their points are no grade: counted among the statuses, not the scores
STATUSES = ("graded", "incomplete", "empty", "error", UNFINISHED)
OUTCOMES = ("full points", "partial", "no points", "waits for a person")
COLORS = {"full points": "#2da44e", "partial": "#d4a72c", "no points": "#cf222e", "waits for a person": "#8c959f",
          "final": "#0969da", "pending": "#9ecbff"}
DPI = 120


def load_results(out: Path) -> list[SubmissionResult]:
    """The saved results of a grading folder with the gradebook's word (a person's grades), as export reads them."""
    results = ResultStore(Path(out) / "results").load_all()
    try:
        url = grading_folder.db_url(Path(out))
    except FileNotFoundError:  # results without a grading folder (a copy of results/ alone)
        return results
    return gradebook.final_results(url, results)


# ----------------------------------------------------------------------------------------------- the numbers

def _outcome(cell) -> str:
    if cell.points is None:
        return "waits for a person"
    if cell.points >= cell.max_points:
        return "full points"
    return "no points" if cell.points <= 0 else "partial"


def _bins(top: float) -> list[float]:
    return [i / 2 for i in range(int(round(2 * top)) + 1)]


def _histogram(values: list[tuple[float, bool]], top: float) -> list[dict]:
    """Students per half point (each value rounded down to its half point): graded, and with answers pending."""
    rows = {b: {"points": b, "final": 0, "pending": 0} for b in _bins(top)}
    for value, pending in values:
        b = min(math.floor(2 * value + 1e-9) / 2, top)
        rows[b]["pending" if pending else "final"] += 1
    return list(rows.values())


def _stats(values: list[float]) -> dict:
    ordered = sorted(values)
    if not ordered:
        return {"count": 0}
    q1, median, q3 = statistics.quantiles(ordered, n=4, method="inclusive") if len(ordered) > 1 else [ordered[0]] * 3
    return {"count": len(ordered), "mean": statistics.fmean(ordered), "median": median, "q1": q1, "q3": q3,
            "min": ordered[0], "max": ordered[-1], "std": statistics.stdev(ordered) if len(ordered) > 1 else 0.0}


def _anonymous(results: list[SubmissionResult]) -> dict[str, str]:
    """student id -> "S001"...: numbered by a hash of the submission and the id, not in the ids' order."""
    order = sorted(results, key=lambda r: hashlib.sha256(f"{r.digest}\0{r.student_id}".encode()).hexdigest())
    width = max(3, len(str(len(order))))
    return {r.student_id: f"S{i + 1:0{width}d}" for i, r in enumerate(order)}


def labels(results: list[SubmissionResult], names: bool = False, others=()) -> dict[str, str]:
    """student id -> what the report shows: the id (``names``) or the report's anonymous number; students of
    ``others`` without a result (notebooks in the folder, not graded yet) get "U001"..., numbered the same way."""
    shown = ({r.student_id: shown_name(r.student_id) for r in results} if names else _anonymous(results))
    rest = sorted((s for s in set(others) if s not in shown), key=lambda s: hashlib.sha256(s.encode()).hexdigest())
    width = max(3, len(str(len(rest))))
    shown.update({s: shown_name(s) if names else f"U{i + 1:0{width}d}" for i, s in enumerate(rest)})
    return shown


def similarity_of(out: Path, results: list[SubmissionResult]):
    """The grading folder's code similarity (similarity.compare on submitted/), or the reason it has none."""
    try:
        submissions = similarity.read_folder(out)
        return similarity.compare(submissions, results) if submissions else None, ""
    except Exception as exc:  # noqa: BLE001 - a similarity that fails never costs the class report
        return None, f"{type(exc).__name__}: {exc}"


def _similarity_summary(sim, shown: dict) -> dict:
    if sim is None:
        return {"students": 0, "flagged": {}, "same_runs": []}
    return {"students": len(sim.students), "threshold": similarity.THRESHOLD,
            "flagged": {notebook: [[shown.get(p.a, p.a), shown.get(p.b, p.b), round(p.score, 4)]
                                   for p in sim.flagged(notebook)] for notebook in NOTEBOOKS},
            "same_runs": [[shown.get(s["a"], s["a"]), shown.get(s["b"], s["b"]), s["same"]] for s in sim.same_runs]}


def _reference_runs(path: Path = REFERENCE) -> list[dict]:
    try:
        data = json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return []
    return [{"seed": run.get("seed"), "condition": run["condition"], "n_examples": run["n_examples"],
             "epochs": run["epochs"], "accuracy": run["test_accuracy"]}
            for run in data.get("runs", []) if run.get("condition") in CONDITIONS and run.get("n_examples") in EPOCHS]


def _paired(runs: list[dict], who: str) -> list[dict]:
    """Per submission (or seed) and condition: the gain of 20000 x 3 and 30000 x 2 over 10000 x 6, in points."""
    by = {}
    for run in runs:
        by.setdefault((run[who], run["condition"]), {})[run["n_examples"]] = run["accuracy"]
    gains = []
    for (owner, condition), accuracy in sorted(by.items(), key=lambda item: str(item[0])):
        if BUDGETS[0] not in accuracy:
            continue
        for n in BUDGETS[1:]:
            if n in accuracy:
                gains.append({who: owner, "condition": condition, "n_examples": n,
                              "gain": 100 * (accuracy[n] - accuracy[BUDGETS[0]])})
    return gains


def summarise(results: list[SubmissionResult], names: bool = False, reference: Path = REFERENCE) -> dict:
    """Every number of the report, JSON-serialisable (the page, the figures and the CSV files show these)."""
    scored = [r for r in results if r.status not in NOT_SCORED]
    ids = {r.student_id: shown_name(r.student_id) for r in results} if names else _anonymous(results)
    problems = {name: sum(c.points for c in CELLS if c.notebook == name) for name in NOTEBOOKS}

    def pending_in(r, notebook=None):
        return any(c.points is None for c in r.cells if notebook is None or c.notebook == notebook)

    scores = {"total": _histogram([(r.total_points, pending_in(r)) for r in scored], sum(problems.values()))}
    for name, top in problems.items():
        scores[name] = _histogram([(r.points_of(name), pending_in(r, name)) for r in scored], top)

    cells = []
    for cell in CELLS:
        outcomes = Counter(_outcome(c) for r in scored for c in r.cells if c.grade_id == cell.grade_id)
        cells.append({"grade_id": cell.grade_id, "label": cell.label, "notebook": cell.notebook,
                      "points": cell.points, "written": cell.written,
                      **{outcome: outcomes.get(outcome, 0) for outcome in OUTCOMES}})

    mistakes = []
    for cell in JUDGED:
        failed = [(r, c) for r in scored for c in r.cells
                  if c.grade_id == cell.grade_id and c.points is not None and c.points < c.max_points]
        groups: dict[str, list] = {}
        for r, c in failed:
            groups.setdefault(c.mistake or OTHER, []).append((r, c))
        rows = []
        for key, members in groups.items():
            examples = (Counter(cap(printable(c.scrubbed), MESSAGE_LIMIT) for _, c in members if c.scrubbed)
                        if key != OTHER else Counter())
            example = min(examples.items(), key=lambda item: (-item[1], item[0]))[0] if examples else ""
            row = {"mistake": key, "title": title(key), "named": key in MISTAKES, "count": len(members),
                   "example": example}
            if names:
                row["students"] = sorted(ids[r.student_id] for r, _ in members)
            rows.append(row)
        rows.sort(key=lambda row: (row["mistake"] == OTHER, -row["count"], row["mistake"]))
        mistakes.append({"grade_id": cell.grade_id, "label": cell.label, "graded": sum(
            1 for r in scored for c in r.cells if c.grade_id == cell.grade_id), "failed": len(failed), "groups": rows})

    runs, without, partly = [], 0, 0
    for r in scored:
        mine = [run for run in r.clean_runs
                if run.get("condition") in CONDITIONS and EPOCHS.get(run.get("n_examples")) == run.get("epochs")]
        if not mine:
            without += 1
        elif len(mine) < len(BUDGETS) * len(CONDITIONS):
            partly += 1
        runs += [{"submission": ids[r.student_id], "condition": run["condition"], "n_examples": run["n_examples"],
                  "epochs": run["epochs"], "accuracy": run["accuracy"], "above_floor": run["accuracy"] >= FLOOR}
                 for run in mine]
    runs.sort(key=lambda run: (run["submission"], CONDITIONS.index(run["condition"]), run["n_examples"]))
    reference_runs = _reference_runs(reference)
    pooled = [run for run in runs if run["above_floor"]]
    experiment = {
        "submissions": len({run["submission"] for run in runs}), "without_runs": without, "some_runs": partly,
        "below_floor": len(runs) - len(pooled), "runs": runs, "reference": reference_runs,
        "class": {c: {str(n): _stats([run["accuracy"] for run in pooled
                                      if run["condition"] == c and run["n_examples"] == n]) for n in BUDGETS}
                  for c in CONDITIONS},
        "reference_summary": {c: {str(n): _stats([run["accuracy"] for run in reference_runs
                                                  if run["condition"] == c and run["n_examples"] == n])
                                  for n in BUDGETS} for c in CONDITIONS},
        "gains": _gain_summary(_paired(pooled, "submission")),
        "reference_gains": _gain_summary(_paired(reference_runs, "seed")),
    }
    statuses = Counter(r.status for r in results)
    return {
        "students": len(results), "scored": len(scored), "names": names,
        "statuses": {status: statuses.get(status, 0) for status in STATUSES} | {
            s: n for s, n in statuses.items() if s not in STATUSES},
        "final": sum(1 for r in results if r.final),
        "pending_students": sum(1 for r in scored if r.pending_points),
        "pending_cells": sum(1 for r in scored for c in r.cells if c.points is None),
        "review": sum(1 for r in results if r.review),
        "maximum": sum(problems.values()), "problem_maximum": problems,
        "mean": {"total": statistics.fmean([r.total_points for r in scored]) if scored else None,
                 **{name: statistics.fmean([r.points_of(name) for r in scored]) if scored else None
                    for name in NOTEBOOKS}},
        # the mean of the final grades alone: the mean above counts written answers still pending as 0
        "mean_final": statistics.fmean([r.total_points for r in scored if r.final]) if any(
            r.final for r in scored) else None,
        "scores": scores, "cells": cells, "mistakes": mistakes, "experiment": experiment,
    }


def _gain_summary(gains: list[dict]) -> dict:
    """Per condition and budget: the gains (points), their mean, two standard errors, how many are above 0."""
    summary = {}
    for condition in CONDITIONS:
        for n in BUDGETS[1:]:
            values = [g["gain"] for g in gains if g["condition"] == condition and g["n_examples"] == n]
            entry = {"values": values, "count": len(values)}
            if values:
                entry["mean"] = statistics.fmean(values)
                entry["two_se"] = 2 * statistics.stdev(values) / math.sqrt(len(values)) if len(values) > 1 else None
                entry["higher"] = sum(1 for v in values if v > 0)
                entry["lower"] = sum(1 for v in values if v < 0)
            summary.setdefault(condition, {})[str(n)] = entry
    return summary


# ----------------------------------------------------------------------------------------------- the figures

def import_plotting() -> None:
    """Import what drawing the figures needs (matplotlib: half a second), e.g. in a thread while a batch grades."""
    for module in ("matplotlib.figure", "matplotlib.backends.backend_agg"):
        importlib.import_module(module)


def _figure(width: float, height: float, **grid):
    from matplotlib.figure import Figure  # the Agg canvas: no display, no pyplot state

    fig = Figure(figsize=(width, height), dpi=DPI, layout="constrained")
    return fig, fig.subplots(**grid) if grid else fig.subplots()


def _png(fig) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=DPI)
    return buffer.getvalue()


def scores_figure(summary: dict) -> bytes:
    """Students per half point: in total and per problem; light: written answers still waiting for a person."""
    panels = [("total", "all problems")] + [(name, f"problem {name.removeprefix('problem')}") for name in NOTEBOOKS]
    fig, axes = _figure(12, 3.4, ncols=len(panels), gridspec_kw={"width_ratios": [2.2] + [1] * len(NOTEBOOKS)})
    for ax, (key, name) in zip(axes, panels):
        rows = summary["scores"][key]
        x = [row["points"] for row in rows]
        final = [row["final"] for row in rows]
        pending = [row["pending"] for row in rows]
        ax.bar(x, final, width=0.42, color=COLORS["final"], label="grade final")
        ax.bar(x, pending, width=0.42, bottom=final, color=COLORS["pending"], label="written answers pending")
        top = max(x)
        ax.set_xlim(-0.5, top + 0.5)
        ax.set_xticks([v for v in x if v == int(v) and (top <= 6 or v % 2 == 0)])
        ax.set_title(f"{name} (of {top:g})", fontsize=10)
        ax.set_xlabel("points")
        ax.grid(axis="y", alpha=0.3)
        ax.yaxis.get_major_locator().set_params(integer=True)
        ax.set_axisbelow(True)
    axes[0].set_ylabel("students")
    mean = summary["mean"]["total"]
    if mean is not None:
        axes[0].axvline(mean, color="black", linewidth=1, linestyle="--")
        axes[0].annotate(f"mean {mean:.1f}", (mean, 1), xycoords=("data", "axes fraction"), xytext=(-4, -4),
                         textcoords="offset points", ha="right", va="top", fontsize=8)
    axes[0].legend(loc="upper left", fontsize=8, frameon=False)
    fig.suptitle(f"Points of {summary['scored']} graded submissions", fontsize=11)
    return _png(fig)


def cells_figure(summary: dict) -> bytes:
    """One bar per graded cell, in the notebooks' order: how many students got full points, partial, none, or wait
    for a person."""
    cells = summary["cells"]
    fig, ax = _figure(8.5, 0.32 * len(cells) + 1.6)
    y, row = [], 0.0
    for i, cell in enumerate(cells):  # a gap between the problems
        row += 0.6 if i and cell["notebook"] != cells[i - 1]["notebook"] else 0
        y.append(-row)
        row += 1
    left = [0] * len(cells)
    for outcome in OUTCOMES:
        counts = [cell[outcome] for cell in cells]
        bars = ax.barh(y, counts, left=left, color=COLORS[outcome], label=outcome, height=0.7)
        for bar, count in zip(bars, counts):
            if count and bar.get_width() >= 0.06 * max(1, summary["scored"]):
                ax.text(bar.get_x() + bar.get_width() / 2, bar.get_y() + bar.get_height() / 2, str(count),
                        ha="center", va="center", fontsize=7.5, color="white")
        left = [a + b for a, b in zip(left, counts)]
    ax.set_yticks(y, [f"{cell['label']}{' (written)' if cell['written'] else ''} · {cell['points']:g} pt"
                      for cell in cells], fontsize=8.5)
    ax.set_xlim(0, max(1, summary["scored"]))
    ax.set_xlabel("students")
    ax.set_title("Each graded cell: who got its points", fontsize=11)
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.12), ncol=4, fontsize=8, frameon=False)
    return _png(fig)


def _jitter(count: int, width: float) -> list[float]:
    """Evenly spread offsets in [-width/2, width/2], in an order that does not follow the values."""
    if count <= 1:
        return [0.0] * count
    return [((i * 0.618034) % 1 - 0.5) * width for i in range(count)]


def _limits(values: list[float]) -> tuple[float, float]:
    """The accuracy axis (in %): every value, unless a few lie far below the rest (then from the 1st percentile,
    and those are marked on the axis's edge); at least 1.5 points, as the reference plot (mnist_lab.experiment)."""
    import numpy as np

    if not values:
        return 97.0, 99.5
    array = np.array(values)
    low, high = array.min(), array.max()
    if low < np.percentile(array, 1) - 0.5:
        low = np.percentile(array, 1) - 0.1
    middle, half = (low + high) / 2, max(0.75, (high - low) / 2 + 0.15)
    return middle - half, min(100.0, middle + half)


def experiment_figure(summary: dict) -> bytes:
    """Left: test accuracy of every submission's networks per condition and budget (dots), the middle half of the
    class (bar) and its median (line), the reference's seeds (diamonds). Right: per submission, the gain of more
    distinct examples over 10000 x 6 (the same network compared with itself), with the reference's seeds."""
    experiment = summary["experiment"]
    fig, (ax, gain_ax) = _figure(12.5, 5.2, ncols=2, gridspec_kw={"width_ratios": [1.3, 1]})
    step, colors = 2400, {"plain": "C0", "augmented": "C1"}  # a condition's dots, bar and seeds share its step
    pooled = [run for run in experiment["runs"] if run["above_floor"]]
    seeds = len({run["seed"] for run in experiment["reference"]})
    bottom, top = _limits([100 * run["accuracy"] for run in pooled + experiment["reference"]])
    handles = []
    for index, condition in enumerate(CONDITIONS):
        color = colors[condition]
        shift = (index - (len(CONDITIONS) - 1) / 2) * step
        stats = experiment["class"][condition]
        xs, medians = [], []
        for n in BUDGETS:
            dots, bar, diamonds = n + shift - 0.2 * step, n + shift + 0.13 * step, n + shift + 0.32 * step
            accs = [100 * run["accuracy"] for run in pooled if run["condition"] == condition and run["n_examples"] == n]
            low = [a < bottom for a in accs]
            ax.scatter([dots + o for o, out in zip(_jitter(len(accs), 0.36 * step), low) if not out],
                       [a for a, out in zip(accs, low) if not out], s=16, color=color, alpha=0.7,
                       edgecolor="white", linewidth=0.4, zorder=3)
            if any(low):  # far below the rest: a mark on the axis's edge, with the count
                ax.scatter([dots], [bottom], marker="v", s=28, color=color, clip_on=False, zorder=4)
                ax.annotate(f"{sum(low)} below", (dots, bottom), xytext=(0, 6), textcoords="offset points",
                            ha="center", fontsize=7, color=color)
            if accs:
                s = stats[str(n)]
                ax.vlines(bar, 100 * s["q1"], 100 * s["q3"], color=color, linewidth=7, alpha=0.45, zorder=2)
                xs.append(bar)
                medians.append(100 * s["median"])
            refs = [100 * run["accuracy"] for run in experiment["reference"]
                    if run["condition"] == condition and run["n_examples"] == n]
            ax.scatter([diamonds] * len(refs), refs, marker="D", s=24, facecolor="white", edgecolor=color,
                       linewidth=1.4, zorder=5)
        count = stats[str(BUDGETS[0])].get("count", 0)
        line, = ax.plot(xs, medians, marker="_", markersize=14, markeredgewidth=2.5, linewidth=1.5, color=color,
                        zorder=4, label=f"{condition}: class median, middle half ({count} submissions)")
        handles += [line, ax.scatter([], [], marker="D", s=24, facecolor="white", edgecolor=color, linewidth=1.4,
                                     label=f"{condition}: reference solution ({seeds} seeds)")]
    ax.set_ylim(bottom, top)
    ax.set_xticks(list(BUDGETS), [f"{n:,}\nx {EPOCHS[n]} epochs" for n in BUDGETS])
    ax.set_xlim(BUDGETS[0] - 1.1 * step, BUDGETS[-1] + 1.1 * step)
    ax.set_xlabel("distinct training examples x epochs (the same number of steps)")
    ax.set_ylabel("test accuracy (%)")
    ax.set_title("More distinct examples, or more passes over fewer?\nEvery submission's networks (one dot each)",
                 fontsize=10.5)
    ax.grid(alpha=0.3)
    ax.legend(handles=handles, loc="upper center", bbox_to_anchor=(0.5, -0.2), ncol=2, fontsize=8, frameon=False)

    positions, labels = [], []
    for index, condition in enumerate(CONDITIONS):
        color = colors[condition]
        for j, n in enumerate(BUDGETS[1:]):
            x = index * 2.8 + j * 1.2
            positions.append(x)
            labels.append(f"{condition}\n{n:,} x {EPOCHS[n]}")
            entry = experiment["gains"][condition][str(n)]
            values = entry["values"]
            gain_ax.scatter([x - 0.12 + o for o in _jitter(len(values), 0.4)], values, s=16, color=color, alpha=0.7,
                            edgecolor="white", linewidth=0.4, zorder=3)
            if values:
                error = entry["two_se"] or 0
                gain_ax.errorbar([x - 0.12], [entry["mean"]], yerr=[error], fmt="_", markersize=18,
                                 markeredgewidth=2.5, color="black", capsize=4, zorder=5)
                gain_ax.text(x, 0.98, f"mean\n{entry['mean']:+.2f}", transform=gain_ax.get_xaxis_transform(),
                             ha="center", va="top", fontsize=8.5, fontweight="bold", linespacing=1.1)
            refs = experiment["reference_gains"][condition][str(n)]["values"]
            gain_ax.scatter([x + 0.3] * len(refs), refs, marker="D", s=24, facecolor="white", edgecolor=color,
                            linewidth=1.4, zorder=5)
    gain_ax.axhline(0, color="black", linewidth=0.8)
    low, high = gain_ax.get_ylim()
    gain_ax.set_ylim(low, high + 0.16 * (high - low))  # room for the means above the dots
    gain_ax.set_xticks(positions, labels, fontsize=8.5)
    gain_ax.set_xlim(min(positions) - 0.7, max(positions) + 0.7)
    gain_ax.set_ylabel("accuracy gain over 10,000 x 6 epochs (points)")
    gain_ax.set_title("The same network with more distinct examples:\ngain per submission", fontsize=10.5)
    gain_ax.grid(alpha=0.3)
    handles = [gain_ax.scatter([], [], s=16, color="gray", alpha=0.7, label="one submission"),
               gain_ax.errorbar([], [], yerr=[], fmt="_", color="black", markersize=12, markeredgewidth=2.5,
                                capsize=4, label="class mean ± 2 SE"),
               gain_ax.scatter([], [], marker="D", s=24, facecolor="white", edgecolor="gray", linewidth=1.4,
                               label="reference seeds")]
    gain_ax.legend(handles=handles, loc="upper center", bbox_to_anchor=(0.5, -0.2), ncol=3, fontsize=8,
                   frameon=False)
    return _png(fig)


# ----------------------------------------------------------------------------------------------- the page

CSS = """body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;max-width:75em;margin:1.5em auto;padding:0 1em;
color:#1f2328}h1{margin-bottom:.2em}h2{margin-top:1.8em;border-bottom:1px solid #d0d7de;padding-bottom:.2em}
.muted{color:#656d76}.chips span{display:inline-block;margin:.2em .4em .2em 0;padding:.25em .7em;border-radius:1em;
background:#f6f8fa;border:1px solid #d0d7de}.chips b{font-size:1.1em}img{max-width:100%;height:auto}
table{border-collapse:collapse;margin:.4em 0 1.2em}td,th{border-bottom:1px solid #eaeef2;padding:.3em .6em;
text-align:left;vertical-align:top}th{background:#f6f8fa}td.n{text-align:right;font-variant-numeric:tabular-nums}
.bar{display:inline-block;height:.8em;background:#cf222e;opacity:.7;vertical-align:middle;margin-right:.4em}
.other .bar{background:#8c959f}.example{font-family:ui-monospace,monospace;font-size:.85em;color:#57606a;
max-width:48em}.cell h3{margin:.9em 0 .2em;font-size:1.05em}
.cell table{width:100%;table-layout:fixed}.cell th:first-child{width:130px}
.cell th:nth-child(2){width:4em}.cell th:nth-child(3){width:30%}
.answer{background:#ddf4ff;border-left:4px solid #0969da;
padding:.6em 1em}"""


def _img(name: str, png: bytes, alt: str) -> str:
    return (f'<img src="data:image/png;base64,{base64.b64encode(png).decode()}" alt="{html.escape(alt)}" '
            f'data-file="{html.escape(name)}">')


def _of(count: int, noun: str) -> str:
    """"1 student", "2 students": a count as a reader says it."""
    return f"{count} {noun}{'' if count == 1 else 's'}"


def _pct(value) -> str:
    return "–" if value is None else f"{100 * value:.2f}"


def _experiment_html(summary: dict) -> str:
    e = summary["experiment"]
    rows = []
    for condition in CONDITIONS:
        for n in BUDGETS:
            c, r = e["class"][condition][str(n)], e["reference_summary"][condition][str(n)]
            rows.append(f"<tr><td>{condition}</td><td>{n:,} x {EPOCHS[n]}</td><td class=n>{c['count']}</td>"
                        f"<td class=n>{_pct(c.get('median'))}</td>"
                        f"<td class=n>{_pct(c.get('q1'))} – {_pct(c.get('q3'))}</td>"
                        f"<td class=n>{_pct(c.get('mean'))}</td><td class=n>{r['count']}</td>"
                        f"<td class=n>{_pct(r.get('mean'))}</td></tr>")
    answers = []
    for condition in CONDITIONS:
        for n in BUDGETS[1:]:
            g = e["gains"][condition][str(n)]
            ref = e["reference_gains"][condition][str(n)]
            if not g["count"]:
                continue
            spread = ("" if g.get("two_se") is None else " (every submission gained the same)" if g["two_se"] == 0
                      else f" ± {g['two_se']:.2f}")
            error_bars = " (2 standard errors)" if g.get("two_se") else ""
            reference = f"; the reference's {ref['count']} seeds: {ref['mean']:+.2f}" if ref["count"] else ""
            answers.append(f"<li><b>{condition}</b>, {n:,} x {EPOCHS[n]} instead of 10,000 x 6: "
                           f"<b>{g['mean']:+.2f} points</b> on average{spread}{error_bars}"
                           f"; higher in {g['higher']} of {_of(g['count'], 'submission')}, lower in {g['lower']}"
                           f"{reference}.</li>")
    left_out = [f"{e['without_runs']} graded submission(s) trained no network the grader could measure (problem 5 "
                "not done, failing, or runs with other epochs) and contribute nothing"]
    if e["some_runs"]:
        left_out.append(f"{e['some_runs']} contribute only some of their six runs (the grader measures a condition's "
                        "runs only once its checks before them pass, e.g. an augmentation that fails 5c's rules)")
    if e["below_floor"]:
        left_out.append(f"{e['below_floor']} run(s) below the {100 * FLOOR:.0f}% accuracy floor are left out of the "
                        "plot and the numbers (they are in runs.csv)")
    return f"""<h2 id="experiment">The class's own experiment (problem 5)</h2>
<p>Every submission trained the same network six times: plain and augmented, on 10,000 examples for 6 epochs, 20,000
for 3 and 30,000 for 2 (the same number of steps). The grader measured each trained network on the MNIST test set
itself. Here are {len([r for r in e['runs'] if r['above_floor']])} runs of {e['submissions']} submissions, beside the
reference solution's seeds.</p>
{_img('experiment.png', summary['_png']['experiment.png'], 'test accuracy per training budget: class, reference')}
<div class="answer"><p><b>The class's answer:</b> the same network, trained with more distinct examples instead of
more passes over fewer:</p><ul>{''.join(answers) or '<li>no submission has runs to compare</li>'}</ul></div>
<table><tr><th>condition</th><th>budget</th><th>runs</th><th>median %</th><th>middle half %</th><th>mean %</th>
<th>reference seeds</th><th>reference mean %</th></tr>{''.join(rows)}</table>
<p class="muted">{'; '.join(html.escape(text) for text in left_out)}.</p>"""


def _mistakes_html(summary: dict) -> str:
    parts, clean = [], []
    for cell in summary["mistakes"]:
        if not cell["failed"]:
            clean.append(cell["label"])
            continue
        rows = []
        for group in cell["groups"]:
            share = group["count"] / max(1, cell["graded"])
            example = (html.escape(group["example"]) if group["example"] else
                       '<span class="muted">(messages not shown: they may quote the submission)</span>'
                       if group["mistake"] == OTHER else "")
            who = (f"<td>{html.escape(', '.join(group['students']))}</td>" if summary["names"] else "")
            rows.append(f"<tr class='{'other' if group['mistake'] == OTHER else 'named'}'>"
                        f"<td><span class=bar style='width:{max(2, round(share * 120))}px'></span></td>"
                        f"<td class=n>{group['count']}</td><td>{html.escape(group['title'])}</td>"
                        f"<td class=example>{example}</td>{who}</tr>")
        head = "<th>students</th>" if summary["names"] else ""
        parts.append(f"<div class=cell><h3>{html.escape(cell['label'])} <span class=muted>({cell['failed']} "
                     f"of {_of(cell['graded'], 'submission')} failed)</span></h3><table><tr><th></th><th>count</th>"
                     f"<th>mistake</th><th>example message</th>{head}</tr>{''.join(rows)}</table></div>")
    note = (f"<p class=muted>No failures: {html.escape(', '.join(clean))}.</p>" if clean else "")
    return f"""<h2 id="mistakes">What the class got wrong</h2>
<p>Each automatically graded cell's failures, grouped by the grader's named mistake (the grader recognises known
wrong answers by their value, not their spelling), most frequent first. The example is the grader's own message;
anything a submission wrote is shown as "…".</p>{''.join(parts)}{note}"""


def _similarity_html(sim, shown: dict, failed: str = "") -> str:
    """The "Code similarity" section: folded (the page may be shown in a lecture; this part is the instructor's)."""
    if failed:
        return ('<h2 id="similarity">Code similarity</h2><p class=muted>Not computed: '
                f"{html.escape(printable(failed)[:300])}</p>")
    if sim is None:
        return similarity.section(None, shown)
    counts = ", ".join(f"{name.replace('problem', 'problem ')}: {len(sim.flagged(name))}" for name in NOTEBOOKS)
    return (f'<h2 id="similarity">Code similarity</h2><p>For the instructor only, no grade depends on it. Flagged '
            f"pairs of {_of(len(sim.students), 'student')}: {html.escape(counts)}; equal problem-5 accuracies: "
            f"{len(sim.same_runs)} pair(s).</p><details id=similarity-details><summary>Show the pairs and their "
            f"code (students' code: not for a lecture)</summary>{similarity.section(sim, shown, heading=False)}"
            "</details>")


def page(summary: dict) -> str:
    statuses = "".join(f"<span>{html.escape(status)} <b>{count}</b></span>"
                       for status, count in summary["statuses"].items() if count or status == "graded")
    names = ("Names are shown (--names)." if summary["names"] else
             "No names: python -m autograder report --names shows who made each mistake.")
    means = ", ".join(f"{name.replace('problem', 'problem ')} {summary['mean'][name]:.2f} of "
                      f"{summary['problem_maximum'][name]:g}"
                      for name in NOTEBOOKS if summary["mean"][name] is not None)
    total = summary["mean"]["total"]
    so_far, pending_of = "", _of(summary["pending_students"], "student")
    if summary["pending_students"]:  # a mean that counts pending written answers as 0 is not a class's mean
        final = summary["mean_final"]
        so_far = (f", so far: written answers still to grade count 0 here ({pending_of}); the "
                  f"{_of(summary['final'], 'final grade')} alone: mean "
                  f"{'–' if final is None else f'{final:.2f}'}")
    pngs = summary["_png"]
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Problem set 3: class report</title><style>{CSS}{similarity.CSS}</style></head><body>
<h1>Problem set 3 — class report</h1>
<p class="muted">{summary['students']} submissions; written {html.escape(summary['written'])}. {html.escape(names)}</p>
<div class="chips">{statuses}<span>final grades <b>{summary['final']}</b></span>
<span>written answers to grade <b>{summary['pending_cells']}</b> ({pending_of})</span>
<span>flagged for review <b>{summary['review']}</b></span></div>
<h2 id="scores">Scores</h2>
<p>Mean {'–' if total is None else f'{total:.2f}'} of {summary['maximum']:g} points ({html.escape(means)}){so_far};
submissions whose grading failed or is unfinished are not among the {summary['scored']} scored.</p>
{_img('scores.png', pngs['scores.png'], 'histograms of points, in total and per problem')}
{_img('cells.png', pngs['cells.png'], 'outcomes of every graded cell')}
{_mistakes_html(summary)}
{_experiment_html(summary)}
{summary.get('_similarity', '')}
<p class="muted">The numbers beside this page: summary.json, cells.csv, mistakes.csv, runs.csv, scores.csv; the figures
as PNG.</p>
</body></html>
"""


def _write_csv(path: Path, header: list[str], rows) -> None:
    """Numbers as they are; text (ids, example messages) as cells a spreadsheet shows as text."""
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(header)
        writer.writerows([csv_cell(v) if isinstance(v, str) else v for v in row] for row in rows)


def write_report(out: Path, results: list[SubmissionResult] | None = None, names: bool = False,
                 reference: Path = REFERENCE) -> Path:
    """Write the class report of the grading folder ``out`` (of ``results``, default: its saved results with the
    gradebook's grades) into ``out/class-report``; return the page's path."""
    out = Path(out)
    if results is None:
        results = load_results(out)
    summary = summarise(results, names, reference)
    sim, failed = similarity_of(out, results)
    shown = labels(results, names, sim.students if sim else ())
    summary["similarity"] = _similarity_summary(sim, shown)
    summary["written"] = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    folder = out / FOLDER
    folder.mkdir(parents=True, exist_ok=True)
    pngs = {"scores.png": scores_figure(summary), "cells.png": cells_figure(summary),
            "experiment.png": experiment_figure(summary)}
    for name, png in pngs.items():
        (folder / name).write_bytes(png)
    (folder / "summary.json").write_text(json.dumps(summary, indent=1))
    _write_csv(folder / "cells.csv", ["grade_id", "label", "points", "written", *OUTCOMES],
               ([c["grade_id"], c["label"], c["points"], c["written"], *(c[o] for o in OUTCOMES)]
                for c in summary["cells"]))
    _write_csv(folder / "mistakes.csv", ["grade_id", "label", "mistake", "title", "count", "example"]
               + (["students"] if names else []),
               ([cell["grade_id"], cell["label"], g["mistake"], g["title"], g["count"], g["example"]]
                + (["; ".join(g["students"])] if names else [])
                for cell in summary["mistakes"] for g in cell["groups"]))
    _write_csv(folder / "runs.csv", ["submission", "condition", "n_examples", "epochs", "accuracy", "above_floor"],
               ([r["submission"], r["condition"], r["n_examples"], r["epochs"], r["accuracy"], r["above_floor"]]
                for r in summary["experiment"]["runs"]))
    _write_csv(folder / "scores.csv", ["scope", "points", "final", "pending"],
               ([scope, row["points"], row["final"], row["pending"]]
                for scope, rows in summary["scores"].items() for row in rows))
    summary["_png"] = pngs
    summary["_similarity"] = _similarity_html(sim, shown, failed)
    path = folder / PAGE
    path.write_text(page(summary), encoding="utf-8")
    return path
