"""Import and export against the host: a host tree imported (directly or as a GNU tar) reads back from
the image field by field; import(export(image)) == image; GNU tar extracts our export to the same
tree; sparse files stay sparse. Every image ends fsck clean."""

from __future__ import annotations

import os
import stat
import subprocess
from pathlib import Path

import pytest

from lxfs.images import Warn, export_image, import_into, init_image
from lxfs.images.hostsource import read_host_tree
from lxfs.images.imagefs import ImageFs
from lxfs.images.imagesource import read_image
from lxfs.volfs import fsck
from tests.images.trees import GNU_TAR_CREATE, MIB, first_difference, make_tree, snapshot


@pytest.fixture(scope="module")
def tree(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    return make_tree(tmp_path_factory.mktemp("tree") / "root")


def empty_image(path: Path) -> Path:
    """A bare image (only the root directory), so the tree's root becomes the image's root."""
    ImageFs.new_image(path).close()
    return path


def image_snapshot(path: Path, root: bytes = b"/", atime: bool = True) -> dict:
    with ImageFs.open(path, readonly=True) as image:
        return snapshot((e for e, _ in read_image(image, root)), atime=atime)


def host_snapshot(root: bytes) -> dict:
    return snapshot(read_host_tree(root, Warn()), atime=False)


def assert_clean(path: Path) -> None:
    assert [str(p) for p in fsck.check(path)] == []


def blocks_of(path: Path, name: bytes) -> tuple[int, int]:
    with ImageFs.open(path, readonly=True) as image:
        st = image.lstat(name)
        assert st is not None
        return st.st_blocks, st.st_size


def test_host_directory_import_reads_back_as_the_host_tree(tree: bytes, tmp_path: Path) -> None:
    img = empty_image(tmp_path / "a.lxfs")
    warn = Warn()
    result = import_into(img, os.fsdecode(tree), warn=warn, show_progress=False)
    assert warn.messages == [f"{os.fsdecode(tree)}/sock: socket ignored"]
    assert result.problems == 0  # GNU tar too: a socket is ignored with a warning
    assert first_difference(host_snapshot(tree), image_snapshot(img, atime=False)) is None
    # Sparse files stay sparse: only the chunks holding data are stored.
    blocks, size = blocks_of(img, b"/sparse")
    assert size == 10 * MIB and blocks * 512 <= 3 * 128 * 1024
    blocks, size = blocks_of(img, b"/zeros")
    assert blocks == 0 and size == 300_000
    assert_clean(img)


def test_gnu_tar_import_reads_back_as_the_host_tree(tree: bytes, tmp_path: Path) -> None:
    tar = tmp_path / "t.tar.xz"
    subprocess.run(
        [*GNU_TAR_CREATE, "--sparse", "-J", "-C", os.fsdecode(tree), "-cf", str(tar), "."],
        check=True,
        capture_output=True,
    )
    img = empty_image(tmp_path / "a.lxfs")
    warn = Warn()
    import_into(img, tar, warn=warn, show_progress=False)
    assert warn.problems == 0, warn.messages
    assert first_difference(host_snapshot(tree), image_snapshot(img, atime=False)) is None
    assert blocks_of(img, b"/sparse")[0] * 512 <= 3 * 128 * 1024
    assert_clean(img)


@pytest.mark.parametrize("suffix", [".tar", ".tar.gz", ".tar.zst"])
def test_export_then_import_is_the_same_image(tree: bytes, tmp_path: Path, suffix: str) -> None:
    first = empty_image(tmp_path / "a.lxfs")
    import_into(first, os.fsdecode(tree), show_progress=False)
    out = tmp_path / f"out{suffix}"
    export_image(first, out, show_progress=False)
    second = empty_image(tmp_path / "b.lxfs")
    warn = Warn()
    import_into(second, out, warn=warn, show_progress=False)
    assert warn.problems == 0, warn.messages
    assert first_difference(image_snapshot(first), image_snapshot(second)) is None  # atimes included
    assert blocks_of(second, b"/sparse") == blocks_of(first, b"/sparse")
    assert blocks_of(second, b"/sparse_tail")[0] * 512 <= 128 * 1024
    assert_clean(first)
    assert_clean(second)


def test_gnu_tar_extracts_our_export_as_the_original_tree(tree: bytes, tmp_path: Path) -> None:
    img = empty_image(tmp_path / "a.lxfs")
    import_into(img, os.fsdecode(tree), show_progress=False)
    out = tmp_path / "out.tar"
    export_image(img, out, show_progress=False)
    dest = tmp_path / "extracted"
    dest.mkdir()
    subprocess.run(
        ["tar", "--xattrs", "--xattrs-include=*", "--numeric-owner", "-xpf", str(out), "-C", str(dest)],
        check=True,
        capture_output=True,
    )
    assert first_difference(host_snapshot(tree), host_snapshot(os.fsencode(dest))) is None
    # GNU tar recreated the holes from our PAX sparse map.
    assert os.stat(dest / "sparse").st_blocks * 512 < MIB
    assert_clean(img)


def test_import_under_a_path_keeps_the_rest_of_the_image(tree: bytes, tmp_path: Path) -> None:
    img = tmp_path / "a.lxfs"
    init_image(img)
    import_into(img, os.fsdecode(tree), dest=b"/srv", show_progress=False)
    assert first_difference(host_snapshot(tree), image_snapshot(img, b"/srv", atime=False)) is None
    with ImageFs.open(img, readonly=True) as image:
        st = image.lstat(b"/tmp")
        assert st is not None and stat.S_IMODE(st.st_mode) == 0o1777
    assert_clean(img)
