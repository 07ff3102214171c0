"""A Linux kernel personality on Unicorn: runs x86-64 Linux programs with every file syscall in the VFS."""
