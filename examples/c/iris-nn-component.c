/* iris-nn as a component: the same inference through the wasi:nn WIT interfaces
 * (wasi:nn@0.2.0-rc-2024-10-28, wasmtime's definition, examples/c/iris-nn.wit), called with the
 * canonical ABI by hand (no bindings generator offline): resources are i32 handles, a result comes
 * back through a return pointer (tag at 0, payload at 4), lists the host returns are allocated
 * with cabi_realloc (cabi-realloc.c, linked in by build.ts). Same arguments, output and errors as iris-nn. */
#include "iris-nn.h"

#define NN(iface) "wasi:nn/" iface "@0.2.0-rc-2024-10-28"
#define IMPORT(iface, name) __attribute__((import_module(NN(iface)), import_name(name)))

IMPORT("graph", "load-by-name") void nn_load_by_name(const char *name, size_t len, void *ret);
IMPORT("graph", "[method]graph.init-execution-context") void nn_init_execution_context(int32_t graph, void *ret);
IMPORT("tensor", "[constructor]tensor") int32_t nn_tensor_new(const uint32_t *dims, size_t ndims, int32_t ty, const void *data, size_t len);
IMPORT("tensor", "[method]tensor.data") void nn_tensor_data(int32_t tensor, void *ret);
IMPORT("inference", "[method]graph-execution-context.compute") void nn_compute(int32_t ctx, const void *inputs, size_t n, void *ret);
IMPORT("errors", "[method]error.code") int32_t nn_error_code(int32_t error);
IMPORT("errors", "[method]error.data") void nn_error_data(int32_t error, void *ret);

enum { FP32 = 1 };
static const char *ERROR_CODES[] = {"invalid-argument", "invalid-encoding", "timeout", "runtime-error",
                                    "unsupported-operation", "too-large", "not-found", "security", "unknown"};
typedef struct { uint8_t tag; uint32_t a, b; } result3; /* result<T, error>: a = handle or list ptr, b = list len */
typedef struct { const char *ptr; size_t len; } str;
typedef struct { str name; int32_t tensor; } named_tensor;

static int nn_fail(const char *what, int32_t error) {
  int32_t code = nn_error_code(error);
  str msg;
  nn_error_data(error, &msg);
  fprintf(stderr, "wasi-nn %s failed: %s: %.*s\n", what, code >= 0 && code < 9 ? ERROR_CODES[code] : "?", (int)msg.len, msg.ptr);
  return 1;
}

int main(int argc, char **argv) {
  float x[4];
  if (iris_input(argc, argv, x)) return 1;
  const char *model = argc > 2 ? argv[2] : "model.onnx";
  result3 r;
  nn_load_by_name(model, strlen(model), &r);
  if (r.tag) return nn_fail("load-by-name", r.a);
  int32_t graph = r.a;
  nn_init_execution_context(graph, &r);
  if (r.tag) return nn_fail("init-execution-context", r.a);
  int32_t ctx = r.a;
  uint32_t dims[2] = {1, 4};
  named_tensor input = {{"input", 5}, nn_tensor_new(dims, 2, FP32, x, sizeof x)};
  nn_compute(ctx, &input, 1, &r);
  if (r.tag) return nn_fail("compute", r.a);
  const named_tensor *outs = (const named_tensor *)(uintptr_t)r.a;
  if (r.b < 1) { fprintf(stderr, "the model returned no outputs\n"); return 1; }
  str data;
  nn_tensor_data(outs[0].tensor, &data);
  if (data.len != 3 * sizeof(float)) { fprintf(stderr, "model output is %zu bytes; expected 3 f32 probabilities\n", data.len); return 1; }
  float p[3];
  memcpy(p, data.ptr, sizeof p);
  return iris_answer(p);
}
