/* MAP_SHARED file mappings: two mappings and another process see each other's writes; munmap writes back. */
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>
int main(void) {
    int fd = open("shared.dat", O_RDWR | O_CREAT | O_TRUNC, 0644);
    ftruncate(fd, 4096);
    char *a = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    char *b = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    strcpy(a, "via a");
    printf("b sees: %s\n", b);
    if (fork() == 0) {
        int fd2 = open("shared.dat", O_RDWR);
        char *c = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd2, 0);
        printf("child sees: %s\n", c);
        strcpy(c, "from child");
        _exit(0);
    }
    wait(NULL);
    printf("parent sees: %s\n", a);
    munmap(a, 4096); munmap(b, 4096);
    char buf[16] = {0};
    pread(fd, buf, 10, 0);
    printf("file has: %s\n", buf);
    return 0;
}
