"""Synthetic /proc with Linux's byte formats.

For integrators:
- ``procfs.source.ProcessSource``: what the emulator's Kernel implements (records in the same module;
  ``StaticSource`` is a complete in-memory implementation for tests and tools).
- ``procfs.mount.mount_proc(ns, ctx, source)`` mounts a ``procfs.table.ProcFs`` on /proc;
  ``mount_table(ns, root)`` and ``fd_infos(ns, fdtable, root)`` build a source's ``mounts``/``fds``
  answers from the VFS.
- "self" is whatever ``source.current_pid()`` answers at the time of the call.
"""
