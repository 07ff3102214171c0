/* mremap keeps what it moves: a MAP_SHARED mapping moved (MREMAP_FIXED) or shrunk stays shared with a
   forked child; a private mapping moved and grown keeps its contents and the rest reads as zeros, and
   aliases no other mapping of its old buffer. */
#define _GNU_SOURCE
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

int main(void) {
    long page = sysconf(_SC_PAGESIZE);
    char *shared = mmap(NULL, 4 * page, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    char *spot = mmap(NULL, 4 * page, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    strcpy(shared, "before");
    int to_child[2], to_parent[2];
    if (pipe(to_child) || pipe(to_parent)) return 1;
    char c;
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        read(to_child[0], &c, 1);
        printf("child reads through its old mapping: %s\n", shared);
        fflush(stdout);
        strcpy(shared + page, "child-wrote");
        write(to_parent[1], "x", 1);
        _exit(0);
    }
    char *moved = mremap(shared, 4 * page, 4 * page, MREMAP_MAYMOVE | MREMAP_FIXED, spot);
    printf("moved to the spot: %d, contents: %s\n", moved == spot, moved);
    strcpy(moved, "after-move");
    char *shrunk = mremap(moved, 4 * page, 2 * page, 0);
    printf("shrunk in place: %d\n", shrunk == moved);
    write(to_child[1], "x", 1);
    read(to_parent[0], &c, 1);
    printf("parent reads the child's write: %s\n", shrunk + page);
    int st;
    waitpid(pid, &st, 0);

    char *priv = mmap(NULL, page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    strcpy(priv, "private");
    mmap(priv + page, page, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0); /* no room after */
    char *grown = mremap(priv, page, 64 * page, MREMAP_MAYMOVE);
    int zeros = 1;
    for (long i = page; i < 64 * page; i++) zeros &= grown[i] == 0;
    printf("grown private: moved %d, %s, rest zeros %d\n", grown != priv, grown, zeros);

    /* a private mapping split by mprotect: the first page moved and grown must not alias the second */
    char *split = mmap(NULL, 2 * page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    strcpy(split + page, "second");
    mprotect(split + page, page, PROT_READ);
    char *m = mremap(split, page, 2 * page, MREMAP_MAYMOVE);
    strcpy(m + page, "moved-one");
    printf("split private: moved %d, [%s] [%s]\n", m != split, split + page, m + page);

    /* growing in place over pages an earlier munmap gave back: they read as zeros */
    char *g = mmap(NULL, 2 * page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    strcpy(g + page, "stale");
    munmap(g + page, page);
    char *h = mremap(g, page, 2 * page, 0);
    printf("grown in place: %d, [%s]\n", h == g, h == MAP_FAILED ? "failed" : h + page);
    return 0;
}
