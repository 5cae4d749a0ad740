"""python -m autograder COMMAND

  release      build the assignment (solutions -> source notebooks -> release/ps3); --check reports drift
  grade        grade a folder or Moodle zip of submissions; results, gradebook and reports in --out
               (--cluster ADDRESS: on a Dask cluster; --db URL: a shared gradebook such as PostgreSQL)
  formgrader   start nbgrader's formgrader on a grading folder: TAs grade the written answers there
  export       final grades from a grading folder's gradebook (hand grades included): grades.csv, the Moodle
               worksheet (--worksheet: fill the one downloaded from Moodle), Gradescope results, feedback pages
  report       the class report of a grading folder (also written by grade and export): scores, the class's most
               frequent mistakes per cell, problem 5's experiment pooled over the class (--names: who is who)
  similarity   code similarity across the class, for the instructor (no grade changes): answer code without the
               starter code, pairs ranked per problem, equal problem-5 accuracies (<out>/similarity/; --names)
  gradescope   grade one submission, Gradescope-style: a submission folder in, results.json out
  gradescope-package
               the autograder zip an instructor uploads to Gradescope (gradescope/ps3-autograder.zip); --check
               reports how an existing zip differs from what the tree builds
  examples     the README's main job: grade the example submissions in tests/examples (--write regenerates them)

Exit status: 0 done; 1 release drift or an example off its expected score; 2 refused, in one line on stderr (the
cluster or device checks, no MNIST, another command on the same --out, the gradebook unreachable: what was graded
is saved, and the same command goes on where it stopped); 3 some submissions unfinished (the same command grades them); 130 stopped by
Ctrl-C or SIGTERM (every process the batch started was ended; the same command goes on where it stopped).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import sys
import threading
import time
from pathlib import Path

from mnist_lab.data import MNISTError

from . import formgrader, gradescope_package, release
from .batch import grade_batch
from .course import ASSIGNMENT, ROOT
from .executors.cluster import ClusterError
from .gradescope import containment_report, grade_gradescope
from .ingest import DownloadError
from .isolation.preflight import PreflightError
from .options import BatchOptions, Limits, available_cores, default_workers
from .outputs.class_report import write_report
from .outputs import class_report, grading_folder, similarity
from .outputs.export import export
from .outputs.grading_folder import FolderBusy, GradebookUnavailable
from .outputs.moodle import WorksheetError
from .outputs.reports import GRADESCOPE_VISIBILITY, WORKSHEET, shown_name, summary_table
from .results import UNFINISHED, ResultStore
from .text import printable
from .testing import examples

CHECKOUT_MNIST = "data/mnist"  # where the Makefile keeps MNIST
EXAMPLES_CELL_TIMEOUT = 90  # the looping example then stops after 90 s; real batches size the limit by device


def _limit_arguments(parser) -> None:
    parser.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    parser.add_argument("--cell-timeout", type=int, default=None, help="seconds per cell (default: 600 CPU, 120 GPU)")
    parser.add_argument("--time-limit", type=int, default=None, help="seconds per submission (default: 4 cells)")
    parser.add_argument("--memory-limit-mb", type=int, default=6144, help="per submission; 0 for none")
    parser.add_argument("--no-sandbox", action="store_true",
                        help="run kernels without containment (verdicts are still the grader's own)")
    parser.add_argument("--no-namespaces", action="store_true",
                        help="contain kernels by their user id alone, as where the machine refuses namespaces "
                             "(a Gradescope container): to try that mode")
    parser.add_argument("--no-progress", action="store_true")


def _batch_arguments(parser) -> None:
    _limit_arguments(parser)
    parser.add_argument("--workers", type=int, default=None,
                        help="submissions at once (default: one per core, as many as the memory holds; README)")


def _limits(args) -> Limits:
    return Limits(device=args.device, cell_timeout=args.cell_timeout, time_limit=args.time_limit,
                  memory_limit_mb=args.memory_limit_mb, sandbox=not args.no_sandbox,
                  namespaces=not args.no_namespaces)


def _batch_options(args, **extra) -> BatchOptions:
    limits = _limits(args)
    return BatchOptions(limits=limits, workers=args.workers or default_workers(limits.resolved_device()),
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
    grade.add_argument("--keep-errors", action="store_true",
                       help="do not regrade unchanged submissions whose grading failed (default: they are graded "
                            "again, as a failure may have been the machine's: a full disk, a lost worker)")
    grade.add_argument("--cluster", default=None, metavar="ADDRESS",
                       help="grade on this Dask scheduler (tcp://host:8786), one task per submission; see "
                            "docs/cluster.md (default: this machine)")
    _batch_arguments(grade)
    fg = sub.add_parser("formgrader", help="start nbgrader's formgrader on a grading folder (loopback, a token)")
    fg.add_argument("--out", type=Path, default=Path("grading"), help="the grading folder")
    fg.add_argument("--ip", default="127.0.0.1", help="interface to listen on (default: loopback only)")
    fg.add_argument("--port", type=int, default=8787)
    fg.add_argument("--as-root", action="store_true",
                    help="where root cannot build formgrader's unprivileged view (no bubblewrap), run it as root")
    exp = sub.add_parser("export", help="final grades from the gradebook into every report and the Moodle worksheet")
    exp.add_argument("--out", type=Path, default=Path("grading"), help="the grading folder")
    exp.add_argument("--worksheet", type=Path, default=None,
                     help="the grading worksheet downloaded from the Moodle assignment (any interface language); kept in "
                          "the grading folder, so later exports and grade runs fill the same download")
    exp.add_argument("--partial", action="store_true",
                     help="give a grade also to students whose written answers are not graded yet, or whose "
                          "grading failed (default: their grade is left blank)")
    rep = sub.add_parser("report", help="the class report of a grading folder: <out>/class-report/class-report.html")
    rep.add_argument("--out", type=Path, default=Path("grading"), help="the grading folder")
    rep.add_argument("--names", action="store_true",
                     help="show who made each mistake and whose runs are whose (default: no names)")
    sim = sub.add_parser("similarity", help="code similarity across a grading folder's submissions (instructor only): "
                                            "<out>/similarity/similarity.html and similarity.csv")
    sim.add_argument("--out", type=Path, default=Path("grading"), help="the grading folder")
    sim.add_argument("--names", action="store_true", help="show student ids (default: the class report's numbers)")
    sim.add_argument("--top", type=int, default=10, help="pairs printed (default: 10)")
    one = sub.add_parser("gradescope", help="grade one submission folder, write Gradescope's results.json")
    one.add_argument("--submission", type=Path, default=Path("/autograder/submission"))
    one.add_argument("--results", type=Path, default=Path("/autograder/results/results.json"))
    one.add_argument("--out", type=Path, default=None,
                     help="also keep a grading folder here (gradebook, notebooks for formgrader), as `grade` does")
    one.add_argument("--server-timeout", type=int, default=None, metavar="SECONDS",
                     help="the grading server's own timeout (Gradescope's autograder timeout): the submission's "
                          "limits are derived from it so that results.json is always written in time")
    one.add_argument("--visibility", default="visible", choices=GRADESCOPE_VISIBILITY,
                     help="when students see each test (Gradescope's visibility; default: visible)")
    _limit_arguments(one)
    pkg = sub.add_parser("gradescope-package", help="the autograder zip to upload to Gradescope")
    pkg.add_argument("--out", type=Path, default=None, help=f"default: {gradescope_package.PACKAGE}")
    pkg.add_argument("--check", action="store_true", help="write nothing; exit 1 if the zip differs from the tree")
    pkg.add_argument("--server-timeout", type=int, default=gradescope_package.Settings.server_timeout,
                     metavar="SECONDS", help="the autograder timeout you set in Gradescope (default: 1200, 20 "
                                             "minutes): every limit of a submission is derived from it")
    pkg.add_argument("--visibility", default=gradescope_package.Settings.visibility, choices=GRADESCOPE_VISIBILITY,
                     help="when students see each test (Gradescope's visibility; default: visible)")
    ex = sub.add_parser("examples", help="grade the example submissions (the README's main job)")
    ex.add_argument("--out", type=Path, default=Path("grading-examples"))
    ex.add_argument("--write", action="store_true", help="regenerate tests/examples from source and release")
    _batch_arguments(ex)
    return main_parser


# Why a command refuses to go on, each said in one line (exit status 2): nothing half-done is left behind.
REFUSALS = (ClusterError, PreflightError, FolderBusy, GradebookUnavailable, MNISTError, DownloadError)


def _error(exc: Exception) -> None:
    """An error on stderr: its message may quote a student id, a file name from a zip or a worksheet's cell."""
    print(f"error: {printable(exc)}", file=sys.stderr)


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
    options = _batch_options(args, force=args.force, db_url=args.db, cluster=args.cluster,
                             retry_errors=not args.keep_errors)
    try:
        results = grade_batch(args.submissions, args.out, options)
    except REFUSALS as exc:  # what was graded is saved; the message says what to do
        _error(exc)
        return 2
    _print_reports(results, args.out)
    unfinished = [shown_name(r.student_id) for r in results if r.status == UNFINISHED]
    if unfinished:  # for scripts: the batch is not done; the same command grades only these
        print(f"\n{len(unfinished)} submission(s) not finished (the cluster lost their tasks): "
              f"{', '.join(unfinished)}; run the same command again to grade them", file=sys.stderr)
        return 3
    return 0


def run_formgrader(args) -> int:
    try:
        argv, url = formgrader.command(args.out, args.ip, args.port, as_root=args.as_root)
    except (FileNotFoundError, formgrader.RootWithoutView, formgrader.AlreadyRunning) as exc:
        _error(exc)
        return 2
    print(f"formgrader on {args.out.resolve()}: open {url}\n(from another machine: ssh -L {args.port}:127.0.0.1:"
          f"{args.port} THIS-HOST, then the same address; Ctrl-C stops it)", flush=True)
    os.chdir(args.out)
    os.execve(argv[0], argv, formgrader.environment())


def run_export(args) -> int:
    try:
        with grading_folder.lock(args.out.resolve(), "export"):
            done = export(args.out, worksheet=args.worksheet, partial=args.partial)
    except (FileNotFoundError, WorksheetError, FolderBusy, GradebookUnavailable) as exc:
        _error(exc)
        return 2
    print(summary_table(done.results))
    print()
    print(done.summary())
    print(f"\nreports in {args.out}/: grades.csv, {WORKSHEET} (upload it under the assignment's \"Upload grading "
          "worksheet\"), feedback/, gradescope/, class-report/")
    return 0


def run_report(args) -> int:
    if not (args.out / "results").is_dir():
        print(f"error: {args.out} has no results/: grade into it first with `python -m autograder grade "
              f"SUBMISSIONS --out {args.out}`", file=sys.stderr)
        return 2
    print(f"class report: {write_report(args.out, names=args.names)}")
    return 0


def run_similarity(args) -> int:
    submissions = similarity.read_folder(args.out)
    if not submissions:
        print(f"error: {args.out} has no submitted notebooks (submitted/<student>/{ASSIGNMENT}/): grade into it first "
              f"with `python -m autograder grade SUBMISSIONS --out {args.out}`", file=sys.stderr)
        return 2
    # problem 5's runs as the grader measured them (the saved results; no gradebook needed)
    results = ResultStore(args.out / "results").load_all() if (args.out / "results").is_dir() else []
    sim = similarity.compare(submissions, results)
    shown = class_report.labels(results, args.names, sim.students)
    path = similarity.write(args.out / similarity.FOLDER, sim, shown)
    print("\n".join(similarity.top_lines(sim, shown, args.top)) or "no two students share answer code")
    print(f"code similarity of {len(sim.students)} students: {path} (pairs: {path.with_name(similarity.PAIRS_CSV)})")
    return 0


def run_gradescope(args) -> int:
    try:
        limits = _limits(args)
        if args.server_timeout:
            limits = Limits.within(args.server_timeout, **{k: getattr(limits, k) for k in (
                "device", "cell_timeout", "time_limit", "memory_limit_mb", "sandbox", "namespaces")})
        seconds = limits.submission_seconds()
        print(f"grading {args.submission} (at most {seconds} s, {limits.cell_seconds()} s a cell)", flush=True)
        with _heartbeat(seconds):
            result = grade_gradescope(args.submission, args.results, limits, threads=available_cores(),
                                      out=args.out, visibility=args.visibility)
    except (PreflightError, ValueError, MNISTError) as exc:
        _error(exc)
        return 2
    print(containment_report(result))
    print(f"{result.automatic_points:g} automatic points ({result.status}); results in {args.results}")
    return 0


@contextlib.contextmanager
def _heartbeat(limit: int, every: float = 30.0):
    """A line every ``every`` seconds while grading runs, so that a grading server's log shows it is alive."""
    stop, start = threading.Event(), time.monotonic()

    def beat():
        while not stop.wait(every):
            print(f"still grading: {time.monotonic() - start:.0f} s of at most {limit} s", flush=True)
    thread = threading.Thread(target=beat, name="heartbeat", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()


def run_gradescope_package(args) -> int:
    try:
        settings = gradescope_package.Settings(args.server_timeout, args.visibility)
    except ValueError as exc:
        _error(exc)
        return 2
    path, problems = gradescope_package.write_package(args.out, check=args.check, settings=settings)
    if args.check:
        print("\n".join(problems) if problems else f"{path} is what the tree builds")
        return 1 if problems else 0
    print(f"wrote {path}: upload it as the assignment's autograder, with Gradescope's autograder timeout set to "
          f"{settings.server_timeout} s (README: \"Gradescope\")")
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
    except PreflightError as exc:
        _error(exc)
        return 2
    _print_reports(results, args.out)
    wrong = examples.unexpected(results)
    print("\n".join(["", "UNEXPECTED RESULTS:", *wrong]) if wrong else "every example got its expected score")
    return 1 if wrong else 0


def _print_reports(results, out: Path) -> None:
    print(summary_table(results))
    me = this_command()
    print(f"\nreports in {out}/: grades.csv, {WORKSHEET}, feedback/, gradescope/, class-report/; written answers are "
          f"graded in formgrader ({me} formgrader --out {out}), then: {me} export --out {out}")


def this_command() -> str:
    """How to run this command line again from here: with this very interpreter (the project's environment, which
    a plain `python` need not be), by a relative path where it is below the working folder."""
    python = Path(sys.executable)
    try:
        shown = str(python.relative_to(Path.cwd()))
    except ValueError:
        shown = str(python)
    return f"{shown} -m autograder"


COMMANDS = {"release": run_release, "grade": run_grade, "formgrader": run_formgrader, "export": run_export,
            "report": run_report, "similarity": run_similarity, "gradescope": run_gradescope, "gradescope-package": run_gradescope_package,
            "examples": run_examples}


STOPPED_EXIT = 130


def _interrupt(signum, frame):
    raise KeyboardInterrupt(signal.Signals(signum).name)


def _mnist_of_this_checkout() -> None:
    """`make` keeps MNIST in the checkout's data/mnist (the Makefile's MNIST_DIR): the commands the README gives
    read it there too, rather than fetching it again into ~/.cache, unless MNIST_DIR says otherwise."""
    if "MNIST_DIR" not in os.environ and (ROOT / CHECKOUT_MNIST).is_dir():
        os.environ["MNIST_DIR"] = str(ROOT / CHECKOUT_MNIST)


def main(argv=None) -> int:
    args = parser().parse_args(argv)
    _mnist_of_this_checkout()
    # SIGTERM (a scheduler's preemption, a worker shut down, `kill`) stops a batch as Ctrl-C does: every grading
    # process and kernel is ended (executors), no half result is saved, and the same command resumes. SIGINT gets
    # the same handler explicitly: a command started in the background by a script inherits SIGINT ignored (the
    # shell's rule for background jobs), and `kill -INT` would then be lost while the batch grades on.
    signal.signal(signal.SIGTERM, _interrupt)
    signal.signal(signal.SIGINT, _interrupt)
    try:
        return COMMANDS[args.command](args)
    except KeyboardInterrupt as stop:
        print(f"\nstopped ({stop.args[0] if stop.args else 'SIGINT'}): every grading process was ended; what was "
              "graded is saved. Run the same command to grade the rest.", file=sys.stderr)
        return STOPPED_EXIT
