"""formgrader's view (autograder/isolation/formgrader_view.py), step 1 on a small folder: what root gives the
server's group, and what it clears. Milliseconds; needs root (it changes owners)."""

import os
import stat

import pytest

from autograder.isolation import formgrader_view
from autograder.isolation.formgrader_view import FORMGRADER_UID, VIEW_FOLDER

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="changing a file's group needs root")


def mode(path):
    info = os.lstat(path)
    return stat.S_IMODE(info.st_mode), info.st_gid


def test_root_only_files_become_readable_for_formgraders_group_and_nothing_else_changes(tmp_path):
    folder = tmp_path / "grading"
    (folder / "autograded" / "1001").mkdir(parents=True)
    private, public = folder / "autograded" / "1001" / "problem7.ipynb", folder / "grades.csv"
    private.write_text("{}")
    public.write_text("id\n")
    os.chmod(private, 0o600)
    os.chmod(folder / "autograded" / "1001", 0o700)
    os.chmod(public, 0o644)
    gradebook = folder / "gradebook.db"
    gradebook.write_bytes(b"")
    os.symlink("/etc/shadow", folder / "link")
    formgrader_view.prepare(folder, gradebook)
    assert mode(private) == (0o640, FORMGRADER_UID)
    assert mode(folder / "autograded" / "1001") == (0o750, FORMGRADER_UID)
    assert mode(public) == (0o644, 0)  # others read it already: left as it was
    assert mode(gradebook) == (0o660, FORMGRADER_UID)
    assert os.lstat(folder / "link").st_gid == 0 and mode("/etc/shadow")[1] != FORMGRADER_UID
    view = folder / VIEW_FOLDER
    assert os.lstat(view).st_uid == FORMGRADER_UID and mode(view)[0] == 0o700


def test_the_view_folder_is_emptied_but_for_sqlites_journal(tmp_path):
    folder = tmp_path / "grading"
    view = folder / VIEW_FOLDER
    (view / "autograded" / "old").mkdir(parents=True)
    (view / "grades.csv").write_text("")
    (view / "gradebook.db-journal").write_bytes(b"hot")
    formgrader_view.prepare(folder, None)
    assert sorted(p.name for p in view.iterdir()) == ["gradebook.db-journal"]
    assert formgrader_view.entries(folder) == []  # the view folder is never shown inside itself
