"""Image import/export throughput: a host tree (many small files) and one large file, imported directly
and from a tar, exported, and the effect of batching import calls into one transaction.

    python bench/bench_images.py [--tree /usr/lib/python3.11] [--big-mib 256]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import tempfile
import time
from pathlib import Path

from lxfs.images import export_image, import_into
from lxfs.images.entries import Warn
from lxfs.images.imagefs import ImageFs
from lxfs.images.sink import ImageWriter
from lxfs.images.tarsource import read_tar


def timed(label: str, nbytes: int, nfiles: int, action: object) -> float:
    start = time.perf_counter()
    action()  # type: ignore[operator]
    took = time.perf_counter() - start
    print(f"{label:<44} {took:7.2f} s  {nbytes / took / 1e6:8.1f} MB/s  {nfiles / took:8.0f} entries/s")
    return took


def tree_size(root: str) -> tuple[int, int]:
    total, count = 0, 0
    for dirpath, _dirnames, filenames in os.walk(root):
        count += 1 + len(filenames)
        for name in filenames:
            st = os.lstat(os.path.join(dirpath, name))
            total += st.st_size
    return total, count


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tree", default="/usr/lib/python3.11")
    parser.add_argument("--big-mib", type=int, default=256)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(dir=os.environ.get("BENCH_DIR")) as tmp:
        t = Path(tmp)
        nbytes, nfiles = tree_size(args.tree)
        print(f"tree {args.tree}: {nfiles} entries, {nbytes / 1e6:.1f} MB")

        def fresh(name: str) -> Path:
            ImageFs.new_image(t / name).close()
            return t / name

        a = fresh("a.lxfs")
        timed("import host tree", nbytes, nfiles, lambda: import_into(a, args.tree, show_progress=False))
        timed("export to tar", nbytes, nfiles, lambda: export_image(a, t / "a.tar", show_progress=False))
        b = fresh("b.lxfs")
        timed("import that tar", nbytes, nfiles, lambda: import_into(b, t / "a.tar", show_progress=False))
        # The same without a transaction per member: every VFS call commits on its own.
        saved = ImageFs.transaction
        ImageFs.transaction = lambda self: contextlib.nullcontext()  # type: ignore[method-assign,assignment,return-value]
        try:
            c = fresh("c.lxfs")
            timed("import that tar, one commit per VFS call", nbytes, nfiles, lambda: import_into(c, t / "a.tar"))
        finally:
            ImageFs.transaction = saved  # type: ignore[method-assign]
        # And as one transaction for the whole archive.
        e = fresh("e.lxfs")

        def one_transaction() -> None:
            with ImageFs.open(e) as image:
                writer = ImageWriter(image, Warn())
                with image.transaction():
                    writer.put_all(read_tar(t / "a.tar", Warn()))
                writer.finish()

        timed("import that tar, one transaction", nbytes, nfiles, one_transaction)
        (t / "bigdir").mkdir()
        big = t / "bigdir" / "big"
        with open(big, "wb") as f:
            for _ in range(args.big_mib):
                f.write(os.urandom(1 << 20))
        size = args.big_mib << 20
        d = fresh("d.lxfs")
        timed(f"import one {args.big_mib} MiB file", size, 1, lambda: import_into(d, big.parent, show_progress=False))
        timed(f"export one {args.big_mib} MiB file", size, 1, lambda: export_image(d, t / "d.tar", show_progress=False))


if __name__ == "__main__":
    main()
