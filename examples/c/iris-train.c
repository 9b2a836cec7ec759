/* Iris trainer: the burn MLP of the Cocos AI "iris" example, replicated in plain C.
 * 4 -> 128 -> 64 -> 3, ReLU, softmax cross-entropy, full-batch Adam (lr 5e-3, betas 0.9/0.999,
 * eps 1e-5, L2 5e-5 added to the gradient), at most 100 epochs, early stop when the valid loss has
 * not improved for 5 epochs. The split is burn's seed-42 shuffle (30 test rows listed below).
 * Weights start from xorshift32(seed) so runs are reproducible; everything is f64 with the
 * deterministic exp/log of common.h, so Wasm and native builds write byte-identical files.
 *
 * Input: the CSV in the datasets dir (Iris.csv, else the first *.csv).
 * Output (results dir): model.json, model.onnx (the same MLP in f32 for wasi-nn: Gemm/Relu/Gemm/Relu/
 * Gemm/Softmax, input "input" [N,4], output "probabilities" [N,3]), metrics.json, training.log. */
#include "common.h"

#define NIN 4
#define NH1 128
#define NH2 64
#define NOUT 3
#define MAXROWS 1024

static const char *CLASSES[NOUT] = {"Iris-setosa", "Iris-versicolor", "Iris-virginica"};
/* 0-based data-row indices of burn's test split (rand 0.8.5 StdRng seed 42 shuffle, last 30). */
static const int TEST_ROWS[30] = {0,  6,  7,  18, 19, 20,  21,  26,  29,  33,  50,  53,  58,  62,  67,
                                  78, 80, 82, 84, 93, 105, 107, 113, 121, 124, 133, 139, 140, 143, 144};

static const double LR = 5e-3, BETA1 = 0.9, BETA2 = 0.999, EPS = 1e-5, WEIGHT_DECAY = 5e-5;
static const int MAX_EPOCHS = 100, PATIENCE = 5;
static const uint32_t SEED = 42;

typedef struct {
  double w1[NIN][NH1], b1[NH1], w2[NH1][NH2], b2[NH2], w3[NH2][NOUT], b3[NOUT];
} params;
#define NPARAMS (sizeof(params) / sizeof(double))

typedef struct {
  int n;
  int id[MAXROWS];
  double x[MAXROWS][NIN];
  int y[MAXROWS];
} dataset;

/* Activations for one batch (kept for the backward pass). */
static double H1[MAXROWS][NH1], H2[MAXROWS][NH2], P[MAXROWS][NOUT];

static int load_csv(const char *path, dataset *all) {
  char *text = read_file(path, NULL);
  if (!text) {
    fprintf(stderr, "cannot read %s: %s\n", path, strerror(errno));
    return -1;
  }
  all->n = 0;
  char *line = strtok(text, "\n");
  int lineno = 1;
  if (line && strncmp(line, "Id,", 3) != 0) {
    fprintf(stderr, "%s: expected the header 'Id,SepalLengthCm,...,Species', got '%.60s'\n", path, line);
    return -1;
  }
  while ((line = strtok(NULL, "\n"))) {
    lineno++;
    if (line[0] == '\r' || line[0] == 0) continue;
    if (all->n == MAXROWS) { fprintf(stderr, "%s: more than %d rows\n", path, MAXROWS); return -1; }
    int i = all->n;
    char species[64];
    if (sscanf(line, "%d,%lf,%lf,%lf,%lf,%63[^,\r]", &all->id[i], &all->x[i][0], &all->x[i][1],
               &all->x[i][2], &all->x[i][3], species) != 6) {
      fprintf(stderr, "%s:%d: expected 'Id,4 numbers,Species', got '%.60s'\n", path, lineno, line);
      return -1;
    }
    all->y[i] = -1;
    for (int c = 0; c < NOUT; c++)
      if (!strcmp(species, CLASSES[c])) all->y[i] = c;
    if (all->y[i] < 0) {
      fprintf(stderr, "%s:%d: unknown species '%s' (expected one of Iris-setosa, Iris-versicolor, Iris-virginica)\n",
              path, lineno, species);
      return -1;
    }
    all->n++;
  }
  free(text);
  return 0;
}

static void init_params(params *p) {
  xorshift32 rng = {SEED};
  double *v = (double *)p;
  /* Fill order W1, b1, W2, b2, W3, b3; each U(-1/sqrt(fan_in), 1/sqrt(fan_in)). */
  struct { double *at; int count, fan_in; } blocks[] = {
      {&p->w1[0][0], NIN * NH1, NIN}, {p->b1, NH1, NIN},   {&p->w2[0][0], NH1 * NH2, NH1},
      {p->b2, NH2, NH1},              {&p->w3[0][0], NH2 * NOUT, NH2}, {p->b3, NOUT, NH2}};
  for (int b = 0; b < 6; b++) {
    double scale = 1.0 / __builtin_sqrt((double)blocks[b].fan_in);
    for (int i = 0; i < blocks[b].count; i++) blocks[b].at[i] = (2.0 * xs_next(&rng) - 1.0) * scale;
  }
  (void)v;
}

/* Forward pass over a batch; fills H1, H2, P (softmax); returns mean CE loss, sets *correct. */
static double forward(const params *p, const dataset *d, int *correct) {
  double loss = 0;
  *correct = 0;
  for (int r = 0; r < d->n; r++) {
    for (int j = 0; j < NH1; j++) {
      double s = p->b1[j];
      for (int i = 0; i < NIN; i++) s += d->x[r][i] * p->w1[i][j];
      H1[r][j] = s > 0 ? s : 0;
    }
    for (int j = 0; j < NH2; j++) {
      double s = p->b2[j];
      for (int i = 0; i < NH1; i++) s += H1[r][i] * p->w2[i][j];
      H2[r][j] = s > 0 ? s : 0;
    }
    double z[NOUT], zmax = -1e300;
    int arg = 0;
    for (int k = 0; k < NOUT; k++) {
      double s = p->b3[k];
      for (int i = 0; i < NH2; i++) s += H2[r][i] * p->w3[i][k];
      z[k] = s;
      if (s > zmax) { zmax = s; arg = k; }
    }
    double sum = 0;
    for (int k = 0; k < NOUT; k++) sum += (P[r][k] = det_exp(z[k] - zmax));
    for (int k = 0; k < NOUT; k++) P[r][k] /= sum;
    loss += -(z[d->y[r]] - zmax - det_log(sum));
    if (arg == d->y[r]) (*correct)++;
  }
  return loss / d->n;
}

/* Gradient of the mean loss of the last forward() over d, plus the L2 term. */
static void backward(const params *p, const dataset *d, params *g) {
  memset(g, 0, sizeof *g);
  static double d3[NOUT], d2[NH2], d1[NH1];
  for (int r = 0; r < d->n; r++) {
    for (int k = 0; k < NOUT; k++) d3[k] = (P[r][k] - (k == d->y[r])) / d->n;
    for (int k = 0; k < NOUT; k++) {
      g->b3[k] += d3[k];
      for (int i = 0; i < NH2; i++) g->w3[i][k] += H2[r][i] * d3[k];
    }
    for (int i = 0; i < NH2; i++) {
      double s = 0;
      for (int k = 0; k < NOUT; k++) s += p->w3[i][k] * d3[k];
      d2[i] = H2[r][i] > 0 ? s : 0;
    }
    for (int j = 0; j < NH2; j++) g->b2[j] += d2[j];
    for (int i = 0; i < NH1; i++)
      for (int j = 0; j < NH2; j++) g->w2[i][j] += H1[r][i] * d2[j];
    for (int i = 0; i < NH1; i++) {
      double s = 0;
      for (int j = 0; j < NH2; j++) s += p->w2[i][j] * d2[j];
      d1[i] = H1[r][i] > 0 ? s : 0;
    }
    for (int j = 0; j < NH1; j++) g->b1[j] += d1[j];
    for (int i = 0; i < NIN; i++)
      for (int j = 0; j < NH1; j++) g->w1[i][j] += d->x[r][i] * d1[j];
  }
  const double *pv = (const double *)p;
  double *gv = (double *)g;
  for (size_t i = 0; i < NPARAMS; i++) gv[i] += WEIGHT_DECAY * pv[i];
}

static params M, V, G; /* Adam moments and the gradient */

static void adam_step(params *p, int t, double *b1t, double *b2t) {
  *b1t *= BETA1;
  *b2t *= BETA2;
  double *pv = (double *)p, *mv = (double *)&M, *vv = (double *)&V, *gv = (double *)&G;
  for (size_t i = 0; i < NPARAMS; i++) {
    mv[i] = BETA1 * mv[i] + (1 - BETA1) * gv[i];
    vv[i] = BETA2 * vv[i] + (1 - BETA2) * gv[i] * gv[i];
    double mh = mv[i] / (1 - *b1t), vh = vv[i] / (1 - *b2t);
    pv[i] -= LR * mh / (__builtin_sqrt(vh) + EPS);
  }
  (void)t;
}

/* ---------- output ---------- */

typedef struct { char *s; size_t len, cap; } sbuf;
static void sb_printf(sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
#include <stdarg.h>
static void sb_printf(sbuf *b, const char *fmt, ...) {
  for (;;) {
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(b->s ? b->s + b->len : NULL, b->s ? b->cap - b->len : 0, fmt, ap);
    va_end(ap);
    if (b->s && b->len + n < b->cap) { b->len += n; return; }
    b->cap = (b->cap + n + 1) * 2;
    b->s = realloc(b->s, b->cap);
  }
}

static void json_matrix(sbuf *b, const double *m, int rows, int cols) {
  sb_printf(b, "[");
  for (int r = 0; r < rows; r++) {
    sb_printf(b, "%s[", r ? ",\n      " : "\n      ");
    for (int c = 0; c < cols; c++) sb_printf(b, "%s%.17g", c ? "," : "", m[r * cols + c]);
    sb_printf(b, "]");
  }
  sb_printf(b, "\n    ]");
}

static void json_vector(sbuf *b, const double *v, int n) {
  sb_printf(b, "[");
  for (int i = 0; i < n; i++) sb_printf(b, "%s%.17g", i ? "," : "", v[i]);
  sb_printf(b, "]");
}

/* ---------- ONNX export: a ModelProto written field by field (onnx.proto3 numbering) ---------- */

typedef struct { uint8_t *p; size_t n, cap; } pbuf;
static void pb_put(pbuf *b, const void *d, size_t n) {
  if (b->n + n > b->cap) {
    b->cap = (b->n + n) * 2 + 64;
    b->p = realloc(b->p, b->cap);
  }
  memcpy(b->p + b->n, d, n);
  b->n += n;
}
static void pb_varint(pbuf *b, uint64_t v) {
  do {
    uint8_t c = v & 0x7f;
    v >>= 7;
    if (v) c |= 0x80;
    pb_put(b, &c, 1);
  } while (v);
}
static void pb_int(pbuf *b, int field, int64_t v) { pb_varint(b, (uint64_t)field << 3); pb_varint(b, (uint64_t)v); }
static void pb_bytes(pbuf *b, int field, const void *d, size_t n) {
  pb_varint(b, (uint64_t)field << 3 | 2);
  pb_varint(b, n);
  pb_put(b, d, n);
}
static void pb_str(pbuf *b, int field, const char *s) { pb_bytes(b, field, s, strlen(s)); }
/* Appends m as a length-delimited field of b and empties m. */
static void pb_msg(pbuf *b, int field, pbuf *m) {
  pb_bytes(b, field, m->p, m->n);
  free(m->p);
  *m = (pbuf){0};
}

enum { ONNX_FLOAT = 1 };

/* TensorProto of an f32 initializer: dims, data_type, name, raw_data (little-endian, as Wasm and x86). */
static void onnx_initializer(pbuf *graph, const char *name, const double *v, int rows, int cols) {
  pbuf t = {0};
  if (rows > 0) pb_int(&t, 1, rows);
  pb_int(&t, 1, cols);
  pb_int(&t, 2, ONNX_FLOAT);
  pb_str(&t, 8, name);
  int n = (rows > 0 ? rows : 1) * cols;
  float *f = malloc(sizeof(float) * n);
  for (int i = 0; i < n; i++) f[i] = (float)v[i];
  pb_bytes(&t, 9, f, sizeof(float) * n);
  free(f);
  pb_msg(graph, 5, &t);
}

/* NodeProto: inputs, outputs, name, op_type, and one optional int attribute. */
static void onnx_node(pbuf *graph, const char *op, const char *name, const char *const *in, int nin, const char *out,
                      const char *attr, int64_t attr_value) {
  pbuf n = {0};
  for (int i = 0; i < nin; i++) pb_str(&n, 1, in[i]);
  pb_str(&n, 2, out);
  pb_str(&n, 3, name);
  pb_str(&n, 4, op);
  if (attr) {
    pbuf a = {0};
    pb_str(&a, 1, attr);
    pb_int(&a, 3, attr_value);
    pb_int(&a, 20, 2 /* AttributeProto.INT */);
    pb_msg(&n, 5, &a);
  }
  pb_msg(graph, 1, &n);
}

/* ValueInfoProto of an f32 tensor [N, cols] with a symbolic batch dimension. */
static void onnx_value(pbuf *graph, int field, const char *name, int cols) {
  pbuf dim_n = {0}, dim_c = {0}, shape = {0}, tensor = {0}, type = {0}, v = {0};
  pb_str(&dim_n, 2, "N");
  pb_int(&dim_c, 1, cols);
  pb_msg(&shape, 1, &dim_n);
  pb_msg(&shape, 1, &dim_c);
  pb_int(&tensor, 1, ONNX_FLOAT);
  pb_msg(&tensor, 2, &shape);
  pb_msg(&type, 1, &tensor);
  pb_str(&v, 1, name);
  pb_msg(&v, 2, &type);
  pb_msg(graph, field, &v);
}

/* The trained MLP as ONNX (IR 8, opset 13): Gemm(W is [in][out], so transB = 0)/Relu twice, Gemm, Softmax. */
static pbuf onnx_model(const params *p) {
  pbuf g = {0}, model = {0}, opset = {0};
  const char *l1[] = {"input", "w1", "b1"}, *r1[] = {"h1"}, *l2[] = {"a1", "w2", "b2"}, *r2[] = {"h2"},
             *l3[] = {"a2", "w3", "b3"}, *sm[] = {"logits"};
  onnx_node(&g, "Gemm", "input_layer", l1, 3, "h1", NULL, 0);
  onnx_node(&g, "Relu", "relu1", r1, 1, "a1", NULL, 0);
  onnx_node(&g, "Gemm", "hidden_layer", l2, 3, "h2", NULL, 0);
  onnx_node(&g, "Relu", "relu2", r2, 1, "a2", NULL, 0);
  onnx_node(&g, "Gemm", "output_layer", l3, 3, "logits", NULL, 0);
  onnx_node(&g, "Softmax", "softmax", sm, 1, "probabilities", "axis", 1);
  pb_str(&g, 2, "cocos-iris-mlp");
  onnx_initializer(&g, "w1", &p->w1[0][0], NIN, NH1);
  onnx_initializer(&g, "b1", p->b1, 0, NH1);
  onnx_initializer(&g, "w2", &p->w2[0][0], NH1, NH2);
  onnx_initializer(&g, "b2", p->b2, 0, NH2);
  onnx_initializer(&g, "w3", &p->w3[0][0], NH2, NOUT);
  onnx_initializer(&g, "b3", p->b3, 0, NOUT);
  onnx_value(&g, 11, "input", NIN);
  onnx_value(&g, 12, "probabilities", NOUT);
  pb_int(&model, 1, 8); /* ir_version */
  pb_str(&model, 2, "cocos-iris-train");
  pb_msg(&model, 7, &g);
  pb_str(&opset, 1, "");
  pb_int(&opset, 2, 13);
  pb_msg(&model, 8, &opset);
  return model;
}

int main(void) {
  static dataset all, train, test;
  char csv[512];
  const char *ddir = datasets_dir();
  if (find_input(ddir, "Iris.csv", ".csv", csv, sizeof csv)) {
    fprintf(stderr, "no dataset: expected Iris.csv (or another *.csv) in %s\n", ddir);
    return 1;
  }
  if (load_csv(csv, &all)) return 1;

  /* burn's split when the file is the 150-row Iris.csv, else every fifth row is a test row. */
  const char *split = all.n == 150 ? "burn-seed-42" : "index-mod-5";
  static char is_test[MAXROWS];
  if (all.n == 150)
    for (int i = 0; i < 30; i++) is_test[TEST_ROWS[i]] = 1;
  else
    for (int i = 0; i < all.n; i++) is_test[i] = i % 5 == 0;
  for (int i = 0; i < all.n; i++) {
    dataset *d = is_test[i] ? &test : &train;
    d->id[d->n] = all.id[i];
    memcpy(d->x[d->n], all.x[i], sizeof all.x[i]);
    d->y[d->n++] = all.y[i];
  }
  if (train.n == 0 || test.n == 0) {
    fprintf(stderr, "%s: expected rows for both splits, got %d train / %d test\n", csv, train.n, test.n);
    return 1;
  }

  static params p;
  init_params(&p);
  sbuf log = {0};
  /* The file name only: the log must not depend on where the datasets dir is mounted. */
  const char *csv_name = strrchr(csv, '/') ? strrchr(csv, '/') + 1 : csv;
  sb_printf(&log, "dataset %s: %d rows, split %s (%d train / %d test), seed %u\n", csv_name, all.n, split,
            train.n, test.n, SEED);
  printf("%s", log.s);

  double best = 1e300, b1t = 1, b2t = 1, tloss = 0, vloss = 0;
  int best_epoch = 0, epoch, tcorr = 0, vcorr = 0;
  for (epoch = 1; epoch <= MAX_EPOCHS; epoch++) {
    /* As in burn: train metrics come from the forward pass before this epoch's step, valid
     * metrics from the model after it. */
    tloss = forward(&p, &train, &tcorr);
    backward(&p, &train, &G);
    adam_step(&p, epoch, &b1t, &b2t);
    vloss = forward(&p, &test, &vcorr);
    size_t mark = log.len;
    sb_printf(&log, "epoch %3d train loss %.6f acc %d/%d valid loss %.6f acc %d/%d\n", epoch, tloss,
              tcorr, train.n, vloss, vcorr, test.n);
    printf("%s", log.s + mark);
    if (vloss < best) {
      best = vloss;
      best_epoch = epoch;
    } else if (epoch - best_epoch >= PATIENCE) {
      break;
    }
  }
  int epochs = epoch > MAX_EPOCHS ? MAX_EPOCHS : epoch;
  sb_printf(&log, "stopped after %d epochs (best valid loss %.6f at epoch %d)\n", epochs, best, best_epoch);
  printf("stopped after %d epochs (best valid loss %.6f at epoch %d)\n", epochs, best, best_epoch);

  /* Final predictions on the test split (P holds the softmax of the last forward over test). */
  sbuf metrics = {0};
  sb_printf(&metrics,
            "{\n  \"epochs\": %d,\n  \"best_epoch\": %d,\n  \"split\": \"%s\",\n  \"train\": {\"rows\": %d, "
            "\"loss\": %.17g, \"correct\": %d},\n  \"valid\": {\"rows\": %d, \"loss\": %.17g, \"correct\": %d, "
            "\"accuracy\": %.17g},\n  \"predictions\": [",
            epochs, best_epoch, split, train.n, tloss, tcorr, test.n, vloss, vcorr, (double)vcorr / test.n);
  for (int r = 0; r < test.n; r++) {
    int arg = 0;
    for (int k = 1; k < NOUT; k++)
      if (P[r][k] > P[r][arg]) arg = k;
    sb_printf(&metrics, "%s\n    {\"id\": %d, \"expected\": \"%s\", \"predicted\": \"%s\"}", r ? "," : "",
              test.id[r], CLASSES[test.y[r]], CLASSES[arg]);
  }
  sb_printf(&metrics, "\n  ]\n}\n");

  sbuf model = {0};
  sb_printf(&model, "{\n  \"format\": \"cocos-iris-mlp/1\",\n  \"classes\": [\"%s\", \"%s\", \"%s\"],\n", CLASSES[0],
            CLASSES[1], CLASSES[2]);
  sb_printf(&model,
            "  \"features\": [\"sepal_length\", \"sepal_width\", \"petal_length\", \"petal_width\"],\n"
            "  \"metadata\": {\"seed\": %u, \"init\": \"xorshift32 U(-1/sqrt(fan_in), 1/sqrt(fan_in))\", "
            "\"optimizer\": \"adam\", \"learning_rate\": %g, \"beta1\": %g, \"beta2\": %g, \"epsilon\": %g, "
            "\"weight_decay\": %g, \"max_epochs\": %d, \"patience\": %d, \"epochs\": %d, \"split\": \"%s\", "
            "\"valid_correct\": %d, \"valid_rows\": %d},\n",
            SEED, LR, BETA1, BETA2, EPS, WEIGHT_DECAY, MAX_EPOCHS, PATIENCE, epochs, split, vcorr, test.n);
  sb_printf(&model, "  \"layers\": [\n");
  struct { const char *name; const double *w, *b; int in, out; } layers[3] = {
      {"input_layer", &p.w1[0][0], p.b1, NIN, NH1},
      {"hidden_layer", &p.w2[0][0], p.b2, NH1, NH2},
      {"output_layer", &p.w3[0][0], p.b3, NH2, NOUT}};
  for (int l = 0; l < 3; l++) {
    sb_printf(&model, "    {\"name\": \"%s\", \"in\": %d, \"out\": %d, \"activation\": \"%s\",\n    \"weight\": ",
              layers[l].name, layers[l].in, layers[l].out, l < 2 ? "relu" : "none");
    json_matrix(&model, layers[l].w, layers[l].in, layers[l].out);
    sb_printf(&model, ",\n    \"bias\": ");
    json_vector(&model, layers[l].b, layers[l].out);
    sb_printf(&model, "}%s\n", l < 2 ? "," : "");
  }
  sb_printf(&model, "  ]\n}\n");

  pbuf onnx = onnx_model(&p);
  if (write_result("model.json", model.s, model.len) || write_result("model.onnx", (const char *)onnx.p, onnx.n) ||
      write_result("metrics.json", metrics.s, metrics.len) || write_result("training.log", log.s, log.len))
    return 1;
  printf("valid accuracy %d/%d; wrote model.json, model.onnx, metrics.json, training.log\n", vcorr, test.n);
  return 0;
}
