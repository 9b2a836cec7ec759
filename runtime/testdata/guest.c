// Test guest for runtime/*.test.ts: one program, behaviour chosen by argv[1].
#include <errno.h>
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static void try_open(const char *path, const char *mode) {
  FILE *f = fopen(path, mode);
  if (f) {
    printf("OPENED %s %s\n", mode, path);
    fclose(f);
  } else {
    printf("DENIED %s %s errno=%d\n", mode, path, errno);
  }
}

static void report(const char *what, int rc) { printf("%s %s errno=%d\n", rc == 0 ? "DONE" : "DENIED", what, errno); }

int main(int argc, char **argv) {
  const char *mode = argc > 1 ? argv[1] : "echo";
  if (!strcmp(mode, "echo")) {
    for (int i = 0; i < argc; i++) printf("arg %d %s\n", i, argv[i]);
    const char *who = getenv("WHO");
    printf("env WHO=%s HOME=%s\n", who ? who : "(unset)", getenv("HOME") ? getenv("HOME") : "(unset)");
    char name[256];
    snprintf(name, sizeof name, "/results/out-%s.txt", argc > 2 ? argv[2] : "x");
    FILE *f = fopen(name, "w");
    if (!f) { perror("open results"); return 4; }
    fprintf(f, "%s", who ? who : "");
    fclose(f);
    FILE *g = fopen("relative.txt", "w");  // "." maps to results
    if (g) { fputs("dot", g); fclose(g); }
    DIR *d = opendir("/results");
    struct dirent *e;
    while (d && (e = readdir(d))) if (e->d_name[0] != '.') printf("file %s\n", e->d_name);
    if (d) closedir(d);
    FILE *ds = fopen("/datasets/data.txt", "r");
    char buf[64] = {0};
    if (ds) { fgets(buf, sizeof buf, ds); fclose(ds); printf("dataset %s\n", buf); }
    return 0;
  }
  if (!strcmp(mode, "exit")) exit(argc > 2 ? atoi(argv[2]) : 0);
  if (!strcmp(mode, "unreachable")) __builtin_trap();
  if (!strcmp(mode, "div0")) {
    volatile int z = 0;
    printf("%d\n", 7 / z);
    return 0;
  }
  if (!strcmp(mode, "loop")) {
    volatile unsigned long n = 0;
    puts("looping");
    fflush(stdout);
    for (;;) n++;
  }
  if (!strcmp(mode, "sleep")) {
    puts("sleeping");
    fflush(stdout);
    sleep(100000);
    return 0;
  }
  if (!strcmp(mode, "grow")) {
    // Chain the blocks so the compiler cannot drop the allocations.
    static void *volatile head;
    for (unsigned long n = 0;; n++) {
      void **p = malloc(1 << 20);
      if (!p) { printf("malloc failed after %lu MiB\n", n); return 1; }
      memset(p, 1, 1 << 20);
      *p = head;
      head = p;
    }
  }
  if (!strcmp(mode, "heap")) {
    // Many small blocks from the initial heap region, then a filesystem call: with old wasi-libc
    // these blocks used to land on the preview-1 adapter's pages and corrupt its state.
    static void *volatile keep[20000];
    for (int i = 0; i < 20000; i++) {
      char *p = malloc(100);
      memset(p, 0x55, 100);
      keep[i] = p;
    }
    struct stat st;
    printf("stat %d\n", stat("/results", &st));
    return 0;
  }
  if (!strcmp(mode, "fill-results")) {
    static char chunk[1 << 16];
    FILE *f = fopen("/results/big.bin", "w");
    if (!f) return 3;
    for (;;) if (fwrite(chunk, 1, sizeof chunk, f) != sizeof chunk) { perror("write"); return 2; }
  }
  if (!strcmp(mode, "fill-stdout")) {
    static char line[4096];
    memset(line, 'x', sizeof line - 2);
    line[sizeof line - 2] = '\n';
    for (;;) fputs(line, stdout);
  }
  if (!strcmp(mode, "escape")) {
    try_open("/datasets/../../etc/passwd", "r");
    try_open("/results/../escape.txt", "w");
    try_open("../etc/passwd", "r");
    try_open("/etc/passwd", "r");
    try_open("/datasets/abs-link", "r");
    try_open("/datasets/rel-link", "r");
    try_open("/datasets/dir-link/passwd", "r");
    report("symlink-abs", symlink("/etc/passwd", "/results/evil-abs"));
    report("symlink-rel", symlink("../../../../etc/passwd", "/results/evil-rel"));
    report("symlink-inside", symlink("out.txt", "/results/ok-link"));
    // An open directory whose path is later replaced by a symlink chain that leads out of the
    // preopen ("a" -> "s/..", "s" -> "."): lookups under that directory must not follow it.
    mkdir("/results/a", 0755);
    int d = open("/results/a", O_RDONLY | O_DIRECTORY);
    rename("/results/a", "/results/b");
    symlink(".", "/results/s");
    symlink("s/..", "/results/a");
    int f = openat(d, "outside.txt", O_RDONLY);
    if (f >= 0) printf("OPENED swap\n"); else printf("DENIED swap errno=%d\n", errno);
    return 0;
  }
  if (!strcmp(mode, "write-datasets")) {
    try_open("/datasets/data.txt", "r");
    try_open("/datasets/new.txt", "w");
    try_open("/datasets/data.txt", "a");
    try_open("/datasets/data.txt", "r+");
    report("unlink", unlink("/datasets/data.txt"));
    report("mkdir", mkdir("/datasets/d", 0755));
    report("rename", rename("/datasets/data.txt", "/results/stolen.txt"));
    report("link", link("/datasets/data.txt", "/results/hard.txt"));
    int fd = open("/datasets/data.txt", O_RDONLY);
    report("truncate", fd >= 0 ? ftruncate(fd, 0) : -1);
    return 0;
  }
  fprintf(stderr, "unknown mode %s\n", mode);
  return 64;
}
