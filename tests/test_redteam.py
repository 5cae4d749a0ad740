"""The red-team suite: adversarial submissions (autograder/testing/redteam.py) graded in one batch beside an honest
student.

Every attack must get exactly its expected points and message; none may change the honest student's grade, the
gradebook or files outside its own folder, and nothing it started may outlive the batch.
"""

import shutil

import psutil
import pytest

from autograder.isolation import sandbox
from autograder.batch import grade_batch
from autograder.course import ASSIGNMENT, open_gradebook
from autograder.testing.examples import EXAMPLES
from autograder.testing.redteam import ATTACKS, build
from helpers import fast

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(not sandbox.available(), reason="containment needs root and namespaces")]


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    submissions = tmp_path_factory.mktemp("redteam-submissions")
    build(submissions)
    shutil.copytree(EXAMPLES / "reference", submissions / "honest")
    (submissions / "honest" / "canary.txt").write_text("untouched")
    out = tmp_path_factory.mktemp("redteam-graded")
    results = {r.student_id: r for r in grade_batch(submissions, out, fast())}
    return submissions, out, results


def test_there_are_at_least_twenty_attacks():
    assert len(ATTACKS) >= 20


@pytest.mark.parametrize("name", sorted(ATTACKS))
def test_attack_gets_its_expected_score_and_message(graded, name):
    attack, result = ATTACKS[name], graded[2][name]
    texts = [c.message for c in result.cells] + result.notes + result.review
    cells = [(c.grade_id, c.points, c.message) for c in result.cells]
    assert result.automatic_points == attack.automatic, (name, cells)
    if attack.message:
        assert any(attack.message in text for text in texts), (name, texts)
    assert bool(result.review) == attack.review, (name, result.review)
    assert result.contained


def test_honest_student_and_shared_files_are_untouched(graded):
    submissions, out, results = graded
    honest = results["honest"]
    assert (honest.automatic_points, honest.pending_points, honest.status, honest.review) == (12.5, 3.5, "graded", [])
    assert (submissions / "honest" / "canary.txt").read_text() == "untouched"
    assert not (submissions / "honest" / ASSIGNMENT / "canary.txt").exists()
    assert not (out / "results" / "canary.txt").exists()
    for name in ("/tmp/left-behind.txt", "/var/tmp/left-behind.txt", "/dev/shm/left-behind.txt"):
        assert not shutil.os.path.exists(name), f"a submission wrote {name} on the grading machine"


def test_gradebook_holds_exactly_the_clean_grades(graded):
    _, out, results = graded
    with open_gradebook(f"sqlite:///{out / 'gradebook.db'}") as gb:
        for student, result in results.items():
            submission = gb.find_submission(ASSIGNMENT, student)
            recorded = sum(g.auto_score or 0 for nb in submission.notebooks for g in nb.grades)
            assert recorded == pytest.approx(result.automatic_points), student
            assert all((g.auto_score or 0) <= g.max_score for nb in submission.notebooks for g in nb.grades), student


def test_nothing_a_submission_started_outlives_the_batch(graded):
    _, out, _ = graded  # every kernel (and every fork of one) names its connection file under the batch folder
    leftovers = [p.info for p in psutil.process_iter(["pid", "uids", "cmdline", "status"])
                 if p.info["uids"] and p.info["uids"].real >= sandbox.UID_BASE
                 and p.info["status"] != psutil.STATUS_ZOMBIE and str(out) in " ".join(p.info["cmdline"] or [])]
    assert leftovers == []
