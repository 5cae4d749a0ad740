"""python -m autograder COMMAND

  release      build the assignment (solutions -> source notebooks -> release/ps3); --check reports drift
  grade        grade a folder or Moodle zip of submissions; results, gradebook and reports in --out
               (--cluster ADDRESS: on a Dask cluster; --db URL: a shared gradebook such as PostgreSQL)
  gradescope   grade one submission, Gradescope-style: a submission folder in, results.json out
  examples     the README's main job: grade the example submissions in tests/examples (--write regenerates them)

Exit status: 0 done; 1 release drift or an example off its expected score; 2 refused before grading (cluster or
device checks: nothing graded); 3 some submissions unfinished (the same command grades them); 130 stopped by
Ctrl-C or SIGTERM (every process the batch started was ended; the same command goes on where it stopped).
"""

from __future__ import annotations

import argparse
import signal
import sys
from pathlib import Path

from . import release
from .batch import grade_batch
from .course import ASSIGNMENT
from .executors.cluster import ClusterError
from .gradescope import grade_gradescope
from .isolation.preflight import DeviceError
from .options import BatchOptions, Limits, available_cores, default_workers
from .outputs.reports import summary_table
from .results import UNFINISHED
from .testing import examples

EXAMPLES_CELL_TIMEOUT = 90  # the looping example then stops after 90 s; real batches size the limit by device


def _limit_arguments(parser) -> None:
    parser.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    parser.add_argument("--cell-timeout", type=int, default=None, help="seconds per cell (default: 600 CPU, 120 GPU)")
    parser.add_argument("--time-limit", type=int, default=None, help="seconds per submission (default: 4 cells)")
    parser.add_argument("--memory-limit-mb", type=int, default=6144, help="per submission; 0 for none")
    parser.add_argument("--no-sandbox", action="store_true",
                        help="run kernels without containment (verdicts are still the grader's own)")
    parser.add_argument("--no-progress", action="store_true")


def _batch_arguments(parser) -> None:
    _limit_arguments(parser)
    parser.add_argument("--workers", type=int, default=None, help="submissions at once (default: cores / 2, min 1)")


def _limits(args) -> Limits:
    return Limits(device=args.device, cell_timeout=args.cell_timeout, time_limit=args.time_limit,
                  memory_limit_mb=args.memory_limit_mb, sandbox=not args.no_sandbox)


def _batch_options(args, **extra) -> BatchOptions:
    return BatchOptions(limits=_limits(args), workers=args.workers or default_workers(),
                        progress=not args.no_progress, **extra)


def parser() -> argparse.ArgumentParser:
    main_parser = argparse.ArgumentParser(prog="python -m autograder", description=__doc__,
                                          formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = main_parser.add_subparsers(dest="command", required=True)
    rel = sub.add_parser("release", help=f"solutions -> source notebooks -> release/{ASSIGNMENT} (nbgrader)")
    rel.add_argument("--check", action="store_true", help="change nothing; exit 1 if anything is out of date")
    grade = sub.add_parser("grade", help=f"grade a folder (<student>/{ASSIGNMENT}/*.ipynb) or a Moodle zip")
    grade.add_argument("submissions", type=Path)
    grade.add_argument("--out", type=Path, default=Path("grading"))
    grade.add_argument("--db", default=None, help="gradebook URL (default: sqlite in --out)")
    grade.add_argument("--force", action="store_true", help="regrade unchanged submissions too")
    grade.add_argument("--cluster", default=None, metavar="ADDRESS",
                       help="grade on this Dask scheduler (tcp://host:8786), one task per submission; see "
                            "docs/cluster.md (default: this machine)")
    _batch_arguments(grade)
    one = sub.add_parser("gradescope", help="grade one submission folder, write Gradescope's results.json")
    one.add_argument("--submission", type=Path, default=Path("/autograder/submission"))
    one.add_argument("--results", type=Path, default=Path("/autograder/results/results.json"))
    _limit_arguments(one)
    ex = sub.add_parser("examples", help="grade the example submissions (the README's main job)")
    ex.add_argument("--out", type=Path, default=Path("grading-examples"))
    ex.add_argument("--write", action="store_true", help="regenerate tests/examples from source and release")
    _batch_arguments(ex)
    return main_parser


def run_release(args) -> int:
    problems = release.release(check=args.check)
    if not args.check:
        print(f"built source/{ASSIGNMENT}/*.ipynb and release/{ASSIGNMENT}/")
        return 0
    for problem in problems:
        print(problem)
    print("release is up to date" if not problems else f"{len(problems)} file(s) out of date: "
          "run `python -m autograder release`")
    return 1 if problems else 0


def run_grade(args) -> int:
    options = _batch_options(args, force=args.force, db_url=args.db, cluster=args.cluster)
    try:
        results = grade_batch(args.submissions, args.out, options)
    except (ClusterError, DeviceError) as exc:  # nothing was graded
        print(f"error: {exc}", file=sys.stderr)
        return 2
    _print_reports(results, args.out)
    unfinished = [r.student_id for r in results if r.status == UNFINISHED]
    if unfinished:  # for scripts: the batch is not done; the same command grades only these
        print(f"\n{len(unfinished)} submission(s) not finished (the cluster lost their tasks): "
              f"{', '.join(unfinished)}; run the same command again to grade them", file=sys.stderr)
        return 3
    return 0


def run_gradescope(args) -> int:
    try:
        result = grade_gradescope(args.submission, args.results, _limits(args), threads=available_cores())
    except DeviceError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"{result.automatic_points:g} automatic points ({result.status}); results in {args.results}")
    return 0


def run_examples(args) -> int:
    if args.write:
        examples.build()
        print("wrote tests/examples/")
        return 0
    if release.release(check=True):
        release.release()  # the examples are graded against an up-to-date assignment
    if args.cell_timeout is None:
        args.cell_timeout = EXAMPLES_CELL_TIMEOUT
    try:
        results = grade_batch(examples.EXAMPLES, args.out, _batch_options(args, force=True))
    except DeviceError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    _print_reports(results, args.out)
    wrong = examples.unexpected(results)
    print("\n".join(["", "UNEXPECTED RESULTS:", *wrong]) if wrong else "every example got its expected score")
    return 1 if wrong else 0


def _print_reports(results, out: Path) -> None:
    print(summary_table(results))
    print(f"\nreports in {out}/: grades.csv, moodle_grading_worksheet.csv, gradebook.db, feedback/, gradescope/")


COMMANDS = {"release": run_release, "grade": run_grade, "gradescope": run_gradescope, "examples": run_examples}


STOPPED_EXIT = 130


def _interrupt(signum, frame):
    raise KeyboardInterrupt(signal.Signals(signum).name)


def main(argv=None) -> int:
    args = parser().parse_args(argv)
    # SIGTERM (a scheduler's preemption, a worker shut down, `kill`) stops a batch as Ctrl-C does: every grading
    # process and kernel is ended (executors), no half result is saved, and the same command resumes.
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        return COMMANDS[args.command](args)
    except KeyboardInterrupt as stop:
        print(f"\nstopped ({stop.args[0] if stop.args else 'SIGINT'}): every grading process was ended; what was "
              "graded is saved. Run the same command to grade the rest.", file=sys.stderr)
        return STOPPED_EXIT
