/* Timing for the benchmark kernels: the kernel's own time goes to stderr as "kernel_ms N" so the
 * benchmark can compare pure compute; stdout carries only the checksum, identical across builds. */
#ifndef COCOS_EXAMPLES_KERNEL_H
#define COCOS_EXAMPLES_KERNEL_H
#include <time.h>
#include "common.h"

static inline double now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/* Optional argv[1]: a positive problem size, else `dflt`. */
static inline long size_arg(int argc, char **argv, long dflt) {
  if (argc < 2) return dflt;
  char *end;
  long v = strtol(argv[1], &end, 10);
  if (*end || v <= 0) {
    fprintf(stderr, "expected a positive integer size, got '%s'\n", argv[1]);
    exit(2);
  }
  return v;
}
#endif
