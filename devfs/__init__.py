"""Synthetic /dev: the device registry, standard devices and ptys."""
