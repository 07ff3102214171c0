"""The POSIX filesystem conformance suite: Linux's semantics, checked with os.* calls on any directory.

Each group is a module with ``run(t: Tester)``; every check records what it observed next to what Linux
does, so two runs (host tmpfs and an lxfs mount) can be compared check by check.
"""

from lxfs.conformance.model import Check, Tester
from lxfs.conformance.runner import GROUPS, Identity, run_suite

__all__ = ["GROUPS", "Check", "Identity", "Tester", "run_suite"]
