"""VolFs: a POSIX filesystem in one SQLite database."""
