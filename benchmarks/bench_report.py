"""Benchmark: how long the class report of a batch takes (goal: 300 results in at most 10 s on a 2-core machine).

    python benchmarks/bench_report.py                       # 300 synthetic results, 3 rounds
    python benchmarks/bench_report.py --results 1000 --rounds 5

Writes the synthetic results (autograder/testing/synthetic.py) as a batch saves them (one JSON per student in
<out>/results/), then, in a fresh Python process each round, times ``python -m autograder report --out DIR``
from start to exit: the imports (matplotlib included), reading every result, the numbers, the three figures and
the files. Prints each round's wall time, and the time inside write_report alone as the report prints it.
"""

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "source" / "ps3")]

INNER = """
import sys, time
start = time.perf_counter()
from autograder.outputs.class_report import write_report
imported = time.perf_counter()
write_report(sys.argv[1])
print(f"{imported - start:.3f} {time.perf_counter() - imported:.3f}")
"""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--results", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()

    from autograder.results import ResultStore
    from autograder.testing.synthetic import synthetic_results

    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), str(ROOT / "source" / "ps3")]),
               MPLBACKEND="Agg")
    with tempfile.TemporaryDirectory(prefix="bench-report-") as tmp:
        out = Path(tmp)
        store = ResultStore(out / "results")
        for result in synthetic_results(args.results):
            store.save(result)
        print(f"{args.results} results, {sum(p.stat().st_size for p in store.folder.iterdir()) / 1e6:.1f} MB; "
              f"{os.cpu_count()} cores; python {sys.version.split()[0]}")
        walls = []
        for round_ in range(args.rounds):
            start = time.perf_counter()
            command = subprocess.run([sys.executable, "-m", "autograder", "report", "--out", str(out)], cwd=ROOT,
                                     env=env, capture_output=True, text=True)
            walls.append(time.perf_counter() - start)
            if command.returncode:
                print(command.stdout, command.stderr, file=sys.stderr)
                return 1
            inner = subprocess.run([sys.executable, "-c", INNER, str(out)], cwd=ROOT, env=env, capture_output=True,
                                   text=True, check=True).stdout.split()
            print(f"round {round_ + 1}: `python -m autograder report` {walls[-1]:.2f} s from start to exit "
                  f"(in a second process: import {float(inner[0]):.2f} s, write_report {float(inner[1]):.2f} s)")
        page = out / "class-report" / "class-report.html"
        print(f"median {statistics.median(walls):.2f} s, max {max(walls):.2f} s (goal: at most 10 s); page "
              f"{page.stat().st_size / 1e6:.2f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
