/* Descriptor operations (wasi-testsuite: fd_advise, fd_filestat_set, file_seek_tell,
 * file_truncation, renumber, close_preopen, fd_readdir, and bad descriptors). */
#include "check.h"

int main(void) {
  __wasi_size_t n = 0;
  const char text[] = "hello, world";
  __wasi_ciovec_t iov = {(const uint8_t *)text, 12};
  EXPECT("fd_write on fd -31337", __wasi_fd_write((__wasi_fd_t)-31337, &iov, 1, &n), __WASI_ERRNO_BADF);
  EXPECT("fd_close on a closed fd", __wasi_fd_close(1234), __WASI_ERRNO_BADF);
  __wasi_filestat_t st;
  EXPECT("fd_filestat_get on a bad fd", __wasi_fd_filestat_get(999, &st), __WASI_ERRNO_BADF);

  __wasi_fd_t fd = create_file("file");
  EXPECT("fd_write", __wasi_fd_write(fd, &iov, 1, &n), 0);
  EXPECT_EQ("written", n, 12);
  __wasi_filesize_t pos = 99;
  EXPECT("fd_tell", __wasi_fd_tell(fd, &pos), 0);
  EXPECT_EQ("tell after write", pos, 12);
  EXPECT("fd_seek set", __wasi_fd_seek(fd, 7, __WASI_WHENCE_SET, &pos), 0);
  EXPECT_EQ("seek set", pos, 7);
  EXPECT("fd_seek cur", __wasi_fd_seek(fd, -2, __WASI_WHENCE_CUR, &pos), 0);
  EXPECT_EQ("seek cur", pos, 5);
  EXPECT("fd_seek end", __wasi_fd_seek(fd, 0, __WASI_WHENCE_END, &pos), 0);
  EXPECT_EQ("seek end", pos, 12);
  EXPECT("fd_seek before start", __wasi_fd_seek(fd, -100, __WASI_WHENCE_CUR, &pos), __WASI_ERRNO_INVAL);
  char buf[16];
  __wasi_iovec_t rio = {(uint8_t *)buf, sizeof buf};
  EXPECT("fd_pread", __wasi_fd_pread(fd, &rio, 1, 7, &n), 0);
  EXPECT_EQ("pread bytes", n, 5);
  EXPECT_EQ("pread text", memcmp(buf, "world", 5), 0);
  EXPECT("fd_advise", __wasi_fd_advise(fd, 0, 12, __WASI_ADVICE_SEQUENTIAL), 0);
  EXPECT("fd_filestat_set_size grow", __wasi_fd_filestat_set_size(fd, 100), 0);
  EXPECT("fd_filestat_get", __wasi_fd_filestat_get(fd, &st), 0);
  EXPECT_EQ("size after grow", st.size, 100);
  EXPECT("fd_filestat_set_size shrink", __wasi_fd_filestat_set_size(fd, 5), 0);
  EXPECT("fd_filestat_get", __wasi_fd_filestat_get(fd, &st), 0);
  EXPECT_EQ("size after shrink", st.size, 5);
  /* Truncation through path_open. */
  __wasi_errno_t err;
  __wasi_fd_t t = open_at("file", __WASI_OFLAGS_TRUNC, __WASI_RIGHTS_FD_WRITE | __WASI_RIGHTS_FD_FILESTAT_GET, &err);
  EXPECT("open O_TRUNC", err, 0);
  EXPECT("fd_filestat_get", __wasi_fd_filestat_get(t, &st), 0);
  EXPECT_EQ("size after O_TRUNC", st.size, 0);
  __wasi_fd_close(t);

  /* fd_renumber: the target is replaced, the source is gone. */
  __wasi_fd_t other = create_file("other");
  EXPECT("fd_renumber", __wasi_fd_renumber(fd, other), 0);
  EXPECT("fd_tell on the renumbered fd", __wasi_fd_tell(other, &pos), 0);
  EXPECT("old fd closed", __wasi_fd_tell(fd, &pos), __WASI_ERRNO_BADF);
  EXPECT("fd_renumber from a bad fd", __wasi_fd_renumber(fd, other), __WASI_ERRNO_BADF);
  EXPECT("fd_close", __wasi_fd_close(other), 0);

  /* fd_readdir lists ".", ".." and the entries. */
  __wasi_fd_t d = open_at(".", __WASI_OFLAGS_DIRECTORY, __WASI_RIGHTS_FD_READDIR, &err);
  EXPECT("open dir", err, 0);
  uint8_t dbuf[1024];
  EXPECT("fd_readdir", __wasi_fd_readdir(d, dbuf, sizeof dbuf, 0, &n), 0);
  int seen = 0;
  for (__wasi_size_t off = 0; off + sizeof(__wasi_dirent_t) <= n;) {
    __wasi_dirent_t e;
    memcpy(&e, dbuf + off, sizeof e);
    const char *name = (const char *)dbuf + off + sizeof e;
    if (e.d_namlen == 4 && !memcmp(name, "file", 4) && e.d_type == __WASI_FILETYPE_REGULAR_FILE) seen |= 1;
    if (e.d_namlen == 5 && !memcmp(name, "other", 5)) seen |= 2;
    if (e.d_namlen == 1 && name[0] == '.' && e.d_type == __WASI_FILETYPE_DIRECTORY) seen |= 4;
    if (e.d_namlen == 2 && !memcmp(name, "..", 2)) seen |= 8;
    off += sizeof e + e.d_namlen;
  }
  EXPECT_EQ("readdir entries", seen, 15);
  EXPECT("fd_readdir on a file", __wasi_fd_readdir(1, dbuf, sizeof dbuf, 0, &n), __WASI_ERRNO_BADF, __WASI_ERRNO_NOTDIR);
  __wasi_fd_close(d);
  __wasi_path_unlink_file(DIR_FD, "file");
  __wasi_path_unlink_file(DIR_FD, "other");

  /* A preopen can be closed; afterwards it is a bad descriptor. */
  __wasi_prestat_t pre;
  EXPECT("fd_prestat_get", __wasi_fd_prestat_get(DIR_FD, &pre), 0);
  EXPECT("fd_prestat_get on stdout", __wasi_fd_prestat_get(1, &pre), __WASI_ERRNO_BADF);
  EXPECT("close preopen", __wasi_fd_close(DIR_FD), 0);
  EXPECT("prestat after close", __wasi_fd_prestat_get(DIR_FD, &pre), __WASI_ERRNO_BADF);
  return done();
}
