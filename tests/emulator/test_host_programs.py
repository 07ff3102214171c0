"""The host's dynamic programs inside the emulator, from an image made with ``--from-host`` (the
programs, their shared libraries and the loader): each script runs natively in a fresh host directory
and inside the image in a fresh directory; stdout and exit status must be identical."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from lxfs.images import init_image
from tests.emulator.fs_harness import LXFS, first_difference

PROGRAMS = [
    "bash", "ls", "cp", "mv", "rm", "mkdir", "cat", "stat", "sort", "sha256sum", "grep", "sed", "find", "tar",
    "cut", "tr", "seq",
]  # fmt: skip
PYTHON = "/usr/bin/python3.11"
PYTHON_PACKAGES = ["libpython3.11-minimal", "libpython3.11-stdlib"]
ENV = {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "HOME": "/root", "LC_ALL": "C"}


@pytest.fixture(scope="module")
def image(tmp_path_factory: pytest.TempPathFactory) -> Path:
    missing = [p for p in PROGRAMS if shutil.which(p, path=ENV["PATH"]) is None]
    if missing:
        pytest.skip(f"not on the host: {missing}")
    path = tmp_path_factory.mktemp("hostprogs") / "host.lxfs"
    extra = [PYTHON, *PYTHON_PACKAGES] if os.path.exists(PYTHON) else []
    init_image(path, from_host=PROGRAMS + extra)
    return path


def native(script: str, cwd: Path, program: list[str]) -> tuple[bytes, int]:
    cwd.mkdir(parents=True, exist_ok=True)
    p = subprocess.run([*program, script], cwd=cwd, capture_output=True, env=ENV, timeout=120, stdin=subprocess.DEVNULL)
    return p.stdout, p.returncode


def emulated(image: Path, script: str, program: list[str]) -> tuple[bytes, int, bytes]:
    env = {**{k: v for k, v in os.environ.items() if k != "TERM"}}
    args = [*LXFS, "run", str(image), "--cwd", "/tmp", "--env", "LC_ALL=C", "--", *program, script]
    p = subprocess.run(args, capture_output=True, env=env, timeout=600, stdin=subprocess.DEVNULL)
    return p.stdout, p.returncode, p.stderr


BASH_SCRIPT = r"""
set -e
mkdir w && cd w
greet() { local who=$1; echo "hello, $who"; return 0; }
greet world
total=0
for n in $(seq 1 5 2>/dev/null || echo 1 2 3 4 5); do total=$((total + n)); done
echo "total=$total"
words=(pear apple fig); echo "${#words[@]} ${words[1]}"
printf '%s\n' c a b | sort > sorted.txt
cat sorted.txt | grep -v b | sed 's/^/item: /'
echo "data line" > a.txt; cp a.txt b.txt; mv b.txt c.txt
ls -1; ls -l a.txt c.txt | cut -d' ' -f1,5,9
stat -c '%n %s %a %F' a.txt c.txt
sha256sum a.txt c.txt
mkdir -p tree/sub && echo x > tree/sub/f && echo y > tree/g
find tree | sort
tar cf t.tar tree && rm -r tree && tar xf t.tar && find tree -type f | sort
grep -rn x tree | sort
upper=$(tr a-z A-Z < a.txt); echo "$upper"
(exit 3) || echo "subshell failed with $?"
trap 'echo bye' EXIT
"""

PYTHON_SCRIPT = r"""
import hashlib, json, os, re, subprocess, sys, tempfile, collections
os.mkdir("pw"); os.chdir("pw")
with open("f.txt", "w") as f:
    f.write("alpha beta\ngamma\n")
print(json.dumps({"k": [1, 2.5, None], "s": "x"}, sort_keys=True))
print(hashlib.sha256(open("f.txt", "rb").read()).hexdigest())
print(re.findall(r"[a-z]+a\b", open("f.txt").read()))
print(collections.Counter("mississippi").most_common(2))
print(sorted(os.listdir(".")), os.path.getsize("f.txt"))
with tempfile.TemporaryDirectory(dir=".") as d:
    open(os.path.join(d, "x"), "w").close()
    print(len(os.listdir(d)))
print(sum(i * i for i in range(10000)), 2 ** 100, 1 / 3)
r, w = os.pipe()
pid = os.fork()
if pid == 0:
    os.close(r); os.write(w, b"from child"); os._exit(4)
os.close(w)
print(os.read(r, 100).decode(), os.waitpid(pid, 0)[1] >> 8)
"""


def test_bash_coreutils_script_matches_native(image: Path, tmp_path: Path) -> None:
    want, want_status = native(BASH_SCRIPT, tmp_path / "native", ["bash", "-c"])
    got, status, err = emulated(image, BASH_SCRIPT, ["/usr/bin/bash", "-c"])
    assert got == want, f"{first_difference(want, got)}\n{err.decode(errors='replace')[-3000:]}"
    assert status == want_status


@pytest.mark.slow
def test_python_with_stdlib_matches_native(image: Path, tmp_path: Path) -> None:
    if not os.path.exists(PYTHON):
        pytest.skip("no Debian python3.11 on the host")
    want, want_status = native(PYTHON_SCRIPT, tmp_path / "native", [PYTHON, "-c"])
    got, status, err = emulated(image, PYTHON_SCRIPT, [PYTHON, "-c"])
    assert got == want, f"{first_difference(want, got)}\n{err.decode(errors='replace')[-3000:]}"
    assert status == want_status
