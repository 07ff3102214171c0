"""HostConsole: the user's terminal as a guest pseudo-terminal (what `lxfs shell` runs on).

The host tty is put in raw mode and only relays bytes; the guest's own line discipline (a devpts pair)
does echo, line editing and ISIG, so Ctrl-C / Ctrl-Z reach the guest's foreground process group as
on Linux. The emulator's selector calls ``pump_input`` when ``in_fd`` is readable and ``resize``
on the host's SIGWINCH; output the guest writes reaches ``out_fd`` at once.
"""

from __future__ import annotations

import errno
import fcntl
import os
import termios as T

from devfs.pty import Devpts, PtyMaster, PtySlaveFile
from devfs.termbits import Winsize
from lxfs.vfs.errors import FsError

_RAW_LFLAG_OFF = T.ECHO | T.ICANON | T.IEXTEN | T.ISIG
_RAW_IFLAG_OFF = T.BRKINT | T.ICRNL | T.INPCK | T.ISTRIP | T.IXON


class HostConsole:
    """A devpts pair whose master is wired to host fds (``in_fd`` typed bytes, ``out_fd`` the screen)."""

    def __init__(self, devpts: Devpts, in_fd: int = 0, out_fd: int = 1, uid: int = 0) -> None:
        self.devpts = devpts
        self.in_fd = in_fd
        self.out_fd = out_fd
        self.master: PtyMaster = devpts.open_master(uid=uid)  # the guest user owns its terminal
        self.master.pair.locked = False
        self.index = self.master.pair.index
        self.master.waitq.add(self._on_output)
        self._saved: list[int | list[bytes | int]] | None = None
        self.host_is_tty = os.isatty(in_fd)
        self.closed = False
        self.input_ended = False
        self.resize_requested = False  # set by a SIGWINCH handler; the owner's loop calls resize()

    @property
    def slave_path(self) -> bytes:
        return b"/dev/pts/%d" % self.index

    def open_slave(self, flags: int = os.O_RDWR) -> PtySlaveFile:
        return self.devpts.open_slave(self.index, flags)

    # --- host terminal modes ---

    def enter_raw(self) -> None:
        """cfmakeraw-like host modes (output processing is the guest's ONLCR); the size is copied in."""
        if not self.host_is_tty or self._saved is not None:
            return
        self._saved = T.tcgetattr(self.in_fd)
        mode = T.tcgetattr(self.in_fd)
        mode[0] &= ~_RAW_IFLAG_OFF
        mode[1] &= ~T.OPOST
        mode[3] &= ~_RAW_LFLAG_OFF
        mode[6][T.VMIN] = 1
        mode[6][T.VTIME] = 0
        T.tcsetattr(self.in_fd, T.TCSAFLUSH, mode)
        self.resize()

    def restore(self) -> None:
        if self._saved is not None:
            T.tcsetattr(self.in_fd, T.TCSAFLUSH, self._saved)
            self._saved = None

    def resize(self) -> None:
        """Copy the host window size to the guest terminal (SIGWINCH to its foreground group)."""
        if not self.host_is_tty:
            return
        size = fcntl.ioctl(self.in_fd, T.TIOCGWINSZ, bytes(8))
        self.master.pair.tty.resize(Winsize.unpack(size))

    # --- relaying ---

    def pump_input(self) -> bool:
        """Move what the user typed into the guest terminal. False once the host input ended: the
        guest then reads end-of-file, as if the user typed the EOF character (``echo cmds | lxfs
        shell`` runs the commands and exits); ``close`` hangs the terminal up."""
        if self.input_ended:
            return False
        try:
            data = os.read(self.in_fd, 4096)
        except BlockingIOError:
            return True
        except OSError as exc:
            if exc.errno != errno.EIO:
                raise
            data = b""
        if not data:
            self.input_ended = True
            termios_ = self.master.pair.tty.termios
            if termios_.lflag & T.ICANON and termios_.cc[T.VEOF]:
                self.master.write(None, bytes((termios_.cc[T.VEOF],)), 0)  # type: ignore[arg-type]
            return False
        while data:
            try:
                taken = self.master.write(None, data, 0)  # type: ignore[arg-type]
            except FsError as exc:
                if exc.errno != errno.EAGAIN:
                    raise
                break  # the guest is not reading: drop the rest, as a full tty buffer does
            data = data[taken:]
        return True

    def _on_output(self, mask: int) -> None:
        pair = self.master.pair
        if pair.out:
            data = bytes(pair.out)
            pair.out.clear()
            view = memoryview(data)
            while view:
                written = os.write(self.out_fd, view)
                view = view[written:]

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self.master.waitq.remove(self._on_output)
            self.master.release(None)  # type: ignore[arg-type]
