#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char **argv) {
    printf("hello with %d args\n", argc);
    for (int i = 1; i < argc; i++) printf("argv[%d]=%s\n", i, argv[i]);
    printf("%.17g %.6e %a\n", 1.0 / 3, 2.5e-300 * 7, 0.1);
    char *p = malloc(1 << 20);
    memset(p, 'x', 1 << 20);
    printf("malloc ok %c\n", p[12345]);
    free(p);
    return 7;
}
