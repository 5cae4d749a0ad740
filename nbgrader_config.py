"""The repository root is an nbgrader course directory: run nbgrader commands from here."""

c = get_config()  # noqa: F821 - provided by traitlets when nbgrader loads this file

c.CourseDirectory.course_id = "smdl-ps3"
# The .pct.py files are the reviewable text form of the source notebooks (jupytext); they hold solutions
# and must not reach students.
c.CourseDirectory.ignore = [".ipynb_checkpoints", "*.pyc", "__pycache__", "feedback", "*.pct.py", "mnist-cache.npz"]
# Per-cell limit of nbgrader run by hand in this folder (`nbgrader autograde ps3`): the experiment cell and the
# hidden training tests train up to six networks (about 15 s on a 2-core CPU, a few seconds on a GPU). The
# autograder passes its own limits on nbgrader's command line instead (--cell-timeout: 600 s on a CPU, 120 s on a
# GPU; a deadline for the whole submission): --ResilientExecute.timeout and --ResilientExecute.deadline.
c.Execute.timeout = 1800
# Autograde with the resilient Execute step: a kernel crash or the submission's time limit keeps the points of
# the cells that completed and fails the rest with a reason (autograder/submission/execute.py).
c.Autograde.autograde_preprocessors = [
    "autograder.submission.execute.ResilientExecute",
    "nbgrader.preprocessors.IgnorePattern",
    "nbconvert.preprocessors.ClearMetadataPreprocessor",
    "nbgrader.preprocessors.LimitOutput",
    "nbgrader.preprocessors.SaveAutoGrades",
    "nbgrader.preprocessors.AssignLatePenalties",
    "nbgrader.preprocessors.CheckCellMetadata",
]
