/* Linked into every wasm32-wasi build of the examples (not the native ones).
 *
 * The component model's canonical ABI allocates guest memory through an exported `cabi_realloc`.
 * Current wasi-libc exports one; Debian's (2022-05) does not. Without it, wit-component's preview-1
 * adapter takes its own state with memory.grow before main runs, and this wasi-libc's malloc then
 * claims every page up to memory.size at its first call — the adapter's state included — so any
 * host that does not hide those pages (wasmtime: "assertion failed at adapter line ...") traps at
 * the first stat or clock read. Exporting the allocator makes the adapter allocate from malloc like
 * every other component, so the result is a standard component any conforming host runs.
 * Same contract as wit-bindgen's: new_size 0 frees nothing and returns a non-null aligned pointer. */
#include <stdlib.h>
#include <string.h>

__attribute__((export_name("cabi_realloc"))) void *cabi_realloc(void *ptr, size_t old_size, size_t align,
                                                                 size_t new_size) {
  (void)old_size;
  if (new_size == 0) return (void *)align;
  void *ret = ptr ? realloc(ptr, new_size) : aligned_alloc(align < sizeof(void *) ? sizeof(void *) : align,
                                                            (new_size + align - 1) / align * align);
  if (!ret) abort();
  return ret;
}
