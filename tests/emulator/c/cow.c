/* fork shares read-only private memory until a side makes it writable: mprotect + write in the child
   (and then in the parent) and MADV_DONTNEED in the child never show through to the other process;
   read-only data stays intact in both. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

static const char rodata[] = "constant";

int main(void) {
    char path[] = "/tmp/cowXXXXXX";
    int fd = mkstemp(path);
    if (fd < 0 || write(fd, "file-contents", 13) != 13) return 1;
    char *anon = mmap(NULL, 8192, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    strcpy(anon, "anonymous");
    strcpy(anon + 4096, "second-page");
    mprotect(anon, 8192, PROT_READ);
    char *file = mmap(NULL, 4096, PROT_READ, MAP_PRIVATE, fd, 0);
    int to_child[2], to_parent[2];
    if (pipe(to_child) || pipe(to_parent)) return 1;
    char c;

    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        mprotect(anon, 4096, PROT_READ | PROT_WRITE);
        strcpy(anon, "child-wrote");
        mprotect(file, 4096, PROT_READ | PROT_WRITE);
        memcpy(file, "CHILD", 5);
        madvise(anon + 4096, 4096, MADV_DONTNEED);
        printf("child sees: %s [%s] %.13s %s\n", anon, anon + 4096, file, rodata);
        fflush(stdout);
        write(to_parent[1], "x", 1);
        read(to_child[0], &c, 1); /* the parent has written its copy */
        printf("child still sees: %s %.13s\n", anon, file);
        fflush(stdout);
        _exit(0);
    }
    read(to_parent[0], &c, 1);
    printf("parent sees: %s [%s] %.13s %s\n", anon, anon + 4096, file, rodata);
    mprotect(anon, 8192, PROT_READ | PROT_WRITE);
    strcpy(anon, "parent-wrote");
    write(to_child[1], "x", 1);
    int st;
    waitpid(pid, &st, 0);
    printf("parent sees: %s %.13s, child status %d\n", anon, file, st);
    unlink(path);
    return 0;
}
