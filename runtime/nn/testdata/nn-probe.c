/* Test guest for wasi-nn misuse: argv[1] picks one bad call against the Iris model
 * (/datasets/model.onnx: input [N,4] f32, output [N,3] f32); every wasi-nn result is printed as
 * "STEP=errno_name". Exit 0 unless the setup itself failed. */
#include "../../../examples/c/common.h"
#include "../../../examples/c/wasi-nn.h"

static nn_graph g;
static nn_context ctx;
static float x[4] = {7.0f, 3.2f, 4.7f, 1.4f};
static uint32_t dims[2] = {1, 4};

static int32_t report(const char *step, int32_t e) {
  printf("%s=%s\n", step, nn_errno_name(e));
  return e;
}

static int setup(const char *model) {
  if (report("load", nn_load_by_name(model, strlen(model), &g))) return 1;
  return report("init", nn_init_execution_context(g, &ctx)) ? 1 : 0;
}

int main(int argc, char **argv) {
  const char *mode = argc > 1 ? argv[1] : "";
  const char *model = argc > 2 ? argv[2] : "model.onnx";
  if (!strcmp(mode, "load")) return report("load", nn_load_by_name(model, strlen(model), &g)) ? 0 : 0;
  if (!strcmp(mode, "load-bytes") || !strcmp(mode, "encoding") || !strcmp(mode, "gpu")) {
    char path[512];
    size_t len = 0;
    join_path(path, sizeof path, datasets_dir(), model);
    char *bytes = read_file(path, &len);
    if (!bytes) return 2;
    nn_graph_builder b = {(const uint8_t *)bytes, (uint32_t)len};
    int enc = !strcmp(mode, "encoding") ? NN_ENCODING_OPENVINO : NN_ENCODING_ONNX;
    int target = !strcmp(mode, "gpu") ? NN_TARGET_GPU : NN_TARGET_CPU;
    report("load", nn_load(&b, 1, enc, target, &g));
    return 0;
  }
  if (setup(model)) return 2;
  nn_tensor t = {dims, 2, NN_TENSOR_F32, (const uint8_t *)x, sizeof x};
  if (!strcmp(mode, "shape")) {
    uint32_t bad[2] = {1, 5};
    float y[5] = {0};
    nn_tensor s = {bad, 2, NN_TENSOR_F32, (const uint8_t *)y, sizeof y};
    report("set_input", nn_set_input(ctx, 0, &s));
  } else if (!strcmp(mode, "type")) {
    int32_t xi[4] = {7, 3, 4, 1};
    nn_tensor s = {dims, 2, NN_TENSOR_I32, (const uint8_t *)xi, sizeof xi};
    report("set_input", nn_set_input(ctx, 0, &s));
  } else if (!strcmp(mode, "length")) {
    nn_tensor s = {dims, 2, NN_TENSOR_F32, (const uint8_t *)x, 12};
    report("set_input", nn_set_input(ctx, 0, &s));
  } else if (!strcmp(mode, "input-index")) {
    report("set_input", nn_set_input(ctx, 3, &t));
  } else if (!strcmp(mode, "output-index")) {
    report("set_input", nn_set_input(ctx, 0, &t));
    report("compute", nn_compute(ctx));
    float p[3];
    uint32_t w;
    report("get_output", nn_get_output(ctx, 7, (uint8_t *)p, sizeof p, &w));
  } else if (!strcmp(mode, "small-buffer")) {
    report("set_input", nn_set_input(ctx, 0, &t));
    report("compute", nn_compute(ctx));
    float p[3];
    uint32_t w;
    report("get_output", nn_get_output(ctx, 0, (uint8_t *)p, 4, &w));
  } else if (!strcmp(mode, "compute-first")) {
    report("compute", nn_compute(ctx));
  } else if (!strcmp(mode, "output-first")) {
    float p[3];
    uint32_t w;
    report("get_output", nn_get_output(ctx, 0, (uint8_t *)p, sizeof p, &w));
  } else if (!strcmp(mode, "bad-handle")) {
    report("compute", nn_compute(ctx + 1000));
  } else if (!strcmp(mode, "contexts")) {
    int n = 1;
    int32_t e = 0;
    for (; n < 100000 && !(e = nn_init_execution_context(g, &ctx)); n++) {}
    printf("contexts=%d\n", n);
    report("init", e);
  } else if (!strcmp(mode, "once") || !strcmp(mode, "spin1")) {
    /* One compute (spin1: computes until stopped) of a model with input [1,1] f32. */
    uint32_t one[2] = {1, 1};
    nn_tensor s = {one, 2, NN_TENSOR_F32, (const uint8_t *)x, 4};
    report("set_input", nn_set_input(ctx, 0, &s));
    if (mode[0] == 's')
      for (;;) if (nn_compute(ctx)) return report("compute", 1);
    report("compute", nn_compute(ctx));
  } else if (!strcmp(mode, "spin")) {
    /* Computes until the host stops the run. */
    report("set_input", nn_set_input(ctx, 0, &t));
    for (;;) if (nn_compute(ctx)) return report("compute", 1);
  } else {
    fprintf(stderr, "unknown mode %s\n", mode);
    return 2;
  }
  return 0;
}
