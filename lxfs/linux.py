"""Linux ABI numbers that Python's os/stat/errno/fcntl modules do not provide, each with its header.

Shared by every layer; append what you need (keep it grouped by header)."""

# include/uapi/linux/fcntl.h
AT_FDCWD = -100
AT_SYMLINK_NOFOLLOW = 0x100
AT_EACCESS = 0x200
AT_REMOVEDIR = 0x200
AT_SYMLINK_FOLLOW = 0x400
AT_NO_AUTOMOUNT = 0x800
AT_EMPTY_PATH = 0x1000
O_PATH = 0o10000000
O_TMPFILE = 0o20000000 | 0o200000  # __O_TMPFILE | O_DIRECTORY

# include/uapi/linux/stat.h (utimensat)
UTIME_NOW = (1 << 30) - 1
UTIME_OMIT = (1 << 30) - 2

# include/uapi/linux/magic.h
PROC_SUPER_MAGIC = 0x9FA0
TMPFS_MAGIC = 0x01021994
DEVPTS_SUPER_MAGIC = 0x1CD1
VOLFS_MAGIC = 0x4C58_4653  # "LXFS": our own, like any out-of-tree filesystem

# include/linux/limits.h
NAME_MAX = 255
PATH_MAX = 4096
XATTR_NAME_MAX = 255
XATTR_SIZE_MAX = 65536
XATTR_LIST_MAX = 65536
MAXSYMLINKS = 40

# include/uapi/linux/mount.h (mount(2) flags; Namespace.mount and /proc/mounts options)
MS_RDONLY = 1
MS_NOSUID = 2
MS_NODEV = 4
MS_NOEXEC = 8
MS_SYNCHRONOUS = 16
MS_NOATIME = 1024
MS_NODIRATIME = 2048
MS_BIND = 4096
MS_RELATIME = 1 << 21
MS_STRICTATIME = 1 << 24

# include/uapi/linux/fs.h (the DT_* values of getdents64 = S_IFMT >> 12)
DT_UNKNOWN = 0
MS_REMOUNT = 32
MS_REC = 16384
# include/linux/fs.h (umount2 flags)
MNT_FORCE = 1
MNT_DETACH = 2
MNT_EXPIRE = 4
UMOUNT_NOFOLLOW = 8
