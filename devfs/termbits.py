"""The kernel's terminal records and tty ioctl numbers as x86-64 Linux lays them out: struct termios
(36 bytes, NCCS = 19, what TCGETS copies), struct termios2 (44 bytes, with speeds) and struct winsize."""

from __future__ import annotations

import struct
import termios as T
from dataclasses import dataclass, field

# include/uapi/asm-generic/termbits.h: the kernel's NCCS (glibc's struct termios has 32)
KERNEL_NCCS = 19
TERMIOS_FMT = "<4IB19s"  # c_iflag c_oflag c_cflag c_lflag c_line c_cc[19]
TERMIOS2_FMT = "<4IB19s2I"  # ... c_ispeed c_ospeed
TERMIOS_SIZE = struct.calcsize(TERMIOS_FMT)  # 36
TERMIOS2_SIZE = struct.calcsize(TERMIOS2_FMT)  # 44
WINSIZE_FMT = "<4H"

# include/uapi/asm-generic/ioctls.h (the ones Python's termios module lacks)
TCGETS2 = 0x802C542A
TCSETS2 = 0x402C542B
TCSETSW2 = 0x402C542C
TCSETSF2 = 0x402C542D
TIOCGSID = 0x5429
TIOCGPTN = 0x80045430
TIOCSPTLCK = 0x40045431
TIOCGDEV = 0x80045432
TIOCSIG = 0x40045436
TIOCGPTLCK = 0x80045439
TIOCGPTPEER = 0x5441
TIOCVHANGUP = 0x5437
IUTF8 = 0o040000  # include/uapi/asm-generic/termbits.h
BOTHER = 0o010000
EXTPROC = 0o200000
POSIX_VDISABLE = 0  # _POSIX_VDISABLE: a c_cc slot set to 0 is disabled

# drivers/tty/tty_io.c tty_std_termios and include/linux/tty.h INIT_C_CC
INIT_C_CC = bytes(
    [
        0o003,  # VINTR ^C
        0o034,  # VQUIT ^\
        0o177,  # VERASE DEL
        0o025,  # VKILL ^U
        0o004,  # VEOF ^D
        0,  # VTIME
        1,  # VMIN
        0,  # VSWTC
        0o021,  # VSTART ^Q
        0o023,  # VSTOP ^S
        0o032,  # VSUSP ^Z
        0,  # VEOL
        0o022,  # VREPRINT ^R
        0o017,  # VDISCARD ^O
        0o027,  # VWERASE ^W
        0o026,  # VLNEXT ^V
        0,  # VEOL2
        0,
        0,
    ]
)
STD_IFLAG = T.ICRNL | T.IXON
STD_OFLAG = T.OPOST | T.ONLCR
STD_CFLAG = T.B38400 | T.CS8 | T.CREAD | T.HUPCL
STD_LFLAG = T.ISIG | T.ICANON | T.ECHO | T.ECHOE | T.ECHOK | T.ECHOCTL | T.ECHOKE | T.IEXTEN
# drivers/tty/pty.c: both sides of a pty pair use this c_cflag; the master side starts raw
PTM_CFLAG = T.B38400 | T.CS8 | T.CREAD
BAUD_38400 = 38400


@dataclass(slots=True)
class Termios:
    """struct termios (+ termios2 speeds)."""

    iflag: int = STD_IFLAG
    oflag: int = STD_OFLAG
    cflag: int = STD_CFLAG
    lflag: int = STD_LFLAG
    line: int = 0
    cc: bytearray = field(default_factory=lambda: bytearray(INIT_C_CC))
    ispeed: int = BAUD_38400
    ospeed: int = BAUD_38400

    @classmethod
    def pty_slave(cls) -> Termios:
        """drivers/tty/pty.c: tty_std_termios with c_cflag = B38400 | CS8 | CREAD (no HUPCL)."""
        return cls(cflag=PTM_CFLAG)

    @classmethod
    def master(cls) -> Termios:
        return cls(iflag=0, oflag=0, cflag=PTM_CFLAG, lflag=0)

    def pack(self) -> bytes:
        return struct.pack(TERMIOS_FMT, self.iflag, self.oflag, self.cflag, self.lflag, self.line, bytes(self.cc))

    def pack2(self) -> bytes:
        return struct.pack(
            TERMIOS2_FMT, self.iflag, self.oflag, self.cflag, self.lflag, self.line, bytes(self.cc),
            self.ispeed, self.ospeed,
        )  # fmt: skip

    @classmethod
    def unpack(cls, data: bytes) -> Termios:
        iflag, oflag, cflag, lflag, line, cc = struct.unpack(TERMIOS_FMT, data[:TERMIOS_SIZE])
        return cls(iflag, oflag, cflag, lflag, line, bytearray(cc))

    @classmethod
    def unpack2(cls, data: bytes) -> Termios:
        iflag, oflag, cflag, lflag, line, cc, ispeed, ospeed = struct.unpack(TERMIOS2_FMT, data[:TERMIOS2_SIZE])
        return cls(iflag, oflag, cflag, lflag, line, bytearray(cc), ispeed, ospeed)

    def copy(self) -> Termios:
        return Termios(self.iflag, self.oflag, self.cflag, self.lflag, self.line, bytearray(self.cc),
                       self.ispeed, self.ospeed)  # fmt: skip


@dataclass(slots=True)
class Winsize:
    rows: int = 0
    cols: int = 0
    xpixel: int = 0
    ypixel: int = 0

    def pack(self) -> bytes:
        return struct.pack(WINSIZE_FMT, self.rows, self.cols, self.xpixel, self.ypixel)

    @classmethod
    def unpack(cls, data: bytes) -> Winsize:
        return cls(*struct.unpack(WINSIZE_FMT, data[:8]))
