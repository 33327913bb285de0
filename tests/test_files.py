"""Atomic writes: all or nothing, with ordinary permissions."""

import os

import pytest

from vaelab.files import atomic_write


def test_atomic_write_replaces_whole_and_respects_the_umask(tmp_path):
    target = tmp_path / "a" / "f.txt"
    old = os.umask(0o022)
    try:
        atomic_write(target, lambda tmp: tmp.write_text("one"))
    finally:
        os.umask(old)
    assert target.read_text() == "one"
    assert target.stat().st_mode & 0o777 == 0o644


def test_a_failed_write_keeps_the_old_file_and_leaves_no_temporary(tmp_path):
    target = tmp_path / "f.txt"
    target.write_text("old")

    def half_then_fail(tmp):
        tmp.write_text("half")
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        atomic_write(target, half_then_fail)
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["f.txt"]
