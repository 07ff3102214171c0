/* File data: read/write variants, lseek, truncate, fallocate, sendfile, copy_file_range, fsync,
 * statfs; fd table: dup/dup2/dup3, fcntl, record locks across fork, flock; xattrs. */
#include "fs_common.h"
#include <sys/file.h>
#include <sys/sendfile.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <sys/xattr.h>

static int cmp(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

static void list_xattrs(const char *path) {
    char buf[1024];
    long n = listxattr(path, buf, sizeof buf);
    if (n < 0) {
        printf("listxattr %s: %s\n", path, errname(errno));
        return;
    }
    char *names[64];
    int k = 0;
    for (char *p = buf; p < buf + n && k < 64; p += strlen(p) + 1)
        if (!strncmp(p, "user.", 5))
            names[k++] = p;
    qsort(names, k, sizeof *names, cmp);
    printf("xattrs %s:", path);
    for (int i = 0; i < k; i++)
        printf(" %s", names[i]);
    printf("\n");
}

/* after execve: which of the parent's descriptors survived (close-on-exec) */
static int after_exec(char **argv) {
    for (int i = 2; argv[i]; i++) {
        int fd = atoi(argv[i]);
        errno = 0;
        long r = fcntl(fd, F_GETFD);
        printf("after exec fd %d: %s\n", fd, r < 0 ? errname(errno) : "open");
    }
    char b[16] = {0};
    printf("shared offset read: %ld [%s]\n", (long)read(atoi(argv[2]), b, 4), b);
    return 0;
}

int main(int argc, char **argv) {
    if (argc > 1 && !strcmp(argv[1], "after-exec"))
        return after_exec(argv);
    char buf[8192];
    struct stat st;
    umask(022);
    int fd = open("data", O_RDWR | O_CREAT | O_TRUNC, 0644);
    T(write(fd, "0123456789", 10));
    T(lseek(fd, 0, SEEK_CUR));
    T(lseek(fd, -3, SEEK_END));
    T(read(fd, buf, 100));
    T(lseek(fd, -100, SEEK_CUR));
    T(lseek(fd, 0, 7));
    T(lseek(fd, 100, SEEK_SET));
    T(read(fd, buf, 10));
    T(write(fd, "Z", 1));
    T(fstat(fd, &st) == 0 ? st.st_size : -2);
    T(pread(fd, buf, 4, 50));
    printf("hole bytes: %d %d %d %d\n", buf[0], buf[1], buf[2], buf[3]);
    T(pread(fd, buf, 4, -1));
    T(pwrite(fd, "ab", 2, 2));
    T(pread(fd, buf, 6, 0));
    printf("[%.6s]\n", buf);
    T(lseek(fd, 0, SEEK_CUR));

    struct iovec iov[3] = {{"AA", 2}, {"", 0}, {"BBB", 3}};
    T(lseek(fd, 0, SEEK_SET));
    T(writev(fd, iov, 3));
    T(pwritev(fd, iov, 3, 20));
    char b1[3], b2[4];
    struct iovec riov[2] = {{b1, 3}, {b2, 4}};
    T(preadv(fd, riov, 2, 0));
    printf("[%.3s|%.4s]\n", b1, b2);
    T(lseek(fd, 0, SEEK_SET));
    T(readv(fd, riov, 2));
    T(readv(fd, riov, -1));
    T(writev(fd, iov, 2000));
    struct iovec badiov[1] = {{(void *)8, 4}};
    T(writev(fd, badiov, 1));
    T(readv(fd, (struct iovec *)8, 1));

    /* truncate */
    T(ftruncate(fd, 5));
    T(fstat(fd, &st) == 0 ? st.st_size : -2);
    T(ftruncate(fd, 70000));
    T(pread(fd, buf, 8, 69990));
    T(ftruncate(fd, -1));
    T(truncate("data", 3));
    T(truncate("missing", 3));
    T(truncate(".", 3));
    T(pread(fd, buf, 100, 0));
    int ro = open("data", O_RDONLY);
    T(ftruncate(ro, 1));
    T(write(ro, "x", 1));
    T(fallocate(fd, 0, 0, 10000));
    T(fstat(fd, &st) == 0 ? st.st_size : -2);
    T(fallocate(fd, FALLOC_FL_KEEP_SIZE, 0, 20000));
    T(fstat(fd, &st) == 0 ? st.st_size : -2);
    T(fallocate(fd, 0, -1, 10));
    T(fallocate(fd, 0, 0, 0));
    T(fallocate(ro, 0, 0, 10));
    T(pwrite(fd, "abcdefghij", 10, 0));
    T(fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 2, 3));
    T(fallocate(fd, FALLOC_FL_PUNCH_HOLE, 2, 3));
    T(fallocate(fd, 0x1000, 0, 10));
    int ap = open("data", O_WRONLY | O_APPEND);
    T(fallocate(ap, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 6, 1));
    close(ap);
    T(fstat(fd, &st) == 0 ? st.st_size : -2);
    memset(buf, '?', 10);
    T(pread(fd, buf, 10, 0));
    for (int i = 0; i < 10; i++)
        printf("%c", buf[i] ? buf[i] : '0');
    printf("\n");
    T(fsync(fd));
    T(fdatasync(fd));
    T(syncfs(fd));
    sync();

    /* sendfile, copy_file_range */
    T(ftruncate(fd, 0));
    T(pwrite(fd, "sendfile data here", 18, 0));
    int out = open("copy", O_RDWR | O_CREAT | O_TRUNC, 0644);
    off_t off = 4;
    T(sendfile(out, fd, &off, 100));
    T(off);
    T(lseek(fd, 0, SEEK_SET));
    T(sendfile(out, fd, NULL, 4));
    T(lseek(fd, 0, SEEK_CUR));
    T(pread(out, buf, 100, 0));
    printf("[%.18s]\n", buf);
    loff_t in_off = 0, out_off = 2;
    T(copy_file_range(fd, &in_off, out, &out_off, 8, 0));
    T(in_off);
    T(out_off);
    T(pread(out, buf, 100, 0));
    printf("[%.18s]\n", buf);
    T(copy_file_range(fd, NULL, out, NULL, 8, 1));
    T(sendfile(ro, fd, NULL, 4));
    close(out);

    /* statfs */
    struct statfs sfs;
    T(statfs(".", &sfs));
    printf("namelen=%ld bsize>0=%d\n", (long)sfs.f_namelen, sfs.f_bsize > 0);
    T(fstatfs(fd, &sfs));
    T(statfs("missing", &sfs));

    /* dup family and fcntl */
    T(dup(fd));
    T(dup2(fd, 10));
    T(dup2(fd, fd));
    T(dup2(99, 11));
    T(dup3(fd, fd, 0));
    T(dup3(fd, 12, O_CLOEXEC));
    T(fcntl(12, F_GETFD));
    T(fcntl(10, F_GETFD));
    T(fcntl(10, F_SETFD, FD_CLOEXEC));
    T(fcntl(10, F_GETFD));
    T(dup3(fd, 13, 1));
    T(fcntl(fd, F_DUPFD, 20));
    T(fcntl(fd, F_DUPFD_CLOEXEC, 20));
    T(fcntl(21, F_GETFD));
    T(fcntl(fd, F_DUPFD, -1));
    T(fcntl(99, F_GETFD));
    T(close(99));
    T(close(20));
    T(close(20));
    T(lseek(10, 3, SEEK_SET));
    T(lseek(fd, 0, SEEK_CUR));
    T(fcntl(fd, 9999));

    /* record locks */
    T(ftruncate(fd, 100));
    struct flock fl = {.l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 10, .l_len = 20};
    T(fcntl(fd, F_SETLK, &fl));
    struct flock q = {.l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 0, .l_len = 0};
    T(fcntl(fd, F_GETLK, &q));
    printf("own: type=%d\n", q.l_type);
    struct flock rd = {.l_type = F_RDLCK, .l_whence = SEEK_SET, .l_start = 0, .l_len = 5};
    T(fcntl(ro, F_SETLK, &rd));
    T(fcntl(fd, F_SETLK, &(struct flock){.l_type = F_RDLCK, .l_whence = SEEK_SET, .l_start = 0, .l_len = 1}));
    T(fcntl(fd, F_SETLK, &(struct flock){.l_type = 7, .l_whence = SEEK_SET}));
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        struct flock c = {.l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 0, .l_len = 0};
        T(fcntl(fd, F_GETLK, &c));
        printf("child sees: type=%d start=%ld len=%ld pid_is_parent=%d\n", c.l_type, (long)c.l_start,
               (long)c.l_len, c.l_pid == getppid());
        struct flock c2 = {.l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 15, .l_len = 1};
        T(fcntl(fd, F_SETLK, &c2));
        struct flock c3 = {.l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 40, .l_len = 5};
        T(fcntl(fd, F_SETLK, &c3));
        struct flock c4 = {.l_type = F_RDLCK, .l_whence = SEEK_SET, .l_start = 0, .l_len = 5};
        T(fcntl(fd, F_SETLK, &c4));
        /* OFD locks conflict with the parent's process locks too */
        struct flock o = {.l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 12, .l_len = 1};
        T(fcntl(fd, F_OFD_SETLK, &o));
        int mine = open("data", O_RDWR);
        struct flock o2 = {.l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 60, .l_len = 1};
        T(fcntl(mine, F_OFD_SETLK, &o2));
        struct flock o3 = {.l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 0, .l_len = 0, .l_pid = 0};
        T(fcntl(mine, F_OFD_GETLK, &o3));
        printf("ofd getlk: type=%d start=%ld len=%ld pid=%d\n", o3.l_type, (long)o3.l_start, (long)o3.l_len,
               o3.l_pid == getppid() ? 1 : o3.l_pid);
        fflush(stdout);
        _exit(0);
    }
    int status;
    waitpid(pid, &status, 0);
    fl.l_type = F_UNLCK;
    T(fcntl(fd, F_SETLK, &fl));
    q.l_type = F_WRLCK;
    T(fcntl(fd, F_GETLK, &q));
    printf("after unlock: type=%d\n", q.l_type);

    /* flock */
    int f2 = open("data", O_RDONLY);
    T(flock(fd, LOCK_EX));
    T(flock(f2, LOCK_EX | LOCK_NB));
    T(flock(f2, LOCK_SH | LOCK_NB));
    int d = dup(fd);
    T(flock(d, LOCK_SH | LOCK_NB));
    T(flock(f2, LOCK_SH | LOCK_NB));
    T(flock(fd, LOCK_UN));
    T(flock(f2, LOCK_SH | LOCK_NB));
    T(flock(fd, 0));
    T(flock(99, LOCK_SH));
    close(f2);

    /* blocking flock and F_SETLKW wait for another process to unlock */
    {
        int sync_pipe[2];
        Q(pipe(sync_pipe));
        int lf = open("lockf", O_RDWR | O_CREAT, 0644);
        fflush(stdout);
        pid_t holder = fork();
        if (holder == 0) {
            int c = open("lockf", O_RDWR);
            flock(c, LOCK_EX);
            struct flock w = {.l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 0, .l_len = 10};
            fcntl(c, F_SETLK, &w);
            write(sync_pipe[1], "L", 1);
            usleep(50000);
            printf("holder unlocks flock\n");
            fflush(stdout);
            flock(c, LOCK_UN);
            usleep(50000);
            printf("holder unlocks record\n");
            fflush(stdout);
            w.l_type = F_UNLCK;
            fcntl(c, F_SETLK, &w);
            _exit(0);
        }
        char ch;
        T(read(sync_pipe[0], &ch, 1));
        T(flock(lf, LOCK_EX | LOCK_NB));
        T(flock(lf, LOCK_EX));
        printf("waiter got flock\n");
        struct flock w = {.l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 5, .l_len = 1};
        T(fcntl(lf, F_SETLK, &w));
        T(fcntl(lf, F_SETLKW, &w));
        printf("waiter got record lock\n");
        int st2;
        waitpid(holder, &st2, 0);
        close(lf);
    }

    /* execve keeps descriptors (with their offsets) except close-on-exec ones */
    {
        int keep = open("data", O_RDONLY);
        lseek(keep, 2, SEEK_SET);
        int gone = open("data", O_RDONLY | O_CLOEXEC);
        int gone2 = dup(keep);
        fcntl(gone2, F_SETFD, FD_CLOEXEC);
        char a1[16], a2[16], a3[16];
        snprintf(a1, sizeof a1, "%d", keep);
        snprintf(a2, sizeof a2, "%d", gone);
        snprintf(a3, sizeof a3, "%d", gone2);
        fflush(stdout);
        pid_t ex = fork();
        if (ex == 0) {
            execl("/proc/self/exe", "fs_io", "after-exec", a1, a2, a3, (char *)NULL);
            printf("execl failed: %s\n", errname(errno));
            _exit(1);
        }
        int est;
        waitpid(ex, &est, 0);
        printf("exec child status %d\n", WEXITSTATUS(est));
        close(keep);
        close(gone);
        close(gone2);
    }

    /* xattrs */
    T(setxattr("data", "user.color", "blue", 4, 0));
    T(setxattr("data", "user.color", "red", 3, XATTR_CREATE));
    T(setxattr("data", "user.size", "big", 3, XATTR_REPLACE));
    T(setxattr("data", "user.size", "big", 3, XATTR_CREATE));
    T(setxattr("data", "user.empty", "", 0, 0));
    T(getxattr("data", "user.color", NULL, 0));
    T(getxattr("data", "user.color", buf, 2));
    T(getxattr("data", "user.color", buf, sizeof buf));
    printf("[%.4s]\n", buf);
    T(getxattr("data", "user.empty", buf, sizeof buf));
    T(getxattr("data", "user.none", buf, sizeof buf));
    T(getxattr("data", "bogus.none", buf, sizeof buf));
    T(setxattr("data", "bogus.x", "1", 1, 0));
    T(setxattr("data", "user.x", "1", 1, 4));
    T(setxattr("data", "user.", "1", 1, 0));
    T(setxattr("data", "", "1", 1, 0));
    char longname[300];
    memset(longname, 'k', sizeof longname);
    memcpy(longname, "user.", 5);
    longname[299] = 0;
    T(setxattr("data", longname, "1", 1, 0));
    T(setxattr("data", "user.big", buf, 70000, 0));
    list_xattrs("data");
    T(listxattr("data", buf, 1));
    T(removexattr("data", "user.color"));
    T(removexattr("data", "user.color"));
    list_xattrs("data");
    T(fsetxattr(fd, "user.viafd", "v", 1, 0));
    T(fgetxattr(fd, "user.viafd", buf, sizeof buf));
    T(fremovexattr(fd, "user.viafd"));
    Q(symlink("data", "xl"));
    T(lsetxattr("xl", "user.onlink", "1", 1, 0));
    T(setxattr("xl", "user.through", "1", 1, 0));
    T(lgetxattr("xl", "user.through", buf, sizeof buf));
    T(getxattr("xl", "user.through", buf, sizeof buf));
    list_xattrs("data");
    T(getxattr("missing", "user.x", buf, sizeof buf));
    return 0;
}
