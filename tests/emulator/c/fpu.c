/* floating point output must match native bit for bit: printf of doubles, long double, libm. */
#include <math.h>
#include <stdio.h>

int main(void) {
    double acc = 0;
    for (int i = 1; i <= 1000; i++) acc += 1.0 / (i * (double)i);
    printf("%.17g %.17g %.17g\n", acc, sqrt(2.0), acc * acc - 2.5);
    printf("%.17g %.17g %.17g %.17g\n", sin(1.0), cos(0.5), exp(1.0), log(10.0));
    printf("%.17g %.17g %.17g\n", pow(2.0, 0.5), atan2(1.0, 3.0), tan(1.2));
    long double ld = 1.0L / 3.0L;
    printf("%.21Lg %.10Le\n", ld, ld * 1e300L);
    float f = 0.1f;
    printf("%.9g %a %a\n", f * 3, (double)f, 1.0 / 3);
    printf("%g %g %g %g\n", 1e-320, -0.0, 1.0 / 0.0, 0.0 / 0.0 != 0.0 / 0.0 ? 1.0 : 0.0);
    volatile double a = 1e308, b = 10;
    printf("%g %g\n", a * b, -a * b);
    unsigned long long bits = 0;
    double v = 0.1 + 0.2;
    __builtin_memcpy(&bits, &v, 8);
    printf("%llx %.20f\n", bits, v);
    return 0;
}
