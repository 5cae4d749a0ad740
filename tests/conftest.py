import pytest
import torch


def pytest_collection_modifyitems(config, items):
    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs a CUDA device")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def examples(tmp_path_factory):
    """The example submissions graded by a local batch: (out folder, student -> SubmissionResult)."""
    from autograder.batch import grade_batch
    from autograder.testing.examples import EXAMPLES
    from helpers import fast

    out = tmp_path_factory.mktemp("graded-examples")
    return out, {r.student_id: r for r in grade_batch(EXAMPLES, out, fast())}


@pytest.fixture
def collect_and_judge(tmp_path, monkeypatch):
    """Run hand-in collectors as the hidden tests do (recording into a folder), then the grader's clean verdict.

    ``collect_and_judge(grade_id, lambda handin: handin.network(grade_id, build_cnn), ...)`` returns the
    CellVerdict; an in-kernel check failing in a collector is ignored (the clean verdict is what counts)."""
    from autograder.judge.verdicts import judge_cell
    from mnist_lab import handin

    monkeypatch.setenv(handin.HANDIN_DIR_ENV, str(tmp_path))
    monkeypatch.setenv(handin.SEED_ENV, "4242")
    handin.forget_network()  # each test is a new kernel

    def run(grade_id, *collectors):
        for collect in collectors:
            try:
                collect(handin)
            except AssertionError:
                pass
        return judge_cell(grade_id, tmp_path, 4242)
    return run
