"""Benchmark: grading reference submissions end to end (nbgrader autograde, full training), 1 and a batch.

    python benchmarks/bench_grading.py                       # 1 submission, then 8 with the default workers
    python benchmarks/bench_grading.py --workers 1 2 --json out.json
    python benchmarks/bench_grading.py --device cuda --batch 16 --workers 0 4 8   # 0: the default for the device

Prints wall time per run, seconds per submission and submissions per minute.
"""

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

from autograder.batch import grade_batch
from autograder.options import BatchOptions, Limits, default_workers
from autograder.testing.examples import EXAMPLES


def batch(n: int, root: Path) -> Path:
    source = root / f"batch-{n}"
    for i in range(n):
        shutil.copytree(EXAMPLES / "reference", source / f"student{i:03d}")
    return source


def measure(source: Path, out: Path, options: BatchOptions) -> dict:
    start = time.perf_counter()
    results = grade_batch(source, out, options)
    wall = time.perf_counter() - start
    assert all(r.automatic_points == 12.5 for r in results), [(r.student_id, r.automatic_points) for r in results]
    return {"submissions": len(results), "workers": options.workers, "wall_s": round(wall, 1),
            "s_per_submission": round(wall / len(results), 1), "per_minute": round(60 * len(results) / wall, 2)}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--workers", type=int, nargs="+", default=[0], help="0: the default (default_workers)")
    parser.add_argument("--memory-limit-mb", type=int, default=6144)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    rows = []
    limits = Limits(device=args.device, memory_limit_mb=args.memory_limit_mb)
    device = limits.resolved_device()
    with tempfile.TemporaryDirectory(prefix="bench-grading-") as tmp:
        root = Path(tmp)
        rows.append({"case": "one submission", **measure(batch(1, root), root / "out-1",
                                                         BatchOptions(limits, workers=1, progress=False))})
        source = batch(args.batch, root)
        for workers in args.workers:
            case = f"batch of {args.batch}" + (", default" if not workers else "")
            workers = workers or default_workers(device)
            rows.append({"case": case, **measure(
                source, root / f"out-{args.batch}-{workers}", BatchOptions(limits, workers=workers, progress=False))})
    print(f"device: {device}")
    print(f"{'case':<25} {'workers':>7} {'wall s':>8} {'s/submission':>13} {'per minute':>11}")
    for r in rows:
        print(f"{r['case']:<25} {r['workers']:>7} {r['wall_s']:>8} {r['s_per_submission']:>13} {r['per_minute']:>11}")
    if args.json:
        args.json.write_text(json.dumps({"device": device, "rows": rows}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
