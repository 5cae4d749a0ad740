"""Code similarity (outputs/similarity.py) on a cohort with planted copies (tests/similarity_cohort.py): every
planted pair ranks above every honest pair, the obvious one-liners never flag a pair, starter code never counts,
the numbers signal finds a pasted experiment, hostile code is escaped; the class report's section and the
`similarity` command. No kernels, no training."""

import csv
import itertools
import json

import pytest

import similarity_cohort as cohort
from autograder import cli
from autograder.course import ASSIGNMENT, NOTEBOOKS, release_dir
from autograder.outputs import class_report, similarity
from autograder.outputs.class_report import FOLDER, PAGE, write_report
from autograder.results import CellResult, ResultStore, SubmissionResult


@pytest.fixture(scope="module")
def notebooks():
    return cohort.notebooks()


@pytest.fixture(scope="module")
def sim(notebooks):
    return similarity.compare(notebooks)


def scores(sim) -> dict:
    """(student, student, problem) -> score, for every pair of the cohort (0 where they share nothing)."""
    found = {(a, b, nb): 0.0 for a, b in itertools.combinations(sorted(sim.students), 2) for nb in NOTEBOOKS}
    for nb, pairs in sim.pairs.items():
        for p in pairs:
            found[(p.a, p.b, nb)] = p.score
    return found


def test_every_planted_pair_ranks_above_every_honest_pair(sim):
    planted = {(a, b, nb) for (a, b), problems in cohort.planted().items() for nb in problems}
    all_scores = scores(sim)
    planted_scores = {key: all_scores[key] for key in planted}
    honest = {key: s for key, s in all_scores.items() if key not in planted}
    assert min(planted_scores.values()) > max(honest.values()), (planted_scores, sorted(
        honest.items(), key=lambda kv: -kv[1])[:5])
    # and the report's threshold lies between: exactly the planted pairs are flagged
    assert min(planted_scores.values()) >= similarity.THRESHOLD > max(honest.values())
    flagged = {(p.a, p.b, nb) for nb in NOTEBOOKS for p in sim.flagged(nb)}
    assert flagged == planted
    # per problem too: the first-ranked pairs of each problem are the planted ones
    for nb in NOTEBOOKS:
        ours = {(a, b) for a, b, problem in planted if problem == nb}
        assert {(p.a, p.b) for p in sim.pairs[nb][:len(ours)]} == ours


def test_the_obvious_one_liners_stay_below_the_threshold(sim):
    a, b = cohort.honest_short()
    # they do write the same short answers: the engine sees them ...
    assert sim.answers[(a, "delta_output")].own_code == sim.answers[(b, "delta_output")].own_code
    assert sim.answers[(a, "epochs_for")].own_code.strip() == "return 60000 // n_examples"
    shared = {p.notebook: p for ps in sim.pairs.values() for p in ps if (p.a, p.b) == (a, b)}
    assert set(shared.get("problem6", similarity.Pair(a, b, "")).cells) <= {
        "delta_output", "delta_pool", "delta_conv", "grad_conv_weight", "grad_conv_bias"}
    # ... and the one-liners too short for a fingerprint (returnV//V...) match nothing at all
    assert "delta_output" not in shared.get("problem6", similarity.Pair(a, b, "")).cells
    assert "epochs_for" not in shared.get("problem5", similarity.Pair(a, b, "")).cells
    assert all(p.score < similarity.THRESHOLD for p in shared.values()), shared


def test_the_disguised_copy_is_renamed_and_reordered(notebooks, sim):
    orig = {n: json.loads(t) for n, t in notebooks["orig_b"].items()}
    copy = {n: json.loads(t) for n, t in notebooks["copy_b"].items()}
    assert orig != copy
    a, b = ("".join(sim.answers[(s, "build_cnn")].lines) for s in ("orig_b", "copy_b"))
    assert "self.conv1" in a and "self.conv1" not in b  # renamed
    assert a.index("class ") < a.index("def build_cnn") and b.index("def build_cnn") < b.index("class ")  # reordered
    pair = next(p for p in sim.pairs["problem5"] if (p.a, p.b) == ("copy_b", "orig_b"))
    assert pair.score > 0.8


def test_starter_code_never_counts_and_is_never_marked(sim):
    starters = similarity.starter_cells()
    assert set(starters) == {"build_cnn", "epochs_for", "make_augmentation", "delta_output", "delta_pool",
                             "delta_conv", "grad_conv_weight", "grad_conv_bias", "conv_net_backward",
                             "relu_chain_gradient", "gradient_is_stable", "activations"}
    # an untouched cell is all starter: nothing of it is the student's
    untouched = similarity.answer("x", "activations", "problem7", starters["activations"][1],
                                  starters["activations"][1])
    assert not any(untouched.own) and untouched.own_code == ""
    # two students who hand in the release untouched share nothing
    release = {"s1": {}, "s2": {}}
    for s in release:
        for nb in NOTEBOOKS:
            release[s][f"{nb}.ipynb"] = (release_dir() / f"{nb}.ipynb").read_text()
    assert not any(similarity.compare(release).pairs.values())
    # the verbatim copy's fragments: the docstrings and signatures handed out are grey, never marked
    pair = next(p for p in sim.pairs["problem7"] if (p.a, p.b) == ("copy_a", "orig_a"))
    text = similarity._pair_html(sim, pair, {})
    for line in text.split("\n"):
        if '"""' in line or "def leaky_relu(x, alpha=0.01):" in line:
            assert "<mark>" not in line and 'class="given"' in line, line
    assert "<mark>" in text


def test_the_numbers_find_a_pasted_experiment(notebooks):
    def result(student, accuracies, condition_shift=0.0):
        runs = [{"condition": cond, "n_examples": n, "epochs": e, "accuracy": acc + condition_shift}
                for (cond, n, e), acc in zip([("plain", 10000, 6), ("plain", 20000, 3), ("plain", 30000, 2),
                                              ("augmented", 10000, 6), ("augmented", 20000, 3),
                                              ("augmented", 30000, 2)], accuracies)]
        return SubmissionResult(student, student, "graded", cells=[
            CellResult("problem5", "p5a_tests", 2, 2, runs=runs[:3]),
            CellResult("problem5", "p5c_tests", 1, 1, runs=runs[3:])])

    pasted = [0.9841, 0.9867, 0.9873, 0.9852, 0.9879, 0.9888]
    results = [result("ann", pasted), result("ben", pasted),
               result("cem", [0.9841, 0.9861, 0.9870, 0.9850, 0.9871, 0.9880]),  # one equal run: chance
               result("dan", [a + 1e-12 for a in pasted])]  # not equal to every digit
    found = similarity.same_runs(results, {"problem5": []})
    assert [(f["a"], f["b"], f["same"]) for f in found] == [("ann", "ben", 6)]
    assert found[0]["code_differs"] and found[0]["code_score"] == 0.0
    # with the planted cohort's notebooks: the pair shows on the page, with its code score beside it
    sim = similarity.compare({"ann": notebooks["orig_a"], "ben": notebooks["orig_b"]}, results)
    assert [(f["a"], f["b"], f["code_differs"]) for f in sim.same_runs] == [("ann", "ben", True)]
    assert "different code" in similarity.section(sim, {"ann": "S1", "ben": "S2"})
    # the same networks' equal runs are listed too, but not as different code
    sim = similarity.compare({"ann": notebooks["orig_a"], "ben": notebooks["copy_a"]}, results)
    assert [(f["a"], f["b"], f["code_differs"]) for f in sim.same_runs] == [("ann", "ben", False)]


def test_hostile_code_is_escaped_and_ids_stay_hidden(notebooks):
    evil = '</pre><script>alert(1)</script><img src=x onerror=alert(2)>'
    hostile = cohort.c.ok("conv_net_backward", f'note = "{evil}"  # </details>\n' + cohort.c.BACKWARD_LOOPS.code)
    students = {name: cohort.S(name, 1000 + i, "", hostile, cohort.c.GW_LOOPS, cohort.c.DPOOL_LOOP)
                for i, name in enumerate(["<b>evil</b>", "mallory\u202e"])}
    subs = {name: {f"{nb}.ipynb": cohort.notebook(s, nb) for nb in NOTEBOOKS} for name, s in students.items()}
    sim = similarity.compare(subs)
    assert sim.flagged("problem6")
    labels = {"<b>evil</b>": "S1", "mallory\u202e": "S2"}
    text = similarity.page(sim, labels)
    assert "<script" not in text and "<img" not in text and "&lt;script&gt;" in text
    assert "<b>evil</b>" not in text and "mallory" not in text
    named = similarity.page(sim, {s: s for s in subs})
    assert "&lt;b&gt;evil&lt;/b&gt;" in named and "\u202e" not in named


def grading_folder(tmp_path, notebooks, results=()):
    for student, files in notebooks.items():
        folder = tmp_path / "submitted" / student / ASSIGNMENT
        folder.mkdir(parents=True)
        for name, text in files.items():
            (folder / name).write_text(text)
    store = ResultStore(tmp_path / "results")
    for r in results:
        store.save(r)
    return tmp_path


def test_the_similarity_command(tmp_path, notebooks, capsys):
    out = grading_folder(tmp_path, notebooks)
    assert cli.main(["similarity", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "FLAGGED" in printed and "orig_a" not in printed  # the report's numbers, not the ids
    page = (out / similarity.FOLDER / similarity.PAGE).read_text()
    assert 'id="similarity"' in page and "<mark>" in page and "orig_a" not in page
    with open(out / similarity.FOLDER / similarity.PAIRS_CSV, newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert sum(1 for r in rows if r["flagged"] == "True") == sum(len(p) for p in cohort.planted().values())
    assert cli.main(["similarity", "--out", str(out), "--names"]) == 0
    assert "copy_a ~ orig_a" in capsys.readouterr().out
    page = (out / similarity.FOLDER / similarity.PAGE).read_text()
    assert "orig_a" in page
    assert cli.main(["similarity", "--out", str(tmp_path / "nothing")]) == 2


def test_the_class_report_has_the_section(tmp_path, notebooks):
    out = grading_folder(tmp_path, notebooks)
    page = write_report(out, [])
    text = page.read_text()
    assert '<h2 id="similarity">Code similarity</h2>' in text and "<details id=similarity-details>" in text
    assert "problem 7: 3" in text and "<mark>" in text
    assert not any(student in text for student in notebooks)  # no names: numbers only
    summary = json.loads((out / FOLDER / "summary.json").read_text())
    assert [len(summary["similarity"]["flagged"][nb]) for nb in NOTEBOOKS] == [2, 2, 3]
    assert {p.name for p in page.parent.iterdir()} == {PAGE, "scores.png", "cells.png", "experiment.png",
                                                       "summary.json", "cells.csv", "mistakes.csv", "runs.csv",
                                                       "scores.csv"}
    # --names: the ids (the page itself is the same code: one write_report is enough for a fast test)
    sim, failed = class_report.similarity_of(out, [])
    named = class_report._similarity_html(sim, class_report.labels([], True, sim.students), failed)
    assert not failed and "copy_a" in named and "orig_a" in named
