"""python -m autograder COMMAND

  release      build the assignment (solutions -> source notebooks -> release/ps3); --check reports drift
  grade        grade a folder or Moodle zip of submissions; results, gradebook and reports in --out
               (--cluster ADDRESS: on a Dask cluster; --db URL: a shared gradebook such as PostgreSQL)
  gradescope   grade one submission, Gradescope-style: a submission folder in, results.json out
  examples     the README's main job: grade the example submissions in tests/examples (--write regenerates them)
"""

import argparse
import sys
from pathlib import Path

from . import release


def _grading_options(parser):
    parser.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    parser.add_argument("--workers", type=int, default=None, help="submissions at once (default: cores / 2, min 1)")
    parser.add_argument("--cell-timeout", type=int, default=None, help="seconds per cell (default: 600 CPU, 120 GPU)")
    parser.add_argument("--time-limit", type=int, default=None, help="seconds per submission (default: 4 cells)")
    parser.add_argument("--memory-limit-mb", type=int, default=6144, help="per submission; 0 for none")
    parser.add_argument("--no-progress", action="store_true")
    parser.add_argument("--no-sandbox", action="store_true",
                        help="run kernels without containment (verdicts are still the grader's own)")


def _options(args, **extra):
    import os

    from .runner import Options

    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    settings = dict(device=args.device, workers=args.workers or max(1, cores // 2), cell_timeout=args.cell_timeout,
                    time_limit=args.time_limit, memory_limit_mb=args.memory_limit_mb, progress=not args.no_progress,
                    contain=not args.no_sandbox)
    return Options(**{**settings, **extra})


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m autograder", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    rel = sub.add_parser("release", help="solutions -> source notebooks -> release/ps3 (nbgrader)")
    rel.add_argument("--check", action="store_true", help="change nothing; exit 1 if anything is out of date")
    grade = sub.add_parser("grade", help="grade a folder (<student>/ps3/*.ipynb) or a Moodle zip")
    grade.add_argument("submissions", type=Path)
    grade.add_argument("--out", type=Path, default=Path("grading"))
    grade.add_argument("--db", default=None, help="gradebook URL (default: sqlite in --out)")
    grade.add_argument("--force", action="store_true", help="regrade unchanged submissions too")
    grade.add_argument("--cluster", default=None, metavar="ADDRESS",
                       help="grade on this Dask scheduler (tcp://host:8786), one task per submission; see "
                            "docs/cluster.md (default: this machine)")
    _grading_options(grade)
    one = sub.add_parser("gradescope", help="grade one submission folder, write Gradescope's results.json")
    one.add_argument("--submission", type=Path, default=Path("/autograder/submission"))
    one.add_argument("--results", type=Path, default=Path("/autograder/results/results.json"))
    _grading_options(one)
    ex = sub.add_parser("examples", help="grade the example submissions (the README's main job)")
    ex.add_argument("--out", type=Path, default=Path("grading-examples"))
    ex.add_argument("--write", action="store_true", help="regenerate tests/examples from source and release")
    _grading_options(ex)
    args = parser.parse_args(argv)

    if args.command == "release":
        problems = release.release(check=args.check)
        if args.check:
            for problem in problems:
                print(problem)
            print("release is up to date" if not problems else f"{len(problems)} file(s) out of date: "
                  "run `python -m autograder release`")
            return 1 if problems else 0
        print(f"built source/{release.ASSIGNMENT}/*.ipynb and release/{release.ASSIGNMENT}/")
        return 0
    from .cluster import ClusterError
    from .preflight import DeviceError

    if args.command == "gradescope":
        from .single import grade_one

        try:
            return grade_one(args.submission, args.results, _options(args, workers=1))
        except DeviceError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
    if args.command == "examples" and args.write:
        from .examples import build

        build()
        print("wrote tests/examples/")
        return 0
    from .reports import summary_table
    from .runner import grade_batch

    if args.command == "examples":
        from .examples import EXAMPLES

        if release.release(check=True):
            release.release()  # the examples are graded against an up-to-date assignment
        if args.cell_timeout is None:
            args.cell_timeout = 90  # the looping example then stops after 90 s; real batches size it by device
        source, options = EXAMPLES, _options(args, force=True)
    else:
        source, options = args.submissions, _options(args, force=args.force, db_url=args.db, cluster=args.cluster)
    try:
        results = grade_batch(source, args.out, options)
    except (ClusterError, DeviceError) as exc:  # nothing was graded
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(summary_table(results))
    print(f"\nreports in {args.out}/: grades.csv, moodle_grading_worksheet.csv, gradebook.db, feedback/, gradescope/")
    if args.command == "examples":
        from .examples import EXAMPLE_SUBMISSIONS

        wrong = [f"{r.student_id}: got {r.automatic_points:g} automatic, {r.pending_points:g} pending, {r.status}; "
                 f"expected {e.automatic:g}, {e.pending:g}, {e.status}"
                 for r in results for e in [EXAMPLE_SUBMISSIONS[r.student_id][1]]
                 if (r.automatic_points, r.pending_points, r.status) != (e.automatic, e.pending, e.status)]
        print("\n".join(["", "UNEXPECTED RESULTS:", *wrong]) if wrong else "every example got its expected score")
        return 1 if wrong else 0
    unfinished = [r.student_id for r in results if r.status == "unfinished"]
    if unfinished:  # for scripts: the batch is not done; the same command grades only these
        print(f"\n{len(unfinished)} submission(s) not finished (the cluster lost their tasks): "
              f"{', '.join(unfinished)}; run the same command again to grade them", file=sys.stderr)
        return 3
    return 0


if __name__ == "__main__":
    sys.exit(main())
