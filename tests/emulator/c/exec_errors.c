/* execve failures: each must leave the caller intact and give Linux's errno. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static void put(const char *name, const void *data, size_t len, int mode) {
    int fd = open(name, O_WRONLY | O_CREAT | O_TRUNC, mode);
    write(fd, data, len);
    close(fd);
}

static void try(const char *path) {
    char *argv[] = {(char *)path, NULL};
    char *envp[] = {NULL};
    errno = 0;
    int r = execve(path, argv, envp);
    printf("%-12s r=%d errno=%s\n", path, r, strerror(errno));
}

int main(void) {
    setvbuf(stdout, NULL, _IONBF, 0);
    put("garbage", "hello world, not a program\n", 27, 0755);
    unsigned char elf32[64] = {0x7f, 'E', 'L', 'F', 1, 1, 1};
    elf32[16] = 2; elf32[18] = 3;
    put("elf32", elf32, sizeof elf32, 0755);
    unsigned char arm[64] = {0x7f, 'E', 'L', 'F', 2, 1, 1};
    arm[16] = 2; arm[18] = 183;
    put("arm64", arm, sizeof arm, 0755);
    unsigned char trunc[40] = {0x7f, 'E', 'L', 'F', 2, 1, 1};
    put("truncated", trunc, sizeof trunc, 0755);
    put("noexec", "#!/bin/sh\n", 10, 0644);
    put("badinterp", "#!/nonexistent/interp\n", 22, 0755);
    put("empty", "", 0, 0755);
    mkdir("adir", 0755);
    try("./garbage");
    try("./elf32");
    try("./arm64");
    try("./truncated");
    try("./noexec");
    try("./badinterp");
    try("./empty");
    try("./adir");
    try("./missing");
    printf("still here\n");
    return 0;
}
