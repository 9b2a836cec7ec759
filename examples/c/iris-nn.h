/* What the two iris-nn programs share: the blog's JSON input and the answer (the wasi-nn calls
 * differ: witx imports in iris-nn.c, the WIT interfaces in iris-nn-component.c). */
#ifndef COCOS_IRIS_NN_H
#define COCOS_IRIS_NN_H
#include "common.h"

static const char *IRIS_FEATURES[4] = {"sepal_length", "sepal_width", "petal_length", "petal_width"};
static const char *IRIS_CLASSES[3] = {"Iris-setosa", "Iris-versicolor", "Iris-virginica"};

/* argv[1] as the model's f32 input; 0, or 1 after a message on stderr. */
static inline int iris_input(int argc, char **argv, float x[4]) {
  if (argc < 2) {
    fprintf(stderr, "usage: %s '{\"sepal_length\": 7.0, \"sepal_width\": 3.2, \"petal_length\": 4.7, \"petal_width\": 1.4}' [model.onnx]\n",
            argc ? argv[0] : "iris-nn");
    return 1;
  }
  const char *err = NULL;
  jval *in = json_parse(argv[1], &err);
  if (!in) { fprintf(stderr, "invalid input JSON: %s in '%s'\n", err, argv[1]); return 1; }
  if (in->t != J_OBJ) { fprintf(stderr, "invalid input: expected a JSON object, got '%s'\n", argv[1]); return 1; }
  for (int i = 0; i < 4; i++) {
    const jval *v = json_get(in, IRIS_FEATURES[i]);
    if (!v || v->t != J_NUM) { fprintf(stderr, "invalid input: missing or non-numeric field `%s` in '%s'\n", IRIS_FEATURES[i], argv[1]); return 1; }
    x[i] = (float)v->num;
  }
  return 0;
}

/* The most probable class: printed and written to results/results.txt; the exit status. */
static inline int iris_answer(const float p[3]) {
  int arg = 0;
  for (int k = 1; k < 3; k++)
    if (p[k] > p[arg]) arg = k;
  printf("%s\n", IRIS_CLASSES[arg]);
  return write_result("results.txt", IRIS_CLASSES[arg], strlen(IRIS_CLASSES[arg])) ? 1 : 0;
}
#endif
