"""Benchmark: what grade integrity costs. Grades one reference submission end to end with this tree's grader
(sanitize, contained kernels, clean verdicts) and with the grader of a baseline commit from before integrity
(hidden tests judged inside the kernel), alternating, in one run on one machine.

    python benchmarks/bench_integrity.py                     # baseline 7494458, 3 rounds
    python benchmarks/bench_integrity.py --baseline REV --rounds 2 --json out.json
    python benchmarks/bench_integrity.py --baseline d3cf6d9 --label cached-setup   # any other change, same way
    python benchmarks/bench_integrity.py --baseline 38f19c6 --label student-side --own-reference

With ``--own-reference`` each grader grades its own tree's reference submission (for a change to the notebooks
themselves, such as the experiment's seeds); otherwise both grade this tree's.

The baseline is checked out with ``git worktree`` and run with the same interpreter and packages, its own
packages first on PYTHONPATH. Prints each run's wall time and the ratio of the medians (goal: at most 1.20).
"""

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def grade(tree: Path, submissions: Path, out: Path, baseline: bool) -> float:
    env = dict(os.environ)
    if baseline:
        env["PYTHONPATH"] = os.pathsep.join([str(tree), str(tree / "source" / "ps3")])
    shutil.rmtree(out, ignore_errors=True)
    start = time.perf_counter()
    result = subprocess.run([sys.executable, "-m", "autograder", "grade", str(submissions), "--out", str(out),
                             "--workers", "1"], cwd=tree, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - start
    grades = (out / "grades.csv").read_text() if (out / "grades.csv").exists() else ""
    if result.returncode != 0 or ",12.5," not in grades:
        raise SystemExit(f"grading with {'baseline' if baseline else 'this tree'} failed:\n{result.stdout[-2000:]}"
                         f"\n{result.stderr[-2000:]}\n{grades}")
    return wall


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--baseline", default="7494458")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--json", type=Path)
    parser.add_argument("--label", default="integrity", help="what this tree's runs are called in the output")
    parser.add_argument("--own-reference", action="store_true",
                        help="each grader grades its own tree's tests/examples/reference (default: this tree's)")
    args = parser.parse_args(argv)
    label = args.label
    with tempfile.TemporaryDirectory(prefix="bench-integrity-") as tmp:
        tmp = Path(tmp)
        base = tmp / "baseline"
        subprocess.run(["git", "worktree", "add", "--detach", str(base), args.baseline], cwd=ROOT, check=True,
                       capture_output=True)
        try:
            submissions = {}
            for name, tree in (("baseline", base if args.own_reference else ROOT), (label, ROOT)):
                submissions[name] = tmp / f"submissions-{name}"
                shutil.copytree(tree / "tests" / "examples" / "reference", submissions[name] / "reference")
            times = {"baseline": [], label: []}
            for round_ in range(args.rounds):
                times["baseline"].append(grade(base, submissions["baseline"], tmp / "out-baseline", baseline=True))
                times[label].append(grade(ROOT, submissions[label], tmp / "out-this-tree", baseline=False))
                print(f"round {round_ + 1}: baseline {times['baseline'][-1]:.1f} s, "
                      f"{label} {times[label][-1]:.1f} s", flush=True)
        finally:
            subprocess.run(["git", "worktree", "remove", "--force", str(base)], cwd=ROOT, capture_output=True)
    ratio = statistics.median(times[label]) / statistics.median(times["baseline"])
    print(f"median: baseline {statistics.median(times['baseline']):.1f} s, {label} "
          f"{statistics.median(times[label]):.1f} s, ratio {ratio:.2f}"
          + (" (goal <= 1.20)" if label == "integrity" else ""))
    if args.json:
        args.json.write_text(json.dumps({"baseline_commit": args.baseline, "own_reference": args.own_reference,
                                         "seconds": times,
                                         "ratio_of_medians": round(ratio, 3)}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
