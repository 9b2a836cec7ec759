/* Shared by the conformance cases: raw WASI preview-1 calls (wasi/api.h) checked against the
 * answers of the reference implementation. The preopened directory is fd 3 (a fresh empty dir). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <wasi/api.h>

#define DIR_FD 3
static int failures;

/* Passes when `got` is one of the listed errnos (the suite accepts alternatives for some calls). */
static void expect_errno(const char *what, __wasi_errno_t got, int n, const __wasi_errno_t *want) {
  for (int i = 0; i < n; i++)
    if (got == want[i]) {
      printf("ok %s\n", what);
      return;
    }
  printf("FAIL %s: errno %u, expected %u%s\n", what, got, want[0], n > 1 ? " (or an alternative)" : "");
  failures++;
}
#define EXPECT(what, call, ...)                                                                         \
  do {                                                                                                  \
    const __wasi_errno_t want_[] = {__VA_ARGS__};                                                       \
    expect_errno(what, (call), sizeof want_ / sizeof want_[0], want_);                                  \
  } while (0)
#define EXPECT_EQ(what, got, want)                                                                      \
  do {                                                                                                  \
    unsigned long long g_ = (unsigned long long)(got), w_ = (unsigned long long)(want);                 \
    if (g_ == w_) printf("ok %s\n", what);                                                              \
    else {                                                                                              \
      printf("FAIL %s: %llu, expected %llu\n", what, g_, w_);                                           \
      failures++;                                                                                       \
    }                                                                                                   \
  } while (0)

static __wasi_fd_t open_flags(__wasi_lookupflags_t dirflags, const char *path, __wasi_oflags_t oflags,
                              __wasi_rights_t rights, __wasi_errno_t *err) {
  __wasi_fd_t fd = (__wasi_fd_t)-1;
  *err = __wasi_path_open(DIR_FD, dirflags, path, oflags, rights, rights, 0, &fd);
  return fd;
}
#define open_at(path, oflags, rights, err) open_flags(0, path, oflags, rights, err)
#define open_follow(path, oflags, rights, err) open_flags(__WASI_LOOKUPFLAGS_SYMLINK_FOLLOW, path, oflags, rights, err)
static __wasi_fd_t create_file(const char *path) {
  __wasi_errno_t err;
  __wasi_fd_t fd = open_at(path, __WASI_OFLAGS_CREAT | __WASI_OFLAGS_TRUNC,
                           __WASI_RIGHTS_FD_READ | __WASI_RIGHTS_FD_WRITE | __WASI_RIGHTS_FD_SEEK |
                               __WASI_RIGHTS_FD_TELL | __WASI_RIGHTS_FD_FILESTAT_SET_TIMES |
                               __WASI_RIGHTS_FD_FILESTAT_SET_SIZE | __WASI_RIGHTS_FD_FILESTAT_GET |
                               __WASI_RIGHTS_FD_ADVISE | __WASI_RIGHTS_FD_ALLOCATE,
                           &err);
  if (err) {
    printf("FAIL setup: cannot create %s: errno %u\n", path, err);
    exit(2);
  }
  return fd;
}
static int done(void) {
  printf("%s\n", failures ? "FAILED" : "PASSED");
  return failures ? 1 : 0;
}
