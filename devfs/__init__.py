"""Synthetic /dev: the device registry, standard devices and ptys.

For integrators:
- ``devfs.registry.Devices(jobs)`` is the Namespace's DeviceRegistry (``Namespace(root, devices=...)``);
  ``devfs.mount.mount_dev(ns, ctx, devices)`` mounts devtmpfs on /dev, devpts on /dev/pts, tmpfs on
  /dev/shm.
- ``devfs.pty.JobControl`` (caller, signal_pgrp, set_ctty, pgrp_session) is what the emulator provides
  so terminals can signal process groups and apply job control; after queueing SIGTTIN/SIGTTOU for a
  background caller a terminal raises EAGAIN (``pty.JOB_CONTROL_RESTART``): park, let the signal
  interrupt, restart -- Linux's ERESTARTSYS. ``devfs.shell.KernelJobs`` implements it on the Kernel.
- ``TtyFile.read_deadline()`` (the FileOps hook) tells when a VTIME read that raised EAGAIN must be
  retried; the emulator parks such a read with that deadline.
- ``devfs.console.HostConsole`` runs a guest terminal on the user's terminal (for `lxfs shell`).
- ``MemDevice``/``RandomDevice`` override the FileOps ``llseek`` hook (always 0) and set ``keeps_pos``,
  which the VFS honours: Linux's f_pos for /dev/null, zero, full, random, urandom.
"""
