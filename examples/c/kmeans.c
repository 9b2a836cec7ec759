/* Lloyd's k-means (K=16, D=8, 30 iterations) on generated clustered points; prints the final
 * inertia, cluster sizes and a centroid checksum. argv[1]: number of points (default 160000). */
#include "kernel.h"

#define K 16
#define D 8
#define ITERS 30

int main(int argc, char **argv) {
  long n = size_arg(argc, argv, 160000);
  double *x = malloc(n * D * sizeof *x);
  int *label = malloc(n * sizeof *label);
  if (!x || !label) { fprintf(stderr, "out of memory for %ld points\n", n); return 1; }
  xorshift32 rng = {2024};
  double centers[K][D], sums[K][D];
  long count[K];
  for (int k = 0; k < K; k++)
    for (int d = 0; d < D; d++) centers[k][d] = 20 * xs_next(&rng) - 10;
  for (long i = 0; i < n; i++) {
    int k = (int)(xs_next(&rng) * K);
    for (int d = 0; d < D; d++) x[i * D + d] = centers[k][d] + 3 * (xs_next(&rng) + xs_next(&rng) - 1);
  }
  /* Start from the first K points (deterministic). */
  for (int k = 0; k < K; k++)
    for (int d = 0; d < D; d++) centers[k][d] = x[k * D + d];
  double t0 = now_ms(), inertia = 0;
  for (int it = 0; it < ITERS; it++) {
    memset(sums, 0, sizeof sums);
    memset(count, 0, sizeof count);
    inertia = 0;
    for (long i = 0; i < n; i++) {
      const double *p = x + i * D;
      double best = 1e300;
      int arg = 0;
      for (int k = 0; k < K; k++) {
        double s = 0;
        for (int d = 0; d < D; d++) { double t = p[d] - centers[k][d]; s += t * t; }
        if (s < best) { best = s; arg = k; }
      }
      label[i] = arg;
      inertia += best;
      count[arg]++;
      for (int d = 0; d < D; d++) sums[arg][d] += p[d];
    }
    for (int k = 0; k < K; k++)
      if (count[k])
        for (int d = 0; d < D; d++) centers[k][d] = sums[k][d] / count[k];
  }
  double t1 = now_ms(), csum = 0;
  for (int k = 0; k < K; k++)
    for (int d = 0; d < D; d++) csum += centers[k][d] * (k + 1);
  printf("kmeans n=%ld inertia %.17g centroids %.17g sizes", n, inertia, csum);
  for (int k = 0; k < K; k++) printf(" %ld", count[k]);
  printf("\n");
  fprintf(stderr, "kernel_ms %.3f\n", t1 - t0);
  return 0;
}
