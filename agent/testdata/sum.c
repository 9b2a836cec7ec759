/* Test algorithm for the agent: for every file in /datasets, writes "<name> <bytes> <sum of bytes>\n"
 * to results/summary.txt; the args are appended as "args: a b c". Prints one line to stderr (a
 * Warning event) and exits with the number given by --exit N (default 0). */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char **argv) {
  int code = 0;
  FILE *out = fopen("/results/summary.txt", "w");
  if (!out) { perror("/results/summary.txt"); return 2; }
  DIR *d = opendir("/datasets");
  if (d) {
    struct dirent *e;
    char path[512];
    while ((e = readdir(d))) {
      if (e->d_name[0] == '.') continue;
      snprintf(path, sizeof path, "/datasets/%s", e->d_name);
      FILE *f = fopen(path, "rb");
      if (!f) continue;
      unsigned long n = 0, sum = 0;
      int c;
      while ((c = fgetc(f)) != EOF) { n++; sum += (unsigned char)c; }
      fclose(f);
      fprintf(out, "%s %lu %lu\n", e->d_name, n, sum);
    }
    closedir(d);
  }
  fprintf(out, "args:");
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--exit") == 0 && i + 1 < argc) code = atoi(argv[i + 1]);
    fprintf(out, " %s", argv[i]);
  }
  fprintf(out, "\n");
  fclose(out);
  fprintf(stderr, "sum: done\n");
  printf("summary written\n");
  return code;
}
