/* execve of itself with arguments and environment; exit status passes through; ENOENT/ENOEXEC. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

int main(int argc, char **argv, char **envp) {
    setvbuf(stdout, NULL, _IONBF, 0);
    if (argc > 1 && strcmp(argv[1], "child") == 0) {
        printf("child argc=%d", argc);
        for (int i = 2; i < argc; i++) printf(" [%s]", argv[i]);
        printf(" FOO=%s\n", getenv("FOO") ? getenv("FOO") : "(null)");
        return 17;
    }
    pid_t c = fork();
    if (c == 0) {
        char *args[] = {argv[0], "child", "x y", "", "z", NULL};
        char *env[] = {"FOO=bar baz", NULL};
        execve(argv[0], args, env);
        _exit(100);
    }
    int st;
    waitpid(c, &st, 0);
    printf("exec child exit %d\n", WEXITSTATUS(st));
    char *a2[] = {"nope", NULL};
    printf("enoent %d\n", execve("/nonexistent/prog", a2, envp) == -1 && errno == ENOENT);
    /* fork+exec many short processes */
    int total = 0;
    for (int i = 0; i < 10; i++) {
        c = fork();
        if (c == 0) {
            char *args[] = {argv[0], "child", NULL};
            char *env[] = {NULL};
            close(1);
            execve(argv[0], args, env);
            _exit(1);
        }
        waitpid(c, &st, 0);
        total += WEXITSTATUS(st);
    }
    printf("total=%d\n", total);
    /* a #! script whose interpreter is this program, with an optional argument */
    char script[4200];
    snprintf(script, sizeof script, "#!%s child\n", argv[0]);
    FILE *f = fopen("script.sh", "w");
    fputs(script, f);
    fclose(f);
    chmod("script.sh", 0755);
    c = fork();
    if (c == 0) {
        char *args[] = {"script.sh", "one", "two", NULL};
        char *env[] = {NULL};
        execve("./script.sh", args, env);
        _exit(101);
    }
    waitpid(c, &st, 0);
    printf("script exit %d\n", WEXITSTATUS(st));
    return 0;
}
