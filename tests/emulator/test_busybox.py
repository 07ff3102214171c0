"""Debian's busybox-static inside the emulator against the same files run natively with chroot: the
same tree (busybox, its applet links, /etc, /work test data) is imported into an image and used as a
chroot; every script's stdout and exit status must be identical."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from lxfs.images import import_into, init_image
from lxfs.images.fromhost import MIN_ETC
from lxfs.images.layout import BUSYBOX, busybox_applets
from tests.emulator.fs_harness import LXFS, first_difference

ENV = {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "HOME": "/root"}
MTIME = 1_700_000_000


def _make_tree(root: Path) -> None:
    (root / "bin").mkdir(parents=True)
    shutil.copy2(os.path.realpath(BUSYBOX), root / "bin" / "busybox")
    for applet in busybox_applets(BUSYBOX):
        if b"/" not in applet or applet == b"bin/busybox":
            continue
        link = root / os.fsdecode(applet)
        link.parent.mkdir(parents=True, exist_ok=True)
        if not link.exists():
            os.symlink("/bin/busybox", link)
    for path, content in MIN_ETC.items():
        target = root / os.fsdecode(path).lstrip("/")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(content)
    for d in ("proc", "dev", "root", "tmp", "work/data/sub"):
        (root / d).mkdir(parents=True, exist_ok=True)
    os.chmod(root / "tmp", 0o1777)
    data = root / "work" / "data"
    (data / "lines").write_text("".join(f"line {i} {'x' * (i % 4)}\n" for i in range(1, 21)))
    (data / "nums").write_text("".join(f"{(i * 37) % 101}\n" for i in range(30)))
    (data / "words").write_text("banana apple cherry\napple date\nfig banana apple\n")
    (data / "big").write_bytes(bytes((i * 7 + i // 251) & 0xFF for i in range(300_000)))
    (data / "sub" / "inner").write_text("inner file\n")
    os.symlink("lines", data / "link")
    os.chmod(data / "nums", 0o600)
    for p in [data / "lines", data / "nums", data / "words", data / "big", data / "sub" / "inner", data / "sub", data]:
        os.utime(p, (MTIME, MTIME))


@pytest.fixture(scope="module")
def system(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, Path]]:
    """(chroot tree with /proc mounted, image made from the same tree)."""
    if not os.path.exists(BUSYBOX):
        pytest.skip("busybox-static is not installed")
    base = tmp_path_factory.mktemp("busybox")
    tree = base / "tree"
    _make_tree(tree)
    image = base / "image.lxfs"
    init_image(image)
    import_into(image, tree, show_progress=False)
    for name, minor in (("null", 3), ("zero", 5), ("urandom", 9)):
        os.mknod(tree / "dev" / name, stat.S_IFCHR | 0o666, os.makedev(1, minor))
    mounted = subprocess.run(["mount", "-t", "proc", "proc", str(tree / "proc")], capture_output=True).returncode == 0
    try:
        yield tree, image
    finally:
        if mounted:
            subprocess.run(["umount", "-l", str(tree / "proc")], capture_output=True)


def native(tree: Path, script: str, stdin: bytes = b"") -> tuple[bytes, int]:
    p = subprocess.run(
        ["chroot", str(tree), "/bin/sh", "-c", f"cd /work && {{\n{script}\n}}"],
        input=stdin,
        capture_output=True,
        env=ENV,
        timeout=120,
    )
    return p.stdout, p.returncode


def emulated(image: Path, script: str, stdin: bytes = b"") -> tuple[bytes, int, bytes]:
    env = {k: v for k, v in os.environ.items() if k != "TERM"}
    p = subprocess.run(
        [*LXFS, "run", str(image), "--cwd", "/work", "--", "/bin/sh", "-c", f"{{\n{script}\n}}"],
        input=stdin,
        capture_output=True,
        env=env,
        timeout=300,
    )
    return p.stdout, p.returncode, p.stderr


SCRIPTS = {
    "shell_constructs": r"""
x=$(echo hello | tr a-z A-Z); echo "$x"
(cd /tmp && pwd); pwd
for i in 1 2 3; do echo "n=$i" | sed 's/n/N/'; done
i=0; while [ $i -lt 5 ]; do i=$((i+1)); done; echo "i=$i"
case foo in f*) echo match;; esac
{ echo a; echo c; echo b; } | sort -r
f() { echo "func $1"; return 3; }; f arg; echo "rc=$?"
false || echo alt; true && echo both
mkdir -p /tmp/sc && echo out > /tmp/sc/f; echo more >> /tmp/sc/f; wc -l < /tmp/sc/f; cat /tmp/sc/f
echo to-stderr >&2; ls /nonexistent 2>/dev/null || echo "ls failed $?"
exec 3>/tmp/sc/fd3; echo via3 >&3; exec 3>&-; cat /tmp/sc/fd3
read a b <<EOF
first second third
EOF
echo "a=$a b=$b"
set -- x y z; echo "$# $2"
echo $(( 6 * 7 )) ${HOME} ${UNSET:-default}
""",
    "traps_and_subshells": r"""
trap 'echo exit-trap' EXIT
trap 'echo got-usr1' USR1
kill -USR1 $$
( exit 7 ); echo "subshell=$?"
sh -c 'exit 9'; echo "child=$?"
v=$( (echo inner; exit 2) ); echo "v=$v rc=$?"
echo body
""",
    "ls_cp_mv_rm_find": r"""
ls; ls -l data/lines data/nums data/link; ls -a data | sort
rm -rf /tmp/t1; mkdir /tmp/t1
cp -a data /tmp/t1/copy
find /tmp/t1/copy -type f | sort | xargs ls -l
find /tmp/t1 -name 'l*' | sort
mv /tmp/t1/copy /tmp/t1/moved; ls /tmp/t1
mv /tmp/t1/moved/words /tmp/t1/w; cat /tmp/t1/w
rm -r /tmp/t1/moved; ls /tmp/t1; rm -r /tmp/t1; ls /tmp/t1 2>/dev/null || echo gone
find data -type d | sort; find data -size +100k
""",
    "tar_gzip": r"""
rm -rf /tmp/t2; mkdir /tmp/t2
tar cf /tmp/t2/a.tar data
tar tf /tmp/t2/a.tar | sort
mkdir /tmp/t2/x; tar xf /tmp/t2/a.tar -C /tmp/t2/x
cd /tmp/t2/x && md5sum data/lines data/big data/sub/inner && readlink data/link && ls -l data/link | cut -c1-10 && cd /work
gzip -c -n data/big > /tmp/t2/big.gz; ls -l /tmp/t2/big.gz | awk '{print $5}'
gzip -dc /tmp/t2/big.gz | md5sum
tar czf /tmp/t2/b.tgz data/words data/sub; tar tzf /tmp/t2/b.tgz | sort
gzip /tmp/t2/a.tar; ls /tmp/t2; gunzip /tmp/t2/a.tar.gz; ls /tmp/t2
""",
    "text_tools": r"""
sed -n '2,4p' data/lines; sed 's/line/LINE/g' data/lines | tail -2
awk -F: '{s+=$3} END {print s, NR}' /etc/passwd
awk '{for (i=1;i<=NF;i++) c[$i]++} END {for (w in c) print w, c[w]}' data/words | sort
sort -n -r data/nums | head -3; sort -u data/nums | wc -l
grep -c xx data/lines; grep -n 'line 1[0-2]' data/lines; grep -v x data/lines | head -2
seq 1 10 | xargs -n 3 echo; echo a b c | xargs -n1 | sort -r
wc data/lines; wc -c data/big
md5sum data/lines data/words; sha256sum data/nums
cut -d' ' -f2 data/words; tr 'a-z' 'A-Z' < data/words | head -1; uniq -c data/nums | head -3
head -c 100 data/big | od -An -tx1 | head -2
""",
    "dd_and_devices": r"""
dd if=data/big of=/tmp/dd.out bs=1000 count=5 2>/dev/null; wc -c /tmp/dd.out
dd if=/dev/zero bs=512 count=3 2>/dev/null | wc -c
dd if=data/big bs=4096 skip=10 count=2 2>/dev/null | md5sum
head -c 1000 /dev/urandom | wc -c
echo discarded > /dev/null; cat /dev/null | wc -c
rm /tmp/dd.out
mknod /tmp/mynull c 1 3 && echo x > /tmp/mynull && wc -c < /tmp/mynull && ls -l /tmp/mynull | cut -c1-10
head -c 10 /tmp/mynull | wc -c; rm /tmp/mynull
mknod /tmp/myzero c 1 5 && head -c 7 /tmp/myzero | od -An -tx1; rm /tmp/myzero
mkfifo /tmp/fifo1; (echo through-fifo > /tmp/fifo1 &); cat /tmp/fifo1; rm /tmp/fifo1
""",
    "processes": r"""
sleep 5 & pid=$!
kill $pid; wait $pid; echo "status=$?"
sleep 0.1; echo slept
date -u -d @1234567890 '+%Y-%m-%d %H:%M:%S'
TZ=UTC date -d @0 '+%A %B %d %Y'
test $(date +%Y) -ge 2024 && echo year-ok
(sleep 0.2; echo late) & echo early; wait
""",
    "pipeline_exit_codes": r"""
echo abc | grep -q b; echo "grep=$?"
yes | head -3
seq 1 100000 | tail -1
cat data/big | md5sum
sh -c 'kill -TERM $$'; echo "killed=$?"
exit 5
""",
}


PS_SCRIPT = r"""
ps -o pid,comm | grep -c "^ *[0-9]* ps$"
sleep 2 & sleep 0.5; ps -o pid,comm | grep -c "^ *$! sleep"; kill $! 2>/dev/null; wait
"""


def test_busybox_ps_sees_guest_processes(system: tuple[Path, Path]) -> None:
    pytest.importorskip("emulator.procsource", reason="the kernel's ProcessSource (for /proc) is not there yet")
    tree, image = system
    want, want_status = native(tree, PS_SCRIPT)
    got, status, err = emulated(image, PS_SCRIPT)
    assert got == want, f"{first_difference(want, got)}\n{err.decode(errors='replace')[-2000:]}"
    assert status == want_status


@pytest.mark.parametrize("name", sorted(SCRIPTS))
def test_busybox_script_matches_chroot(name: str, system: tuple[Path, Path]) -> None:
    tree, image = system
    script = SCRIPTS[name]
    want, want_status = native(tree, script)
    got, status, err = emulated(image, script)
    assert got == want, f"{name}: {first_difference(want, got)}\n{err.decode(errors='replace')[-2000:]}"
    assert status == want_status, err.decode(errors="replace")[-2000:]


def test_busybox_reads_stdin_and_writes_stdout(system: tuple[Path, Path]) -> None:
    tree, image = system
    data = b"".join(b"row %d\n" % i for i in range(2000))
    want, _ = native(tree, "sort -r | head -5; wc -l", data)
    got, status, err = emulated(image, "sort -r | head -5; wc -l", data)
    assert got == want, err.decode(errors="replace")[-2000:]
    assert status == 0
