"""Benchmark: grading throughput on this machine with 1 and 2 workers, and on a Dask cluster on loopback.

    python benchmarks/bench_cluster.py                       # 16 reference submissions, the three set-ups
    python benchmarks/bench_cluster.py --submissions 4 --json out.json

Each set-up grades the same batch from scratch through ``python -m autograder grade`` (full hidden tests: six
training runs per submission), the cluster one with ``--cluster`` (scheduler + 2 one-thread workers started here,
gradebook in a PostgreSQL server started here). Prints wall time and submissions per minute, and what a course of
300 would take at that rate.
"""

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from autograder.testing.examples import EXAMPLES  # noqa: E402
from autograder.testing.loopback import DaskCluster, PostgresServer  # noqa: E402
from autograder.course import tool_environment  # noqa: E402
from mnist_lab.data import default_root  # noqa: E402


def make_batch(folder: Path, count: int) -> Path:
    """``count`` students, each handing in the reference answers."""
    for index in range(count):
        shutil.copytree(EXAMPLES / "reference", folder / f"student{index:03d}")
    return folder


def grade(batch: Path, out: Path, *extra: str) -> dict:
    shutil.rmtree(out, ignore_errors=True)
    start = time.perf_counter()
    result = subprocess.run([sys.executable, "-m", "autograder", "grade", str(batch), "--out", str(out),
                             "--no-progress", *extra], cwd=ROOT, env=tool_environment(), capture_output=True, text=True)
    wall = time.perf_counter() - start
    rows = (out / "grades.csv").read_text().splitlines()[1:] if (out / "grades.csv").exists() else []
    graded = sum(",12.5,3.5," in row for row in rows)
    if result.returncode != 0 or graded != len(list(batch.iterdir())):
        raise SystemExit(f"grading {' '.join(extra)} failed ({graded} graded):\n{result.stdout[-3000:]}\n"
                         f"{result.stderr[-3000:]}")
    return {"seconds": round(wall, 1), "per_minute": round(60 * graded / wall, 3)}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--submissions", type=int, default=16)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    report = {"machine": f"{platform.machine()}, {os.cpu_count()} cores", "submissions": args.submissions,
              "runs": {}}
    with tempfile.TemporaryDirectory(prefix="bench-cluster-") as tmp:
        tmp = Path(tmp)
        batch = make_batch(tmp / "batch", args.submissions)
        setups = [("local, 1 worker", ["--workers", "1"]), ("local, 2 workers", ["--workers", "2"])]
        for name, extra in setups:
            report["runs"][name] = grade(batch, tmp / "out", *extra)
            print(f"{name:32s} {report['runs'][name]}", flush=True)
        with PostgresServer() as db, DaskCluster(workers=2, env={"MNIST_DIR": str(default_root())}) as cluster:
            name = "loopback cluster, 2 workers"
            report["runs"][name] = grade(batch, tmp / "out", "--cluster", cluster.address, "--db", db.url)
            print(f"{name:32s} {report['runs'][name]}", flush=True)
    for name, run in report["runs"].items():
        hours = 300 / run["per_minute"] / 60
        print(f"{name:32s} {run['per_minute']:.2f} submissions/min -> 300 students in {hours:.1f} h")
    if args.json:
        args.json.write_text(json.dumps(report, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
