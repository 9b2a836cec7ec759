/* Path resolution inside a preopen (wasi-testsuite: path_open_preopen, nofollow_errors,
 * interesting_paths, unlink_file_trailing_slashes, dangling_symlink, path_rename, readlink). */
#include "check.h"

/* The raw import: the path goes as pointer + length, so an embedded NUL reaches the host. */
__attribute__((import_module("wasi_snapshot_preview1"), import_name("path_open"))) int32_t raw_path_open(
    int32_t fd, int32_t dirflags, const char *path, int32_t path_len, int32_t oflags, int64_t base, int64_t inheriting,
    int32_t fdflags, __wasi_fd_t *out);

int main(void) {
  __wasi_errno_t err;
  EXPECT("mkdir dir", __wasi_path_create_directory(DIR_FD, "dir"), 0);
  EXPECT("mkdir dir/nested", __wasi_path_create_directory(DIR_FD, "dir/nested"), 0);
  __wasi_fd_close(create_file("dir/nested/file"));

  /* Escaping the preopen, even to come back into it, is refused. */
  open_at("dir/nested/../../../dir/nested/file", 0, __WASI_RIGHTS_FD_READ, &err);
  EXPECT("open escaping via ..", err, __WASI_ERRNO_NOTCAPABLE, __WASI_ERRNO_PERM);
  open_at("/dir/nested/file", 0, __WASI_RIGHTS_FD_READ, &err);
  EXPECT("open absolute path", err, __WASI_ERRNO_NOTCAPABLE, __WASI_ERRNO_PERM);
  open_follow("dir/nested/../../dir/nested/file", 0, __WASI_RIGHTS_FD_READ, &err);
  EXPECT("open .. staying inside", err, 0);
  open_at("dir/nested/file/", 0, __WASI_RIGHTS_FD_READ, &err);
  EXPECT("open file with trailing slash", err, __WASI_ERRNO_NOTDIR);
  __wasi_fd_t nfd;
  EXPECT("open with an embedded NUL", raw_path_open(DIR_FD, 0, "dir/nested/file\0x", 17, 0, __WASI_RIGHTS_FD_READ, 0, 0, &nfd), __WASI_ERRNO_ILSEQ, __WASI_ERRNO_INVAL);
  EXPECT("open with a trailing NUL", raw_path_open(DIR_FD, 0, "dir/nested/file\0", 16, 0, __WASI_RIGHTS_FD_READ, 0, 0, &nfd), __WASI_ERRNO_ILSEQ, __WASI_ERRNO_INVAL);
  open_at("dir/nested/file", __WASI_OFLAGS_DIRECTORY, __WASI_RIGHTS_FD_READ, &err);
  EXPECT("open file as directory", err, __WASI_ERRNO_NOTDIR);
  open_at("dir/nested", __WASI_OFLAGS_CREAT | __WASI_OFLAGS_EXCL, __WASI_RIGHTS_FD_READ, &err);
  EXPECT("create existing dir excl", err, __WASI_ERRNO_EXIST);

  /* unlink with trailing slash on a regular file. */
  EXPECT("unlink file/", __wasi_path_unlink_file(DIR_FD, "dir/nested/file/"), __WASI_ERRNO_NOTDIR);
  EXPECT("unlink a directory", __wasi_path_unlink_file(DIR_FD, "dir/nested"), __WASI_ERRNO_ISDIR, __WASI_ERRNO_PERM, __WASI_ERRNO_ACCES);
  EXPECT("unlink a directory/", __wasi_path_unlink_file(DIR_FD, "dir/nested/"), __WASI_ERRNO_ISDIR, __WASI_ERRNO_PERM, __WASI_ERRNO_ACCES);
  EXPECT("rmdir a file", __wasi_path_remove_directory(DIR_FD, "dir/nested/file"), __WASI_ERRNO_NOTDIR);
  EXPECT("rmdir non-empty", __wasi_path_remove_directory(DIR_FD, "dir"), __WASI_ERRNO_NOTEMPTY);

  /* Symlinks: readlink, dangling, escaping, nofollow. */
  EXPECT("symlink", __wasi_path_symlink("nested/file", DIR_FD, "dir/l"), 0);
  char buf[64];
  __wasi_size_t n = 0;
  EXPECT("readlink", __wasi_path_readlink(DIR_FD, "dir/l", (uint8_t *)buf, sizeof buf, &n), 0);
  EXPECT_EQ("readlink length", n, 11);
  EXPECT_EQ("readlink text", memcmp(buf, "nested/file", 11), 0);
  EXPECT("readlink of a file", __wasi_path_readlink(DIR_FD, "dir/nested/file", (uint8_t *)buf, sizeof buf, &n), __WASI_ERRNO_INVAL);
  EXPECT("symlink dangling", __wasi_path_symlink("missing", DIR_FD, "dangling"), 0);
  open_follow("dangling", 0, __WASI_RIGHTS_FD_READ, &err);
  EXPECT("open dangling", err, __WASI_ERRNO_NOENT);
  /* wasmtime lets a guest create a link whose target leaves the preopen (and refuses to follow it);
   * our runtime refuses to create it at all (see README.md), so that case is not here. */
  __wasi_fd_t fd = (__wasi_fd_t)-1;
  err = __wasi_path_open(DIR_FD, 0, "dir/l", 0, __WASI_RIGHTS_FD_READ, 0, 0, &fd);
  EXPECT("open symlink nofollow", err, __WASI_ERRNO_LOOP, __WASI_ERRNO_MLINK);
  EXPECT("symlink over existing", __wasi_path_symlink("x", DIR_FD, "dir/l"), __WASI_ERRNO_EXIST);
  EXPECT("unlink dangling", __wasi_path_unlink_file(DIR_FD, "dangling"), 0);
  EXPECT("unlink symlink", __wasi_path_unlink_file(DIR_FD, "dir/l"), 0);

  /* Renames. */
  EXPECT("rename file", __wasi_path_rename(DIR_FD, "dir/nested/file", DIR_FD, "dir/moved"), 0);
  open_at("dir/nested/file", 0, __WASI_RIGHTS_FD_READ, &err);
  EXPECT("old name gone", err, __WASI_ERRNO_NOENT);
  EXPECT("rename file onto dir", __wasi_path_rename(DIR_FD, "dir/moved", DIR_FD, "dir/nested"), __WASI_ERRNO_ISDIR);
  EXPECT("rename dir onto file", __wasi_path_rename(DIR_FD, "dir/nested", DIR_FD, "dir/moved"), __WASI_ERRNO_NOTDIR);
  EXPECT("rename out of the preopen", __wasi_path_rename(DIR_FD, "dir/moved", DIR_FD, "../moved"), __WASI_ERRNO_NOTCAPABLE, __WASI_ERRNO_PERM);
  EXPECT("rename missing", __wasi_path_rename(DIR_FD, "nope", DIR_FD, "dir/x"), __WASI_ERRNO_NOENT);
  EXPECT("unlink moved", __wasi_path_unlink_file(DIR_FD, "dir/moved"), 0);
  EXPECT("rmdir nested", __wasi_path_remove_directory(DIR_FD, "dir/nested"), 0);
  EXPECT("rmdir dir", __wasi_path_remove_directory(DIR_FD, "dir"), 0);
  return done();
}
