"""Fixtures for VolFs tests: a fresh image per test, checked by fsck at the end."""

from __future__ import annotations

import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from lxfs.volfs import fsck
from lxfs.volfs.volfs import VolFs

REG = stat.S_IFREG | 0o644
NOW = 1_700_000_000_123_456_789


@pytest.fixture
def image(tmp_path: Path) -> Path:
    return tmp_path / "test.lxfs"


@pytest.fixture
def fs(image: Path) -> Iterator[VolFs]:
    volfs = VolFs.create(image)
    yield volfs
    problems = fsck.check(volfs)
    volfs.close()
    assert problems == [], "fsck: " + "; ".join(map(str, problems))
    assert fsck.check(image) == []


def new_file(fs: VolFs, name: bytes, data: bytes = b"", parent: int = 1) -> int:
    ino = fs.create(parent, name, REG, 0, 0, 0, NOW)
    if data:
        fs.write(ino, 0, data)
    return ino


def names(fs: VolFs, dir_ino: int) -> list[bytes]:
    return [e.name for e in fs.readdir(dir_ino, 0)]
