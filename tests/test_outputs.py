"""Result folders: reserved before the work, never replaced unless asked, published whole, locked."""

from __future__ import annotations

import os
import stat
import subprocess
import sys

import pytest

from gpun2d.atomic import umask_mode
from gpun2d.errors import ConfigError
from gpun2d.outputs import ResultFolder

OWNED = ("results.json", "clusters.csv")


def publish(out, overwrite=False, text="{}"):
    with ResultFolder(out, OWNED, overwrite=overwrite) as target, target.staging() as folder:
        (folder / "results.json").write_text(text)


def test_publishes_whole_with_usual_permissions(tmp_path):
    old = os.umask(0o022)
    try:
        publish(tmp_path / "out")
    finally:
        os.umask(old)
    assert (tmp_path / "out" / "results.json").read_text() == "{}"
    assert stat.S_IMODE((tmp_path / "out").stat().st_mode) == umask_mode(0o777) == 0o755
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]  # no lock, no temporary folder left


def test_an_earlier_result_is_never_replaced_unless_asked(tmp_path):
    publish(tmp_path / "out", text="first")
    with pytest.raises(ConfigError, match="already holds a result; replace it with overwrite=True"):
        publish(tmp_path / "out", text="second")
    assert (tmp_path / "out" / "results.json").read_text() == "first"
    publish(tmp_path / "out", overwrite=True, text="second")
    assert (tmp_path / "out" / "results.json").read_text() == "second"


def test_foreign_files_are_never_replaced(tmp_path):
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "thesis.tex").write_text("mine")
    with pytest.raises(ConfigError, match=r"already holds other files \(thesis.tex\)"):
        publish(tmp_path / "out", overwrite=True)
    assert (tmp_path / "out" / "thesis.tex").read_text() == "mine"


def test_an_empty_folder_is_filled_in_place(tmp_path):
    (tmp_path / "out").mkdir()  # e.g. a mount point, which cannot be removed or replaced
    inode = (tmp_path / "out").stat().st_ino
    publish(tmp_path / "out")
    assert (tmp_path / "out" / "results.json").is_file() and (tmp_path / "out").stat().st_ino == inode


def test_dot_names_the_current_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(ConfigError, match=r"already holds other files \(notes.txt\)"):
        publish(".")


@pytest.mark.parametrize("make", ["file", "under_a_file", "read_only"])
def test_unwritable_places_fail_before_any_work(tmp_path, make):
    if make == "file":
        (tmp_path / "out").write_text("x")
        out, message = tmp_path / "out", "exists and is not a folder"
    elif make == "under_a_file":
        (tmp_path / "f").write_text("x")
        out, message = tmp_path / "f" / "out", "cannot be written"
    else:
        if os.geteuid() == 0:
            pytest.skip("root writes into read-only folders")
        (tmp_path / "ro").mkdir()
        os.chmod(tmp_path / "ro", 0o555)
        out, message = tmp_path / "ro" / "out", "cannot be written"
    work = []
    with pytest.raises(ConfigError, match=message):
        with ResultFolder(out, OWNED):
            work.append("done")
    assert work == []


def test_failed_job_leaves_nothing(tmp_path):
    with pytest.raises(RuntimeError):
        with ResultFolder(tmp_path / "out", OWNED) as target, target.staging() as folder:
            (folder / "results.json").write_text("half")
            raise RuntimeError("interrupted")
    assert list(tmp_path.iterdir()) == []


def test_a_job_stopped_after_publishing_keeps_its_result_and_says_so(tmp_path, caplog):
    with pytest.raises(KeyboardInterrupt):
        with ResultFolder(tmp_path / "out", OWNED) as target:
            with target.staging() as folder:
                (folder / "results.json").write_text("{}")
            raise KeyboardInterrupt  # while closing down after the result was published
    assert (tmp_path / "out" / "results.json").read_text() == "{}"
    assert "was complete before the job stopped; it is kept" in caplog.text


def test_two_jobs_cannot_write_one_folder(tmp_path):
    with ResultFolder(tmp_path / "out", OWNED):
        with pytest.raises(ConfigError, match=r"being written by another gpun2d process \(pid \d+\)"):
            with ResultFolder(tmp_path / "out", OWNED):
                pass


def test_a_killed_jobs_lock_and_temporary_folder_are_removed(tmp_path, caplog):
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    (tmp_path / ".out.lock").write_text(dead.stdout.strip())
    (tmp_path / ".out.abc123.tmp").mkdir()
    (tmp_path / ".out.abc123.tmp" / "results.json").write_text("half")
    publish(tmp_path / "out")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]
    assert "stale lock" in caplog.text and "left by an interrupted gpun2d job" in caplog.text


@pytest.mark.parametrize("case, words", [
    ("dangling link", "is a symbolic link to nothing"),
    ("lock is a folder", "is in the way and is not a lock file"),
])
def test_odd_things_in_the_way_are_clear_errors(tmp_path, case, words):
    if case == "dangling link":
        (tmp_path / "out").symlink_to(tmp_path / "nowhere" / "zzz")
    else:
        (tmp_path / ".out.lock").mkdir()
    with pytest.raises(ConfigError, match=words):
        publish(tmp_path / "out")


def test_a_lock_naming_pid_0_is_stale(tmp_path):
    (tmp_path / ".out.lock").write_text("0")
    publish(tmp_path / "out")
    assert (tmp_path / "out" / "results.json").is_file()


def test_a_failed_job_removes_the_parent_folders_it_made(tmp_path):
    out = tmp_path / "new" / "deeper" / "out"
    with pytest.raises(RuntimeError):
        with ResultFolder(out, OWNED) as target, target.staging():
            assert out.parent.is_dir()  # made before any work, so the job can fail fast if it cannot write
            raise RuntimeError("interrupted")
    assert list(tmp_path.iterdir()) == []


def test_a_parent_folder_someone_wrote_into_is_kept(tmp_path):
    out = tmp_path / "new" / "out"
    with pytest.raises(RuntimeError):
        with ResultFolder(out, OWNED):
            (tmp_path / "new" / "notes.txt").write_text("mine")
            raise RuntimeError("interrupted")
    assert sorted(p.name for p in (tmp_path / "new").iterdir()) == ["notes.txt"]


def test_overwrite_through_a_link_replaces_the_folder_it_points_to(tmp_path):
    publish(tmp_path / "target", text="first")
    (tmp_path / "link").symlink_to(tmp_path / "target")
    publish(tmp_path / "link", overwrite=True, text="second")
    publish(tmp_path / "link", overwrite=True, text="third")
    assert (tmp_path / "link").is_symlink() and (tmp_path / "target" / "results.json").read_text() == "third"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["link", "target"]


def test_a_folder_that_cannot_be_searched_is_one_error(tmp_path, monkeypatch):
    from pathlib import Path

    closed, exists = tmp_path / "closed", Path.exists

    def searched(path, *args, **kwargs):  # as the kernel answers for anyone but root (who may search anything)
        if closed in path.parents:
            raise PermissionError(13, "Permission denied", str(path))
        return exists(path, *args, **kwargs)

    closed.mkdir()
    monkeypatch.setattr(Path, "exists", searched)
    with pytest.raises(ConfigError, match=r"cannot be used \(Permission denied: .*closed/sub\)"):
        with ResultFolder(closed / "sub" / "out", OWNED):
            pass
