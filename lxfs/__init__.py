"""lxfs: Linux on a user-mode kernel written in Python, with VolFs, a POSIX filesystem in SQLite."""

__version__ = "0.1.0"
