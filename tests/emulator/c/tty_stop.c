/* ^Z and ^\ typed on the controlling terminal (run on a pty, natively and in lxfs run): ^Z stops the
   foreground program (the test sees it stopped and sends SIGCONT), ^\ reaches its SIGQUIT handler. */
#define _GNU_SOURCE
#include <signal.h>
#include <stdio.h>
#include <unistd.h>

static volatile sig_atomic_t continued, quit;
static void on_cont(int sig) { (void)sig; continued = 1; }
static void on_quit(int sig) { (void)sig; quit = 1; }

int main(void) {
    setvbuf(stdout, NULL, _IONBF, 0);
    signal(SIGCONT, on_cont);
    signal(SIGQUIT, on_quit);
    printf("ready\n");
    while (!continued) pause();
    printf("continued\n");
    while (!quit) pause();
    printf("got SIGQUIT\n");
    return 0;
}
