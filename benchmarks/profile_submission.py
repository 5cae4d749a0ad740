"""Profile: where one graded submission's time goes. Grades tests/examples/reference end to end with the real
command (``python -m autograder grade --workers 1``) and prints each stage: the command's own start before the
grading process, the grading process's start, the course copy, sanitize, each notebook's kernel start and cells,
judging, scoring, and what the command does after (results, gradebook, reports).

    python benchmarks/profile_submission.py                    # one round
    python benchmarks/profile_submission.py --rounds 3 --json out.json
    python benchmarks/profile_submission.py -- --device cuda   # options after -- go to `autograder grade`

With several rounds each stage shows its median. Cells of the same notebook faster than --min-seconds are
summed into one line (``problem5: other cells``).
"""

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from autograder.results import ResultStore  # noqa: E402

BEFORE = "the command: start, preflight, the generated course"
AFTER = "the command: results, gradebook, reports"


def one_round(tmp: Path, extra: list[str]) -> tuple[float, list[tuple[str, float]]]:
    submissions, out = tmp / "submissions", tmp / "out"
    shutil.rmtree(out, ignore_errors=True)
    if not submissions.exists():
        shutil.copytree(ROOT / "tests" / "examples" / "reference", submissions / "reference")
    start = time.time()
    done = subprocess.run([sys.executable, "-m", "autograder", "grade", str(submissions), "--out", str(out),
                           "--workers", "1", "--no-progress", *extra], cwd=ROOT, capture_output=True, text=True)
    end = time.time()
    saved = ResultStore(out / "results").load("reference") if done.returncode == 0 else None
    if saved is None:
        raise SystemExit(f"grading failed:\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}")
    result = saved.to_json()
    if not result.get("stages"):
        raise SystemExit("the result holds no stages: this grader does not record them")
    rows = [(BEFORE, result["stages"][0][1] - start)]
    rows += [(name, stage_end - stage_start) for name, stage_start, stage_end in result["stages"]]
    rows.append((AFTER, end - result["stages"][-1][2]))
    return end - start, rows


def folded(rows: list[tuple[str, float]], min_seconds: float) -> list[tuple[str, float]]:
    """Short cells of one notebook summed into one line, in the place of the first of them."""
    out, small = [], {}
    for name, seconds in rows:
        notebook, _, part = name.partition(": ")
        if part and part != "nbgrader and kernel start" and seconds < min_seconds and notebook.startswith("problem"):
            key = f"{notebook}: other cells"
            if key not in small:
                small[key] = len(out)
                out.append([key, 0.0])
            out[small[key]][1] += seconds
        else:
            out.append([name, seconds])
    return [(name, seconds) for name, seconds in out]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--min-seconds", type=float, default=0.3)
    parser.add_argument("--json", type=Path)
    parser.add_argument("grade_options", nargs="*", help="after --: options for `python -m autograder grade`")
    args = parser.parse_args(argv)
    walls, rounds = [], []
    with tempfile.TemporaryDirectory(prefix="profile-submission-") as tmp:
        for i in range(args.rounds):
            wall, rows = one_round(Path(tmp), args.grade_options)
            walls.append(wall)
            rounds.append(folded(rows, args.min_seconds))
            print(f"round {i + 1}: {wall:.1f} s", flush=True)
    names = [name for name, _ in rounds[0]]
    medians = {name: statistics.median(dict(r).get(name, 0.0) for r in rounds) for name in names}
    width = max(map(len, names))
    print(f"\n{'stage':<{width}}  seconds (median of {args.rounds})")
    for name in names:
        print(f"{name:<{width}}  {medians[name]:6.2f}")
    print(f"{'end to end':<{width}}  {statistics.median(walls):6.2f}")
    if args.json:
        args.json.write_text(json.dumps({"wall_seconds": walls, "stages": medians}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
