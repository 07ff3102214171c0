"""Linux syscalls by area; table.py maps numbers to handlers."""
