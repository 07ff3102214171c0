/* /proc/self agrees with the syscalls: pid, ppid, comm, state, threads, cmdline, uid, maps. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <unistd.h>

static char buf[65536];

static const char *slurp(const char *path) {
    int fd = open(path, O_RDONLY);
    if (fd < 0) return "";
    ssize_t n = 0, r;
    while ((r = read(fd, buf + n, sizeof buf - 1 - n)) > 0) n += r;
    buf[n] = 0;
    close(fd);
    return buf;
}

int main(int argc, char **argv) {
    int pid, ppid;
    char comm[64], state;
    sscanf(slurp("/proc/self/stat"), "%d (%63[^)]) %c %d", &pid, comm, &state, &ppid);
    const char *base = strrchr(argv[0], '/') ? strrchr(argv[0], '/') + 1 : argv[0];
    printf("stat pid ok=%d ppid ok=%d state=%c comm ok=%d\n", pid == getpid(), ppid == getppid(), state,
           strncmp(comm, base, 15) == 0);
    prctl(PR_SET_NAME, "renamed");
    printf("comm now=%s", slurp("/proc/self/comm"));
    const char *st = slurp("/proc/self/status");
    char *p = strstr(st, "Threads:");
    printf("%.11s\n", p ? p : "no Threads");
    p = strstr(st, "Uid:");
    int u[4] = {-1, -1, -1, -1};
    if (p) sscanf(p, "Uid:\t%d\t%d\t%d\t%d", &u[0], &u[1], &u[2], &u[3]);
    printf("uids match=%d\n", u[0] == (int)getuid() && u[1] == (int)geteuid());
    int fd = open("/proc/self/cmdline", O_RDONLY);
    ssize_t n = read(fd, buf, sizeof buf);
    close(fd);
    printf("cmdline length ok=%d second=%s\n", n == (ssize_t)(strlen(argv[0]) + strlen(argv[1]) + 2),
           buf + strlen(buf) + 1);
    void *m = mmap(NULL, 3 * 4096, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    char needle[64];
    snprintf(needle, sizeof needle, "%lx-%lx r--p", (unsigned long)m, (unsigned long)m + 3 * 4096);
    const char *maps = slurp("/proc/self/maps");
    int has_map = strstr(maps, needle) != NULL, has_stack = strstr(maps, "[stack]") != NULL;
    printf("maps has mmap=%d stack=%d\n", has_map, has_stack);
    return 0;
}
