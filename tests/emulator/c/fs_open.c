/* open(2) flags, their errnos, stat fields and umask, access, chmod/chown, utimensat. */
#include "fs_common.h"
#include <sys/syscall.h>

/* musl has neither statx(3) nor <linux/openat2.h>: use the raw syscalls and kernel layouts */
struct how { unsigned long long flags, mode, resolve; };
struct sx {
    unsigned mask, blksize;
    unsigned long long attributes;
    unsigned nlink, uid, gid;
    unsigned short mode, pad;
    unsigned long long ino, size, blocks, attributes_mask;
    char rest[256 - 64];
};
#define NR_statx 332
#define NR_openat2 437
#define NR_faccessat2 439
#define X_BASIC 0x7ffU

int main(void) {
    char buf[256];
    struct stat st;
    umask(022);
    Q(mkdir("d", 0777));
    put_file("f", "hello");
    Q(symlink("f", "lnk"));
    Q(symlink("nowhere", "dangling"));
    Q(symlink("loop2", "loop1"));
    Q(symlink("loop1", "loop2"));

    T(open("missing", O_RDONLY));
    T(open("f", O_RDONLY | O_CREAT | O_EXCL, 0600));
    T(open("f", O_RDONLY | O_DIRECTORY));
    T(open("d", O_WRONLY));
    T(open("d", O_RDWR));
    int fd = open("d", O_RDONLY);
    T(fd);
    T(read(fd, buf, 10));
    T(write(fd, "x", 1));
    T(close(fd));
    T(open("lnk", O_RDONLY | O_NOFOLLOW));
    T(open("lnk", O_PATH | O_NOFOLLOW));
    T(open("dangling", O_RDONLY));
    T(open("loop1", O_RDONLY));
    T(open("f/", O_RDONLY));
    T(open("f/x", O_RDONLY));
    T(open("new/", O_RDWR | O_CREAT, 0644));
    T(open("d", O_RDONLY | O_CREAT, 0644));
    T(open("", O_RDONLY));
    char longname[300];
    memset(longname, 'n', 256);
    longname[256] = 0;
    T(open(longname, O_RDONLY | O_CREAT, 0644));
    T(open("dangling", O_WRONLY | O_CREAT, 0640));
    show("nowhere");
    T(open("dangling", O_WRONLY | O_CREAT | O_EXCL, 0640));

    /* O_TRUNC, O_APPEND, access modes */
    fd = open("f", O_WRONLY | O_APPEND);
    T(write(fd, " world", 6));
    T(lseek(fd, 0, SEEK_SET));
    T(write(fd, "!", 1));
    T(read(fd, buf, 1));
    T(fcntl(fd, F_GETFL) & (O_ACCMODE | O_APPEND | O_NONBLOCK));
    T(fcntl(fd, F_SETFL, O_NONBLOCK));
    T(fcntl(fd, F_GETFL) & (O_ACCMODE | O_APPEND | O_NONBLOCK));
    close(fd);
    cat("f");
    fd = open("f", O_RDWR | O_TRUNC);
    T(fstat(fd, &st) == 0 ? st.st_size : -2);
    close(fd);
    fd = open("f", O_PATH);
    T(read(fd, buf, 1));
    T(fstat(fd, &st));
    T(fcntl(fd, F_GETFL) & (O_ACCMODE | O_PATH));
    close(fd);

    /* creation modes and umask */
    T(close(open("m1", O_CREAT | O_WRONLY, 0777)));
    show("m1");
    umask(0);
    T(close(open("m2", O_CREAT | O_WRONLY, 04777)));
    show("m2");
    T(mkdir("d2", 01777));
    show("d2");
    T(umask(077));
    T(mkdir("d3", 0777));
    show("d3");
    T(umask(022));
    T(mkfifo("fifo", 0644));
    show("fifo");
    T(mknod("node", S_IFREG | 0600, 0));
    show("node");
    T(mknod("d", S_IFREG | 0600, 0));

    /* stat family */
    show("d");
    show("lnk");
    T(stat("lnk", &st) == 0 ? st.st_size : -2);
    T(lstat("lnk", &st) == 0 ? st.st_size : -2);
    T(stat("loop1", &st));
    T(lstat("loop1", &st));
    T(stat("f/", &st));
    T(stat("d/", &st));
    T(stat("d/.", &st));
    T(stat("d/..", &st));
    fd = open("d", O_RDONLY | O_DIRECTORY);
    T(fstatat(fd, "", &st, AT_EMPTY_PATH));
    T(fstatat(fd, "", &st, 0));
    T(fstatat(fd, "..", &st, 0));
    T(fstatat(fd, "x", &st, 0));
    T(fstatat(fd, "/", &st, 0));
    T(fstatat(AT_FDCWD, "f", &st, 0x10000));
    close(fd);
    T(fstatat(1000, "f", &st, 0));
    T(fstatat(1000, "/", &st, 0));
    struct sx sx;
    T(syscall(NR_statx, AT_FDCWD, "f", 0, X_BASIC, &sx));
    printf("statx mask&basic=%x mode=%o nlink=%u size=%llu\n", sx.mask & X_BASIC, sx.mode, sx.nlink,
           (unsigned long long)sx.size);
    T(syscall(NR_statx, AT_FDCWD, "lnk", AT_SYMLINK_NOFOLLOW, X_BASIC, &sx));
    printf("statx lnk mode=%o size=%llu\n", sx.mode, (unsigned long long)sx.size);
    T(syscall(NR_statx, AT_FDCWD, "f", 0, 0x80000000U, &sx));
    T(syscall(NR_statx, AT_FDCWD, "missing", 0, X_BASIC, &sx));
    T(syscall(NR_statx, AT_FDCWD, "f", 0x6000, X_BASIC, &sx));

    /* access */
    T(access("f", R_OK | W_OK));
    T(access("f", X_OK));
    T(access("d", X_OK));
    T(access("missing", F_OK));
    T(access("f", 8));
    T(faccessat(AT_FDCWD, "lnk", R_OK, AT_SYMLINK_NOFOLLOW));
    T(syscall(NR_faccessat2, AT_FDCWD, "f", R_OK, AT_EACCESS));

    /* chmod, chown, utimensat */
    T(chmod("f", 04751));
    show("f");
    T(chmod("missing", 0644));
    T(chown("f", 1234, 5678));
    show("f");
    T(lchown("lnk", 11, 12));
    show("lnk");
    T(chown("f", -1, 99));
    show("f");
    fd = open("f", O_RDONLY);
    T(fchmod(fd, 0600));
    T(fchown(fd, 0, 0));
    close(fd);
    show("f");
    struct timespec ts[2] = {{1000000000, 123456789}, {1200000000, 987654321}};
    T(utimensat(AT_FDCWD, "f", ts, 0));
    T(stat("f", &st));
    printf("atime=%ld.%09ld mtime=%ld.%09ld\n", (long)st.st_atim.tv_sec, st.st_atim.tv_nsec,
           (long)st.st_mtim.tv_sec, st.st_mtim.tv_nsec);
    struct timespec omit[2] = {{0, UTIME_OMIT}, {5, 0}};
    T(utimensat(AT_FDCWD, "f", omit, 0));
    T(stat("f", &st));
    printf("atime=%ld.%09ld mtime=%ld.%09ld\n", (long)st.st_atim.tv_sec, st.st_atim.tv_nsec,
           (long)st.st_mtim.tv_sec, st.st_mtim.tv_nsec);
    struct timespec bad[2] = {{0, 1000000000}, {0, 0}};
    T(utimensat(AT_FDCWD, "f", bad, 0));
    T(utimensat(AT_FDCWD, "lnk", ts, AT_SYMLINK_NOFOLLOW));
    T(lstat("lnk", &st));
    printf("lnk mtime=%ld.%09ld\n", (long)st.st_mtim.tv_sec, st.st_mtim.tv_nsec);

    /* openat2 */
    struct how how = {.flags = O_RDONLY, .mode = 0, .resolve = 0};
    fd = syscall(NR_openat2, AT_FDCWD, "f", &how, sizeof how);
    T(fd >= 0);
    close(fd);
    how.mode = 0644;
    T(syscall(NR_openat2, AT_FDCWD, "f", &how, sizeof how));
    how.mode = 0;
    T(syscall(NR_openat2, AT_FDCWD, "f", &how, 8));
    how.flags = 1ULL << 40;
    T(syscall(NR_openat2, AT_FDCWD, "f", &how, sizeof how));

    /* EFAULT */
    T(open((char *)1, O_RDONLY));
    T(stat("f", (struct stat *)8));
    T(read(0, (char *)8, 0));
    fd = open("f", O_RDONLY);
    T(read(fd, (char *)((long)getpid() - getpid() + 8), 4));
    close(fd);
    return 0;
}
