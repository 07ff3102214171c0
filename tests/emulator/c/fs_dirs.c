/* Directories: getdents64 (small buffers, seek back), rename cases, links, rmdir/unlink errors,
 * symlinks and readlink, getcwd/chdir/fchdir. */
#include "fs_common.h"
#include <dirent.h>
#include <sys/syscall.h>

struct linux_dirent64 {
    unsigned long long d_ino;
    long long d_off;
    unsigned short d_reclen;
    unsigned char d_type;
    char d_name[];
};

static int cmp(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* list a directory with getdents64 and a buffer of bufsize bytes; print sorted "name:type" */
static void list(const char *path, int bufsize) {
    int fd = open(path, O_RDONLY | O_DIRECTORY);
    if (fd < 0) {
        printf("list %s: %s\n", path, errname(errno));
        return;
    }
    char *buf = malloc(bufsize);
    char *names[512];
    int n = 0, calls = 0;
    for (;;) {
        long got = syscall(SYS_getdents64, fd, buf, bufsize);
        if (got < 0) {
            printf("getdents64 %s: %s\n", path, errname(errno));
            break;
        }
        if (got == 0)
            break;
        calls++;
        for (long pos = 0; pos < got;) {
            struct linux_dirent64 *d = (void *)(buf + pos);
            if (d->d_reclen % 8 || d->d_reclen < 20)
                printf("bad reclen %u\n", d->d_reclen);
            char *s = malloc(300);
            snprintf(s, 300, "%s:%d", d->d_name, d->d_type);
            if (n < 512)
                names[n++] = s;
            pos += d->d_reclen;
        }
    }
    qsort(names, n, sizeof *names, cmp);
    printf("list %s (%d entries):", path, n);
    for (int i = 0; i < n; i++) {
        printf(" %s", names[i]);
        free(names[i]);
    }
    printf("\n");
    if (bufsize < 100)
        printf("calls>1: %d\n", calls > 1);
    /* rewind and count again */
    T(lseek(fd, 0, SEEK_SET));
    long again = syscall(SYS_getdents64, fd, buf, bufsize);
    printf("after rewind: %d\n", again > 0);
    free(buf);
    close(fd);
    fflush(stdout);
}

int main(void) {
    char buf[64];
    struct stat st;
    umask(022);
    Q(mkdir("dir", 0755));
    for (int i = 0; i < 40; i++) {
        char name[64];
        snprintf(name, sizeof name, "dir/file-%02d-with-a-longer-name", i);
        put_file(name, "x");
    }
    Q(mkdir("dir/sub", 0755));
    Q(symlink("file-00-with-a-longer-name", "dir/link"));
    Q(mkfifo("dir/fifo", 0600));
    list("dir", 4096);
    list("dir", 64);
    list("dir/sub", 4096);
    int fd = open("dir", O_RDONLY | O_DIRECTORY);
    T(syscall(SYS_getdents64, fd, buf, 10));
    T(syscall(SYS_getdents64, fd, (void *)8, 4096));
    close(fd);
    fd = open("dir/file-00-with-a-longer-name", O_RDONLY);
    T(syscall(SYS_getdents64, fd, buf, sizeof buf));
    close(fd);
    T(syscall(SYS_getdents64, 999, buf, sizeof buf));

    /* readdir while unlinking: every remaining entry is seen once */
    fd = open("dir", O_RDONLY | O_DIRECTORY);
    char big[512];
    long got = syscall(SYS_getdents64, fd, big, sizeof big);
    T(got > 0);
    for (int i = 0; i < 40; i += 2) {
        char name[64];
        snprintf(name, sizeof name, "dir/file-%02d-with-a-longer-name", i);
        Q(unlink(name));
    }
    close(fd);
    list("dir", 200);

    /* links */
    put_file("a", "A");
    T(link("a", "b"));
    show("a");
    T(link("a", "b"));
    T(link("dir", "dirlink"));
    T(link("missing", "c"));
    T(link("a", "missing/c"));
    T(unlink("b"));
    show("a");
    T(unlink("dir"));
    T(unlink("missing"));
    T(unlink("a/"));
    T(rmdir("a"));
    T(rmdir("dir"));
    T(rmdir("dir/sub/."));
    T(rmdir("dir/sub/.."));
    T(rmdir("missing"));
    T(mkdir("dir", 0755));
    T(mkdir("a/b", 0755));
    T(mkdir("missing/b", 0755));
    T(mkdir("newdir/", 0755));
    T(rmdir("newdir/"));
    show("dir");
    show("dir/sub");

    /* symlinks */
    T(symlink("a", "s1"));
    T(symlink("a", "s1"));
    T(symlink("", "s2"));
    long n;
    T(readlink("s1", buf, sizeof buf));
    T(readlink("s1", buf, 0));
    T(readlink("a", buf, sizeof buf));
    T(readlink("missing", buf, sizeof buf));
    T(readlink("", buf, sizeof buf));
    int lfd = open("s1", O_PATH | O_NOFOLLOW);
    n = readlinkat(lfd, "", buf, sizeof buf);
    printf("readlinkat(O_PATH link, \"\") = %ld [%.*s]\n", n, (int)(n > 0 ? n : 0), buf);
    close(lfd);
    Q(symlink("0123456789", "s3"));
    n = readlink("s3", buf, 4);
    printf("readlink short: %ld [%.*s]\n", n, (int)n, buf);
    T(symlink("dir", "sdir"));
    T(rmdir("sdir"));
    T(unlink("sdir/"));
    T(unlink("sdir"));
    show("dir");

    /* rename cases */
    put_file("r1", "one");
    put_file("r2", "two");
    Q(mkdir("rd1", 0755));
    Q(mkdir("rd2", 0755));
    Q(mkdir("rd3", 0755));
    put_file("rd3/x", "x");
    T(rename("r1", "r2"));
    cat("r2");
    show("r1");
    T(rename("r2", "rd1"));
    T(rename("rd1", "r2"));
    T(rename("rd1", "rd1/sub"));
    T(rename("rd1", "rd3"));
    T(rename("rd1", "rd2"));
    show("rd1");
    show("rd2");
    T(rename("rd2", "rd2"));
    T(rename("missing", "x"));
    T(rename("r2", "missing/x"));
    T(rename(".", "x"));
    T(rename("r2", "."));
    T(rename("rd2/..", "x"));
    T(rename("r2/", "r3"));
    T(rename("rd2/", "rd4/"));
    show("rd4");
    Q(link("r2", "r2hard"));
    T(rename("r2", "r2hard"));
    show("r2");
    show("r2hard");
    put_file("e1", "E1");
    Q(mkdir("e2", 0700));
    T(syscall(SYS_renameat2, AT_FDCWD, "e1", AT_FDCWD, "r2", 1 /* RENAME_NOREPLACE */));
    T(syscall(SYS_renameat2, AT_FDCWD, "e1", AT_FDCWD, "e3", 1));
    T(syscall(SYS_renameat2, AT_FDCWD, "e3", AT_FDCWD, "e2", 2 /* RENAME_EXCHANGE */));
    show("e2");
    show("e3");
    T(syscall(SYS_renameat2, AT_FDCWD, "e3", AT_FDCWD, "nothere", 2));
    T(syscall(SYS_renameat2, AT_FDCWD, "e3", AT_FDCWD, "e2", 3));
    T(syscall(SYS_renameat2, AT_FDCWD, "e3", AT_FDCWD, "e2", 64));
    show("rd3");
    T(rename("rd3/x", "rd3x"));
    show("rd3");

    /* cwd */
    char cwd[4096];
    char start[4096];
    Q(getcwd(start, sizeof start) ? 0 : -1);
    T(chdir("rd3"));
    Q(getcwd(cwd, sizeof cwd) ? 0 : -1);
    printf("cwd suffix ok: %d\n", strlen(cwd) == strlen(start) + 4 && !strcmp(cwd + strlen(start), "/rd3"));
    T(chdir("missing"));
    T(chdir("../r2"));
    T(syscall(SYS_getcwd, cwd, 2));
    fd = open("..", O_RDONLY | O_DIRECTORY);
    T(fchdir(fd));
    close(fd);
    Q(getcwd(cwd, sizeof cwd) ? 0 : -1);
    printf("back: %d\n", !strcmp(cwd, start));
    fd = open("r2", O_RDONLY);
    T(fchdir(fd));
    close(fd);
    /* removed cwd */
    Q(mkdir("gone", 0755));
    T(chdir("gone"));
    T(rmdir("../gone"));
    T(syscall(SYS_getcwd, cwd, sizeof cwd) > 0);
    T(open("new", O_CREAT | O_RDWR, 0644));
    T(chdir(start));
    return 0;
}
