import sys

from .submission import launch

if sys.argv[1:2] in (["grade"], ["examples"], ["gradescope"]) and "--cluster" not in sys.argv:
    # The grading processes' imports (the forkserver's) overlap with this command's own, just below.
    launch.warm_up()

from .cli import main  # noqa: E402 - after the forkserver has started

sys.exit(main())
