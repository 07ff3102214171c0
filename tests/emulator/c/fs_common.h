/* Shared helpers of the file-side differential programs: each prints one line per call with its
 * result or errno name, so native and emulated runs compare byte for byte. Print nothing that
 * differs between filesystems or runs (inode numbers, times, directory sizes, readdir order). */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/types.h>
#include <unistd.h>

static const char *errname(int e) {
    switch (e) {
#define E(x) case x: return #x;
    E(EPERM) E(ENOENT) E(ESRCH) E(EINTR) E(EIO) E(ENXIO) E(E2BIG) E(ENOEXEC) E(EBADF) E(ECHILD)
    E(EAGAIN) E(ENOMEM) E(EACCES) E(EFAULT) E(EBUSY) E(EEXIST) E(EXDEV) E(ENODEV) E(ENOTDIR)
    E(EISDIR) E(EINVAL) E(ENFILE) E(EMFILE) E(ENOTTY) E(ETXTBSY) E(EFBIG) E(ENOSPC) E(ESPIPE)
    E(EROFS) E(EMLINK) E(EPIPE) E(ERANGE) E(ENAMETOOLONG) E(ENOSYS) E(ENOTEMPTY) E(ELOOP)
    E(ENODATA) E(EOPNOTSUPP) E(ENOTSOCK) E(EDESTADDRREQ) E(EMSGSIZE) E(EPROTOTYPE)
    E(ENOPROTOOPT) E(EPROTONOSUPPORT) E(EAFNOSUPPORT) E(EADDRINUSE) E(EADDRNOTAVAIL)
    E(ECONNRESET) E(EISCONN) E(ENOTCONN) E(ECONNREFUSED) E(EDEADLK) E(ENOLCK) E(EOVERFLOW)
#undef E
    default: return "E?";
    }
}

/* T(call): print "call = result" or "call = -1 ENAME" */
#define T(expr)                                                                 \
    do {                                                                        \
        errno = 0;                                                              \
        long _r = (long)(expr);                                                 \
        if (_r == -1)                                                           \
            printf("%s = -1 %s\n", #expr, errname(errno));                    \
        else                                                                    \
            printf("%s = %ld\n", #expr, _r);                                   \
        fflush(stdout);                                                         \
    } while (0)

/* Q(call): run quietly, but report a failure (setup steps that must work) */
#define Q(expr)                                                                 \
    do {                                                                        \
        errno = 0;                                                              \
        long _r = (long)(expr);                                                 \
        if (_r == -1) {                                                         \
            printf("FAILED %s: %s\n", #expr, errname(errno));                 \
            fflush(stdout);                                                     \
        }                                                                       \
    } while (0)

static void print_stat(const char *what, const struct stat *st) {
    char kind = S_ISREG(st->st_mode) ? 'f' : S_ISDIR(st->st_mode) ? 'd' : S_ISLNK(st->st_mode) ? 'l'
              : S_ISFIFO(st->st_mode) ? 'p' : S_ISSOCK(st->st_mode) ? 's' : S_ISCHR(st->st_mode) ? 'c'
              : S_ISBLK(st->st_mode) ? 'b' : '?';
    printf("%s: type=%c mode=%04o nlink=%lu uid=%u gid=%u", what, kind, (unsigned)(st->st_mode & 07777),
           (unsigned long)st->st_nlink, st->st_uid, st->st_gid);
    if (!S_ISDIR(st->st_mode))
        printf(" size=%ld", (long)st->st_size);
    if (S_ISCHR(st->st_mode) || S_ISBLK(st->st_mode))
        printf(" rdev=%u:%u", major(st->st_rdev), minor(st->st_rdev));
    printf("\n");
    fflush(stdout);
}

static void show(const char *path) {
    struct stat st;
    if (lstat(path, &st) < 0) {
        printf("lstat %s: %s\n", path, errname(errno));
        fflush(stdout);
        return;
    }
    print_stat(path, &st);
}

static void put_file(const char *path, const char *data) {
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0) {
        printf("FAILED put_file %s: %s\n", path, errname(errno));
        return;
    }
    if (write(fd, data, strlen(data)) != (ssize_t)strlen(data))
        printf("FAILED write %s\n", path);
    close(fd);
}

static void cat(const char *path) {
    char buf[4096];
    int fd = open(path, O_RDONLY);
    if (fd < 0) {
        printf("cat %s: %s\n", path, errname(errno));
        return;
    }
    ssize_t n = read(fd, buf, sizeof buf);
    close(fd);
    printf("cat %s: [%.*s]\n", path, (int)(n < 0 ? 0 : n), buf);
    fflush(stdout);
}
