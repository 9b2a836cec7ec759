// A cocos:computation inference component in plain C (no libc): exports
// infer(input: string) -> result<string, string>, imports datasets.list-datasets and progress.report.
// Canonical ABI by hand; built with clang --target=wasm32 -nostdlib, then componentized in build.ts.
#include <stdint.h>

typedef struct { const char *ptr; uint32_t len; } str;
typedef struct { str name; str hash; uint64_t size; } dataset;  // 24 bytes, align 8
typedef struct { dataset *ptr; uint32_t len; } dataset_list;

__attribute__((import_module("cocos:computation/datasets@0.1.0"), import_name("list-datasets")))
void list_datasets(dataset_list *ret);
__attribute__((import_module("cocos:computation/progress@0.1.0"), import_name("report")))
void report(float fraction, const char *msg, uint32_t len);

static unsigned char heap[256 * 1024];
static uint32_t top;

__attribute__((export_name("cabi_realloc")))
void *cabi_realloc(void *old, uint32_t old_size, uint32_t align, uint32_t new_size) {
  top = (top + align - 1) & ~(align - 1);
  if (top + new_size > sizeof heap) __builtin_trap();
  unsigned char *p = heap + top;
  top += new_size;
  for (uint32_t i = 0; old && i < old_size && i < new_size; i++) p[i] = ((unsigned char *)old)[i];
  return p;
}

static char out[4096];
static uint32_t out_len;
static void put(const char *s, uint32_t n) { for (uint32_t i = 0; i < n && out_len < sizeof out; i++) out[out_len++] = s[i]; }
static void puts_(const char *s) { while (*s) put(s++, 1); }
static void putu(uint64_t v) { char b[24]; int n = 0; do { b[n++] = '0' + v % 10; v /= 10; } while (v); while (n) put(&b[--n], 1); }

static struct { uint32_t tag; const char *ptr; uint32_t len; } ret;

__attribute__((export_name("infer")))
void *infer(const char *input, uint32_t len) {
  out_len = 0;
  report(0.5f, "halfway", 7);
  if (len == 4 && input[0] == 'f' && input[1] == 'a' && input[2] == 'i' && input[3] == 'l') {
    puts_("refused: input was fail");
    ret.tag = 1;
  } else {
    dataset_list l;
    list_datasets(&l);
    put(input, len);
    puts_("|");
    putu(l.len);
    for (uint32_t i = 0; i < l.len; i++) {
      puts_("|");
      put(l.ptr[i].name.ptr, l.ptr[i].name.len);
      puts_(":");
      put(l.ptr[i].hash.ptr, l.ptr[i].hash.len < 8 ? l.ptr[i].hash.len : 8);
      puts_(":");
      putu(l.ptr[i].size);
    }
    report(1.0f, "done", 4);
    ret.tag = 0;
  }
  ret.ptr = out;
  ret.len = out_len;
  return &ret;
}
