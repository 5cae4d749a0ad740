"""python -m autograder COMMAND: release (build the assignment; --check reports drift)."""

import argparse
import sys

from . import release


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m autograder", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    rel = sub.add_parser("release", help="solutions -> source notebooks -> release/ps3 (nbgrader)")
    rel.add_argument("--check", action="store_true", help="change nothing; exit 1 if anything is out of date")
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


if __name__ == "__main__":
    sys.exit(main())
