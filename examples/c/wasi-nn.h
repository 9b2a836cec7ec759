/* wasi-nn for preview-1 modules: the wasi_ephemeral_nn imports with the core ABI of wasmtime's
 * crates/wasi-nn/witx/wasi-nn.witx (handles and enums as i32, lists as pointer + length, the tensor
 * record by pointer, results through an out-pointer, nn_errno returned; 0 is success). */
#ifndef COCOS_WASI_NN_H
#define COCOS_WASI_NN_H
#include <stdint.h>

typedef uint16_t nn_errno;
enum {
  NN_SUCCESS = 0, NN_INVALID_ARGUMENT, NN_INVALID_ENCODING, NN_MISSING_MEMORY, NN_BUSY,
  NN_RUNTIME_ERROR, NN_UNSUPPORTED_OPERATION, NN_TOO_LARGE, NN_NOT_FOUND
};
enum { NN_TENSOR_F16 = 0, NN_TENSOR_F32, NN_TENSOR_F64, NN_TENSOR_U8, NN_TENSOR_I32, NN_TENSOR_I64 };
enum { NN_ENCODING_OPENVINO = 0, NN_ENCODING_ONNX, NN_ENCODING_TENSORFLOW, NN_ENCODING_PYTORCH,
       NN_ENCODING_TENSORFLOWLITE, NN_ENCODING_AUTODETECT };
enum { NN_TARGET_CPU = 0, NN_TARGET_GPU, NN_TARGET_TPU };

typedef uint32_t nn_graph;
typedef uint32_t nn_context;

typedef struct { const uint8_t *buf; uint32_t len; } nn_graph_builder;
typedef struct {
  const uint32_t *dims; uint32_t rank; /* tensor_dimensions */
  uint8_t type;                        /* tensor_type */
  const uint8_t *data; uint32_t len;   /* tensor_data */
} nn_tensor;

#define NN_IMPORT(name) __attribute__((import_module("wasi_ephemeral_nn"), import_name(name)))
NN_IMPORT("load") int32_t nn_load(const nn_graph_builder *builders, uint32_t n, int32_t encoding, int32_t target, nn_graph *out);
NN_IMPORT("load_by_name") int32_t nn_load_by_name(const char *name, uint32_t len, nn_graph *out);
NN_IMPORT("init_execution_context") int32_t nn_init_execution_context(nn_graph g, nn_context *out);
NN_IMPORT("set_input") int32_t nn_set_input(nn_context c, uint32_t index, const nn_tensor *t);
NN_IMPORT("compute") int32_t nn_compute(nn_context c);
NN_IMPORT("get_output") int32_t nn_get_output(nn_context c, uint32_t index, uint8_t *out, uint32_t max, uint32_t *written);

static inline const char *nn_errno_name(int32_t e) {
  static const char *names[] = {"success", "invalid_argument", "invalid_encoding", "missing_memory", "busy",
                                "runtime_error", "unsupported_operation", "too_large", "not_found"};
  return e >= 0 && e < (int32_t)(sizeof names / sizeof *names) ? names[e] : "unknown";
}

/* Benchmark hook: with COCOS_NN_BENCH=N in the environment an example repeats its inference N times
 * and prints "infer_us T1,T2,..." on stderr: the mean time of one inference in each batch of
 * NN_BENCH_BATCH, by the guest's monotonic clock (read once per batch: a clock read costs more than
 * a small inference). */
#define NN_BENCH_BATCH 20
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
static inline int nn_bench_runs(void) {
  const char *v = getenv("COCOS_NN_BENCH");
  return v ? atoi(v) : 0;
}
static inline double nn_now_us(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}
static inline void nn_bench_print(const double *us, int n) {
  fprintf(stderr, "infer_us ");
  for (int i = 0; i < n; i++) fprintf(stderr, "%s%.1f", i ? "," : "", us[i]);
  fprintf(stderr, "\n");
}
#endif
