/* compute: a sieve of Eratosthenes (benchmark and test). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char **argv) {
    int n = argc > 1 ? atoi(argv[1]) : 2000000;
    int rounds = argc > 2 ? atoi(argv[2]) : 1;
    char *s = malloc(n + 1);
    int count = 0;
    for (int r = 0; r < rounds; r++) {
        memset(s, 1, n + 1);
        s[0] = s[1] = 0;
        for (long i = 2; i * i <= n; i++)
            if (s[i])
                for (long j = i * i; j <= n; j += i) s[j] = 0;
        count = 0;
        for (int i = 0; i <= n; i++) count += s[i];
    }
    printf("%d primes below %d\n", count, n);
    return 0;
}
