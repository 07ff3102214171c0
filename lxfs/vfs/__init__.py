"""The VFS: mounts and the one path walk, open file descriptions, fd tables, credentials, permissions."""
