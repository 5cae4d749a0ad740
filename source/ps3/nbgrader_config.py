"""nbgrader's settings for checking your notebooks before you hand them in: in this folder, run
`nbgrader validate problem5.ipynb` (see README.md). Graders use their own settings."""

c = get_config()  # noqa: F821 - provided by nbgrader when it reads this file

# Problem 5's experiment trains six networks: about a minute on a 2-core laptop, seconds on a GPU. Each cell may
# take up to ten minutes (nbgrader's default, 30 s, would stop the experiment half-way).
c.Execute.timeout = 600
# A cell that runs out of time, or a kernel that dies, ends validate with "nbgrader encountered a fatal error":
# a failure. (By default nbgrader interrupts the cell, runs on, and can still say "Success!".)
c.Execute.interrupt_on_timeout = False
