"""core.fsutil.read_bounded: no reader takes more than its limit."""

from __future__ import annotations

import os

import pytest

from core.fsutil import FileTooLarge, read_bounded


def test_reads_a_file_within_the_limit(tmp_path):
    path = tmp_path / "a.txt"
    path.write_bytes(b"x" * 10)
    assert read_bounded(path, 10) == b"x" * 10


def test_a_file_over_the_limit_is_refused_before_reading(tmp_path):
    path = tmp_path / "big.txt"
    path.write_bytes(b"x" * 11)
    with pytest.raises(FileTooLarge) as caught:
        read_bounded(path, 10)
    assert caught.value.size == 11 and caught.value.limit == 10


@pytest.mark.skipif(not os.path.exists("/dev/zero"), reason="needs a POSIX /dev/zero")
def test_a_device_that_says_it_is_empty_is_still_bounded(tmp_path):
    # /dev/zero reports size 0 and never ends: the read stops at the limit.
    link = tmp_path / "zero.txt"
    link.symlink_to("/dev/zero")
    with pytest.raises(FileTooLarge):
        read_bounded(link, 1000)


def test_errors_of_the_file_system_pass_through(tmp_path):
    with pytest.raises(FileNotFoundError):
        read_bounded(tmp_path / "missing.txt", 10)
