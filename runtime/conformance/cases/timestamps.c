/* fd_filestat_set_times / path_filestat_set_times keep nanoseconds (wasi-testsuite:
 * fd_filestat_set, path_filestat, symlink_filestat). */
#include "check.h"

static const __wasi_timestamp_t ATIM = 1700000000123456789ull, MTIM = 1600000000987654321ull;

int main(void) {
  __wasi_fd_t fd = create_file("file");
  __wasi_filestat_t st;
  EXPECT("fd_filestat_set_times", __wasi_fd_filestat_set_times(fd, ATIM, MTIM, __WASI_FSTFLAGS_ATIM | __WASI_FSTFLAGS_MTIM), 0);
  EXPECT("fd_filestat_get", __wasi_fd_filestat_get(fd, &st), 0);
  EXPECT_EQ("fd atim ns", st.atim, ATIM);
  EXPECT_EQ("fd mtim ns", st.mtim, MTIM);
  EXPECT("fd_filestat_set_times atim+atim_now", __wasi_fd_filestat_set_times(fd, ATIM, 0, __WASI_FSTFLAGS_ATIM | __WASI_FSTFLAGS_ATIM_NOW), __WASI_ERRNO_INVAL);
  EXPECT("path_filestat_set_times mtim only", __wasi_path_filestat_set_times(DIR_FD, 0, "file", 0, MTIM + 2, __WASI_FSTFLAGS_MTIM), 0);
  EXPECT("path_filestat_get", __wasi_path_filestat_get(DIR_FD, 0, "file", &st), 0);
  EXPECT_EQ("path atim kept", st.atim, ATIM);
  EXPECT_EQ("path mtim ns", st.mtim, MTIM + 2);
  EXPECT_EQ("filetype regular", st.filetype, __WASI_FILETYPE_REGULAR_FILE);
  EXPECT_EQ("size 0", st.size, 0);
  __wasi_fd_close(fd);

  /* A symlink: without SYMLINK_FOLLOW the link itself is stamped and stat'ed. */
  EXPECT("path_symlink", __wasi_path_symlink("file", DIR_FD, "link"), 0);
  EXPECT("path_filestat_set_times nofollow", __wasi_path_filestat_set_times(DIR_FD, 0, "link", ATIM + 5, MTIM + 5, __WASI_FSTFLAGS_ATIM | __WASI_FSTFLAGS_MTIM), 0);
  EXPECT("path_filestat_get nofollow", __wasi_path_filestat_get(DIR_FD, 0, "link", &st), 0);
  EXPECT_EQ("link filetype", st.filetype, __WASI_FILETYPE_SYMBOLIC_LINK);
  EXPECT_EQ("link mtim ns", st.mtim, MTIM + 5);
  EXPECT("path_filestat_get follow", __wasi_path_filestat_get(DIR_FD, __WASI_LOOKUPFLAGS_SYMLINK_FOLLOW, "link", &st), 0);
  EXPECT_EQ("target filetype", st.filetype, __WASI_FILETYPE_REGULAR_FILE);
  EXPECT_EQ("target mtim untouched", st.mtim, MTIM + 2);
  EXPECT("path_filestat_set_times follow", __wasi_path_filestat_set_times(DIR_FD, __WASI_LOOKUPFLAGS_SYMLINK_FOLLOW, "link", 0, MTIM + 7, __WASI_FSTFLAGS_MTIM), 0);
  EXPECT("stat target", __wasi_path_filestat_get(DIR_FD, 0, "file", &st), 0);
  EXPECT_EQ("target mtim via link", st.mtim, MTIM + 7);
  __wasi_path_unlink_file(DIR_FD, "link");
  __wasi_path_unlink_file(DIR_FD, "file");
  return done();
}
