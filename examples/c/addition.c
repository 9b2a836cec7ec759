/* The Cocos "addition" sample: [[2,3],[4,5]] + [[pi,1],[1,pi]] in f32, written as Rust's Debug of
 * the f32 slice to results/results.txt (no newline) and printed to stdout. */
#include "common.h"

int main(void) {
  const float pi = 3.14159265358979323846f;
  const float a[4] = {2, 3, 4, 5}, b[4] = {pi, 1, 1, pi};
  char text[128] = "[", num[32];
  for (int i = 0; i < 4; i++) {
    volatile float s = a[i] + b[i]; /* keep the sum in f32 */
    format_f32(num, sizeof num, s);
    if (i) strcat(text, ", ");
    strcat(text, num);
  }
  strcat(text, "]");
  printf("%s\n", text);
  return write_result("results.txt", text, strlen(text)) ? 1 : 0;
}
