/* Iris inference, the Cocos AI "iris-inference" module with one change: the model is read at run
 * time from the datasets dir (model.json written by iris-train, else the first *.json), so a model
 * trained by one computation is the next computation's dataset and nothing is rebuilt.
 *
 * argv[1]: {"sepal_length": 7.0, "sepal_width": 3.2, "petal_length": 4.7, "petal_width": 1.4}
 * (integers accepted, unknown keys ignored). Writes the class name, without a newline, to
 * results/results.txt and prints it on stdout. Usage error, bad JSON, a missing key or an unusable
 * model: message on stderr, exit 1. */
#include "common.h"

#define MAXW 512

static const char *FEATURES[4] = {"sepal_length", "sepal_width", "petal_length", "petal_width"};

static int fail(const char *fmt, const char *a, const char *b) {
  fprintf(stderr, fmt, a, b);
  fputc('\n', stderr);
  return 1;
}

int main(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr,
            "usage: %s '{\"sepal_length\": 7.0, \"sepal_width\": 3.2, \"petal_length\": 4.7, \"petal_width\": 1.4}'\n",
            argc ? argv[0] : "iris-inference");
    return 1;
  }
  const char *err = NULL;
  jval *in = json_parse(argv[1], &err);
  if (!in) return fail("invalid input JSON: %s in '%s'", err, argv[1]);
  if (in->t != J_OBJ) return fail("invalid input: expected a JSON object, got '%s'%s", argv[1], "");
  double x[MAXW];
  for (int i = 0; i < 4; i++) {
    const jval *v = json_get(in, FEATURES[i]);
    if (!v) return fail("invalid input: missing field `%s` in '%s'", FEATURES[i], argv[1]);
    if (v->t != J_NUM) return fail("invalid input: field `%s` must be a number in '%s'", FEATURES[i], argv[1]);
    x[i] = (double)(float)v->num; /* the original parses into f32 */
  }

  char path[512];
  const char *ddir = datasets_dir();
  if (find_input(ddir, "model.json", ".json", path, sizeof path))
    return fail("no model: expected model.json (from iris-train) in %s%s", ddir, "");
  char *text = read_file(path, NULL);
  if (!text) return fail("cannot read model %s: %s", path, strerror(errno));
  jval *model = json_parse(text, &err);
  if (!model) return fail("model %s is not valid JSON: %s", path, err);
  const jval *classes = json_get(model, "classes"), *layers = json_get(model, "layers");
  if (!classes || classes->t != J_ARR || !layers || layers->t != J_ARR || layers->n == 0)
    return fail("model %s: expected \"classes\" and \"layers\" arrays%s", path, "");

  int width = 4;
  double y[MAXW];
  for (int l = 0; l < layers->n; l++) {
    const jval *L = &layers->items[l], *w = json_get(L, "weight"), *b = json_get(L, "bias"),
               *act = json_get(L, "activation");
    if (!w || w->t != J_ARR || w->n != width || !b || b->t != J_ARR || b->n > MAXW)
      return fail("model %s: layer %s has a weight/bias shape that does not chain", path, L->t == J_OBJ && json_get(L, "name") ? json_get(L, "name")->str : "?");
    int out = b->n;
    for (int j = 0; j < out; j++) y[j] = b->items[j].num;
    /* Weight is [in][out] (burn's layout): y = x W + b. */
    for (int i = 0; i < width; i++) {
      const jval *row = &w->items[i];
      if (row->t != J_ARR || row->n != out) return fail("model %s: ragged weight matrix%s", path, "");
      for (int j = 0; j < out; j++) y[j] += x[i] * row->items[j].num;
    }
    int relu = act && act->t == J_STR && !strcmp(act->str, "relu");
    for (int j = 0; j < out; j++) x[j] = relu && y[j] < 0 ? 0 : y[j];
    width = out;
  }
  if (width != classes->n) return fail("model %s: output width does not match the class count%s", path, "");
  int arg = 0;
  for (int k = 1; k < width; k++)
    if (x[k] > x[arg]) arg = k;
  const char *name = classes->items[arg].str;
  if (!name) return fail("model %s: class names must be strings%s", path, "");
  printf("%s\n", name);
  return write_result("results.txt", name, strlen(name)) ? 1 : 0;
}
