/* mmap of files: private and shared mappings, writes through and back, msync, beyond EOF,
 * after truncate, errors. */
#include "fs_common.h"
#include <signal.h>
#include <sys/mman.h>
#include <sys/wait.h>

int main(void) {
    int fd = open("m", O_RDWR | O_CREAT | O_TRUNC, 0644);
    char page[8192];
    for (int i = 0; i < 8192; i++)
        page[i] = 'a' + i % 26;
    T(write(fd, page, 6000));
    char *p = mmap(NULL, 8192, PROT_READ, MAP_PRIVATE, fd, 0);
    T(p != MAP_FAILED);
    printf("[%.10s] [%.5s] tail=%d\n", p, p + 4096, p[6500]);
    T(munmap(p, 8192));
    p = mmap(NULL, 4096, PROT_READ, MAP_PRIVATE, fd, 4096);
    printf("offset map: [%.5s]\n", p);
    munmap(p, 4096);
    T(mmap(NULL, 4096, PROT_READ, MAP_PRIVATE, fd, 100) == MAP_FAILED ? -1 : 0);
    printf("errno %s\n", errname(errno));

    /* private writes stay private */
    p = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
    p[0] = 'X';
    char buf[16];
    T(pread(fd, buf, 1, 0));
    printf("file after private write: %c, map %c\n", buf[0], p[0]);
    munmap(p, 4096);

    /* shared writes reach the file */
    p = mmap(NULL, 8192, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    T(p != MAP_FAILED);
    memcpy(p, "SHARED", 6);
    T(msync(p, 8192, MS_SYNC));
    T(pread(fd, buf, 6, 0));
    printf("file after shared write: [%.6s]\n", buf);
    T(pwrite(fd, "pw", 2, 10));
    T(msync(p, 4096, MS_SYNC));
    memcpy(p + 100, "late", 4);
    T(munmap(p, 8192));
    T(pread(fd, buf, 4, 100));
    printf("after munmap: [%.4s]\n", buf);
    struct stat st;
    fstat(fd, &st);
    printf("size still %ld\n", (long)st.st_size);

    /* shared mapping seen by a child */
    p = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        memcpy(p, "CHILD", 5);
        _exit(0);
    }
    int status;
    waitpid(pid, &status, 0);
    printf("parent sees: [%.5s]\n", p);
    munmap(p, 4096);
    T(pread(fd, buf, 5, 0));
    printf("file: [%.5s]\n", buf);

    /* errors */
    int ro = open("m", O_RDONLY);
    T(mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, ro, 0) == MAP_FAILED ? -1 : 0);
    T(mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE, ro, 0) == MAP_FAILED ? -1 : 0);
    T(mmap(NULL, 4096, PROT_READ, MAP_SHARED, 99, 0) == MAP_FAILED ? -1 : 0);
    int dfd = open(".", O_RDONLY);
    T(mmap(NULL, 4096, PROT_READ, MAP_SHARED, dfd, 0) == MAP_FAILED ? -1 : 0);
    int wo = open("m", O_WRONLY);
    T(mmap(NULL, 4096, PROT_READ, MAP_SHARED, wo, 0) == MAP_FAILED ? -1 : 0);
    T(mmap(NULL, 0, PROT_READ, MAP_SHARED, fd, 0) == MAP_FAILED ? -1 : 0);
    int pp[2];
    pipe(pp);
    T(mmap(NULL, 4096, PROT_READ, MAP_SHARED, pp[0], 0) == MAP_FAILED ? -1 : 0);

    /* a mapping survives close and unlink */
    p = mmap(NULL, 4096, PROT_READ, MAP_PRIVATE, fd, 0);
    close(fd);
    unlink("m");
    printf("after close+unlink: [%.5s]\n", p);

    /* memfd: an anonymous file, shared mappings of it */
    int mfd = memfd_create("lxfs-test", MFD_CLOEXEC);
    T(mfd >= 0);
    T(write(mfd, "memfd data", 10));
    fstat(mfd, &st);
    printf("memfd size=%ld reg=%d mode=%o cloexec=%d\n", (long)st.st_size, S_ISREG(st.st_mode), st.st_mode & 0777,
           fcntl(mfd, F_GETFD));
    T(ftruncate(mfd, 8192));
    char *mp = mmap(NULL, 8192, PROT_READ | PROT_WRITE, MAP_SHARED, mfd, 0);
    printf("memfd map: [%.10s]\n", mp);
    memcpy(mp + 4096, "page2", 5);
    T(msync(mp, 8192, MS_SYNC));
    T(pread(mfd, buf, 5, 4096));
    printf("memfd pread: [%.5s]\n", buf);
    T(memfd_create("x", 0x100));
    return 0;
}
