/* A symlink placed in the preopen by the host ("out-link" -> ../outside/target) must not lead the
 * guest out: following it is refused for open, stat and set-times alike (wasi-testsuite:
 * nofollow_errors, path_open_preopen, symlink_filestat). The test checks on the host that the
 * outside file's times did not change. */
#include "check.h"

int main(void) {
  __wasi_errno_t err;
  __wasi_filestat_t st;
  open_follow("out-link", 0, __WASI_RIGHTS_FD_READ, &err);
  EXPECT("open through an escaping link", err, __WASI_ERRNO_NOTCAPABLE, __WASI_ERRNO_PERM);
  EXPECT("stat through an escaping link", __wasi_path_filestat_get(DIR_FD, __WASI_LOOKUPFLAGS_SYMLINK_FOLLOW, "out-link", &st), __WASI_ERRNO_NOTCAPABLE, __WASI_ERRNO_PERM);
  EXPECT("set times through an escaping link", __wasi_path_filestat_set_times(DIR_FD, __WASI_LOOKUPFLAGS_SYMLINK_FOLLOW, "out-link", 1, 1, __WASI_FSTFLAGS_ATIM | __WASI_FSTFLAGS_MTIM), __WASI_ERRNO_NOTCAPABLE, __WASI_ERRNO_PERM);
  EXPECT("set times through .. out of the preopen", __wasi_path_filestat_set_times(DIR_FD, 0, "../outside/target", 1, 1, __WASI_FSTFLAGS_MTIM), __WASI_ERRNO_NOTCAPABLE, __WASI_ERRNO_PERM);
  EXPECT("stat the link itself", __wasi_path_filestat_get(DIR_FD, 0, "out-link", &st), 0);
  EXPECT_EQ("it is a symlink", st.filetype, __WASI_FILETYPE_SYMBOLIC_LINK);
  EXPECT("set the link's own times", __wasi_path_filestat_set_times(DIR_FD, 0, "out-link", 5, 5, __WASI_FSTFLAGS_ATIM | __WASI_FSTFLAGS_MTIM), 0);
  return done();
}
