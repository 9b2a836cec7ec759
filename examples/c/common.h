/* Helpers shared by the C examples. Header-only so each example is one translation unit that
 * compiles unchanged to wasm32-wasi and natively.
 *
 * Directory convention: a computation's inputs live in "/datasets" (Wasm preopen) or "./datasets"
 * (native cwd); outputs go to "/results" (Wasm) or "./results" (native). We try the absolute path
 * first, then the relative one, so one binary works in both layouts. (In Wasm "." is also results,
 * so "results/x" would land in results/results/x: never try the relative form first.)
 *
 * Determinism: Wasm and native builds must print bit-identical numbers, so the transcendental
 * functions the examples need (exp, log) are implemented here with +,-,*,/ only; sqrt is correctly
 * rounded on both targets. No -ffast-math, and x86-64's baseline has no FMA to contract into. */
#ifndef COCOS_EXAMPLES_COMMON_H
#define COCOS_EXAMPLES_COMMON_H

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <unistd.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* ---------- directories ---------- */

static inline int is_dir(const char *p) {
  struct stat st;
  return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

/* "/NAME" when it is a directory, else "NAME" (may not exist; callers report the error). */
static inline const char *pick_dir(const char *abs_path) {
  return is_dir(abs_path) ? abs_path : abs_path + 1;
}

static inline const char *datasets_dir(void) { return pick_dir("/datasets"); }
static inline const char *results_dir(void) { return pick_dir("/results"); }

static inline void join_path(char *out, size_t cap, const char *dir, const char *name) {
  snprintf(out, cap, "%s/%s", dir, name);
}

/* Writes `len` bytes to results/NAME exactly (no newline added). Returns 0 or -1 with a message. */
static inline int write_result(const char *name, const char *data, size_t len) {
  char path[512];
  join_path(path, sizeof path, results_dir(), name);
  FILE *f = fopen(path, "wb");
  if (!f) {
    fprintf(stderr, "cannot create %s: %s (expected a writable /results or ./results)\n", path,
            strerror(errno));
    return -1;
  }
  size_t n = fwrite(data, 1, len, f);
  if (fclose(f) != 0 || n != len) {
    fprintf(stderr, "short write to %s\n", path);
    return -1;
  }
  return 0;
}

/* Reads a whole file into a NUL-terminated heap buffer (plain read(2), no stdio buffer copy). */
static inline char *read_file(const char *path, size_t *len_out) {
  int fd = open(path, O_RDONLY);
  if (fd < 0) return NULL;
  size_t cap = 65536, len = 0;
  char *buf = malloc(cap);
  for (;;) {
    if (len + 1 >= cap) buf = realloc(buf, cap *= 2);
    ssize_t n = read(fd, buf + len, cap - len - 1);
    if (n < 0) { free(buf); close(fd); return NULL; }
    if (n == 0) break;
    len += (size_t)n;
  }
  close(fd);
  buf[len] = 0;
  if (len_out) *len_out = len;
  return buf;
}

static inline int cmp_str(const void *a, const void *b) {
  return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Finds `preferred` in dir, else the first name (sorted, for determinism) ending in `suffix`. */
static inline int find_input(const char *dir, const char *preferred, const char *suffix, char *out,
                      size_t cap) {
  char path[512];
  join_path(path, sizeof path, dir, preferred);
  struct stat st;
  if (stat(path, &st) == 0 && S_ISREG(st.st_mode)) {
    snprintf(out, cap, "%s", path);
    return 0;
  }
  DIR *d = opendir(dir);
  if (!d) return -1;
  char *names[256];
  int n = 0;
  struct dirent *e;
  size_t sl = strlen(suffix);
  while ((e = readdir(d)) && n < 256) {
    size_t l = strlen(e->d_name);
    if (l > sl && strcmp(e->d_name + l - sl, suffix) == 0) names[n++] = strdup(e->d_name);
  }
  closedir(d);
  if (n == 0) return -1;
  qsort(names, n, sizeof *names, cmp_str);
  join_path(out, cap, dir, names[0]);
  for (int i = 0; i < n; i++) free(names[i]);
  return 0;
}

/* ---------- deterministic math ---------- */

static inline double ldexp_int(double x, int k) {
  /* 2^k as a double built from bits; k stays well inside the normal range for our inputs. */
  while (k > 1000) { x *= 0x1p1000; k -= 1000; }
  while (k < -1000) { x *= 0x1p-1000; k += 1000; }
  union { double d; uint64_t u; } s;
  s.u = (uint64_t)(k + 1023) << 52;
  return x * s.d;
}

static inline double det_exp(double x) {
  if (x != x) return x;
  if (x > 709.0) return 1.0 / 0.0;
  if (x < -745.0) return 0.0;
  const double ln2_hi = 6.93147180369123816490e-01, ln2_lo = 1.90821492927058770002e-10;
  double kf = x * 1.44269504088896338700 + (x >= 0 ? 0.5 : -0.5);
  int k = (int)kf;
  double r = (x - k * ln2_hi) - k * ln2_lo; /* |r| <= ~0.35 */
  /* Taylor series to r^14: error < 1e-17 for |r| <= 0.35. */
  double term = 1.0, sum = 1.0;
  for (int i = 1; i <= 14; i++) {
    term = term * r / i;
    sum += term;
  }
  return ldexp_int(sum, k);
}

static inline double det_log(double x) {
  if (!(x > 0)) return x == 0 ? -1.0 / 0.0 : 0.0 / 0.0;
  union { double d; uint64_t u; } v = {x};
  int e = (int)((v.u >> 52) & 0x7ff);
  if (e == 0) { /* subnormal: scale up */
    v.d = x * 0x1p54;
    e = (int)((v.u >> 52) & 0x7ff) - 54;
  }
  e -= 1023;
  v.u = (v.u & 0x000fffffffffffffULL) | 0x3ff0000000000000ULL; /* m in [1,2) */
  double m = v.d;
  if (m > 1.41421356237309504880) { m *= 0.5; e += 1; }
  /* log(m) = 2 atanh(s), s = (m-1)/(m+1), |s| <= 0.1716 */
  double s = (m - 1.0) / (m + 1.0), s2 = s * s, term = s, sum = 0.0;
  for (int i = 1; i <= 41; i += 2) {
    sum += term / i;
    term *= s2;
  }
  return e * 6.93147180369123816490e-01 + (e * 1.90821492927058770002e-10 + 2.0 * sum);
}

/* xorshift32 (the cross-language init of the reference notes): u in [0,1). */
typedef struct { uint32_t x; } xorshift32;
static inline double xs_next(xorshift32 *r) {
  uint32_t x = r->x;
  x ^= x << 13;
  x ^= x >> 17;
  x ^= x << 5;
  r->x = x;
  return x / 4294967296.0;
}

/* Rust's Display of an f32 (shortest round-trip digits, ".0" kept on integers). */
static inline void format_f32(char *out, size_t cap, float v) {
  for (int p = 1; p <= 9; p++) {
    snprintf(out, cap, "%.*g", p, (double)v);
    if (strtof(out, NULL) == v) break;
  }
  if (!strpbrk(out, ".eEn")) strncat(out, ".0", cap - strlen(out) - 1);
}

/* ---------- minimal JSON (numbers, strings without escapes beyond \" \\ \/, arrays, objects) -- */

typedef enum { J_NULL, J_BOOL, J_NUM, J_STR, J_ARR, J_OBJ } jtype;
typedef struct jval {
  jtype t;
  double num;
  char *str;          /* J_STR value */
  int n;              /* J_ARR/J_OBJ element count */
  struct jval *items; /* J_ARR/J_OBJ elements */
  char **keys;        /* J_OBJ keys */
} jval;

typedef struct { const char *p; const char *err; } jparser;

static inline void jskip(jparser *j) {
  while (*j->p == ' ' || *j->p == '\t' || *j->p == '\n' || *j->p == '\r') j->p++;
}

static inline int jparse_value(jparser *j, jval *out, int depth);

static inline char *jparse_string(jparser *j) {
  if (*j->p != '"') { j->err = "expected a string"; return NULL; }
  j->p++;
  size_t cap = 16, len = 0;
  char *s = malloc(cap);
  while (*j->p && *j->p != '"') {
    char c = *j->p++;
    if (c == '\\') {
      c = *j->p++;
      if (c == 'n') c = '\n';
      else if (c == 't') c = '\t';
      else if (c != '"' && c != '\\' && c != '/') { j->err = "unsupported escape in string"; free(s); return NULL; }
    }
    if (len + 2 >= cap) s = realloc(s, cap *= 2);
    s[len++] = c;
  }
  if (*j->p != '"') { j->err = "unterminated string"; free(s); return NULL; }
  j->p++;
  s[len] = 0;
  return s;
}

static inline int jparse_value(jparser *j, jval *out, int depth) {
  memset(out, 0, sizeof *out);
  if (depth > 32) { j->err = "nesting too deep"; return -1; }
  jskip(j);
  char c = *j->p;
  if (c == '{' || c == '[') {
    int obj = c == '{';
    out->t = obj ? J_OBJ : J_ARR;
    j->p++;
    int cap = 0;
    jskip(j);
    if (*j->p == (obj ? '}' : ']')) { j->p++; return 0; }
    for (;;) {
      if (out->n == cap) {
        cap = cap ? cap * 2 : 8;
        out->items = realloc(out->items, cap * sizeof(jval));
        if (obj) out->keys = realloc(out->keys, cap * sizeof(char *));
      }
      jskip(j);
      if (obj) {
        char *k = jparse_string(j);
        if (!k) return -1;
        out->keys[out->n] = k;
        jskip(j);
        if (*j->p != ':') { j->err = "expected ':' after an object key"; return -1; }
        j->p++;
      }
      if (jparse_value(j, &out->items[out->n], depth + 1)) return -1;
      out->n++;
      jskip(j);
      if (*j->p == ',') { j->p++; continue; }
      if (*j->p == (obj ? '}' : ']')) { j->p++; return 0; }
      j->err = obj ? "expected ',' or '}'" : "expected ',' or ']'";
      return -1;
    }
  }
  if (c == '"') {
    out->t = J_STR;
    out->str = jparse_string(j);
    return out->str ? 0 : -1;
  }
  if (!strncmp(j->p, "true", 4) || !strncmp(j->p, "false", 5)) {
    out->t = J_BOOL;
    out->num = c == 't';
    j->p += c == 't' ? 4 : 5;
    return 0;
  }
  if (!strncmp(j->p, "null", 4)) { j->p += 4; return 0; }
  if (c == '-' || (c >= '0' && c <= '9')) {
    char *end;
    out->t = J_NUM;
    out->num = strtod(j->p, &end);
    if (end == j->p) { j->err = "bad number"; return -1; }
    j->p = end;
    return 0;
  }
  j->err = "unexpected character";
  return -1;
}

/* Parses a whole document; returns NULL and sets *err on failure (the tree is leaked: the
 * examples are short-lived processes). */
static inline jval *json_parse(const char *text, const char **err) {
  jparser j = {text, NULL};
  jval *v = malloc(sizeof *v);
  if (jparse_value(&j, v, 0) == 0) {
    jskip(&j);
    if (*j.p == 0) return v;
    j.err = "trailing characters after the JSON value";
  }
  *err = j.err;
  return NULL;
}

static inline const jval *json_get(const jval *obj, const char *key) {
  if (!obj || obj->t != J_OBJ) return NULL;
  for (int i = 0; i < obj->n; i++)
    if (!strcmp(obj->keys[i], key)) return &obj->items[i];
  return NULL;
}

#endif
