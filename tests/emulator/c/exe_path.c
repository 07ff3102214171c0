/* /proc/self/exe and the main binary's name in /proc/self/maps are the resolved file, whatever path
   execve was given: the program re-executes itself through /proc/self/exe and through a symlink. */
#define _GNU_SOURCE
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void check(const char *stage, const char *real) {
    char exe[PATH_MAX] = "", line[PATH_MAX + 128] = "", *name;
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    exe[n > 0 ? n : 0] = 0;
    FILE *f = fopen("/proc/self/maps", "r");
    if (!f || !fgets(line, sizeof line, f)) return;
    fclose(f);
    line[strcspn(line, "\n")] = 0;
    name = strchr(line, '/');
    printf("%s: exe is the file %d, maps names it %d\n", stage, strcmp(exe, real) == 0, name && !strcmp(name, real));
}

int main(int argc, char **argv) {
    setvbuf(stdout, NULL, _IONBF, 0);
    if (argc == 1) {
        char real[PATH_MAX];
        if (!realpath(argv[0], real)) return 1;
        check("direct", real);
        execl("/proc/self/exe", "prog", "proc-self-exe", real, (char *)NULL);
        return 2;
    }
    check(argv[1], argv[2]);
    if (!strcmp(argv[1], "proc-self-exe")) {
        unlink("link");
        if (symlink(argv[2], "link")) return 3;
        execl("./link", "prog", "symlink", argv[2], (char *)NULL);
        return 4;
    }
    return 0;
}
