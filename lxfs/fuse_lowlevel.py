"""ctypes bindings to libfuse3's low-level API (fuse_lowlevel.h): the request callbacks table, the
reply functions and the session calls. Struct layouts shared with the high-level API (struct stat,
statvfs, fuse_file_info, fuse_conn_info) and the library handle come from mfusepy."""

from __future__ import annotations

import ctypes
from ctypes import POINTER, c_char_p, c_double, c_int, c_int64, c_size_t, c_uint, c_uint32, c_uint64, c_void_p
from typing import Any

import mfusepy
from mfusepy import c_stat, c_statvfs, fuse_conn_info, fuse_file_info

# include/fuse_common.h
FUSE_CAP_ATOMIC_O_TRUNC = 1 << 3
FUSE_CAP_HANDLE_KILLPRIV = 1 << 20
# include/fuse_lowlevel.h
FUSE_SET_ATTR_MODE = 1 << 0
FUSE_SET_ATTR_UID = 1 << 1
FUSE_SET_ATTR_GID = 1 << 2
FUSE_SET_ATTR_SIZE = 1 << 3
FUSE_SET_ATTR_ATIME = 1 << 4
FUSE_SET_ATTR_MTIME = 1 << 5
FUSE_SET_ATTR_ATIME_NOW = 1 << 7
FUSE_SET_ATTR_MTIME_NOW = 1 << 8
FUSE_ROOT_ID = 1

libfuse = mfusepy._libfuse
req_t = c_void_p
ino_t = c_uint64
fi_p = POINTER(fuse_file_info)
stat_p = POINTER(c_stat)


class FuseArgs(ctypes.Structure):
    _fields_ = [("argc", c_int), ("argv", POINTER(c_char_p)), ("allocated", c_int)]


class EntryParam(ctypes.Structure):
    _fields_ = [
        ("ino", c_uint64),
        ("generation", c_uint64),
        ("attr", c_stat),
        ("attr_timeout", c_double),
        ("entry_timeout", c_double),
    ]


class Ctx(ctypes.Structure):
    _fields_ = [("uid", c_uint32), ("gid", c_uint32), ("pid", ctypes.c_int32), ("umask", c_uint32)]


class ForgetData(ctypes.Structure):
    _fields_ = [("ino", c_uint64), ("nlookup", c_uint64)]


_F = ctypes.CFUNCTYPE
# struct fuse_lowlevel_ops, in declaration order (libfuse 3.x, FUSE_USE_VERSION 35); None = unused slot
LL_OPS: list[tuple[str, Any]] = [
    ("init", _F(None, c_void_p, POINTER(fuse_conn_info))),
    ("destroy", _F(None, c_void_p)),
    ("lookup", _F(None, req_t, ino_t, c_char_p)),
    ("forget", _F(None, req_t, ino_t, c_uint64)),
    ("getattr", _F(None, req_t, ino_t, fi_p)),
    ("setattr", _F(None, req_t, ino_t, stat_p, c_int, fi_p)),
    ("readlink", _F(None, req_t, ino_t)),
    ("mknod", _F(None, req_t, ino_t, c_char_p, c_uint32, c_uint64)),
    ("mkdir", _F(None, req_t, ino_t, c_char_p, c_uint32)),
    ("unlink", _F(None, req_t, ino_t, c_char_p)),
    ("rmdir", _F(None, req_t, ino_t, c_char_p)),
    ("symlink", _F(None, req_t, c_char_p, ino_t, c_char_p)),
    ("rename", _F(None, req_t, ino_t, c_char_p, ino_t, c_char_p, c_uint)),
    ("link", _F(None, req_t, ino_t, ino_t, c_char_p)),
    ("open", _F(None, req_t, ino_t, fi_p)),
    ("read", _F(None, req_t, ino_t, c_size_t, c_int64, fi_p)),
    ("write", _F(None, req_t, ino_t, c_void_p, c_size_t, c_int64, fi_p)),
    ("flush", _F(None, req_t, ino_t, fi_p)),
    ("release", _F(None, req_t, ino_t, fi_p)),
    ("fsync", _F(None, req_t, ino_t, c_int, fi_p)),
    ("opendir", _F(None, req_t, ino_t, fi_p)),
    ("readdir", _F(None, req_t, ino_t, c_size_t, c_int64, fi_p)),
    ("releasedir", _F(None, req_t, ino_t, fi_p)),
    ("fsyncdir", _F(None, req_t, ino_t, c_int, fi_p)),
    ("statfs", _F(None, req_t, ino_t)),
    ("setxattr", _F(None, req_t, ino_t, c_char_p, c_void_p, c_size_t, c_int)),
    ("getxattr", _F(None, req_t, ino_t, c_char_p, c_size_t)),
    ("listxattr", _F(None, req_t, ino_t, c_size_t)),
    ("removexattr", _F(None, req_t, ino_t, c_char_p)),
    ("access", _F(None, req_t, ino_t, c_int)),
    ("create", _F(None, req_t, ino_t, c_char_p, c_uint32, fi_p)),
    ("getlk", c_void_p),
    ("setlk", c_void_p),
    ("bmap", c_void_p),
    ("ioctl", c_void_p),
    ("poll", c_void_p),
    ("write_buf", c_void_p),
    ("retrieve_reply", c_void_p),
    ("forget_multi", _F(None, req_t, c_size_t, POINTER(ForgetData))),
    ("flock", c_void_p),
    ("fallocate", _F(None, req_t, ino_t, c_int, c_int64, c_int64, fi_p)),
    ("readdirplus", _F(None, req_t, ino_t, c_size_t, c_int64, fi_p)),
    ("copy_file_range", c_void_p),
    ("lseek", _F(None, req_t, ino_t, c_int64, c_int, fi_p)),
]


class LowlevelOps(ctypes.Structure):
    _fields_ = [(name, proto) for name, proto in LL_OPS]


def bind(name: str, restype: Any, *argtypes: Any) -> Any:
    fn = getattr(libfuse, name)
    fn.restype = restype
    fn.argtypes = list(argtypes)
    return fn


fuse_session_new = bind("fuse_session_new", c_void_p, POINTER(FuseArgs), POINTER(LowlevelOps), c_size_t, c_void_p)
fuse_session_mount = bind("fuse_session_mount", c_int, c_void_p, c_char_p)
fuse_session_unmount = bind("fuse_session_unmount", None, c_void_p)
fuse_session_destroy = bind("fuse_session_destroy", None, c_void_p)
fuse_set_signal_handlers = bind("fuse_set_signal_handlers", c_int, c_void_p)
fuse_remove_signal_handlers = bind("fuse_remove_signal_handlers", None, c_void_p)
fuse_session_fd = bind("fuse_session_fd", c_int, c_void_p)
fuse_session_exited = bind("fuse_session_exited", c_int, c_void_p)


class FuseBuf(ctypes.Structure):
    _fields_ = [("size", c_size_t), ("flags", c_int), ("mem", c_void_p), ("fd", c_int), ("pos", c_int64)]


fuse_session_receive_buf = bind("fuse_session_receive_buf", c_int, c_void_p, POINTER(FuseBuf))
fuse_session_process_buf = bind("fuse_session_process_buf", None, c_void_p, POINTER(FuseBuf))
libc = ctypes.CDLL(None)
libc.free.argtypes = [c_void_p]
fuse_opt_free_args = bind("fuse_opt_free_args", None, POINTER(FuseArgs))
fuse_req_ctx = bind("fuse_req_ctx", POINTER(Ctx), req_t)
reply_err = bind("fuse_reply_err", c_int, req_t, c_int)
reply_none = bind("fuse_reply_none", None, req_t)
reply_entry = bind("fuse_reply_entry", c_int, req_t, POINTER(EntryParam))
reply_create = bind("fuse_reply_create", c_int, req_t, POINTER(EntryParam), fi_p)
reply_attr = bind("fuse_reply_attr", c_int, req_t, stat_p, c_double)
reply_readlink = bind("fuse_reply_readlink", c_int, req_t, c_char_p)
reply_open = bind("fuse_reply_open", c_int, req_t, fi_p)
reply_write = bind("fuse_reply_write", c_int, req_t, c_size_t)
reply_buf = bind("fuse_reply_buf", c_int, req_t, c_char_p, c_size_t)
reply_statfs = bind("fuse_reply_statfs", c_int, req_t, POINTER(c_statvfs))
reply_xattr = bind("fuse_reply_xattr", c_int, req_t, c_size_t)
reply_lseek = bind("fuse_reply_lseek", c_int, req_t, c_int64)
add_direntry_plus = bind(
    "fuse_add_direntry_plus", c_size_t, req_t, c_void_p, c_size_t, c_char_p, POINTER(EntryParam), c_int64
)
add_direntry = bind("fuse_add_direntry", c_size_t, req_t, c_void_p, c_size_t, c_char_p, stat_p, c_int64)
