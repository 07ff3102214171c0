"""A host SIGINT sent to the lxfs process reaches the guest's foreground process group."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

SOURCE = r"""
#include <signal.h>
#include <string.h>
#include <unistd.h>
static void on_int(int sig) { write(1, "got SIGINT\n", 11); _exit(5); }
int main(void) {
    signal(SIGINT, on_int);
    write(1, "ready\n", 6);
    for (;;) pause();
}
"""


def test_host_sigint_is_forwarded_to_the_guest(tmp_path: Path) -> None:
    (tmp_path / "p.c").write_text(SOURCE)
    subprocess.run(["gcc", "-static", "-O2", "-o", str(tmp_path / "p"), str(tmp_path / "p.c")], check=True)
    proc = subprocess.Popen([sys.executable, "-m", "emulator", str(tmp_path / "p")], stdout=subprocess.PIPE)
    assert proc.stdout is not None
    assert proc.stdout.readline() == b"ready\n"
    time.sleep(0.2)
    proc.send_signal(signal.SIGINT)
    out, _ = proc.communicate(timeout=60)
    assert out == b"got SIGINT\n"
    assert proc.returncode == 5
