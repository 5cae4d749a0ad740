"""The code-similarity check (autograder/outputs/similarity.py) at a class's scale: 300 synthetic students, each
answer cell a random answer of tests/cohort.py's libraries, renamed, with numbers changed and lines swapped
(tests/similarity_cohort.py's ``mixed_cohort``), with three planted copies. Times the whole computation (reading
the notebooks' answer cells, starter subtraction, fingerprints, the inverted index, comparisons) and, for
comparison, the same with every pair compared (n^2); appends the result line to
benchmarks/results/similarity-cpu.log.

    .venv/bin/python benchmarks/bench_similarity.py [--students 300] [--no-brute-force]
        [--compare50 /path/to/venv/bin/python]   (also time and rank with compare50, installed in that venv)

With --compare50, the planted cohort's precision (planted pairs among the top-ranked) and the 300 students' time
are measured for compare50 too (CS50's tool; its own CLI on the answer code written to files, with the starter
code as its distro).
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

import similarity_cohort  # noqa: E402
from autograder.course import NOTEBOOKS  # noqa: E402
from autograder.outputs import similarity  # noqa: E402

LOG = ROOT / "benchmarks" / "results" / "similarity-cpu.log"


def planted_into(cohort: dict, rng_seed: int = 1) -> set:
    """Three planted copies among the synthetic students: verbatim, disguised, one problem; their pairs."""
    names = sorted(cohort)
    a, b, c = names[0], names[1], names[2]
    cohort["copy_verbatim"] = dict(cohort[a])
    cohort["copy_disguised"] = {f: similarity_cohort._disguised(t, rng_seed) for f, t in cohort[b].items()}
    one = dict(cohort[names[3]])
    one["problem7.ipynb"] = cohort[c]["problem7.ipynb"]
    cohort["copy_problem7"] = one
    return {tuple(sorted(p)) + (nb,) for p, nbs in [((a, "copy_verbatim"), NOTEBOOKS),
                                                    ((b, "copy_disguised"), NOTEBOOKS),
                                                    ((c, "copy_problem7"), ("problem7",))] for nb in nbs}


def precision(sim, planted: set) -> float:
    """Planted (pair, problem)s among the top len(planted) pairs of all problems."""
    ranked = sorted(((p.score, (p.a, p.b, nb)) for nb, ps in sim.pairs.items() for p in ps), reverse=True)
    top = {key for _, key in ranked[:len(planted)]}
    return len(top & planted) / len(planted)


def write_answer_files(submissions: dict, folder: Path) -> tuple[Path, Path]:
    """Each student's answer cells (full cells, as compare50 strips the distro itself) as one file per problem;
    the starter cells as the distro."""
    starters = similarity.starter_cells()
    subs, distro = folder / "subs", folder / "distro"
    distro.mkdir(parents=True)
    for nb in NOTEBOOKS:
        (distro / f"{nb}.py").write_text("\n\n".join(code for g, (n, code) in starters.items() if n == nb))
    for student, notebooks in submissions.items():
        answers = similarity.notebook_answers(student, notebooks, starters)
        (subs / student).mkdir(parents=True)
        for nb in NOTEBOOKS:
            (subs / student / f"{nb}.py").write_text("\n\n".join("".join(a.lines) for a in answers.values()
                                                                 if a.notebook == nb))
    return subs, distro


def run_compare50(python: str, submissions: dict, matches: int) -> tuple[float, list[tuple[str, str]]]:
    with tempfile.TemporaryDirectory() as tmp:
        subs, distro = write_answer_files(submissions, Path(tmp))
        out = Path(tmp) / "out"
        start = time.perf_counter()
        subprocess.run([python, "-m", "compare50", *sorted(str(p) for p in subs.iterdir()), "-d",
                        *(str(p) for p in distro.iterdir()), "-o", str(out), "-n", str(matches)],
                       check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
        seconds = time.perf_counter() - start
        ranked = []
        for i in range(1, matches + 1):
            page = out / f"match_{i}.html"
            if not page.is_file():
                break
            found = re.findall(r"/subs/([^/\"<]+)", page.read_text(errors="replace"))
            unique = list(dict.fromkeys(re.sub(r" \(\d+%\)$", "", f).strip() for f in found))[:2]
            ranked.append(tuple(sorted(unique)))
        return seconds, ranked


def main(argv=None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--students", type=int, default=300)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-brute-force", action="store_true")
    parser.add_argument("--compare50", default=None, metavar="PYTHON")
    parser.add_argument("--no-log", action="store_true")
    args = parser.parse_args(argv)

    built = time.perf_counter()
    cohort = similarity_cohort.mixed_cohort(args.students - 3, args.seed)
    planted = planted_into(cohort)
    built = time.perf_counter() - built
    start = time.perf_counter()
    sim = similarity.compare(cohort)
    seconds = time.perf_counter() - start
    flagged = sum(len(sim.flagged(nb)) for nb in NOTEBOOKS)
    found = sum(1 for nb in NOTEBOOKS for p in sim.flagged(nb) if (p.a, p.b, nb) in planted)
    line = (f"copydetect inverted index: {len(cohort)} students, {seconds:.1f} s ({sim.candidates} cell comparisons, "
            f"{sim.common} common fingerprints dropped); flagged {flagged} (problem, pair)s, {found} of the "
            f"{len(planted)} planted; precision at {len(planted)}: {precision(sim, planted):.2f}")
    print(f"cohort built in {built:.1f} s (not timed)")
    print(line)
    lines = [line]
    if not args.no_brute_force:
        start = time.perf_counter()
        brute = similarity.compare(cohort, brute_force=True)
        brute_seconds = time.perf_counter() - start
        same = all([(p.a, p.b, round(p.score, 6)) for p in brute.pairs[nb]]
                   == [(p.a, p.b, round(p.score, 6)) for p in sim.pairs[nb]] for nb in NOTEBOOKS)
        lines.append(f"copydetect every pair (n^2): {brute_seconds:.1f} s ({brute.candidates} cell comparisons); "
                     f"same ranking as the index: {same}")
        print(lines[-1])
    if args.compare50:
        planted_pairs = {(a, b) for a, b, _ in planted}
        test_cohort = similarity_cohort.notebooks()
        small = similarity.compare(test_cohort)
        truth = {(a, b) for a, b in similarity_cohort.planted()}
        c50_seconds, ranked = run_compare50(args.compare50, test_cohort, 10)
        c50_precision = len(set(ranked[:len(truth)]) & truth) / len(truth)
        best = sorted({(p.a, p.b): max(q.score for nb in NOTEBOOKS for q in small.pairs[nb]
                                       if (q.a, q.b) == (p.a, p.b)) for nb in NOTEBOOKS
                       for p in small.pairs[nb]}.items(), key=lambda kv: -kv[1])
        ours = len({pair for pair, _ in best[:len(truth)]} & truth) / len(truth)
        lines.append(f"planted cohort ({len(test_cohort)} students, {len(truth)} planted pairs), precision at "
                     f"{len(truth)} (student pairs): copydetect {ours:.2f}, compare50 {c50_precision:.2f} "
                     f"(compare50's top {len(truth) + 2}: {ranked[:len(truth) + 2]})")
        print(lines[-1])
        c50_seconds, ranked = run_compare50(args.compare50, cohort, 50)
        found50 = len(set(ranked[:len(planted_pairs)]) & planted_pairs)
        lines.append(f"compare50 (structure pass, its CLI): {len(cohort)} students, {c50_seconds:.1f} s; planted "
                     f"student pairs in its top {len(planted_pairs)}: {found50} of {len(planted_pairs)}")
        print(lines[-1])
    if not args.no_log:
        LOG.parent.mkdir(parents=True, exist_ok=True)
        stamp = time.strftime("%Y-%m-%d %H:%M")
        with open(LOG, "a") as fh:
            for line in lines:
                fh.write(f"{stamp} {platform.node()} {os.cpu_count()} cpus python {platform.python_version()}: "
                         f"{line}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
