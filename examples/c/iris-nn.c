/* Iris inference through wasi-nn: the MLP that iris-train exports as model.onnx is loaded by name
 * from the computation's datasets and run by the host's ONNX Runtime; the guest only parses the
 * input and picks the class. Same input, output and errors as iris-inference.
 *
 * argv[1]: {"sepal_length": 7.0, "sepal_width": 3.2, "petal_length": 4.7, "petal_width": 1.4}
 * argv[2] (optional): the model's dataset name, default model.onnx.
 * Writes the class name to results/results.txt and prints it. Errors: stderr, exit 1. */
#include "iris-nn.h"
#include "wasi-nn.h"

static int nn_fail(const char *what, int32_t e) {
  fprintf(stderr, "wasi-nn %s failed: %s (%d)\n", what, nn_errno_name(e), e);
  return 1;
}

int main(int argc, char **argv) {
  float x[4];
  if (iris_input(argc, argv, x)) return 1;

  const char *model = argc > 2 ? argv[2] : "model.onnx";
  nn_graph g;
  nn_context ctx;
  int32_t e;
  if ((e = nn_load_by_name(model, strlen(model), &g))) return nn_fail("load_by_name", e);
  if ((e = nn_init_execution_context(g, &ctx))) return nn_fail("init_execution_context", e);
  uint32_t dims[2] = {1, 4};
  nn_tensor t = {dims, 2, NN_TENSOR_F32, (const uint8_t *)x, sizeof x};
  float p[3];
  uint32_t written = 0;
  int runs = nn_bench_runs();
  double *us = runs > 0 ? malloc(sizeof(double) * runs) : NULL, t0 = 0;
  for (int r = 0; r < (runs > 0 ? runs : 1); r++) {
    if (r % NN_BENCH_BATCH == 0) t0 = nn_now_us();
    if ((e = nn_set_input(ctx, 0, &t))) return nn_fail("set_input", e);
    if ((e = nn_compute(ctx))) return nn_fail("compute", e);
    if ((e = nn_get_output(ctx, 0, (uint8_t *)p, sizeof p, &written))) return nn_fail("get_output", e);
    if (us && r % NN_BENCH_BATCH == NN_BENCH_BATCH - 1) us[r / NN_BENCH_BATCH] = (nn_now_us() - t0) / NN_BENCH_BATCH;
  }
  if (us) nn_bench_print(us, runs / NN_BENCH_BATCH);
  if (written != sizeof p) { fprintf(stderr, "model output is %u bytes; expected 3 f32 probabilities\n", written); return 1; }
  return iris_answer(p);
}
