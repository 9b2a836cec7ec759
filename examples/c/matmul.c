/* Dense f64 matrix multiply C = A·B (N×N, i-k-j order) on deterministic data; prints a checksum.
 * argv[1]: N (default 800). */
#include "kernel.h"

int main(int argc, char **argv) {
  long n = size_arg(argc, argv, 800);
  double *a = malloc(n * n * sizeof *a), *b = malloc(n * n * sizeof *b), *c = calloc(n * n, sizeof *c);
  if (!a || !b || !c) { fprintf(stderr, "out of memory for N=%ld\n", n); return 1; }
  xorshift32 rng = {12345};
  for (long i = 0; i < n * n; i++) a[i] = xs_next(&rng) - 0.5;
  for (long i = 0; i < n * n; i++) b[i] = xs_next(&rng) - 0.5;
  double t0 = now_ms();
  for (long i = 0; i < n; i++)
    for (long k = 0; k < n; k++) {
      double aik = a[i * n + k];
      double *ci = c + i * n;
      const double *bk = b + k * n;
      for (long j = 0; j < n; j++) ci[j] += aik * bk[j];
    }
  double t1 = now_ms();
  double sum = 0, wsum = 0;
  for (long i = 0; i < n * n; i++) { sum += c[i]; wsum += c[i] * (double)(i % 7 + 1); }
  printf("matmul n=%ld checksum %.17g %.17g\n", n, sum, wsum);
  fprintf(stderr, "kernel_ms %.3f\n", t1 - t0);
  return 0;
}
