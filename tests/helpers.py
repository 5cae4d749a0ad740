"""Shared by the grading tests: the options of a quick batch, and a batch's grades as a comparable table."""

FAST = dict(workers=2, cell_timeout=60, progress=False)  # the looping example stops after 60 s


def grades_table(results) -> dict:
    """student -> (status, automatic, pending, ((notebook, grade id, points), ...)): what a grade is, without times
    or the machine that graded it."""
    return {r.student_id: (r.status, r.automatic_points, r.pending_points,
                           tuple((c.notebook, c.grade_id, c.points) for c in r.cells)) for r in results}
