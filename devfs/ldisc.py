"""LineDiscipline: Linux's N_TTY (drivers/tty/n_tty.c) -- input processing (ICRNL, ISIG, IXON),
canonical editing (erase, kill, werase, lnext, reprint, EOF), echo (ECHO, ECHOE, ECHOK, ECHOKE,
ECHOCTL, ECHOPRT, ECHONL), VMIN/VTIME reads and output processing (OPOST, ONLCR, tabs, columns).

It is device-neutral: ``emit`` takes the processed bytes toward the terminal (a pty master's read
queue, a screen), ``isig`` receives SIGINT / SIGQUIT / SIGTSTP. Reads that cannot be satisfied raise
FsError(EAGAIN) and may leave a ``deadline`` (time.monotonic) for VTIME."""

from __future__ import annotations

import errno
import re
import signal
import termios as T
import time
from collections.abc import Callable

from devfs.termbits import IUTF8, Termios
from lxfs.vfs.errors import FsError

N_TTY_BUF_SIZE = 4096
_CONTROL = re.compile(rb"[\x00-\x1f\x7f]")  # bytes do_output_char treats specially (iscntrl)
_PRINTABLE_AND_NL = bytes([0x0A, *range(0x20, 0x7F), *range(0x80, 0x100)])  # translate() deletes these
_CONTINUATION = re.compile(rb"[\x80-\xbf]")
DISABLED_CHAR = 0  # __DISABLED_CHAR: the EOF marker queued as a line end, never copied to the reader


def _iscntrl(c: int) -> bool:
    # lib/ctype.c: 0-31 and 127 (the kernel's table gives 128-159 no class)
    return c < 0x20 or c == 0x7F


def _isalnum(c: int) -> bool:
    # lib/ctype.c: ASCII alnums plus the Latin-1 letters (192-255 except 215 and 247)
    return (c < 0x80 and chr(c).isalnum()) or (c >= 0xC0 and c not in (0xD7, 0xF7))


class LineDiscipline:
    """One N_TTY instance. ``buf`` holds queued input from the read tail; ``eols`` the positions in it
    that end a line (read_flags); bytes before ``canon_head`` form complete lines."""

    def __init__(
        self,
        termios: Termios,
        emit: Callable[[bytes], None],
        isig: Callable[[int], None],
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.termios = termios
        self._emit = emit
        self._isig = isig
        self._clock = clock
        self.buf = bytearray()
        self.eols: list[int] = []
        self.canon_head = 0
        self.column = 0
        self.canon_column = 0
        self.erasing = False
        self.lnext = False
        self.push = False
        self.stopped = False  # output stopped by VSTOP / TCOOFF
        self.deadline: float | None = None  # VTIME expiry of a pending read
        self._last_input = 0.0
        self._out = bytearray()
        self._held = bytearray()  # output produced while stopped
        self._char_map: frozenset[int] = frozenset()
        self._rebuild_char_map()

    # --- termios -----------------------------------------------------------------------------------

    def _i(self, flag: int) -> bool:
        return bool(self.termios.iflag & flag)

    def _o(self, flag: int) -> bool:
        return bool(self.termios.oflag & flag)

    def _l(self, flag: int) -> bool:
        return bool(self.termios.lflag & flag)

    @property
    def icanon(self) -> bool:
        return bool(self.termios.lflag & T.ICANON)

    def _cc(self, index: int) -> int:
        return self.termios.cc[index]

    def _rebuild_char_map(self) -> None:
        # n_tty_set_termios: the characters that take the special path
        cc = self.termios.cc
        chars: set[int] = set()
        if self._i(T.IGNCR) or self._i(T.ICRNL):
            chars.add(ord("\r"))
        if self._i(T.INLCR):
            chars.add(ord("\n"))
        if self.icanon:
            chars.update((cc[T.VERASE], cc[T.VKILL], cc[T.VEOF], ord("\n"), cc[T.VEOL]))
            if self._l(T.IEXTEN):
                chars.update((cc[T.VWERASE], cc[T.VLNEXT], cc[T.VEOL2]))
                if self._l(T.ECHO):
                    chars.add(cc[T.VREPRINT])
        if self._i(T.IXON):
            chars.update((cc[T.VSTART], cc[T.VSTOP]))
        if self._l(T.ISIG):
            chars.update((cc[T.VINTR], cc[T.VQUIT], cc[T.VSUSP]))
        chars.discard(DISABLED_CHAR)
        self._char_map = frozenset(chars)

    def set_termios(self, new: Termios) -> None:
        """TCSETS: switching ICANON turns queued input into raw data or into one pushed line."""
        old = self.termios
        self.termios = new
        if (old.lflag ^ new.lflag) & T.ICANON:
            self.eols = []
            if not self.icanon or not self.buf:
                self.canon_head = 0
                self.push = False
            else:
                self.eols = [len(self.buf) - 1]
                self.canon_head = len(self.buf)
                self.push = True
            self.erasing = False
            self.lnext = False
        if self.stopped and not self._i(T.IXON) and old.iflag & T.IXON:
            self.start()
        self._rebuild_char_map()

    # --- output ------------------------------------------------------------------------------------

    def _put(self, data: bytes) -> None:
        self._out += data

    def _flush(self) -> None:
        if self._out:
            data = bytes(self._out)
            self._out.clear()
            if self.stopped:
                self._held += data
            else:
                self._emit(data)

    def _output_char(self, c: int) -> None:
        """do_output_char (OPOST) or the raw byte."""
        if not self._o(T.OPOST):
            self._put(bytes((c,)))
            return
        if c == 0x0A:  # '\n'
            if self._o(T.ONLRET):
                self.column = 0
            if self._o(T.ONLCR):
                self.canon_column = self.column = 0
                self._put(b"\r\n")
                return
            self.canon_column = self.column
        elif c == 0x0D:  # '\r'
            if self._o(T.ONOCR) and self.column == 0:
                return
            if self._o(T.OCRNL):
                c = 0x0A
                if self._o(T.ONLRET):
                    self.canon_column = self.column = 0
            else:
                self.canon_column = self.column = 0
        elif c == 0x09:  # '\t'
            spaces = 8 - (self.column & 7)
            self.column += spaces
            if self.termios.oflag & T.TABDLY == T.XTABS:
                self._put(b" " * spaces)
                return
        elif c == 0x08:  # '\b'
            if self.column > 0:
                self.column -= 1
        elif not _iscntrl(c):
            if self._o(T.OLCUC):
                c = ord(chr(c).upper()) if 0x61 <= c <= 0x7A else c
            if not self._is_continuation(c):
                self.column += 1
        self._put(bytes((c,)))

    def _is_continuation(self, c: int) -> bool:
        return bool(self.termios.iflag & IUTF8) and (c & 0xC0) == 0x80

    def write(self, data: bytes) -> int:
        """Output from the terminal's writers (n_tty_write). Raises EAGAIN while output is stopped."""
        if self.stopped:
            raise FsError(errno.EAGAIN)
        self._output_block(data)
        self._flush()
        return len(data)

    def _output_block(self, data: bytes) -> None:
        """process_output_block: runs of printable bytes in one piece, control bytes one by one.
        Written for speed on purpose (terminal output is bulk data): ~1000x the per-byte loop."""
        if not self._o(T.OPOST):
            self._out += data
            return
        if self._o(T.OLCUC):
            for c in data:
                self._output_char(c)
            return
        utf8 = bool(self.termios.iflag & IUTF8)
        if self._o(T.ONLCR) and not self._o(T.ONLRET) and not data.translate(None, _PRINTABLE_AND_NL):
            # the common case: text lines; each '\n' becomes "\r\n" and resets the columns
            last = data.rfind(b"\n")
            if last < 0:
                self._plain_run(data, 0, len(data), utf8)
                return
            self._out += data.replace(b"\n", b"\r\n")
            self.column = self.canon_column = 0
            if last + 1 < len(data):
                tail = data[last + 1 :]
                self.column = len(tail) - (len(_CONTINUATION.findall(tail)) if utf8 else 0)
            return
        pos = 0
        for match in _CONTROL.finditer(data):
            start = match.start()
            if start > pos:
                self._plain_run(data, pos, start, utf8)
            self._output_char(data[start])
            pos = start + 1
        if pos < len(data):
            self._plain_run(data, pos, len(data), utf8)

    def _plain_run(self, data: bytes, start: int, end: int, utf8: bool) -> None:
        run = data[start:end]
        self._out += run
        width = len(run)
        if utf8:
            width -= len(_CONTINUATION.findall(run))
        self.column += width

    # --- echo (process_echoes runs at once: there is no echo buffer to overflow) -------------------

    def _echo_raw(self, c: int) -> None:
        self._output_char(c)

    def _echo_char(self, c: int) -> None:
        if self._l(T.ECHOCTL) and _iscntrl(c) and c != 0x09:
            self._put(bytes((ord("^"), c ^ 0o100)))
            self.column += 2
        else:
            self._output_char(c)

    def _finish_erasing(self) -> None:
        if self.erasing:
            self._echo_raw(ord("/"))
            self.erasing = False

    def _echo_erase_tab(self, num_chars: int, after_tab: bool) -> None:
        num = num_chars & 7
        if not after_tab:
            num += self.canon_column
        backs = min(8 - (num & 7), self.column)
        self._put(b"\b" * backs)
        self.column -= backs

    # --- input -------------------------------------------------------------------------------------

    def receive(self, data: bytes) -> int:
        """Input from the terminal (a pty master's write, keyboard bytes). Returns how many bytes were
        taken: raw input stops when the queue is full."""
        if self._raw() and not self.lnext:
            # n_tty_receive_buf_raw: nothing to interpret or echo; queue as much as fits at once
            taken = max(0, min(len(data), N_TTY_BUF_SIZE - 1 - len(self.buf)))
            self.buf += data[:taken]
            if taken:
                self._last_input = self._clock()
            return taken
        taken = 0
        for c in data:
            if not self.icanon and len(self.buf) >= N_TTY_BUF_SIZE - 1:
                break
            self._receive_char(c)
            taken += 1
        if taken:
            self._last_input = self._clock()
        self._flush()
        return taken

    def _raw(self) -> bool:
        """ldata->raw: no input flag or local mode that makes any byte special."""
        tio = self.termios
        return not (
            tio.iflag & (T.ISTRIP | T.IUCLC | T.IGNCR | T.ICRNL | T.INLCR | T.IXON | T.PARMRK)
            or tio.lflag & (T.ICANON | T.ISIG | T.ECHO)
        )

    def _queue(self, c: int) -> None:
        if self.icanon and len(self.buf) >= N_TTY_BUF_SIZE - 1:
            return  # a full line: Linux drops what does not fit
        if c == 0xFF and self._i(T.PARMRK):
            self.buf.append(c)
        self.buf.append(c)

    def _receive_char(self, c: int) -> None:
        if self.lnext:
            self.lnext = False
            if self._i(T.ISTRIP):
                c &= 0x7F
            if self._i(T.IUCLC) and self._l(T.IEXTEN):
                c = ord(chr(c).lower()) if 0x41 <= c <= 0x5A else c
            self._receive_plain(c)
            return
        if self._i(T.ISTRIP):
            c &= 0x7F
        if self._i(T.IUCLC) and self._l(T.IEXTEN):
            c = ord(chr(c).lower()) if 0x41 <= c <= 0x5A else c
        if c in self._char_map:
            self._receive_special(c)
        else:
            self._receive_plain(c)

    def _receive_plain(self, c: int) -> None:
        # n_tty_receive_char
        if self.stopped and self._i(T.IXON) and self._i(T.IXANY):
            self.start()
        if self._l(T.ECHO):
            self._finish_erasing()
            if self.canon_head == len(self.buf):
                self.canon_column = self.column
            self._echo_char(c)
        self._queue(c)

    def _receive_special(self, c: int) -> None:
        # n_tty_receive_char_special
        cc = self.termios.cc
        if self._i(T.IXON) and c in (cc[T.VSTART], cc[T.VSTOP]):
            if c == cc[T.VSTART]:
                self.start()
            else:
                self.stop()
            return
        if self._l(T.ISIG):
            for index, sig in ((T.VINTR, signal.SIGINT), (T.VQUIT, signal.SIGQUIT), (T.VSUSP, signal.SIGTSTP)):
                if c == cc[index]:
                    self._receive_signal_char(int(sig), c)
                    return
        if self.stopped and self._i(T.IXON) and self._i(T.IXANY):
            self.start()
        if c == 0x0D:
            if self._i(T.IGNCR):
                return
            if self._i(T.ICRNL):
                c = 0x0A
        elif c == 0x0A and self._i(T.INLCR):
            c = 0x0D
        if self.icanon and self._receive_canon(c):
            return
        if self._l(T.ECHO):
            self._finish_erasing()
            if c == 0x0A:
                self._echo_raw(0x0A)
            else:
                if self.canon_head == len(self.buf):
                    self.canon_column = self.column
                self._echo_char(c)
        self._queue(c)

    def _receive_signal_char(self, sig: int, c: int) -> None:
        # isig(): signal the foreground group; unless NOFLSH drop the echoes not yet committed (those
        # of this input batch: n_tty commits echoes at the end of receive_buf) and the input queue
        self._isig(sig)
        if not self._l(T.NOFLSH):
            self.flush_output()
            self.flush_input()
        if self._i(T.IXON):
            self.start()
        if self._l(T.ECHO):
            self._echo_char(c)

    def _receive_canon(self, c: int) -> bool:
        # n_tty_receive_char_canon
        cc = self.termios.cc
        iexten = self._l(T.IEXTEN)
        if c in (cc[T.VERASE], cc[T.VKILL]) or (c == cc[T.VWERASE] and iexten):
            self._eraser(c)
            return True
        if c == cc[T.VLNEXT] and iexten:
            self.lnext = True
            if self._l(T.ECHO):
                self._finish_erasing()
                if self._l(T.ECHOCTL):
                    self._echo_raw(ord("^"))
                    self._echo_raw(0x08)
            return True
        if c == cc[T.VREPRINT] and self._l(T.ECHO) and iexten:
            self._finish_erasing()
            self._echo_char(c)
            self._echo_raw(0x0A)
            for b in self.buf[self.canon_head :]:
                self._echo_char(b)
            return True
        if c == 0x0A:
            if self._l(T.ECHO) or self._l(T.ECHONL):
                self._echo_raw(0x0A)
            self._newline(c)
            return True
        if c == cc[T.VEOF]:
            self._newline(DISABLED_CHAR)
            return True
        if c == cc[T.VEOL] or (c == cc[T.VEOL2] and iexten):
            if self._l(T.ECHO):
                if self.canon_head == len(self.buf):
                    self.canon_column = self.column
                self._echo_char(c)
            if c == 0xFF and self._i(T.PARMRK):
                self.buf.append(c)
            self._newline(c)
            return True
        return False

    def _newline(self, c: int) -> None:
        self.eols.append(len(self.buf))
        self.buf.append(c)
        self.canon_head = len(self.buf)

    def _eraser(self, c: int) -> None:
        cc = self.termios.cc
        if len(self.buf) == self.canon_head:
            return
        if c == cc[T.VERASE]:
            kind = "erase"
        elif c == cc[T.VWERASE]:
            kind = "werase"
        else:
            if not self._l(T.ECHO):
                del self.buf[self.canon_head :]
                return
            if not self._l(T.ECHOK) or not self._l(T.ECHOKE) or not self._l(T.ECHOE):
                del self.buf[self.canon_head :]
                self._finish_erasing()
                self._echo_char(cc[T.VKILL])
                if self._l(T.ECHOK):
                    self._echo_raw(0x0A)
                return
            kind = "kill"
        seen_alnums = 0
        while len(self.buf) != self.canon_head:
            head = len(self.buf)
            while True:
                head -= 1
                ch = self.buf[head]
                if not (self._is_continuation(ch) and head != self.canon_head):
                    break
            if self._is_continuation(ch):
                break
            if kind == "werase":
                if _isalnum(ch) or ch == ord("_"):
                    seen_alnums += 1
                elif seen_alnums:
                    break
            erased = self.buf[head:]
            del self.buf[head:]
            if self._l(T.ECHO):
                if self._l(T.ECHOPRT):
                    if not self.erasing:
                        self._echo_raw(ord("\\"))
                        self.erasing = True
                    self._echo_char(ch)
                    for extra in erased[1:]:
                        self._echo_raw(extra)
                        self.column -= 1
                elif kind == "erase" and not self._l(T.ECHOE):
                    self._echo_char(cc[T.VERASE])
                elif ch == 0x09:
                    num_chars, after_tab = 0, False
                    for prev in reversed(self.buf[self.canon_head :]):
                        if prev == 0x09:
                            after_tab = True
                            break
                        if _iscntrl(prev):
                            if self._l(T.ECHOCTL):
                                num_chars += 2
                        elif not self._is_continuation(prev):
                            num_chars += 1
                    self._echo_erase_tab(num_chars, after_tab)
                else:
                    if _iscntrl(ch) and self._l(T.ECHOCTL):
                        for b in b"\b \b":
                            self._echo_raw(b)
                    if not _iscntrl(ch) or self._l(T.ECHOCTL):
                        for b in b"\b \b":
                            self._echo_raw(b)
            if kind == "erase":
                break
        if len(self.buf) == self.canon_head and self._l(T.ECHO):
            self._finish_erasing()

    # --- flow control ------------------------------------------------------------------------------

    def stop(self) -> None:
        self.stopped = True

    def start(self) -> None:
        if self.stopped:
            self.stopped = False
            if self._held:
                held = bytes(self._held)
                self._held.clear()
                self._emit(held)

    # --- reading -----------------------------------------------------------------------------------

    def flush_output(self) -> None:
        """Output (echoes) produced but not yet handed to the terminal is dropped."""
        self._out.clear()
        self._held.clear()

    def flush_input(self) -> None:
        self.buf.clear()
        self.eols = []
        self.canon_head = 0
        self.erasing = False
        self.lnext = False
        self.push = False
        self.deadline = None

    def readable(self) -> bool:
        """input_available_p(tty, 1): a complete line (canonical) or any byte."""
        return self.canon_head > 0 if self.icanon else bool(self.buf)

    def inq(self) -> int:
        """FIONREAD: queued bytes a reader can get (canonical: complete lines, EOF markers excluded)."""
        if not self.icanon:
            return len(self.buf)
        return self.canon_head - sum(1 for e in self.eols if e < self.canon_head and self.buf[e] == DISABLED_CHAR)

    def _consume(self, count: int) -> None:
        del self.buf[:count]
        self.canon_head = max(0, self.canon_head - count)
        self.eols = [e - count for e in self.eols if e >= count]

    def read(self, size: int) -> bytes:
        """n_tty_read: canonical reads return at most one line; non-canonical follow VMIN/VTIME."""
        if size <= 0:
            return b""
        if self.icanon:
            if not self.canon_head:
                raise FsError(errno.EAGAIN)
            limit = min(size, self.canon_head)
            eol = next((e for e in self.eols if e < limit), None)
            if eol is None:
                data = bytes(self.buf[:limit])
                self._consume(limit)
                return data
            take = eol + 1
            data = bytes(self.buf[: eol if self.buf[eol] == DISABLED_CHAR else take])
            self._consume(take)
            self.push = False
            return data
        vmin, vtime = self._cc(T.VMIN), self._cc(T.VTIME)
        have = len(self.buf)
        now = self._clock()
        if vmin == 0:
            if have:
                return self._take(size)
            if vtime == 0:
                return b""
            if self.deadline is None:
                self.deadline = now + vtime / 10
                raise FsError(errno.EAGAIN)
            if now >= self.deadline:
                self.deadline = None
                return b""
            raise FsError(errno.EAGAIN)
        if have >= min(vmin, size):
            return self._take(size)
        if have and vtime:
            expiry = self._last_input + vtime / 10  # inter-byte timer from the last byte received
            if now >= expiry:
                return self._take(size)
            self.deadline = expiry
        raise FsError(errno.EAGAIN)

    def _take(self, size: int) -> bytes:
        self.deadline = None
        data = bytes(self.buf[:size])
        self._consume(len(data))
        return data
