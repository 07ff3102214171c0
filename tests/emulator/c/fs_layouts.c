/* sizeof and field offsets of the structs the file side marshals (checked against fs_structs.py). */
#define _GNU_SOURCE
#include <fcntl.h>
#include <poll.h>
#include <stddef.h>
#include <stdio.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <linux/stat.h>

struct linux_dirent64 {
    unsigned long long d_ino;
    long long d_off;
    unsigned short d_reclen;
    unsigned char d_type;
    char d_name[];
};

#define P(name, value) printf("%s %zu\n", name, (size_t)(value))
int main(void) {
    P("stat", sizeof(struct stat));
    P("stat.st_mode", offsetof(struct stat, st_mode));
    P("stat.st_rdev", offsetof(struct stat, st_rdev));
    P("stat.st_size", offsetof(struct stat, st_size));
    P("stat.st_mtim", offsetof(struct stat, st_mtim));
    P("statx", sizeof(struct statx));
    P("statx.stx_mode", offsetof(struct statx, stx_mode));
    P("statx.stx_ino", offsetof(struct statx, stx_ino));
    P("statx.stx_mtime", offsetof(struct statx, stx_mtime));
    P("statx.stx_dev_major", offsetof(struct statx, stx_dev_major));
    P("statx.stx_mnt_id", offsetof(struct statx, stx_mnt_id));
    P("statfs", sizeof(struct statfs));
    P("statfs.f_fsid", offsetof(struct statfs, f_fsid));
    P("statfs.f_flags", offsetof(struct statfs, f_flags));
    P("dirent64.d_name", offsetof(struct linux_dirent64, d_name));
    P("iovec", sizeof(struct iovec));
    P("pollfd", sizeof(struct pollfd));
    P("epoll_event", sizeof(struct epoll_event));
    P("flock", sizeof(struct flock));
    P("flock.l_start", offsetof(struct flock, l_start));
    P("flock.l_pid", offsetof(struct flock, l_pid));
    P("msghdr", sizeof(struct msghdr));
    P("msghdr.msg_flags", offsetof(struct msghdr, msg_flags));
    P("msghdr.msg_controllen", offsetof(struct msghdr, msg_controllen));
    P("mmsghdr", sizeof(struct mmsghdr));
    P("cmsghdr", sizeof(struct cmsghdr));
    P("ucred", sizeof(struct ucred));
    P("sockaddr_un", sizeof(struct sockaddr_un));
    return 0;
}
