"""Guest ids on the host (`lxfs mount --uid-map/--gid-map/--as-guest`): which guest uid/gid each host id
is, the way a user namespace's uid_map says which id inside is which outside (user_namespaces(7)), and
what Linux's idmapped mounts (mount_setattr(2) MOUNT_ATTR_IDMAP) do with such a map: an id outside the
map shows as the overflow id, a caller outside it creates nothing (EOVERFLOW), and nobody chowns to it.
"""

from __future__ import annotations

import errno
from collections.abc import Sequence
from dataclasses import dataclass

from lxfs.vfs.creds import Credentials
from lxfs.vfs.errors import FsError

# (uid_t)-1: chown(2) reads it as "leave unchanged", so no inode has it and a caller given it as its
# fsuid/fsgid owns nothing and is in no file's group (an unmapped caller is nobody in the guest).
UNMAPPED = 0xFFFFFFFF


def overflow_id(kind: str) -> int:
    """What Linux shows for an unmapped id: /proc/sys/kernel/overflowuid (or overflowgid), 65534."""
    try:
        with open(f"/proc/sys/kernel/overflow{kind}") as f:
            return int(f.read())
    except (OSError, ValueError):
        return 65534


@dataclass(frozen=True, slots=True)
class IdMap:
    """Ranges of (first guest id, first host id, count); none overlaps another on either side."""

    ranges: tuple[tuple[int, int, int], ...]

    @classmethod
    def parse(cls, specs: Sequence[str]) -> IdMap:
        """``GUEST:HOST:COUNT`` strings (one range each). Raises ValueError with a message for the user."""
        ranges = []
        for spec in specs:
            parts = spec.split(":")
            if len(parts) != 3 or not all(p.isdigit() for p in parts):
                raise ValueError(f"{spec!r}: expected GUEST:HOST:COUNT, e.g. 0:1000:1")
            guest, host, count = (int(p) for p in parts)
            if count == 0:
                raise ValueError(f"{spec!r}: COUNT must be at least 1")
            if guest + count > UNMAPPED or host + count > UNMAPPED:
                raise ValueError(f"{spec!r}: ids go up to {UNMAPPED - 1}")
            ranges.append((guest, host, count))
        for i, (g1, h1, n1) in enumerate(ranges):
            for g2, h2, n2 in ranges[i + 1 :]:
                if g1 < g2 + n2 and g2 < g1 + n1:
                    raise ValueError(f"guest ids {g1}:{n1} and {g2}:{n2} overlap")
                if h1 < h2 + n2 and h2 < h1 + n1:
                    raise ValueError(f"host ids {h1}:{n1} and {h2}:{n2} overlap")
        return cls(tuple(ranges))

    @classmethod
    def identity(cls) -> IdMap:
        return cls(((0, 0, UNMAPPED),))

    def to_host(self, guest: int) -> int | None:
        for g, h, n in self.ranges:
            if g <= guest < g + n:
                return h + guest - g
        return None

    def to_guest(self, host: int) -> int | None:
        for g, h, n in self.ranges:
            if h <= host < h + n:
                return g + host - h
        return None


class IdMapping:
    """A uid map and a gid map applied at the FUSE boundary: attributes going out to the host, the
    caller's credentials and chown's ids coming in."""

    def __init__(self, uids: IdMap, gids: IdMap) -> None:
        self.uids = uids
        self.gids = gids
        self.overflow_uid = overflow_id("uid")
        self.overflow_gid = overflow_id("gid")

    def host_ids(self, uid: int, gid: int) -> tuple[int, int]:
        """A guest inode's owner and group as the host sees them."""
        h_uid = self.uids.to_host(uid)
        h_gid = self.gids.to_host(gid)
        return (self.overflow_uid if h_uid is None else h_uid, self.overflow_gid if h_gid is None else h_gid)

    def unmapped(self, uid: int, gid: int) -> bool:
        """Whether a guest inode's owner or group has no host id (Linux: changing it is EOVERFLOW)."""
        return self.uids.to_host(uid) is None or self.gids.to_host(gid) is None

    def creds(self, uid: int, gid: int, groups: tuple[int, ...]) -> tuple[Credentials, bool]:
        """A host caller's guest credentials, and whether its fsuid and fsgid are both mapped (a caller
        that is not may create nothing). Unmapped supplementary groups are dropped: no inode can be in
        them. Host root keeps its capabilities over the guest's inodes when unmapped, as it does on an
        idmapped mount (they are checked against its own namespace), so it gets fsuid 0 in the guest."""
        g_uid = self.uids.to_guest(uid)
        g_gid = self.gids.to_guest(gid)
        g_groups = tuple(g for g in (self.gids.to_guest(h) for h in groups) if g is not None)
        creds = Credentials.user(
            (0 if uid == 0 else UNMAPPED) if g_uid is None else g_uid,
            UNMAPPED if g_gid is None else g_gid,
            g_groups,
        )
        return creds, g_uid is not None and g_gid is not None

    def guest_uid(self, host: int) -> int:
        """chown's uid from the host (-1 stays "unchanged"); an id outside the map is EOVERFLOW."""
        return self._guest(self.uids, host)

    def guest_gid(self, host: int) -> int:
        return self._guest(self.gids, host)

    @staticmethod
    def _guest(ids: IdMap, host: int) -> int:
        if host in (-1, UNMAPPED):
            return -1
        guest = ids.to_guest(host)
        if guest is None:
            raise FsError(errno.EOVERFLOW)
        return guest
