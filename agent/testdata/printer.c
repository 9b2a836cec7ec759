// Test guest: prints what it reads. `echo` (default): every line of every file in /datasets goes to
// stdout and stderr, and results/out.txt says how many lines there were. `flood N`: N newlines on
// stderr. Built at test time (printer.ts) with clang --target=wasm32-wasi.
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int echo(void) {
  DIR *d = opendir("/datasets");
  if (!d) { fprintf(stderr, "no /datasets\n"); return 2; }
  struct dirent *e;
  int lines = 0;
  char path[512], buf[4096];
  while ((e = readdir(d))) {
    if (e->d_name[0] == '.') continue;
    snprintf(path, sizeof path, "/datasets/%s", e->d_name);
    FILE *f = fopen(path, "r");
    if (!f) continue;
    while (fgets(buf, sizeof buf, f)) {
      fputs(buf, stdout);
      fputs(buf, stderr);
      lines++;
    }
    fclose(f);
  }
  closedir(d);
  FILE *out = fopen("/results/out.txt", "w");
  if (!out) return 3;
  fprintf(out, "%d lines\n", lines);
  fclose(out);
  return 0;
}

int main(int argc, char **argv) {
  if (argc > 2 && strcmp(argv[1], "flood") == 0) {
    long n = atol(argv[2]);
    static char nl[4096];
    memset(nl, '\n', sizeof nl);
    for (long done = 0; done < n;) {
      long k = n - done < (long)sizeof nl ? n - done : (long)sizeof nl;
      fwrite(nl, 1, (size_t)k, stderr);
      done += k;
    }
    return 0;
  }
  return echo();
}
